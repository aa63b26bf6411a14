// The client HTTP API on Boost.Beast: connections, request checks, routes; see http_server.h.
#include "native/node/http_server.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <initializer_list>
#include <map>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/auth/auth.h"
#include "core/codec/codec.h"
#include "core/runtime/node_runtime.h"
#include "native/node/log.h"
#include "native/node/members_api.h"
#include "native/node/watch_hub.h"

namespace raftbook {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using Response = http::response<http::string_body>;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(120);
constexpr auto kDrainTimeout = std::chrono::seconds(1);
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr size_t kDefaultListLimit = 100;
constexpr auto kWatchKeepAlive = std::chrono::seconds(15);
constexpr size_t kMaxWatchBacklog = 1024 * 1024;  // bytes queued for a watcher that reads too slowly

// A request that is not HTTP (as opposed to a client that hung up or idled out).
bool is_malformed(const beast::error_code& ec) {
    return ec.category() == http::make_error_code(http::error::bad_version).category() &&
           ec != http::error::end_of_stream && ec != http::error::partial_message;
}

// The limits every request is read with.
void limit(http::request_parser<http::string_body>& parser) {
    parser.body_limit(kMaxValueBytes);
    parser.header_limit(kMaxHeaderBytes);
}

// JSON text; bytes that are not UTF-8 (echoed from a bad request) become U+FFFD.
std::string dump(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string json_error(const std::string& message) { return dump({{"error", message}}); }

// Any page may call the API (a live page served from elsewhere: see the top of
// http_server.h); what it may change is the token's to say.
void allow_any_origin(Response& res) {
    res.set(http::field::access_control_allow_origin, "*");
    res.set(http::field::access_control_expose_headers, "Raftbook-Revision");
}

Response make_response(http::status status, std::string body, const char* content_type) {
    Response res{status, 11};
    res.set(http::field::server, "raftbook");
    allow_any_origin(res);
    res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    return res;
}

Response error_response(http::status status, const std::string& message) {
    return make_response(status, json_error(message), "application/json");
}

// Decodes %XX escapes in a URL path. Returns false on a malformed escape.
bool percent_decode(const std::string& in, std::string* out) {
    out->clear();
    for (size_t i = 0; i < in.size(); i++) {
        if (in[i] != '%') {
            out->push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size() || !std::isxdigit((unsigned char)in[i + 1]) || !std::isxdigit((unsigned char)in[i + 2]))
            return false;
        out->push_back(char(std::stoi(in.substr(i + 1, 2), nullptr, 16)));
        i += 2;
    }
    return true;
}

using Query = std::map<std::string, std::string>;

// Decodes a query string ("a=1&b=x%20y"; '+' is a space, as HTML forms send it).
// Returns "" or what is wrong with it.
std::string parse_query(const std::string& text, Query* out) {
    std::stringstream ss(text);
    std::string pair;
    while (std::getline(ss, pair, '&')) {
        if (pair.empty()) continue;
        const size_t eq = pair.find('=');
        std::string name, value, raw_value = eq == std::string::npos ? "" : pair.substr(eq + 1);
        std::replace(raw_value.begin(), raw_value.end(), '+', ' ');
        if (!percent_decode(pair.substr(0, eq), &name) || !percent_decode(raw_value, &value))
            return "malformed %-escape in the query parameter '" + pair.substr(0, 100) + "'";
        if (!is_utf8(name) || !is_utf8(value)) return "query parameters must be UTF-8 text";
        (*out)[name] = value;
    }
    return "";
}

// "" when every parameter of `q` is one of `allowed`, else the rule for the client.
std::string only_params(const Query& q, std::initializer_list<const char*> allowed, const std::string& what) {
    for (const auto& param : q) {
        const std::string& name = param.first;
        if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return name == a; }) == allowed.end())
            return "unknown query parameter '" + name.substr(0, 100) + "' (" + what + ")";
    }
    return "";
}

// A decimal count with no sign; false when `text` is anything else.
bool parse_count(const std::string& text, uint64_t* out) {
    if (text.empty() || text.size() > 19) return false;
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + uint64_t(c - '0');
    }
    *out = v;
    return true;
}

// Splits a request target into its decoded path and query. Returns "" or the problem.
std::string split_target(const std::string& target, std::string* path, Query* query) {
    const size_t q = target.find('?');
    const std::string path_part = target.substr(0, q);
    if (path_part.empty() || path_part[0] != '/' || !percent_decode(path_part, path))
        return "bad request target '" + target.substr(0, 200) + "'";
    return q == std::string::npos ? "" : parse_query(target.substr(q + 1), query);
}

