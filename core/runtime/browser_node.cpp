// The page's live node: NodeRuntime with one uplink, an in-memory disk and the page's
// clock; see browser_node.h.
//
// The link's handshake (core/auth/auth.h), on every new link:
//   link_up      our Hello goes out, carrying a fresh nonce;
//   their Hello  must be the first frame, from the node the page dialled. With a
//                token, our Auth answers their nonce at once;
//   their Auth   with a token, must prove the token for our nonce before any other
//                frame is taken; a wrong proof or another frame first closes the link.
//                Without a token, Auth frames are ignored.
// Only then is the link a route: until it is, send() says there is none.
//
// The disk is memory: write() only notes the id, and each input ends by reporting every
// noted write persisted and running the Ready loop until nothing is left (settle), so
// persisted() follows its write within the same input and never from inside write().
#include "core/runtime/browser_node.h"

#include <algorithm>
#include <deque>

#include "core/auth/auth.h"

namespace raftbook {

namespace {

// At most `max` bytes of `s`, cut at a character boundary (a status must stay UTF-8).
std::string utf8_prefix(const std::string& s, size_t max) {
    size_t n = std::min(max, s.size());
    while (n > 0 && n < s.size() && (uint8_t(s[n]) & 0xC0) == 0x80) n--;
    return s.substr(0, n);
}

constexpr TimeMs kJoinRetryMs = 1000;      // a failed request to join is sent again after this
constexpr size_t kLogTail = 20;            // entries status() shows
constexpr size_t kRecentFrames = 64;       // frames up and down the link status() shows

uint64_t mix(uint64_t z) {  // splitmix64: spreads the host's randomness
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

const char* entry_type_name(EntryType t) {
    switch (t) {
        case EntryType::Command: return "Command";
        case EntryType::NoOp: return "NoOp";
        case EntryType::Config: return "Config";
    }
    return "?";
}

// A frame that went up or came down the link, as status() shows it: what the live
// view draws as messages in flight, this tab's side of them (web/js/live_state.js).
struct FrameSeen {
    TimeMs at = 0;
    bool sent = false;  // up the link; else down it
    MessageType type = MessageType::Hello;
    NodeId from = kNoNode, to = kNoNode;
    Term term = 0;
    Index index = 0;
    Term log_term = 0;
    Index commit = 0;
    size_t entries = 0;
    bool reject = false;
    uint64_t offset = 0, total = 0;  // Snapshot (offset: also SnapshotResp)
    std::string op, key;  // ClientRequest
    bool ok = false;      // ClientReply

    nlohmann::json to_json() const {
        nlohmann::json j = {{"at_ms", at},        {"dir", sent ? "sent" : "received"},
                            {"type", message_type_name(type)},
                            {"from", from},       {"to", to},
                            {"term", term},       {"index", index},
                            {"log_term", log_term}, {"commit", commit},
                            {"entries", entries}, {"reject", reject}};
        if (type == MessageType::Snapshot) j["total"] = total;
        if (type == MessageType::Snapshot || type == MessageType::SnapshotResp) j["offset"] = offset;
        if (type == MessageType::ClientRequest) {
            j["op"] = op;
            j["key"] = key;
        }
        if (type == MessageType::ClientReply) j["ok"] = ok;
        return j;
    }
};

}  // namespace

struct BrowserNode::Impl {
    BrowserNodeConfig cfg;
    TimeMs now = 0;
    std::unique_ptr<NodeRuntime> runtime;

    // The link.
    NodeId via = kNoNode;  // kNoNode: no link
    uint64_t links = 0;    // links opened so far: each Hello's nonce is new
    std::string nonce;     // sent in our Hello
    std::string their_nonce;
    bool heard_hello = false;
    bool proven = false;   // their proof checked out (or there is no token)
    std::vector<std::string> outbox;
    std::deque<FrameSeen> recent;  // the last kRecentFrames frames up and down the link, oldest first

    // The disk: writes noted, and reported persisted by settle().
    uint64_t written = 0, reported = 0;

    // Joining and leaving.
    bool joined = false;
    bool removed = false;
    bool join_in_flight = false;
    TimeMs next_join_at = 0;
    std::string join_error;

    bool link_ready() const { return via != kNoNode && heard_hello && proven; }
    std::string node_name(NodeId n) const { return "node " + std::to_string(n); }

    void queue(Frame f) {
        f.cluster = cfg.cluster_id;
        f.peer.from = f.peer.from == kNoNode ? cfg.id : f.peer.from;
        outbox.push_back(encode_frame(f, WireFormat::Json));
        note(f, true);
    }

