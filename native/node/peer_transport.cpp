// Peer connections over websocketpp: dialling, Hello, routes by node id, relaying and
// refusing bad frames; see peer_transport.h.
#include "native/node/peer_transport.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include "core/auth/auth.h"

namespace raftbook {

namespace {

using WsServer = websocketpp::server<websocketpp::config::asio>;
using WsClient = websocketpp::client<websocketpp::config::asio_client>;
using Hdl = websocketpp::connection_hdl;
using Opcode = websocketpp::frame::opcode::value;
using WsError = websocketpp::lib::error_code;
namespace close_code = websocketpp::close::status;

constexpr std::chrono::milliseconds kDialBackoffMin(100);
constexpr std::chrono::milliseconds kDialBackoffMax(2000);
// A peer that does not read (stopped, stalled) makes frames queue up; past this many
// buffered bytes new frames to it are dropped, as if the network lost them.
constexpr size_t kMaxBufferedBytes = 32 * 1024 * 1024;
constexpr size_t kMaxCloseReason = 123;  // RFC 6455: a close reason fits in 123 bytes
constexpr std::chrono::milliseconds kAcceptRetry(100);
// How long a learned route to a browser member holds after the last frame from it
// arrived that way (see peer_transport.h: routing): a few heartbeats' worth, so a
// browser that moved to another native node is flooded to, and found, within a second.
constexpr std::chrono::milliseconds kLearnedRouteFresh(1000);

// One connection, whichever side opened it: accepted by our server endpoint or
// dialled by our client endpoint (two different types in websocketpp, hence the pair).
struct Conn {
    WsServer::connection_ptr accepted;
    WsClient::connection_ptr dialled;
    NodeId dialled_peer = kNoNode;  // dialled: the node we meant to reach
    NodeId peer = kNoNode;          // known once its Hello arrived
    std::string remote;             // the other end's address, for log lines
    bool closing = false;
    // The handshake (peer_transport.h): the nonce our Hello carries, and whether the
    // other side is admitted (its proof checked out, or this node has no token). Until
    // then the connection is no route.
    std::string nonce;
    bool admitted = false;
    std::string offered_cluster;  // a Hello's cluster id, adopted once admitted (we had none)

    WsError send(const std::string& bytes, Opcode op) {
        return accepted ? accepted->send(bytes, op) : dialled->send(bytes, op);
    }
    size_t buffered() const { return accepted ? accepted->get_buffered_amount() : dialled->get_buffered_amount(); }
    void close(close_code::value code, const std::string& reason) {
        WsError ignored;
        const std::string r = reason.substr(0, kMaxCloseReason);
        if (accepted) {
            accepted->close(code, r, ignored);
        } else {
            dialled->close(code, r, ignored);
        }
    }
    close_code::value local_close_code() const {
        return accepted ? accepted->get_local_close_code() : dialled->get_local_close_code();
    }
    close_code::value remote_close_code() const {
        return accepted ? accepted->get_remote_close_code() : dialled->get_remote_close_code();
    }
    std::string remote_close_reason() const {
        return accepted ? accepted->get_remote_close_reason() : dialled->get_remote_close_reason();
    }
    std::string who() const {
        return peer != kNoNode ? "node " + std::to_string(peer) + " (" + remote + ")" : remote;
    }
};

// "127.0.0.1:4242" -> "127.0.0.1": misbehaviour is rate-limited per host, not per port.
std::string host_of(const std::string& remote) {
    const size_t colon = remote.rfind(':');
    return colon == std::string::npos ? remote : remote.substr(0, colon);
}

}  // namespace

struct PeerTransport::Impl {
    Impl(boost::asio::io_context& ioc, PeerTransportConfig config, Metrics* metrics, OnFrame on_frame, Adopt adopt)
        : ioc(ioc), cfg(std::move(config)), metrics(metrics), on_frame(std::move(on_frame)), adopt(std::move(adopt)) {}

