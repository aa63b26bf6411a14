// The native node: drives the pure Raft core with real time, a real disk and real sockets.
//
// One io_context thread runs everything but the disk: the tick timer (50 ms), the peer
// transport, the HTTP API, and the Ready loop. After any input to Raft (a tick, a peer
// message, a proposal, a finished write) the host schedules one pass of the loop, so
// every input that arrived in the same turn of the event loop shares one Ready — many
// proposals become one AppendEntries and one disk write. A pass:
//
//   1. sends `messages` at once (the leader's appends go out while its own disk works:
//      the leader writes its log in parallel with its followers);
//   2. queues `hard_state` and `entries`, together with `messages_after_persist`, for the
//      disk thread (disk_writer.h). That thread takes everything queued, writes it,
//      fdatasyncs once (group commit), and posts back: the io thread calls
//      persisted(index, term) and only then sends the batch's votes and
//      acknowledgements (Raft §5: respond to RPCs only after updating stable storage);
//   3. applies `committed_entries` to the KvStore and answers the clients waiting on
//      them; turns `read_states` into reads that are served once applied reaches them.
//
// Client requests. Each HTTP request becomes a ClientRequest with a client id and a
// sequence number. A write holds a session (a client id of its own) for as long as it
// is unanswered, so within one client id the requests are sequential and the KvStore's
// "skip a seq at or below the last applied" de-duplication is exact: a write retried on
// a new leader is applied once. Client ids are random per process, so a restarted
// node never reuses an id the state machine has seen. The leader proposes writes and
// answers reads through ReadIndex (thesis §6.4); a follower forwards the request to the
// leader over the peer connection and relays the ClientReply. Unanswered requests are
// retried (on a leader change at once, else every second) until the request timeout,
// after which the client gets 503.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/codec/codec.h"
#include "core/kv/kv_store.h"
#include "core/raft/raft.h"
#include "native/storage/disk_writer.h"
#include "native/node/http_server.h"
#include "native/node/metrics.h"
#include "native/node/peer_transport.h"
#include "native/storage/storage.h"

namespace raftbook {

struct NodeConfig {
    NodeId id = kNoNode;
    std::map<NodeId, std::string> members;  // every voter's peer address "host:port", self included
    std::string listen_host = "127.0.0.1";
    uint16_t listen_port = 0;
    std::string http_host = "127.0.0.1";
    uint16_t http_port = 0;
    std::string data_dir;
    std::string cluster_id = "raftbook";
    WireFormat wire = WireFormat::Cbor;
    std::string web_dir;
    std::chrono::milliseconds tick{50};
    int election_tick = 10;   // election timeout 0.5-1 s at 50 ms ticks
    int heartbeat_tick = 1;   // a heartbeat every tick
    std::chrono::milliseconds request_timeout{3000};
    // The connection caps of the descriptor budget (cmd_serve.cpp): what is left of the
    // open-file limit after the node's own descriptors, which connections cannot take.
    size_t max_clients = kDefaultMaxClients;  // open HTTP connections at most; more get 503
    size_t max_peer_connections = 64;         // accepted peer connections at most; more are closed
};

class NodeHost : public ClientApi {
public:
    NodeHost(boost::asio::io_context& ioc, NodeConfig config);
    ~NodeHost() override;

    // Opens the data dir, starts the disk thread, the peer transport and the HTTP API.
    // Returns false with a message naming what failed and what to do.
    bool start(std::string* error);
    // Stops serving, writes what is queued for the disk, closes connections.
    void stop();
    // 0 after a clean stop, 1 after a fatal disk error (the node stopped itself).
    int exit_code() const { return exit_code_; }
    // Called once the node has stopped itself (fatal error); the owner ends the loop.
    std::function<void()> on_fatal;

    // ClientApi
    void submit(ClientRequest request, std::function<void(const ClientReply&)> done) override;
    nlohmann::json status() const override;
    std::string metrics_text() const override;

private:
    using Clock = std::chrono::steady_clock;
    using RequestKey = std::pair<uint64_t, uint64_t>;  // (client id, seq)

    // A request from this node's HTTP API, until it is answered.
    struct LocalRequest {
        ClientRequest request;
        std::function<void(const ClientReply&)> done;
        Clock::time_point deadline;
        Clock::time_point retry_at;
        size_t session = SIZE_MAX;  // the write session it holds
    };
    // A write this node proposed as leader, until it is applied.
    struct Proposal {
        Term term = 0;                      // proposed in this term (0: not yet)
        std::vector<NodeId> remote_origins; // nodes that forwarded it and want the reply
        Clock::time_point expires;
    };
    // A read waiting for its ReadIndex confirmation, then for apply to reach it.
    struct PendingRead {
        RequestKey key;
        NodeId origin;  // kNoNode: a local request
        std::string kv_key;
    };

    void schedule_ready();
    void process_ready();
    void on_tick();
    void on_frame(const Frame& frame, NodeId link_peer);
    void on_persisted(DiskWriter::Done done);
    void on_disk_error(const std::string& error, int error_number);
    void send_message(Message m);
    void apply(const std::vector<Entry>& entries);
    void serve_ready_reads();
    void observe_role_and_leader();

    void dispatch(const RequestKey& key);
    // Leader side, for local and forwarded requests alike. Returns false when this
    // node cannot serve it now (not leader, or leadership not yet confirmed).
    bool serve(const ClientRequest& request, NodeId origin);
    void answer(const RequestKey& key, NodeId origin, ClientReply reply);
    void complete_local(const RequestKey& key, const ClientReply& reply);
    void expire_local_requests(Clock::time_point now);

    boost::asio::io_context& ioc_;
    NodeConfig cfg_;
    Metrics metrics_;
    std::unique_ptr<Storage> storage_;
    std::unique_ptr<Raft> raft_;
    KvStore kv_;
    std::unique_ptr<DiskWriter> disk_;
    std::unique_ptr<PeerTransport> transport_;
    std::unique_ptr<HttpServer> http_;
    boost::asio::steady_timer tick_timer_;
    bool ready_scheduled_ = false;
    bool stopped_ = false;
    int exit_code_ = 0;
    // Jobs on the disk thread: id and the messages to send once it is durable.
    std::deque<std::pair<uint64_t, std::vector<Message>>> disk_jobs_inflight_;
    uint64_t last_disk_job_id_ = 0;
    uint64_t ticks_ = 0;

    Role last_role_ = Role::Follower;
    NodeId last_leader_ = kNoNode;

    std::map<RequestKey, LocalRequest> local_;
    std::vector<uint64_t> session_next_seq_;  // per write session
    std::vector<size_t> free_sessions_;
    uint64_t client_id_base_ = 0;             // session i has client id base + i
    uint64_t read_client_id_ = 0;
    uint64_t read_seq_ = 0;

    std::map<RequestKey, Proposal> proposals_;
    uint64_t read_context_ = 0;
    bool read_batch_open_ = false;  // reads arriving before the next Ready share one ReadIndex
    std::map<uint64_t, std::vector<PendingRead>> reads_awaiting_confirmation_;  // by context
    std::deque<std::pair<Index, PendingRead>> reads_awaiting_apply_;
};

}  // namespace raftbook