// A CORS preflight: the methods and headers a cross-origin page may send.
Response preflight_response() {
    Response res{http::status::no_content, 11};
    res.set(http::field::server, "raftbook");
    allow_any_origin(res);
    res.set(http::field::access_control_allow_methods, "GET, PUT, POST, DELETE");
    res.set(http::field::access_control_allow_headers, "Authorization, Content-Type, Idempotency-Key, Last-Event-ID");
    res.set(http::field::access_control_max_age, "600");
    return res;
}

// "" when `req` may go on: a read, or a write carrying the node's token (or a node
// without one); else why not, for a 401. Compares digests, so the time taken says
// nothing about how much of a guess was right.
std::string token_problem(const http::request<http::string_body>& req, const std::string& token) {
    const http::verb m = req.method();
    if (token.empty() || m == http::verb::get || m == http::verb::head || m == http::verb::options) return "";
    const auto header = req.find(http::field::authorization);
    const std::string how = "send 'Authorization: Bearer TOKEN' with the cluster's token (raftbook commands: "
                            "--token-file FILE or RAFTBOOK_TOKEN); reads need none";
    if (header == req.end()) return "writes to this node need its token: " + how;
    const std::string value(header->value());
    const std::string kBearer = "Bearer ";
    if (value.compare(0, kBearer.size(), kBearer) != 0)
        return "the Authorization header is not 'Bearer TOKEN': " + how;
    const Sha256Digest got = sha256(std::string_view(value).substr(kBearer.size())), want = sha256(token);
    uint8_t diff = 0;
    for (size_t i = 0; i < got.size(); i++) diff |= uint8_t(got[i] ^ want[i]);
    return diff == 0 ? "" : "wrong token: " + how;
}

bool is_watch_path(const std::string& path) { return path == "/watch" || path.compare(0, 7, "/watch/") == 0; }

// The answer to a request that could not be read (413, 431, 400), or nothing when the
// client went away or idled out.
std::optional<Response> read_error_response(const beast::error_code& ec) {
    if (ec == http::error::body_limit)
        return error_response(http::status::payload_too_large, "request body over the " +
                                                                   std::to_string(kMaxValueBytes) +
                                                                   "-byte limit (values are at most 64 KiB)");
    if (ec == http::error::header_limit)
        return error_response(http::status::request_header_fields_too_large,
                              "request headers over the " + std::to_string(kMaxHeaderBytes) + "-byte limit");
    if (is_malformed(ec)) return error_response(http::status::bad_request, "malformed HTTP request: " + ec.message());
    return std::nullopt;
}

const char* content_type_for(const std::string& path) {
    static const std::pair<const char*, const char*> kTypes[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".wasm", "application/wasm"}, {".svg", "image/svg+xml"},
        {".png", "image/png"}, {".txt", "text/plain; charset=utf-8"}, {".md", "text/plain; charset=utf-8"}};
    for (const auto& [ext, type] : kTypes) {
        const size_t n = std::strlen(ext);
        if (path.size() >= n && path.compare(path.size() - n, n, ext) == 0) return type;
    }
    return "application/octet-stream";
}

bool read_file(const std::string& path, std::string* out) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::ostringstream ss;
    ss << f.rdbuf();
    *out = ss.str();
    return bool(f) || f.eof();
}