    boost::asio::io_context& ioc;
    PeerTransportConfig cfg;
    Metrics* metrics;
    OnFrame on_frame;
    Adopt adopt;
    WsServer server;
    WsClient client;
    // Our own listener rather than websocketpp's: its accept loop (server::handle_accept)
    // starts the next accept at once after a failed one, so a node out of file
    // descriptors (EMFILE) would spin on a listen queue it cannot take from, and it
    // reports every failure as "Underlying Transport Error". Ours waits kAcceptRetry
    // after an error and logs the real one.
    boost::asio::ip::tcp::acceptor acceptor{ioc};
    boost::asio::steady_timer accept_retry{ioc};
    LogLimiter accept_log{std::chrono::minutes(1)};
    // Every connection accepted and not yet destroyed (its socket closes with it), to
    // keep them within cfg.max_accepted.
    std::vector<std::weak_ptr<WsServer::connection_type>> accepted;
    bool started = false;
    bool stopped = false;
    bool removed_reported = false;
    // The randomness of Hello nonces: the OS's (getrandom), never a seeded generator
    // whose next nonce could be told from the last ones.
    std::random_device entropy;

    std::map<Hdl, std::shared_ptr<Conn>, std::owner_less<Hdl>> conns;
    std::map<NodeId, std::shared_ptr<Conn>> routes;  // node id -> an open connection to it
    std::set<NodeId> browsers;                        // browser members (set_browsers)
    // Learned routes to browser members not connected here: the native peer whose
    // connection a frame from the browser last arrived on, and when.
    struct Learned {
        NodeId via = kNoNode;
        std::chrono::steady_clock::time_point at;
    };
    std::map<NodeId, Learned> learned;

    struct Dialer {
        std::string address;
        std::unique_ptr<boost::asio::steady_timer> timer;
        std::chrono::milliseconds backoff = kDialBackoffMin;
        bool dialing = false;
        bool unreachable_logged = false;
    };
    std::map<NodeId, Dialer> dialers;
    LogLimiter reject_log{std::chrono::seconds(10)};

    Opcode opcode() const { return cfg.wire == WireFormat::Json ? Opcode::text : Opcode::binary; }

    template <class Endpoint>
    void configure(Endpoint& ep) {
        ep.clear_access_channels(websocketpp::log::alevel::all);
        ep.clear_error_channels(websocketpp::log::elevel::all);
        ep.init_asio(&ioc);
        ep.set_max_message_size(kMaxFrameBytes);
        // Small frames go out at once (no Nagle delay). Set once the socket is connected:
        // websocketpp's socket_init_handler runs before the socket is opened.
        ep.set_tcp_pre_init_handler([&ep](Hdl h) {
            WsError ec;
            auto con = ep.get_con_from_hdl(h, ec);
            boost::system::error_code ignored;
            if (!ec) con->get_raw_socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
        });
        ep.set_open_handler([this](Hdl h) { on_open(h); });
        ep.set_close_handler([this](Hdl h) { on_closed(h); });
        ep.set_fail_handler([this](Hdl h) { on_closed(h); });
        ep.set_message_handler([this](Hdl h, typename Endpoint::message_ptr msg) {
            on_message(h, msg->get_payload(), msg->get_opcode());
        });
    }

    bool start(std::string* error) {
        configure(server);
        configure(client);
        server.set_validate_handler([this](Hdl h) {
            auto con = server.get_con_from_hdl(h);
            if (con->get_resource() == "/raft") return true;
            con->set_status(websocketpp::http::status_code::not_found);
            return false;
        });
        server.set_http_handler([this](Hdl h) {
            auto con = server.get_con_from_hdl(h);
            con->set_status(websocketpp::http::status_code::upgrade_required);
            con->set_body("This is a raftbook peer port: WebSocket at /raft, for other nodes only. "
                          "Clients use the node's --http address.\n");
        });
        boost::system::error_code ec;
        const auto addr = boost::asio::ip::make_address(cfg.listen_host, ec);
        if (ec) {
            *error = "--listen host '" + cfg.listen_host + "' is not an IP address";
            return false;
        }
        const boost::asio::ip::tcp::endpoint ep(addr, cfg.listen_port);
        acceptor.open(ep.protocol(), ec);
        if (!ec) acceptor.set_option(boost::asio::ip::tcp::acceptor::reuse_address(true), ec);
        if (!ec) acceptor.bind(ep, ec);
        if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
        if (ec) {
            *error = "cannot listen for peers on " + cfg.listen_host + ":" + std::to_string(cfg.listen_port) +
                     ": " + ec.message() + " (is another node using that port?)";
            return false;
        }
        started = true;
        set_peers(cfg.peers);
        accept();
        return true;
    }

