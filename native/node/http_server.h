// The client HTTP API of a node (`--http HOST:PORT`), on Boost.Beast.
//
// A real HTTP/1.1 server with keep-alive, on the same io_context as the peer
// transport (websocketpp answers plain HTTP too, but closes the connection after every
// response). The routes:
//
//   PUT /kv/KEY      body = value; 200 {"revision": N} once the write is committed and
//                    applied (N: its log index)
//   DELETE /kv/KEY   likewise
//     ?prev_revision=N / ?prev_value=V  compare-and-swap: 412 {"error", "revision",
//                    "value"} (the key's current state) when it does not hold
//     Idempotency-Key: K  a write whose K was applied before answers that first result
//   GET /kv/KEY      200 with the value as the body and the key's revision in a
//                    Raftbook-Revision header, 404 when missing (linearizable: the node
//                    answers through ReadIndex)
//   GET /kv/?prefix=P&limit=N&after=K  {"items": [{key, value, revision}], "more",
//                    "revision"}: a page of keys in key order, linearizable like a GET
//   GET /watch/KEY, GET /watch/?prefix=P (from_revision=N, or Last-Event-ID)
//                    Server-Sent Events, one per change the node applies (id: the
//                    revision); `event: compacted` when the node no longer holds the
//                    revision asked for (re-list), `event: stale` / `live` when the node
//                    loses / regains its leader (WatchHub, watch_hub.h)
//   GET /status      JSON: id, role, term, leader, commit and log indexes, members
//   GET /metrics     Prometheus text
//   GET /...         the playground's static files from the web directory; a plain
//                    status page while it has no index.html
//   OPTIONS any      a CORS preflight: 204, allowing GET, PUT, POST, DELETE and the
//                    headers Authorization, Content-Type, Idempotency-Key, Last-Event-ID
//
// Every answer carries Access-Control-Allow-Origin: * (and exposes Raftbook-Revision),
// so a page served from anywhere (a live browser node's page, `?join=HOST:PORT`) can
// call the API. What guards the cluster is the token: on a node started with one
// (`--token-file`), every request but GET, HEAD and OPTIONS (the writes: PUT, DELETE,
// POST on /kv, /members, /transfer-leader) must carry "Authorization: Bearer TOKEN", or
// is answered 401 with a JSON error saying how, before anything else is checked; the
// token is compared through its digest, in constant time. Reads (keys, lists, watches,
// /status, /metrics, the page) never need it.
//
// This file only speaks HTTP: it checks the request (key at most 1 KiB, no spaces or
// control characters; value at most 64 KiB, a larger body gets 413 without being
// read; a bad revision, prefix, limit or idempotency key, an unknown query parameter and
// malformed requests get 400 naming the rule) and hands a ClientRequest to the node
// through ClientApi. Errors are JSON: {"error": "..."}; a request the cluster could not serve
// in time (no leader, no quorum) gets 503.
//
// A client that opens connections without limit must not take the node down with it.
// At most `max_clients` connections are served at once: one over the cap is answered 503
// at once, without its request being parsed (what it sends is dropped, for at most a
// second, while the answer leaves), and closed. Each refusal holds a descriptor while it
// drains, so at most kMaxClientRefusals are in flight; past that a connection is closed
// at once without an answer (logged at most once a minute, with a count). So client
// connections never hold more than max_clients + kMaxClientRefusals descriptors, the
// share the node's descriptor budget gives them (cmd_serve.cpp). And when accept()
// itself fails (out of file descriptors: EMFILE, ENFILE; out of buffers: ENOBUFS) the
// error is logged, at most once a minute per kind, and accepting resumes after 100 ms,
// rather than retrying in a tight loop that would keep one core busy while the waiting
// connections stay queued.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "core/kv/kv_store.h"
#include "core/raft/message.h"
#include "native/node/metrics.h"

namespace raftbook {

class WatchHub;

constexpr size_t kDefaultMaxClients = 1024;
constexpr size_t kMaxClientRefusals = 16;  // 503 answers over the cap in flight at once

// What the HTTP API needs from the node behind it. Called on the io thread.
class ClientApi {
public:
    virtual ~ClientApi() = default;
    // Runs `request` (op "put", "del", "get" or "list", or a membership change:
    // "add_learner", "promote", "remove", "transfer_leader"; checked already) through
    // the cluster and calls `done` exactly once with the outcome, on the io thread.
    virtual void submit(ClientRequest request, std::function<void(const ClientReply&)> done) = 0;
    virtual nlohmann::json status() const = 0;
    virtual std::string metrics_text() const = 0;
    // The node's recent changes and watchers, for GET /watch; nullptr when it serves none.
    virtual WatchHub* watch_hub() { return nullptr; }
};

class HttpServer {
public:
    // `token`: the cluster's token, which writes must carry ("" for none; see the top).
    HttpServer(boost::asio::io_context& ioc, ClientApi* api, Metrics* metrics, std::string web_dir,
               std::string token = "");
    ~HttpServer();

    // Starts accepting, with at most `max_clients` connections served at once (and
    // kMaxClientRefusals more being refused). Returns false with a message when the
    // address cannot be bound.
    bool listen(const std::string& host, uint16_t port, size_t max_clients, std::string* error);
    void stop();
    // Client connections open now (those being refused over the cap included).
    size_t open_connections() const;

    // Answers `bytes` as a connection answers a client that sent them and closed its
    // side, without a socket (for tests and the fuzzer): read with the same limits,
    // then routed through the ClientApi. `done` gets the status and body once, or not at
    // all when the bytes end before the request does.
    void answer(const std::string& bytes, std::function<void(int status, const std::string& body)> done);

    struct Impl;  // the listener and routes, shared with the connections (http_server.cpp)

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace raftbook