    // Keeps `f` among the recent frames. A frame that names no peer at the link's other
    // end (Hello, Auth) is between this node and `via`.
    void note(const Frame& f, bool sent) {
        FrameSeen r;
        r.at = now;
        r.sent = sent;
        r.type = f.type;
        const Message& m = f.peer;
        r.from = m.from == kNoNode ? (sent ? cfg.id : via) : m.from;
        r.to = m.to == kNoNode ? (sent ? via : cfg.id) : m.to;
        r.term = m.term;
        r.index = m.index;
        r.log_term = m.log_term;
        r.commit = m.commit;
        r.entries = m.entries.size();
        r.reject = m.reject;
        r.offset = m.chunk().offset;
        r.total = m.chunk().total;
        r.op = f.request.op;
        r.key = utf8_prefix(f.request.key, 64);
        r.ok = f.reply.ok;
        recent.push_back(std::move(r));
        if (recent.size() > kRecentFrames) recent.pop_front();
    }
};

BrowserNode::BrowserNode(BrowserNodeConfig config, TimeMs now) : impl_(std::make_unique<Impl>()) {
    Impl& s = *impl_;
    s.cfg = std::move(config);
    s.now = now;
    RuntimeConfig rc = s.cfg.runtime;
    rc.raft.id = s.cfg.id;
    // The configuration a member showed: in force until the log or a snapshot holds one
    // (membership.h). This node is no member of it, so it never campaigns before it joins.
    rc.raft.members = s.cfg.membership;
    rc.raft.peers.clear();
    rc.raft.random_seed = mix(s.cfg.random_hi ^ mix(s.cfg.random_lo));
    rc.session_seed = mix(s.cfg.random_lo ^ mix(s.cfg.random_hi + 1));
    s.runtime = std::make_unique<NodeRuntime>(rc, Restored{}, static_cast<RuntimeHost*>(this));
    settle();
}

BrowserNode::~BrowserNode() = default;

// ---------------------------------------------------------------- the uplink

void BrowserNode::link_up(NodeId via, TimeMs now) {
    Impl& s = *impl_;
    s.now = now;
    s.via = via;
    s.links++;
    s.nonce = auth_nonce(mix(s.cfg.random_hi + s.links), mix(s.cfg.random_lo ^ mix(s.links)));
    s.their_nonce.clear();
    s.heard_hello = false;
    s.proven = s.cfg.token.empty();
    s.outbox.clear();  // frames for an earlier link are stale
    Frame hello;
    hello.type = MessageType::Hello;
    hello.peer.type = MessageType::Hello;
    hello.nonce = s.nonce;
    s.queue(std::move(hello));
}

void BrowserNode::link_down(TimeMs now, int close_code) {
    Impl& s = *impl_;
    s.now = now;
    s.via = kNoNode;
    s.heard_hello = false;
    s.proven = false;
    s.outbox.clear();
    if (close_code == kCloseRemoved) s.removed = true;
}

std::string BrowserNode::receive(const std::string& bytes, bool text, TimeMs now) {
    Impl& s = *impl_;
    s.now = now;
    if (s.via == kNoNode) return "";  // a message after link_down: the link is gone
    const std::string from = s.node_name(s.via);
    Frame f;
    std::string error;
    if (!decode_frame(bytes, text ? WireFormat::Json : WireFormat::Cbor, &f, &error))
        return "undecodable frame from " + from + ": " + error;
    s.note(f, false);
    const bool hello = f.type == MessageType::Hello;
    if (f.cluster != s.cfg.cluster_id && !(hello && f.cluster.empty()))
        return "frame for cluster '" + f.cluster.substr(0, 64) + "' from " + from + ", this node is in cluster '" +
               s.cfg.cluster_id + "'";
    if (!s.heard_hello) {
        if (!hello) return std::string("first frame must be Hello, got ") + message_type_name(f.type);
        if (f.peer.from != s.via)
            return "dialled " + from + " but " + s.node_name(f.peer.from) + " answered; check the address";
        s.heard_hello = true;
        s.their_nonce = f.nonce;
        if (!s.cfg.token.empty()) {
            Frame auth;
            auth.type = MessageType::Auth;
            auth.peer.type = MessageType::Auth;
            auth.proof = auth_proof(s.cfg.token, f.nonce, s.cfg.id);
            s.queue(std::move(auth));
        }
        maybe_join();
        settle();
        return "";
    }
    if (hello) return "";  // a repeated Hello says nothing new
    if (f.type == MessageType::Auth) {
        if (s.proven) return "";  // once proven, or without a token (proven from the start): ignored
        if (!auth_proof_ok(s.cfg.token, s.nonce, s.via, f.proof))
            return "wrong token: " + from + " proved another token than the one this page was given";
        s.proven = true;
        maybe_join();
        settle();
        return "";
    }
    if (!s.proven)
        return from + " sent " + message_type_name(f.type) +
               " before proving it knows the token: this page was given a token the cluster does not have";
    // A removed node stops: it hears the answers to its requests, nothing of Raft.
    const bool client = f.type == MessageType::ClientRequest || f.type == MessageType::ClientReply;
    if (s.removed && !client)
        return s.node_name(s.cfg.id) + " was removed from the cluster; reload the page to join under a new id";
    s.runtime->receive(f, s.via);
    settle();
    return "";
}

std::vector<std::string> BrowserNode::take_outbox() {
    std::vector<std::string> out;
    out.swap(impl_->outbox);
    return out;
}

// ---------------------------------------------------------------- time and clients

void BrowserNode::tick(TimeMs now) {
    Impl& s = *impl_;
    s.now = now;
    s.runtime->tick();  // also times out the requests of a removed node
    maybe_join();
    settle();
}

void BrowserNode::submit(ClientRequest request, ReplyFn done, TimeMs now) {
    Impl& s = *impl_;
    s.now = now;
    if (s.removed) {
        ClientReply r;
        r.client_id = request.client_id;
        r.seq = request.seq;
        r.error = s.node_name(s.cfg.id) +
                  " was removed from the cluster and ids are never reused; reload the page to join under a new id";
        done(r);
        return;
    }
    s.runtime->submit(std::move(request), std::move(done));
    settle();
}

void BrowserNode::promote(ReplyFn done, TimeMs now) {
    ClientRequest r;
    r.op = "promote";
    r.node = impl_->cfg.id;
    submit(std::move(r), std::move(done), now);
}

void BrowserNode::leave(ReplyFn done, TimeMs now) {
    ClientRequest r;
    r.op = "remove";
    r.node = impl_->cfg.id;
    // The leader sends this node the log until its removal commits (Raft::track_members),
    // so it hears of it (on_membership) like any removed member.
    submit(std::move(r), std::move(done), now);
}

// Asks to be added as a browser learner (browser_node.h: joining) while the configuration
// does not show this node: one request at a time, again kJoinRetryMs after a failure.
void BrowserNode::maybe_join() {
    Impl& s = *impl_;
    if (s.joined || s.removed || s.join_in_flight || !s.link_ready() || s.now < s.next_join_at) return;
    s.join_in_flight = true;
    ClientRequest r;
    r.op = "add_learner";
    r.node = s.cfg.id;
    r.browser = true;
    Impl* sp = impl_.get();
    s.runtime->submit(std::move(r), [sp](const ClientReply& reply) {
        sp->join_in_flight = false;
        sp->join_error = reply.ok ? "" : reply.error;
        // Answered ok: its Config entry is applied at the leader and on its way here.
        sp->next_join_at = sp->now + kJoinRetryMs;
    });
}

// Reports every noted write durable and runs the Ready loop until nothing is left.
void BrowserNode::settle() {
    Impl& s = *impl_;
    while (s.runtime->has_ready() || s.written > s.reported) {
        if (s.written > s.reported) {
            s.reported = s.written;
            s.runtime->persisted(s.reported);
        }
        if (s.runtime->has_ready()) s.runtime->process_ready();
    }
}

// ---------------------------------------------------------------- observation

nlohmann::json BrowserNode::status() const {
    const Impl& s = *impl_;
    const Raft& raft = s.runtime->raft();
    const Membership& config = raft.membership();
    nlohmann::json members = nlohmann::json::array();
    for (const Member& m : config.members) {
        nlohmann::json j = to_json(m);
        if (m.id == s.cfg.id) j["self"] = true;
        members.push_back(j);
    }
    nlohmann::json log = nlohmann::json::array();
    const RaftLog& l = raft.log();
    const Index last = l.last_index();
    for (Index i = std::max(l.first_index(), last >= kLogTail ? last - kLogTail + 1 : 1); i <= last; i++) {
        const Entry& e = l.at(i);
        log.push_back({{"index", i}, {"term", e.term}, {"type", entry_type_name(e.type)}});
        if (e.type == EntryType::Command) log.back()["command"] = utf8_prefix(e.data, 64);
    }
    nlohmann::json st = s.runtime->status();
    st["cluster_id"] = s.cfg.cluster_id;
    st["members"] = members;
    st["removed"] = config.removed;
    st["voter"] = config.is_voter(s.cfg.id);
    if (s.removed) st["removed_from_cluster"] = true;
    st["link"] = {{"via", s.via == kNoNode ? nlohmann::json() : nlohmann::json(s.via)}, {"up", s.link_ready()}};
    st["joined"] = s.joined;
    if (!s.joined && !s.join_error.empty()) st["join_error"] = s.join_error;
    st["log_tail"] = log;
    nlohmann::json frames = nlohmann::json::array();
    for (const FrameSeen& f : s.recent) frames.push_back(f.to_json());
    st["recent_frames"] = frames;
    return st;
}

bool BrowserNode::joined() const { return impl_->joined; }
bool BrowserNode::removed() const { return impl_->removed; }
NodeId BrowserNode::via() const { return impl_->via; }

// ---------------------------------------------------------------- the runtime's host

bool BrowserNode::send(NodeId /*to*/, Frame frame) {
    Impl& s = *impl_;
    if (!s.link_ready()) return false;
    // Every frame goes up the one link, whoever it is for: the native node there relays it.
    s.queue(std::move(frame));
    return true;
}

void BrowserNode::write(DiskWrite w) { impl_->written = w.id; }  // memory is this node's disk (see the top)

TimeMs BrowserNode::now() const { return impl_->now; }

NodeId BrowserNode::uplink() const { return impl_->link_ready() ? impl_->via : kNoNode; }

void BrowserNode::on_membership(const Membership& membership) {
    Impl& s = *impl_;
    s.joined = membership.is_member(s.cfg.id);
    if (membership.was_removed(s.cfg.id)) s.removed = true;
}

}  // namespace raftbook