// Served at / until the playground's files exist in the web directory.
const char kStatusPage[] = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>raftbook node</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}</style></head>
<body><h1>raftbook node</h1>
<p>The playground is not built into this node's web directory; here is the node's status.
Client API: <code>PUT/GET/DELETE /kv/KEY</code>, <code>GET /status</code>, <code>GET /metrics</code>.</p>
<pre id="s">loading...</pre>
<script>
async function poll() {
  try { document.getElementById('s').textContent = JSON.stringify(await (await fetch('/status')).json(), null, 2); }
  catch (e) { document.getElementById('s').textContent = 'node not answering: ' + e; }
}
poll(); setInterval(poll, 1000);
</script></body></html>
)";

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
    Impl(boost::asio::io_context& ioc, ClientApi* api, Metrics* metrics, std::string web_dir, std::string token)
        : ioc(ioc),
          acceptor(ioc),
          accept_retry(ioc),
          api(api),
          metrics(metrics),
          web_dir(std::move(web_dir)),
          token(std::move(token)) {}

    boost::asio::io_context& ioc;
    tcp::acceptor acceptor;
    boost::asio::steady_timer accept_retry;
    LogLimiter accept_log{std::chrono::minutes(1)};
    ClientApi* api;
    Metrics* metrics;
    std::string web_dir;
    std::string token;  // "" for none: see the top of http_server.h
    size_t max_clients = kDefaultMaxClients;
    size_t open_connections = 0;  // Sessions alive: each counts itself from its constructor to its destructor
    size_t refusals = 0;          // of those, the ones answering 503 over the cap
    bool stopped = false;

    void accept();
    // Past the cap and kMaxClientRefusals: the connection is closed unanswered, and
    // that logged at most once a minute.
    void close_unanswered(tcp::socket& socket);
    // After a failed accept: logs (once per kind of error a minute) and accepts again
    // after kAcceptRetry, so a listen queue the node cannot take from does not spin it.
    void accept_failed(const beast::error_code& ec);
    // Routes one request; `respond` may be called later (after a commit), once.
    void handle(const http::request<http::string_body>& req, std::function<void(Response)> respond);
    void handle_kv(const http::request<http::string_body>& req, const std::string& key, const Query& query,
                   std::function<void(Response)> respond);
    void handle_list(const Query& query, std::function<void(Response)> respond);
    void handle_members(const http::request<http::string_body>& req, const std::string& path, const Query& query,
                        std::function<void(Response)> respond);
    // What GET /watch asks for: the key or prefix, and the first revision it wants. Returns
    // "" or the rule the request breaks (400).
    std::string parse_watch(const http::request<http::string_body>& req, std::string* key, bool* prefix,
                            Index* from) const;
    Response serve_file(const std::string& path) const;
    // A change as its SSE event, made once and shared by every watcher it goes to.
    std::shared_ptr<const std::string> event_text(const WatchEvent& e);
    Index event_revision = 0;
    std::shared_ptr<const std::string> event;
};

std::shared_ptr<const std::string> HttpServer::Impl::event_text(const WatchEvent& e) {
    if (event && event_revision == e.revision) return event;
    nlohmann::json data = {{"key", e.key}, {"revision", e.revision}};
    if (e.deleted) {
        data["deleted"] = true;
    } else {
        data["value"] = e.value;
    }
    event_revision = e.revision;
    event = std::make_shared<const std::string>("id: " + std::to_string(e.revision) + "\ndata: " +
                                                data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                                                "\n\n");
    return event;
}

namespace {

// One client connection: read a request, answer it (perhaps after a commit), repeat.
// Requests on one connection are answered in order, one at a time, as HTTP/1.1 asks.
//
// GET /watch turns the connection into a stream of Server-Sent Events (watch()): the
// session subscribes to the node's WatchHub and writes each event as it comes, a
// comment every kWatchKeepAlive so that a vanished client is noticed, until the client
// closes, a write fails, it falls kMaxWatchBacklog behind, or the node stops.
class Session : public std::enable_shared_from_this<Session>, private Watcher {
public:
    Session(tcp::socket socket, std::shared_ptr<HttpServer::Impl> server)
        : stream_(std::move(socket)), server_(std::move(server)), keep_alive_timer_(stream_.get_executor()) {
        server_->open_connections++;
    }
    ~Session() {
        if (hub_) hub_->unsubscribe(this);
        server_->open_connections--;
        if (refusing_) server_->refusals--;
    }

    // A connection over the cap: 503 at once, without reading the request, then closed.
    void refuse(size_t served) {
        refusing_ = true;
        server_->refusals++;
        Response res = error_response(http::status::service_unavailable,
                                      "this node has " + std::to_string(served) +
                                          " open client connections, its limit (--max-clients " +
                                          std::to_string(server_->max_clients) +
                                          "); retry later, or restart the node with a higher --max-clients "
                                          "(the open-file limit, ulimit -n, bounds it too)");
        res.set(http::field::retry_after, "1");
        reply_and_close(std::move(res));
    }

    void read() {
        parser_.emplace();
        limit(*parser_);
        stream_.expires_after(kIdleTimeout);
        http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
            self->on_read(ec);
        });
    }