    void set_peers(const std::map<NodeId, std::string>& peers) {
        cfg.peers = peers;
        if (!started || stopped) return;
        for (auto it = dialers.begin(); it != dialers.end();) {
            auto p = peers.find(it->first);
            if (p != peers.end() && p->second == it->second.address && !browsers.count(it->first)) {
                ++it;
                continue;
            }
            it->second.timer->cancel();  // a dial in flight completes and is not retried
            it = dialers.erase(it);
        }
        for (const auto& [id, address] : peers) {
            if (id == cfg.self || browsers.count(id) || dialers.count(id)) continue;  // a browser cannot be dialled
            Dialer& d = dialers[id];
            d.address = address;
            d.timer = std::make_unique<boost::asio::steady_timer>(ioc);
            dial(id);
        }
    }

    // Accepts one connection into a websocketpp connection and starts it (what
    // websocketpp's own accept loop does), then the next one. A connection that was
    // never started holds nothing but itself, so after a failed accept, or one over
    // the cap, it is dropped, and its socket closed with it.
    void accept() {
        if (stopped) return;
        WsServer::connection_ptr con = server.get_connection();
        acceptor.async_accept(con->get_raw_socket(), [this, con](const boost::system::error_code& ec) {
            if (ec == boost::asio::error::operation_aborted) return;  // the acceptor closed
            if (ec) {
                accept_failed(ec);
                return;
            }
            accepted.erase(std::remove_if(accepted.begin(), accepted.end(), [](const auto& a) { return a.expired(); }),
                           accepted.end());
            if (accepted.size() >= cfg.max_accepted) {
                refuse_over_cap(*con);
            } else {
                accepted.push_back(con);
                con->start();
            }
            accept();
        });
    }

    // Over cfg.max_accepted: the socket is closed before any handshake, and that logged
    // at most once a minute, with a count.
    void refuse_over_cap(WsServer::connection_type& con) {
        boost::system::error_code ec;
        const auto remote = con.get_raw_socket().remote_endpoint(ec);
        const std::string from = ec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
        con.get_raw_socket().close(ec);
        uint64_t suppressed = 0;
        if (accept_log.allow("over the cap", &suppressed))
            log_line("closed a peer connection from %s at once: %zu accepted peer connections are open, the limit "
                     "(members and connections still in their handshake, which times out in 5 s)%s. Only cluster "
                     "members should reach the peer port",
                     from.c_str(), accepted.size(),
                     LogLimiter::held_back(suppressed).c_str());
    }

    void accept_failed(const boost::system::error_code& ec) {
        uint64_t suppressed = 0;
        if (accept_log.allow(ec.message(), &suppressed))
            log_line("cannot accept peer connections: %s; retrying every %lld ms. If it persists, raise the "
                     "open-file limit (ulimit -n) or lower --max-clients%s",
                     ec.message().c_str(), (long long)kAcceptRetry.count(),
                     LogLimiter::held_back(suppressed).c_str());
        accept_retry.expires_after(kAcceptRetry);
        accept_retry.async_wait([this](const boost::system::error_code& wait_ec) {
            if (!wait_ec) accept();
        });
    }