private:
    void on_read(beast::error_code ec) {
        if (std::optional<Response> res = read_error_response(ec)) {
            reply_and_close(std::move(*res));
            return;
        }
        if (ec) {  // the client went away, or idled out
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
            return;
        }
        server_->metrics->http_requests++;
        auto req = parser_->release();
        const bool keep_alive = req.keep_alive();
        const std::string target(req.target());
        if (req.method() == http::verb::get && is_watch_path(target.substr(0, target.find('?')))) {
            watch(req);
            return;
        }
        server_->handle(req, [self = shared_from_this(), keep_alive](Response res) {
            res.keep_alive(keep_alive);
            res.prepare_payload();
            self->write(std::move(res), !keep_alive);
        });
    }

    void write(Response res, bool close) {
        auto sp = std::make_shared<Response>(std::move(res));
        stream_.expires_after(kIdleTimeout);
        http::async_write(stream_, *sp, [self = shared_from_this(), sp, close](beast::error_code ec, size_t) {
            if (ec) return;
            if (close) {
                self->drain_and_close();
            } else {
                self->read();
            }
        });
    }

    // Answers and closes without reading what is left of the request: the rest of an
    // oversized body is read into a small buffer and dropped (for at most a second) so
    // that the client sees the answer rather than a connection reset.
    void reply_and_close(Response res) {
        res.keep_alive(false);
        res.prepare_payload();
        write(std::move(res), true);
    }

    void drain_and_close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.expires_after(kDrainTimeout);
        drain();
    }

    void drain() {
        stream_.async_read_some(boost::asio::buffer(drain_buf_), [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) {
                beast::error_code ignored;
                self->stream_.socket().close(ignored);
                return;
            }
            self->drain();
        });
    }

    // ---- GET /watch

    void watch(const http::request<http::string_body>& req) {
        WatchHub* hub = server_->api->watch_hub();
        Index from = 0;
        const std::string error = server_->parse_watch(req, &key, &prefix, &from);
        if (!error.empty()) {
            reply_and_close(error_response(http::status::bad_request, error));
            return;
        }
        if (!hub || hub->full()) {
            Response res = error_response(
                http::status::service_unavailable,
                hub ? "this node has " + std::to_string(hub->watchers()) + " watchers, its limit; watch through "
                          "another node or retry later"
                    : "this node serves no watches");
            res.set(http::field::retry_after, "1");
            reply_and_close(std::move(res));
            return;
        }
        stream_.expires_never();
        send("HTTP/1.1 200 OK\r\nServer: raftbook\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
             "Access-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: Raftbook-Revision\r\n"
             "Connection: close\r\nRaftbook-Revision: " + std::to_string(hub->last()) + "\r\n\r\n");
        if (!hub->subscribe(this, from)) {
            send(compacted_event("changes from revision " + std::to_string(from) + " on are no longer all held by this "
                                 "node (it keeps the last ones, from revision " + std::to_string(hub->floor() + 1) +
                                 "); re-list with GET /kv/?prefix=P and watch again from the listing's revision + 1",
                                 hub->floor()));
            closing_ = true;
            return;
        }
        hub_ = hub;
        watch_for_close();
        keep_alive();
    }

    static std::string sse(const char* event, const nlohmann::json& data) {
        return std::string("event: ") + event + "\ndata: " + data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
    }
    static std::string compacted_event(const std::string& why, Index floor) {
        return sse("compacted", {{"error", why}, {"revision", floor}});
    }

    void on_change(const WatchEvent& e) override {
        // The client reads too slowly: drop it, saying why. What is queued (every change
        // to its keys below e.revision) still goes out first, so the stream may resume
        // after it; at most kMaxWatchBacklog and one event stay queued until then.
        if (backlog_ > kMaxWatchBacklog) {
            send(compacted_event("this watcher fell more than " + std::to_string(kMaxWatchBacklog) +
                                     " bytes behind (its client reads too slowly) and is dropped; it was sent every "
                                     "change up to revision " + std::to_string(e.revision - 1) +
                                     ": watch again from revision " + std::to_string(e.revision) +
                                     " (Last-Event-ID: " + std::to_string(e.revision - 1) +
                                     "), or, if that is answered compacted, re-list with GET /kv/?prefix=P and watch "
                                     "from the listing's revision + 1",
                                 e.revision - 1));
            hub_->unsubscribe(this);
            hub_ = nullptr;
            closing_ = true;
            return;
        }
        send(server_->event_text(e));
    }

    void on_stale(bool stale, const std::string& why) override {
        send(stale ? sse("stale", {{"error", why}}) : sse("live", {{"message", why}}));
    }

    void on_close() override {
        hub_ = nullptr;
        close_watch();
    }

    // Queues bytes for the client. One write at a time, of everything queued meanwhile;
    // the first starts once the current handler is done, so that a batch of changes
    // applied together goes out to each watcher in one write, not two.
    void send(std::string text) { send(std::make_shared<const std::string>(std::move(text))); }
    void send(std::shared_ptr<const std::string> text) {
        if (closed_) return;
        backlog_ += text->size();
        out_.push_back(std::move(text));
        if (writing_) return;
        writing_ = true;
        boost::asio::post(stream_.get_executor(), [self = shared_from_this()] { self->write_next(); });
    }

    void write_next() {
        writing_ = true;
        in_flight_ = std::min(out_.size(), size_t(64));
        std::vector<boost::asio::const_buffer> buffers;
        for (size_t i = 0; i < in_flight_; i++) buffers.push_back(boost::asio::buffer(*out_[i]));
        stream_.expires_after(kIdleTimeout);  // a client that takes no bytes for this long is gone
        boost::asio::async_write(stream_, buffers,
                                 [self = shared_from_this()](beast::error_code ec, size_t) {
                                     self->writing_ = false;
                                     for (; self->in_flight_ > 0; self->in_flight_--) {
                                         self->backlog_ -= self->out_.front()->size();
                                         self->out_.pop_front();
                                     }
                                     if (ec || self->closed_) {
                                         self->close_watch();
                                     } else if (!self->out_.empty()) {
                                         self->write_next();
                                     } else {
                                         self->stream_.expires_never();
                                         if (self->closing_) self->close_watch();
                                     }
                                 });
    }

    // A watcher sends nothing more; its read ends when it closes the connection.
    void watch_for_close() {
        stream_.socket().async_read_some(boost::asio::buffer(drain_buf_),
                                         [self = shared_from_this()](beast::error_code ec, size_t) {
                                             if (ec) {
                                                 self->close_watch();
                                             } else if (!self->closed_) {
                                                 self->watch_for_close();
                                             }
                                         });
    }

    void keep_alive() {
        keep_alive_timer_.expires_after(kWatchKeepAlive);
        keep_alive_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec || self->closed_) return;
            self->send(": keep-alive\n\n");
            self->keep_alive();
        });
    }

    void close_watch() {
        if (closed_) return;
        closed_ = true;
        if (hub_) hub_->unsubscribe(this);
        hub_ = nullptr;
        keep_alive_timer_.cancel();
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.socket().close(ignored);
    }

    beast::tcp_stream stream_;
    std::shared_ptr<HttpServer::Impl> server_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    char drain_buf_[4096];
    bool refusing_ = false;
    // Watching:
    WatchHub* hub_ = nullptr;  // subscribed to it
    boost::asio::steady_timer keep_alive_timer_;
    std::deque<std::shared_ptr<const std::string>> out_;  // the first in_flight_ are being written
    size_t in_flight_ = 0;
    size_t backlog_ = 0;  // bytes in out_
    bool writing_ = false;
    bool closing_ = false;         // close once out_ is written
    bool closed_ = false;
};

}  // namespace

void HttpServer::Impl::accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (self->stopped) return;
        if (ec) {
            self->accept_failed(ec);
            return;
        }
        const size_t served = self->open_connections - self->refusals;
        if (served >= self->max_clients && self->refusals >= kMaxClientRefusals) {
            self->close_unanswered(socket);
        } else {
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            auto session = std::make_shared<Session>(std::move(socket), self);
            if (served >= self->max_clients) {
                session->refuse(served);
            } else {
                session->read();
            }
        }
        self->accept();
    });
}

void HttpServer::Impl::close_unanswered(tcp::socket& socket) {
    beast::error_code ignored;
    socket.close(ignored);
    uint64_t suppressed = 0;
    if (accept_log.allow("over the cap", &suppressed))
        log_line("closed a client connection at once, unanswered: %zu are open (--max-clients %zu) and %zu more "
                 "are being answered 503%s",
                 open_connections - refusals, max_clients, refusals,
                 LogLimiter::held_back(suppressed).c_str());
}

void HttpServer::Impl::accept_failed(const beast::error_code& ec) {
    uint64_t suppressed = 0;
    if (accept_log.allow(ec.message(), &suppressed))
        log_line("cannot accept HTTP connections: %s (%zu open); retrying every %lld ms, new clients wait in the "
                 "listen queue. If it persists, raise the open-file limit (ulimit -n) or lower --max-clients%s",
                 ec.message().c_str(), open_connections, (long long)kAcceptRetry.count(),
                 LogLimiter::held_back(suppressed).c_str());
    accept_retry.expires_after(kAcceptRetry);
    accept_retry.async_wait([self = shared_from_this()](const beast::error_code& wait_ec) {
        if (!wait_ec && !self->stopped) self->accept();
    });
}