    void stop() {
        stopped = true;
        boost::system::error_code ignored;
        acceptor.close(ignored);
        accept_retry.cancel();
        for (auto& [id, d] : dialers) d.timer->cancel();
        std::vector<std::shared_ptr<Conn>> open;  // close() may call back into on_closed
        for (auto& [h, c] : conns) open.push_back(c);
        for (auto& c : open) {
            c->closing = true;
            c->close(close_code::going_away, "node stopping");
        }
    }

    void dial(NodeId id) {
        auto it = dialers.find(id);
        if (it == dialers.end()) return;  // no longer a member
        Dialer& d = it->second;
        if (stopped || d.dialing || routes.count(id)) return;
        WsError ec;
        auto con = client.get_connection("ws://" + d.address + "/raft", ec);
        if (ec) {
            if (!d.unreachable_logged) log_line("peer %llu: bad address '%s': %s", (unsigned long long)id,
                                                d.address.c_str(), ec.message().c_str());
            d.unreachable_logged = true;
            schedule_dial(id);
            return;
        }
        auto c = std::make_shared<Conn>();
        c->dialled = con;
        c->dialled_peer = id;
        c->remote = d.address;
        conns[con->get_handle()] = c;
        d.dialing = true;
        client.connect(con);
    }

    void schedule_dial(NodeId id) {
        auto it = dialers.find(id);
        if (it == dialers.end()) return;
        Dialer& d = it->second;
        if (stopped || d.dialing || routes.count(id)) return;
        d.timer->expires_after(d.backoff);
        d.timer->async_wait([this, id](const boost::system::error_code& ec) {
            if (!ec) dial(id);
        });
        d.backoff = std::min(d.backoff * 2, kDialBackoffMax);
    }

    void on_open(Hdl h) {
        auto it = conns.find(h);
        std::shared_ptr<Conn> c;
        if (it != conns.end()) {
            c = it->second;
        } else {  // not one we dialled, so one we accepted
            c = std::make_shared<Conn>();
            c->accepted = server.get_con_from_hdl(h);
            c->remote = c->accepted->get_remote_endpoint();
            conns[h] = c;
        }
        if (stopped) {
            c->closing = true;
            c->close(close_code::going_away, "node stopping");
            return;
        }
        c->nonce = auth_nonce(uint64_t(entropy()) << 32 | entropy(), uint64_t(entropy()) << 32 | entropy());
        send_hello(*c);
    }

    void send_hello(Conn& c) {
        Frame hello;
        hello.type = MessageType::Hello;
        hello.cluster = cfg.cluster_id;
        hello.peer.type = MessageType::Hello;
        hello.peer.from = cfg.self;
        hello.nonce = c.nonce;
        send_bytes(c, encode_frame(hello, cfg.wire), opcode());
    }

    void on_closed(Hdl h) {
        auto it = conns.find(h);
        if (it == conns.end()) return;  // an accepted connection that failed before opening
        const std::shared_ptr<Conn> c = it->second;
        conns.erase(it);
        if (c->local_close_code() == close_code::message_too_big) {
            reject_logged(*c, "frame over the " + std::to_string(kMaxFrameBytes) + "-byte limit");
        }
        const close_code::value remote_code = c->remote_close_code();
        if (remote_code != close_code::normal && remote_code != close_code::going_away &&
            remote_code != close_code::no_status && remote_code != close_code::abnormal_close) {
            // The other side refused us: say why, or a misconfigured cluster is a mystery.
            uint64_t suppressed = 0;
            if (reject_log.allow("refused by " + c->remote, &suppressed))
                log_line("%s closed the connection: %s (code %d)", c->who().c_str(), c->remote_close_reason().c_str(),
                         int(remote_code));
        }
        if (remote_code == kCloseRemoved && cfg.on_removed && !removed_reported) {
            removed_reported = true;
            cfg.on_removed(c->remote_close_reason());
        }
        auto dialer = c->dialled ? dialers.find(c->dialled_peer) : dialers.end();
        if (dialer != dialers.end()) {
            Dialer& d = dialer->second;
            d.dialing = false;
            if (c->peer == kNoNode && !d.unreachable_logged && !stopped) {
                log_line("peer %llu unreachable at %s (%s); retrying every <= %lld ms",
                         (unsigned long long)c->dialled_peer, d.address.c_str(),
                         (c->dialled->get_transport_ec() ? c->dialled->get_transport_ec().message()
                                                         : c->dialled->get_ec().message())
                             .c_str(),
                         (long long)kDialBackoffMax.count());
                d.unreachable_logged = true;
            }
        }
        if (c->peer != kNoNode) {
            auto r = routes.find(c->peer);
            if (r != routes.end() && r->second == c) {
                routes.erase(r);
                for (auto& [other_h, other] : conns) {  // another connection to the same node?
                    if (other->peer == c->peer && !other->closing) {
                        routes[c->peer] = other;
                        break;
                    }
                }
                if (!routes.count(c->peer) && !stopped)
                    log_line("peer %llu disconnected (%s)", (unsigned long long)c->peer, c->remote.c_str());
            }
        }
        if (dialer != dialers.end()) {
            schedule_dial(c->dialled_peer);
        } else if (c->peer != kNoNode && dialers.count(c->peer)) {
            schedule_dial(c->peer);
        }
    }