void HttpServer::Impl::handle(const http::request<http::string_body>& req, std::function<void(Response)> respond) {
    std::string path;
    Query query;
    const std::string target_error = split_target(std::string(req.target()), &path, &query);
    if (!target_error.empty()) {
        respond(error_response(http::status::bad_request, target_error));
        return;
    }
    if (req.method() == http::verb::options) {
        respond(preflight_response());
        return;
    }
    const std::string refused = token_problem(req, token);
    if (!refused.empty()) {
        Response res = error_response(http::status::unauthorized, refused);
        res.set(http::field::www_authenticate, "Bearer");
        respond(std::move(res));
        return;
    }
    if (path.compare(0, 4, "/kv/") == 0 || path == "/kv") {
        handle_kv(req, path.size() > 4 ? path.substr(4) : "", query, std::move(respond));
        return;
    }
    if (path == "/members" || path.rfind("/members/", 0) == 0 || path == "/transfer-leader") {
        handle_members(req, path, query, std::move(respond));
        return;
    }
    if (req.method() != http::verb::get) {
        Response res = error_response(http::status::method_not_allowed,
                                      "only GET is allowed on " + path.substr(0, 200) + "; the key-value API is /kv/KEY");
        res.set(http::field::allow, "GET");
        respond(std::move(res));
        return;
    }
    if (path == "/status") {
        respond(make_response(http::status::ok, api->status().dump(2) + "\n", "application/json"));
    } else if (path == "/metrics") {
        respond(make_response(http::status::ok, api->metrics_text(), "text/plain; version=0.0.4"));
    } else if (is_watch_path(path)) {  // a connection streams it (Session::watch); here only its errors
        std::string key;
        bool prefix = false;
        Index from = 0;
        const std::string error = parse_watch(req, &key, &prefix, &from);
        respond(error_response(http::status::bad_request,
                               error.empty() ? "a watch streams on a connection of its own" : error));
    } else {
        respond(serve_file(path));
    }
}

namespace {

// 503 for a request the cluster could not serve (no leader, no quorum, a timeout).
Response unavailable(const ClientReply& reply) {
    Response res = make_response(http::status::service_unavailable,
                                 dump({{"error", reply.error}, {"leader", reply.leader_hint}}), "application/json");
    res.set(http::field::retry_after, "1");
    return res;
}

}  // namespace

void HttpServer::Impl::handle_kv(const http::request<http::string_body>& req, const std::string& key,
                                 const Query& query, std::function<void(Response)> respond) {
    if (key.empty() && req.method() == http::verb::get) {
        handle_list(query, std::move(respond));
        return;
    }
    const std::string key_error = check_key(key);
    if (!key_error.empty()) {
        respond(error_response(http::status::bad_request, key_error));
        return;
    }
    if (!is_utf8(key)) {
        respond(error_response(http::status::bad_request, "key must be UTF-8 text"));
        return;
    }
    if (!is_utf8(req.body())) {
        respond(error_response(http::status::bad_request, "value must be UTF-8 text"));
        return;
    }
    ClientRequest request;
    request.key = key;
    switch (req.method()) {
        case http::verb::get: request.op = "get"; break;
        case http::verb::put:
            request.op = "put";
            request.value = req.body();
            break;
        case http::verb::delete_: request.op = "del"; break;
        default: {
            Response res = error_response(http::status::method_not_allowed, "use GET, PUT or DELETE on /kv/KEY");
            res.set(http::field::allow, "GET, PUT, DELETE");
            respond(std::move(res));
            return;
        }
    }
    const bool is_get = request.op == "get";
    std::string error = is_get ? only_params(query, {}, "GET /kv/KEY takes none; to list keys, GET /kv/?prefix=P")
                               : only_params(query, {"prev_value", "prev_revision"},
                                             "PUT and DELETE take prev_value or prev_revision");
    if (error.empty() && query.count("prev_value") && query.count("prev_revision"))
        error = "give prev_value or prev_revision, not both";
    if (error.empty() && query.count("prev_revision")) {
        request.condition = "revision";
        if (!parse_count(query.at("prev_revision"), &request.prev_revision))
            error = "prev_revision must be a non-negative integer (the key's revision; 0: the key must not exist), got '" +
                    query.at("prev_revision").substr(0, 100) + "'";
    }
    if (error.empty() && query.count("prev_value")) {
        request.condition = "value";
        request.prev_value = query.at("prev_value");
    }
    const auto idempotency = req.find("Idempotency-Key");
    if (error.empty() && idempotency != req.end()) {
        if (is_get) {
            error = "Idempotency-Key is for writes (PUT, DELETE); a GET is safe to retry as it is";
        } else {
            request.idempotency_key = std::string(idempotency->value());
            error = check_idempotency_key(request.idempotency_key);
            if (error.empty() && !is_utf8(request.idempotency_key)) error = "the idempotency key must be UTF-8 text";
        }
    }
    if (error.empty()) error = check_request(request);
    if (!error.empty()) {
        respond(error_response(http::status::bad_request, error));
        return;
    }
    api->submit(std::move(request), [respond = std::move(respond), key, is_get](const ClientReply& reply) {
        if (!reply.ok) {
            respond(unavailable(reply));
            return;
        }
        Response res;
        if (is_get && !reply.found) {
            res = error_response(http::status::not_found, "key '" + key + "' not found");
        } else if (is_get) {
            res = make_response(http::status::ok, reply.value, "application/octet-stream");
        } else if (reply.condition_failed) {
            res = make_response(
                http::status::precondition_failed,
                dump({{"error", reply.found ? "condition failed: '" + key + "' is at revision " +
                                                 std::to_string(reply.revision) + "; nothing changed"
                                           : "condition failed: '" + key + "' does not exist; nothing changed"},
                      {"revision", reply.revision},
                      {"value", reply.found ? nlohmann::json(reply.value) : nlohmann::json()}}),
                "application/json");
        } else {
            res = make_response(http::status::ok, dump({{"revision", reply.revision}}), "application/json");
        }
        res.set("Raftbook-Revision", std::to_string(reply.revision));
        respond(std::move(res));
    });
}

void HttpServer::Impl::handle_members(const http::request<http::string_body>& req, const std::string& path,
                                      const Query& query, std::function<void(Response)> respond) {
    const MembersRequest m =
        parse_members_request(std::string(req.method_string()), path, req.body());
    if (!query.empty()) {
        respond(error_response(http::status::bad_request,
                               "unknown query parameter '" + query.begin()->first.substr(0, 100) +
                                   "' (the membership routes take none)"));
        return;
    }
    if (!m.matched) {  // GET /members
        respond(make_response(http::status::ok, dump(members_view(api->status())), "application/json"));
        return;
    }
    if (m.status != 0) {
        Response res = error_response(http::status(m.status), m.error);
        if (!m.allow.empty()) res.set(http::field::allow, m.allow);
        respond(std::move(res));
        return;
    }
    api->submit(m.request, [respond = std::move(respond), request = m.request](const ClientReply& reply) {
        const int status = members_reply_status(reply);
        Response res = make_response(http::status(status), dump(members_reply_body(request, reply)), "application/json");
        if (status == 503) res.set(http::field::retry_after, "1");
        respond(std::move(res));
    });
}

void HttpServer::Impl::handle_list(const Query& query, std::function<void(Response)> respond) {
    ClientRequest request;
    request.op = "list";
    request.limit = kDefaultListLimit;
    std::string error = only_params(query, {"prefix", "limit", "after"},
                                    "GET /kv/ lists keys: prefix, limit, after; to read one key, GET /kv/KEY");
    if (error.empty() && query.count("limit") && !parse_count(query.at("limit"), &request.limit))
        error = "limit must be from 1 to " + std::to_string(kMaxListLimit) + ", got '" + query.at("limit").substr(0, 100) + "'";
    if (query.count("prefix")) request.key = query.at("prefix");
    if (query.count("after")) request.after = query.at("after");
    if (error.empty()) error = check_request(request);
    if (!error.empty()) {
        respond(error_response(http::status::bad_request, error));
        return;
    }
    api->submit(std::move(request), [respond = std::move(respond)](const ClientReply& reply) {
        if (!reply.ok) {
            respond(unavailable(reply));
            return;
        }
        nlohmann::json items = nlohmann::json::array();
        for (const KeyValue& kv : reply.items)
            items.push_back({{"key", kv.key}, {"value", kv.value}, {"revision", kv.revision}});
        Response res = make_response(http::status::ok,
                                     dump({{"items", std::move(items)}, {"more", reply.more}, {"revision", reply.revision}}),
                                     "application/json");
        res.set("Raftbook-Revision", std::to_string(reply.revision));
        respond(std::move(res));
    });
}