    void on_message(Hdl h, const std::string& bytes, Opcode op) {
        auto it = conns.find(h);
        if (it == conns.end() || it->second->closing) return;
        const std::shared_ptr<Conn> c = it->second;
        if (c->peer != kNoNode) metrics->bytes_received[c->peer] += bytes.size();
        Frame f;
        std::string error;
        if (!decode_frame(bytes, op == Opcode::text ? WireFormat::Json : WireFormat::Cbor, &f, &error)) {
            reject(c, close_code::invalid_payload, "undecodable frame: " + error);
            return;
        }
        if (!check_cluster(c, f)) return;
        if (c->peer == kNoNode) {
            accept_hello(c, f);
            return;
        }
        if (!past_handshake(c, f)) return;
        if (f.type == MessageType::Hello) return;  // a repeated Hello says nothing new
        const bool from_browser = browsers.count(c->peer) > 0;
        if (!from_browser && f.peer.from != c->peer && browsers.count(f.peer.from))
            learned[f.peer.from] = {c->peer, std::chrono::steady_clock::now()};  // relayed to us by c->peer
        if (f.peer.to != kNoNode && f.peer.to != cfg.self) {
            // Relay (see the top of peer_transport.h): only a frame straight from a
            // browser may go around, so no frame takes more than two relay hops.
            route(f.peer.to, bytes, op, c.get(), from_browser);
            return;
        }
        on_frame(f, c->peer);
    }

    // Sends `bytes` towards node `to`: over a connection to it; else, when `around`, over
    // the fresh learned route to it or, with none, to every connected native peer. Never
    // back over `arrived_on`. Whether any connection took it.
    bool route(NodeId to, const std::string& bytes, Opcode op, const Conn* arrived_on, bool around) {
        auto r = routes.find(to);
        if (r != routes.end()) return r->second.get() != arrived_on && send_bytes(*r->second, bytes, op);
        if (!around) return false;
        if (const std::shared_ptr<Conn> via = learned_route(to)) return send_bytes(*via, bytes, op);
        bool sent = false;
        for (auto& [id, conn] : routes)  // the native members (a connection from anyone else gets nothing)
            if (cfg.peers.count(id) && !browsers.count(id) && conn.get() != arrived_on)
                sent = send_bytes(*conn, bytes, op) || sent;
        return sent;
    }

    // The connection to the native peer a browser was last heard through, while fresh.
    std::shared_ptr<Conn> learned_route(NodeId browser) const {
        auto l = learned.find(browser);
        if (l == learned.end() || std::chrono::steady_clock::now() - l->second.at > kLearnedRouteFresh) return nullptr;
        auto r = routes.find(l->second.via);
        return r == routes.end() ? nullptr : r->second;
    }

    // Whether the frame's cluster id is this node's (or one it may carry: see the top
    // of peer_transport.h); adopts a Hello's id when this node has none. Else closes
    // the connection, naming both ids.
    bool check_cluster(const std::shared_ptr<Conn>& c, const Frame& f) {
        const bool hello = f.type == MessageType::Hello;
        const bool handshake = hello || f.type == MessageType::Auth;
        if (handshake && f.cluster.empty()) return true;  // a fresh member: it learns the id from us, or waits too
        if (cfg.cluster_id.empty()) {
            if (!handshake) {
                reject(c, close_code::policy_violation,
                       "this node has not learned its cluster id yet, so it takes nothing but Hellos; got " +
                           std::string(message_type_name(f.type)));
                return false;
            }
            if (!hello) return true;  // an Auth: the id to adopt is its Hello's
            if (cfg.token.empty() || c->admitted) return adopt_cluster(c, f.cluster);
            c->offered_cluster = f.cluster;  // not from a peer that has not proved it knows the token
            return true;
        }
        if (f.cluster == cfg.cluster_id) return true;
        const std::string theirs = "'" + f.cluster.substr(0, 64) + "'";
        reject(c, close_code::policy_violation,
               f.cluster.empty() ? std::string(message_type_name(f.type)) +
                                       " frame without a cluster id; this is cluster '" + cfg.cluster_id + "'"
                                 : "frame for cluster " + theirs + ", this is cluster '" + cfg.cluster_id + "'");
        return false;
    }

    // Takes a peer's cluster id as this node's (through the host), or closes the
    // connection with the host's reason.
    bool adopt_cluster(const std::shared_ptr<Conn>& c, const std::string& id) {
        const std::string refused = adopt ? adopt(id) : "this node adopts no cluster id";
        if (!refused.empty()) {
            reject(c, close_code::policy_violation, "cannot join cluster '" + id.substr(0, 64) + "': " + refused);
            return false;
        }
        cfg.cluster_id = id;
        for (auto& [h, other] : conns)  // the fresh members among our peers learn it from us
            if (other != c && !other->closing) send_hello(*other);
        return true;
    }

    void accept_hello(const std::shared_ptr<Conn>& c, const Frame& f) {
        if (f.type != MessageType::Hello) {
            reject(c, close_code::policy_violation,
                   std::string("first frame must be Hello, got ") + message_type_name(f.type));
            return;
        }
        const NodeId from = f.peer.from;
        if (from == kNoNode || from == cfg.self) {
            reject(c, close_code::policy_violation, "Hello names node " + std::to_string(from) +
                                                        ", which cannot be a peer of node " + std::to_string(cfg.self));
            return;
        }
        if (c->dialled && from != c->dialled_peer) {
            reject(c, close_code::policy_violation,
                   "dialled node " + std::to_string(c->dialled_peer) + " but node " + std::to_string(from) +
                       " answered; check --cluster");
            return;
        }
        const std::string refused = cfg.refuse_peer ? cfg.refuse_peer(from) : "";
        if (!refused.empty()) {
            reject(c, close_code::value(kCloseRemoved), refused);
            return;
        }
        c->peer = from;
        if (cfg.token.empty()) {
            admit(c);
            return;
        }
        Frame auth;
        auth.type = MessageType::Auth;
        auth.cluster = cfg.cluster_id;
        auth.peer.type = MessageType::Auth;
        auth.peer.from = cfg.self;
        auth.proof = auth_proof(cfg.token, f.nonce, cfg.self);
        send_bytes(*c, encode_frame(auth, cfg.wire), opcode());
    }