std::string HttpServer::Impl::parse_watch(const http::request<http::string_body>& req, std::string* key, bool* prefix,
                                          Index* from) const {
    std::string path;
    Query query;
    std::string error = split_target(std::string(req.target()), &path, &query);
    if (!error.empty()) return error;
    *key = path.size() > 7 ? path.substr(7) : "";
    *prefix = key->empty();
    error = only_params(query, {"prefix", "from_revision"},
                        "GET /watch/KEY or /watch/?prefix=P take from_revision");
    if (!error.empty()) return error;
    if (*prefix) {
        *key = query.count("prefix") ? query.at("prefix") : "";
        if (key->size() > kMaxKeyBytes)
            return "prefix is " + std::to_string(key->size()) + " bytes, over the key limit of " +
                   std::to_string(kMaxKeyBytes);
    } else {
        if (query.count("prefix")) return "give a key (/watch/KEY) or a prefix (/watch/?prefix=P), not both";
        error = check_key(*key);
        if (!error.empty()) return error;
        if (!is_utf8(*key)) return "key must be UTF-8 text";
    }
    const WatchHub* hub = api->watch_hub();
    *from = hub ? hub->last() + 1 : 1;  // by default, changes from now on
    if (query.count("from_revision") && !parse_count(query.at("from_revision"), from))
        return "from_revision must be a non-negative integer (a revision), got '" +
               query.at("from_revision").substr(0, 100) + "'";
    const auto last_event = req.find("Last-Event-ID");
    if (last_event != req.end()) {  // a resumed EventSource: the event after the last one it saw
        if (!parse_count(std::string(last_event->value()), from) || *from == UINT64_MAX)
            return "Last-Event-ID must be a revision, got '" + std::string(last_event->value()).substr(0, 100) + "'";
        ++*from;
    }
    return "";
}

Response HttpServer::Impl::serve_file(const std::string& path) const {
    // Only plain relative paths inside the web directory: no "..", no hidden files.
    if (path.find("/.") != std::string::npos || path.find('\\') != std::string::npos ||
        path.find('\0') != std::string::npos) {
        return error_response(http::status::not_found, "no such file: " + path.substr(0, 200));
    }
    const std::string file = web_dir + (path.back() == '/' ? path + "index.html" : path);
    std::string body;
    if (read_file(file, &body)) return make_response(http::status::ok, std::move(body), content_type_for(file));
    if (path == "/") return make_response(http::status::ok, kStatusPage, "text/html; charset=utf-8");
    return error_response(http::status::not_found, "no such file: " + path.substr(0, 200));
}

HttpServer::HttpServer(boost::asio::io_context& ioc, ClientApi* api, Metrics* metrics, std::string web_dir,
                       std::string token)
    : impl_(std::make_shared<Impl>(ioc, api, metrics, std::move(web_dir), std::move(token))) {}

HttpServer::~HttpServer() { stop(); }

bool HttpServer::listen(const std::string& host, uint16_t port, size_t max_clients, std::string* error) {
    impl_->max_clients = max_clients;
    beast::error_code ec;
    const auto addr = boost::asio::ip::make_address(host, ec);
    if (ec) {
        *error = "--http host '" + host + "' is not an IP address";
        return false;
    }
    const tcp::endpoint ep(addr, port);
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(ep, ec);
    if (!ec) impl_->acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) {
        *error = "cannot serve HTTP on " + host + ":" + std::to_string(port) + ": " + ec.message() +
                 " (is another process using that port?)";
        return false;
    }
    impl_->accept();
    return true;
}

void HttpServer::answer(const std::string& bytes, std::function<void(int status, const std::string& body)> done) {
    http::request_parser<http::string_body> parser;
    limit(parser);
    beast::error_code ec;
    boost::asio::const_buffer rest(bytes.data(), bytes.size());
    while (!ec && !parser.is_done() && rest.size() > 0) {
        const size_t used = parser.put(rest, ec);
        if (used == 0) break;
        rest += used;
    }
    if (ec == http::error::need_more) ec = {};
    if (!ec && !parser.is_done()) parser.put_eof(ec);  // the bytes end: the client closed its side
    if (std::optional<Response> res = read_error_response(ec)) {
        done(res->result_int(), res->body());
        return;
    }
    if (ec) return;
    impl_->handle(parser.release(), [done = std::move(done)](Response res) { done(res.result_int(), res.body()); });
}

void HttpServer::stop() {
    if (!impl_->stopped)
        if (WatchHub* hub = impl_->api->watch_hub()) hub->close_all();
    impl_->stopped = true;
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->accept_retry.cancel();
}

size_t HttpServer::open_connections() const { return impl_->open_connections; }

}  // namespace raftbook