    // The token step, for a frame after the Hello: false when the frame is the
    // handshake's (an Auth, a repeated Hello) or the connection is closed for it. With a
    // token, the first frame must be an Auth with the right proof for our nonce; a node
    // without one ignores Auth frames.
    bool past_handshake(const std::shared_ptr<Conn>& c, const Frame& f) {
        if (c->admitted) return f.type != MessageType::Auth;
        const std::string who = "node " + std::to_string(c->peer);
        if (f.type == MessageType::Hello) return false;
        if (f.type != MessageType::Auth) {
            reject(c, close_code::policy_violation,
                   "this cluster needs a token: start " + who + " with the cluster's --token-file");
            return false;
        }
        if (!auth_proof_ok(cfg.token, c->nonce, c->peer, f.proof)) {
            reject(c, close_code::policy_violation,
                   "wrong token: " + who + "'s proof does not match node " + std::to_string(cfg.self) +
                       "'s token; give both the cluster's --token-file");
            return false;
        }
        if (cfg.cluster_id.empty() && !c->offered_cluster.empty() && !adopt_cluster(c, c->offered_cluster))
            return false;
        admit(c);
        return false;
    }

    // The other side passed the handshake: the connection is a route to it.
    void admit(const std::shared_ptr<Conn>& c) {
        c->admitted = true;
        const NodeId from = c->peer;
        if (!routes.count(from)) {
            routes[from] = c;
            log_line("peer %llu connected (%s %s)", (unsigned long long)from, c->dialled ? "dialled" : "accepted",
                     c->remote.c_str());
        }
        auto d = dialers.find(from);
        if (d != dialers.end()) {
            d->second.backoff = kDialBackoffMin;
            d->second.unreachable_logged = false;
            d->second.timer->cancel();
        }
    }

    void reject(const std::shared_ptr<Conn>& c, close_code::value code, const std::string& reason) {
        reject_logged(*c, reason);
        c->closing = true;
        c->close(code, reason);
    }

    void reject_logged(const Conn& c, const std::string& reason) {
        metrics->peer_frames_rejected++;
        uint64_t suppressed = 0;
        if (!reject_log.allow(c.peer != kNoNode ? std::to_string(c.peer) : host_of(c.remote), &suppressed)) return;
        log_line("closed peer connection from %s: %s%s", c.who().c_str(), reason.c_str(),
                 LogLimiter::held_back(suppressed).c_str());
    }

    bool send_bytes(Conn& c, const std::string& bytes, Opcode op) {
        if (c.closing || c.buffered() > kMaxBufferedBytes) return false;
        if (c.send(bytes, op)) return false;
        if (c.peer != kNoNode) metrics->bytes_sent[c.peer] += bytes.size();
        return true;
    }
};

PeerTransport::PeerTransport(boost::asio::io_context& ioc, PeerTransportConfig config, Metrics* metrics,
                             OnFrame on_frame, Adopt adopt)
    : impl_(std::make_unique<Impl>(ioc, std::move(config), metrics, std::move(on_frame), std::move(adopt))) {}

PeerTransport::~PeerTransport() = default;

bool PeerTransport::start(std::string* error) { return impl_->start(error); }

void PeerTransport::stop() { impl_->stop(); }

bool PeerTransport::send(NodeId to, Frame frame) {
    const bool browser = impl_->browsers.count(to) > 0;
    if (!browser && !impl_->routes.count(to)) return false;
    frame.cluster = impl_->cfg.cluster_id;
    return impl_->route(to, encode_frame(frame, impl_->cfg.wire), impl_->opcode(), nullptr, browser);
}

bool PeerTransport::connected(NodeId id) const { return impl_->routes.count(id) > 0; }

void PeerTransport::set_peers(const std::map<NodeId, std::string>& peers) { impl_->set_peers(peers); }

void PeerTransport::set_browsers(const std::set<NodeId>& browsers) {
    impl_->browsers = browsers;
    for (auto it = impl_->learned.begin(); it != impl_->learned.end();)
        it = browsers.count(it->first) ? std::next(it) : impl_->learned.erase(it);
}

NodeId PeerTransport::via(NodeId browser) const {
    if (impl_->routes.count(browser)) return impl_->cfg.self;
    return impl_->learned_route(browser) ? impl_->learned.at(browser).via : kNoNode;
}

}  // namespace raftbook
