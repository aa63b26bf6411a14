// The node runtime's Ready loop and client path; see node_runtime.h.
#include "core/runtime/node_runtime.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace raftbook {

namespace {

const char kNotLeader[] = "not leader";

void fill(ClientReply* reply, const WriteResult& r) {
    reply->revision = r.revision;
    reply->condition_failed = !r.ok;
    reply->found = r.found;
    reply->value = r.value;
}

void add_origin(std::vector<NodeId>* origins, NodeId origin) {
    if (std::find(origins->begin(), origins->end(), origin) == origins->end()) origins->push_back(origin);
}

ConfChange conf_change_of(const ClientRequest& r) {
    ConfChange cc;
    cc.type = r.op == "add_learner" ? ConfChange::Type::AddLearner
              : r.op == "promote"   ? ConfChange::Type::Promote
                                    : ConfChange::Type::Remove;
    cc.node = r.node;
    cc.peer = r.peer;
    cc.http = r.http;
    cc.browser = r.browser;
    return cc;
}

// Whether the configuration already is what `cc` asks for (a retry of a change that
// was made, maybe through an earlier leader). An id that is a member under other
// addresses is not: adding it is refused (apply_conf_change: already a member).
bool in_force(const Membership& m, const ConfChange& cc) {
    switch (cc.type) {
        case ConfChange::Type::AddLearner: {
            const Member* member = m.find(cc.node);
            return member && member->peer == cc.peer && member->http == cc.http && member->browser == cc.browser;
        }
        case ConfChange::Type::Promote: return m.is_voter(cc.node);
        case ConfChange::Type::Remove: return m.was_removed(cc.node);
    }
    return false;
}

uint64_t mix(uint64_t z) {  // splitmix64 finaliser: spreads a host-chosen seed
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

}  // namespace

bool is_read(const ClientRequest& r) { return r.op == "get" || r.op == "list"; }

bool is_membership_request(const ClientRequest& r) {
    return r.op == "add_learner" || r.op == "promote" || r.op == "remove" || r.op == "transfer_leader";
}

std::string check_request(const ClientRequest& r) {
    if (r.op == "get") return check_key(r.key);
    if (r.op == "list") {
        if (r.key.size() > kMaxKeyBytes)
            return "prefix is " + std::to_string(r.key.size()) + " bytes, over the key limit of " +
                   std::to_string(kMaxKeyBytes);
        if (r.after.size() > kMaxKeyBytes)
            return "after is " + std::to_string(r.after.size()) + " bytes, over the key limit of " +
                   std::to_string(kMaxKeyBytes);
        if (r.limit < 1 || r.limit > kMaxListLimit)
            return "limit must be from 1 to " + std::to_string(kMaxListLimit) + ", got " + std::to_string(r.limit);
        return "";
    }
    if (is_membership_request(r)) {
        if (r.node == kNoNode) return "node id must be 1 or more";
        if (r.op == "add_learner" && (!valid_member_address(r.peer) || !valid_member_address(r.http)))
            return "peer and http must be host:port addresses without spaces, at most 255 bytes";
        return "";
    }
    if (r.op != "put" && r.op != "del") return "unknown op '" + r.op + "'";
    std::string error = check_key(r.key);
    if (error.empty() && r.value.size() > kMaxValueBytes)
        error = "value is " + std::to_string(r.value.size()) + " bytes; the limit is " + std::to_string(kMaxValueBytes);
    if (error.empty() && r.condition != "" && r.condition != "revision" && r.condition != "value")
        error = "unknown condition '" + r.condition + "' (expected prev_revision or prev_value)";
    if (error.empty() && r.prev_value.size() > kMaxValueBytes)
        error = "prev_value is " + std::to_string(r.prev_value.size()) + " bytes; the limit is " +
                std::to_string(kMaxValueBytes);
    if (error.empty() && !r.idempotency_key.empty()) error = check_idempotency_key(r.idempotency_key);
    return error;
}

std::string write_command(const ClientRequest& r) {
    Command c;
    c.op = r.op == "put" ? Command::Op::Set : Command::Op::Del;
    c.key = r.key;
    c.value = r.value;
    c.condition = r.condition == "revision" ? Command::If::Revision
                  : r.condition == "value"  ? Command::If::Value
                                            : Command::If::Always;
    c.prev_revision = r.prev_revision;
    c.prev_value = r.prev_value;
    c.idempotency_key = r.idempotency_key;
    return command_text(c);
}

NodeRuntime::NodeRuntime(RuntimeConfig config, Restored restored, RuntimeHost* host)
    : cfg_(std::move(config)), host_(host) {
    if (restored.snapshot) {
        std::string error;
        const Snapshot& s = *restored.snapshot;
        if (!s.data || !KvStore::decode(*s.data, &kv_, &error) || kv_.applied_index() != s.meta.index)
            throw std::invalid_argument("the restored snapshot at index " + std::to_string(s.meta.index) +
                                        " does not hold the state at that index" +
                                        (error.empty() ? "" : ": " + error));
    }
    raft_.emplace(cfg_.raft, std::move(restored));
    raft_->set_snapshot_check([this](const Snapshot& s) { return check_snapshot(s); });
    if (raft_->snapshot()) host_->on_snapshot(raft_->snapshot()->meta, kv_, /*installed=*/true);
    last_role_ = raft_->role();
    last_term_ = raft_->current_term();
    // Never 0: 0 means "no session". The host's seed is random per process, so a
    // restarted node does not reuse a client id the state machine has seen.
    client_id_base_ = mix(cfg_.session_seed) | 1;
    read_client_id_ = mix(cfg_.session_seed + 0x9E3779B97F4A7C15ULL) | 1;
    last_membership_ = raft_->membership();
    for (const Member& m : last_membership_.members) last_heard_[m.id] = host_->now();
    host_->on_membership(last_membership_);
}

NodeRuntime::~NodeRuntime() = default;

std::unique_ptr<NodeRuntime> NodeRuntime::clone(RuntimeHost* host,
                                                const std::function<ReplyFn(const ReplyFn&)>& rebind) const {
    std::unique_ptr<NodeRuntime> c(new NodeRuntime(*this));
    c->host_ = host;
    NodeRuntime* copy = c.get();
    c->raft_->set_snapshot_check([copy](const Snapshot& s) { return copy->check_snapshot(s); });
    for (auto& [key, r] : c->local_) {
        if (r.done.target<PromoteAnswered>()) r.done = PromoteAnswered{copy};
        else if (const RelayAnswer* relay = r.done.target<RelayAnswer>()) r.done = RelayAnswer{copy, relay->origin};
        else r.done = rebind(r.done);
    }
    return c;
}

size_t NodeRuntime::pending_requests() const { return local_.size(); }

void NodeRuntime::campaign() { raft_->campaign(); }

// ---------------------------------------------------------------- the Ready loop

bool NodeRuntime::has_ready() const { return raft_->has_ready(); }

void NodeRuntime::process_ready() {
    read_batch_open_ = false;  // the heartbeat confirming these reads goes out in this Ready
    if (!raft_->has_ready()) return;
    Ready rd = raft_->ready();
    host_->on_ready(*raft_, rd);
    observe_role_and_leader();
    for (Message& m : rd.messages) send_message(std::move(m));
    // The commit index rides with every write, and gets a write of its own when it moved
    // with nothing else to write (an idle cluster's last commit), so a restarted node
    // knows how far it had committed.
    if (rd.snapshot) install(*rd.snapshot);
    const bool commit_moved = raft_->commit_index() > written_commit_;
    if (rd.hard_state || !rd.entries.empty() || commit_moved || rd.snapshot) {
        PendingWrite pw;
        pw.id = next_write_id_++;
        if (!rd.entries.empty()) {
            pw.last_index = rd.entries.back().index;
            pw.last_term = rd.entries.back().term;
        }
        pw.after_persist = std::move(rd.messages_after_persist);
        DiskWrite w;
        w.id = pw.id;
        w.hard_state = rd.hard_state;
        w.entries = std::move(rd.entries);
        w.commit_index = written_commit_ = raft_->commit_index();
        if (rd.snapshot) {
            w.compact_to = rd.snapshot->meta.index;
            w.snapshot_resets_log = rd.snapshot_resets_log;
            w.snapshot = std::move(rd.snapshot);
        }
        writes_.push_back(std::move(pw));
        host_->write(std::move(w));
    } else if (!writes_.empty()) {
        // Nothing to write, but these messages still promise that everything before
        // them is durable: they leave with the last write in flight.
        auto& after = writes_.back().after_persist;
        for (Message& m : rd.messages_after_persist) after.push_back(std::move(m));
    } else {
        for (Message& m : rd.messages_after_persist) send_message(std::move(m));
    }
    apply(rd.committed_entries);
    for (const ReadState& rs : rd.read_states) {
        auto it = reads_awaiting_confirmation_.find(rs.context);
        if (it == reads_awaiting_confirmation_.end()) continue;
        for (PendingRead& r : it->second) reads_awaiting_apply_.emplace_back(rs.index, std::move(r));
        reads_awaiting_confirmation_.erase(it);
    }
    serve_ready_reads();
    observe_membership();
    check_transfers();
    maybe_snapshot();
}

void NodeRuntime::observe_membership() {
    if (raft_->membership() == last_membership_) return;
    last_membership_ = raft_->membership();
    // Absent browsers: a member is heard from as it joins; one that left is forgotten.
    const TimeMs now = host_->now();
    for (auto it = last_heard_.begin(); it != last_heard_.end();)
        it = last_membership_.is_member(it->first) ? std::next(it) : last_heard_.erase(it);
    for (const Member& m : last_membership_.members) last_heard_.emplace(m.id, now);
    for (const Member& m : last_membership_.members) last_heard_[m.id] = host_->now();
    host_->on_membership(last_membership_);
}

void NodeRuntime::persisted(uint64_t write_id) {
    while (!writes_.empty() && writes_.front().id <= write_id) {
        PendingWrite w = std::move(writes_.front());
        writes_.pop_front();
        if (w.last_index != 0) raft_->persisted(w.last_index, w.last_term);
        if (w.own_snapshot) {
            Snapshot s = w.own_snapshot->encode();  // done already, by the host or take_snapshot
            stats_.snapshots_taken++;
            stats_.snapshot_bytes_taken += s.size();
            snapshot_in_flight_ = false;
            raft_->snapshot_taken(std::move(s), w.compact_to);
        }
        for (Message& m : w.after_persist) send_message(std::move(m));
    }
}

// ---------------------------------------------------------------- snapshots

void NodeRuntime::maybe_snapshot() {
    const auto& held = raft_->snapshot();
    const Index last = held ? held->meta.index : 0;
    if (cfg_.snapshot_entries > 0 && kv_.applied_index() > last + cfg_.snapshot_entries) take_snapshot();
}

bool NodeRuntime::take_snapshot() {
    const auto& held = raft_->snapshot();
    const Index index = kv_.applied_index();
    const std::optional<Term> term = raft_->log().term(index);
    if (snapshot_in_flight_ || index == 0 || !term || (held && index <= held->meta.index)) return false;
    SnapshotMeta meta{index, *term, raft_->membership_at(index)};
    host_->on_snapshot(meta, kv_, /*installed=*/false);
    PendingWrite pw;
    pw.id = next_write_id_++;
    pw.compact_to = index > cfg_.catchup_entries ? index - cfg_.catchup_entries : 0;
    pw.own_snapshot = std::make_shared<OwnSnapshot>(std::move(meta), kv_.freeze());
    DiskWrite w;
    w.id = pw.id;
    if (host_->encodes_snapshots())
        w.snapshot_to_encode = pw.own_snapshot;
    else
        w.snapshot = pw.own_snapshot->encode();
    w.commit_index = written_commit_ = raft_->commit_index();
    w.compact_to = pw.compact_to;
    writes_.push_back(std::move(pw));
    snapshot_in_flight_ = true;
    host_->write(std::move(w));
    return true;
}

OwnSnapshot::OwnSnapshot(SnapshotMeta meta, std::shared_ptr<const KvStore> state) : state_(std::move(state)) {
    snapshot_.meta = std::move(meta);
}

const Snapshot& OwnSnapshot::encode() {
    if (!snapshot_.data) snapshot_.data = std::make_shared<const std::string>(state_->encode());
    return snapshot_;
}

// Raft asks before it installs a snapshot from the leader: it must decode, and hold
// the state at the index it claims. The decoded state is kept for install().
bool NodeRuntime::check_snapshot(const Snapshot& s) {
    KvStore kv;
    std::string error;
    if (!s.data || !KvStore::decode(*s.data, &kv, &error) || kv.applied_index() != s.meta.index) {
        stats_.snapshots_refused++;
        return false;
    }
    checked_kv_ = std::move(kv);
    return true;
}

void NodeRuntime::install(const Snapshot& s) {
    if (checked_kv_ && checked_kv_->applied_index() == s.meta.index) {
        kv_ = std::move(*checked_kv_);
    } else {
        std::string error;
        KvStore::decode(*s.data, &kv_, &error);  // checked by check_snapshot already
    }
    checked_kv_.reset();
    // Membership changes whose entries the snapshot covers are settled there: they are
    // asked to retry, and a retry finds the change made (or not).
    while (!conf_waits_.empty() && conf_waits_.begin()->first <= s.meta.index) {
        ConfWait w = std::move(conf_waits_.begin()->second);
        conf_waits_.erase(conf_waits_.begin());
        ClientReply retry = reply_to(w.key);
        retry.ok = false;
        retry.error = kNotLeader;
        for (NodeId origin : w.origins) answer(w.key, origin, retry);
    }
    stats_.snapshots_installed++;
    host_->on_snapshot(s.meta, kv_, /*installed=*/true);
}

void NodeRuntime::send_message(Message m) {
    if (m.type == MessageType::Snapshot) {
        stats_.snapshot_bytes_sent += m.chunk().data.size();
        if (m.chunk().done) stats_.snapshots_sent++;
    }
    const NodeId to = m.to;
    Frame f;
    f.type = m.type;
    f.peer = std::move(m);
    host_->send(to, std::move(f));
}

void NodeRuntime::apply(const std::vector<Entry>& entries) {
    if (entries.empty()) return;
    for (const Entry& e : entries) {
        const bool took_effect = kv_.apply(e, !raft_->faults.apply_duplicates);
        stats_.entries_applied++;
        host_->on_apply(e, took_effect, kv_);
        if (e.type == EntryType::Config) stats_.conf_changes_applied++;
        if (!conf_waits_.empty()) answer_conf_waits(e);
        if (e.client_id == 0) continue;
        // Applied now, or applied before and skipped as a retry: either way done, and
        // answered with what the state machine made of it (the first time).
        const RequestKey key{e.client_id, e.seq};
        ClientReply done = reply_to(key);
        fill(&done, kv_.last_applied().result);
        auto p = proposals_.find(key);
        if (p != proposals_.end()) {
            const std::vector<NodeId> origins = std::move(p->second.remote_origins);
            proposals_.erase(p);
            for (NodeId origin : origins) answer(key, origin, done);
        }
        complete_local(key, done);
    }
    raft_->applied(entries.back().index);
}

ClientReply NodeRuntime::reply_to(const RequestKey& key) const {
    ClientReply r;
    r.client_id = key.first;
    r.seq = key.second;
    r.ok = true;
    return r;
}

void NodeRuntime::serve_ready_reads() {
    while (!reads_awaiting_apply_.empty() && reads_awaiting_apply_.front().first <= kv_.applied_index()) {
        const PendingRead r = std::move(reads_awaiting_apply_.front().second);
        reads_awaiting_apply_.pop_front();
        answer(r.key, r.origin, read_reply(r.key, r.request));
    }
}

ClientReply NodeRuntime::read_reply(const RequestKey& key, const ClientRequest& request) {
    ClientReply reply = reply_to(key);
    if (request.op == "list") {
        reply.items = kv_.list(request.key, request.after, request.limit, &reply.more);
        reply.revision = kv_.applied_index();
    } else if (const std::string* v = kv_.get(request.key)) {
        reply.found = true;
        reply.value = *v;
        reply.revision = kv_.revision(request.key);
    }
    stats_.reads_served++;
    return reply;
}

void NodeRuntime::observe_role_and_leader() {
    const Role role = raft_->role();
    const NodeId leader = raft_->leader_id();
    const bool changed = role != last_role_ || leader != last_leader_ || raft_->current_term() != last_term_;
    const Role was_role = last_role_;
    const NodeId was_leader = last_leader_;
    if (role != last_role_) {
        if (role == Role::Candidate) stats_.elections++;
        if (role == Role::Leader) leader_since_ = host_->now();
        if (last_role_ == Role::Leader) {
            // The core dropped its pending ReadIndex requests; those reads go again.
            auto waiting = std::move(reads_awaiting_confirmation_);
            reads_awaiting_confirmation_.clear();
            for (auto& [context, reads] : waiting) {
                for (const PendingRead& r : reads) {
                    ClientReply retry = reply_to(r.key);
                    retry.ok = false;
                    retry.error = kNotLeader;
                    answer(r.key, r.origin, std::move(retry));
                }
            }
        }
        last_role_ = role;
    }
    last_term_ = raft_->current_term();
    if (leader != last_leader_) {
        last_leader_ = leader;
        if (leader != kNoNode) stats_.leader_changes++;
        // Requests sent to the old leader may be lost: send them to the new one now.
        const TimeMs now = host_->now();
        for (auto& [key, r] : local_) r.retry_at = now;
        if (leader != kNoNode) expire_local_requests();
    }
    if (changed) host_->on_role_change(*raft_, was_role, was_leader);
}

void NodeRuntime::tick() {
    raft_->tick();
    ticks_++;
    expire_local_requests();
    check_transfers();  // a transfer is abandoned on a tick
    maybe_promote_self();
    remove_absent_browsers();
    if (ticks_ % 20 == 0) {
        const TimeMs now = host_->now();
        for (auto it = proposals_.begin(); it != proposals_.end();)
            it = it->second.expires < now ? proposals_.erase(it) : std::next(it);
        for (auto it = conf_waits_.begin(); it != conf_waits_.end();)
            it = it->second.expires < now ? conf_waits_.erase(it) : std::next(it);
    }
}

// ---------------------------------------------------------------- peer frames

void NodeRuntime::receive(const Frame& frame, NodeId link_peer) {
    const bool raft_traffic = frame.type != MessageType::ClientRequest && frame.type != MessageType::ClientReply &&
                              frame.type != MessageType::Hello && frame.type != MessageType::Auth;
    // Who sent a client frame: the node it names (send_client), else the link's peer.
    const NodeId origin = !raft_traffic && frame.peer.from != kNoNode ? frame.peer.from : link_peer;
    heard_from(raft_traffic ? frame.peer.from : origin);  // absent browsers
    switch (frame.type) {
        case MessageType::ClientRequest: {
            const ClientRequest& req = frame.request;
            if (serve(req, origin)) break;
            const Member* sender = raft_->membership().find(origin);
            if (!sender || sender->browser) {
                relay_for(origin, req);
            } else {
                ClientReply retry = reply_to({req.client_id, req.seq});
                retry.ok = false;
                retry.error = kNotLeader;
                retry.leader_hint = raft_->leader_id();
                answer({req.client_id, req.seq}, origin, std::move(retry));
            }
            break;
        }
        case MessageType::ClientReply: {
            const ClientReply& reply = frame.reply;
            const RequestKey key{reply.client_id, reply.seq};
            auto it = local_.find(key);
            if (it == local_.end()) break;
            if (reply.ok || reply.error != kNotLeader) {
                complete_local(key, reply);
            } else {
                // Not leader (any more): ask again after a tick's worth of waiting.
                it->second.retry_at = host_->now() + cfg_.no_leader_retry_ms;
            }
            break;
        }
        case MessageType::Hello:
        case MessageType::Auth: break;
        default: {
            // Raft traffic. Not only from the members this node knows: its configuration
            // may lag the leader's (a new member may lead before this node hears of it).
            // Raft counts votes and acks only from voters of its own configuration. A
            // node this cluster removed is not heard at all once its removal is
            // committed (until then it may be the leader that removed itself, and still
            // lead).
            const Membership& config = raft_->membership();
            if (config.was_removed(frame.peer.from) && raft_->membership_index() <= raft_->commit_index()) break;
            raft_->step(frame.peer);
        }
    }
}

// ---------------------------------------------------------------- client requests

void NodeRuntime::submit(ClientRequest request, ReplyFn done) {
    LocalRequest r;
    if (request.client_id == 0) {
        if (is_read(request)) {
            request.client_id = read_client_id_;
            request.seq = ++read_seq_;
        } else {
            if (free_sessions_.empty()) {
                free_sessions_.push_back(session_next_seq_.size());
                session_next_seq_.push_back(1);
            }
            r.session = free_sessions_.back();
            free_sessions_.pop_back();
            request.client_id = client_id_base_ + r.session;
            request.seq = session_next_seq_[r.session]++;
        }
    }
    const RequestKey key{request.client_id, request.seq};
    if (local_.count(key)) {
        ClientReply busy = reply_to(key);
        busy.ok = false;
        busy.error = "request " + std::to_string(key.first) + "/" + std::to_string(key.second) +
                     " is already waiting for an answer on this node";
        done(busy);
        return;
    }
    r.request = std::move(request);
    r.done = std::move(done);
    r.deadline = host_->now() + cfg_.request_timeout_ms;
    local_.emplace(key, std::move(r));
    dispatch(key);
}

void NodeRuntime::dispatch(const RequestKey& key) {
    auto it = local_.find(key);
    if (it == local_.end()) return;
    const TimeMs now = host_->now();
    if (raft_->faults.serve_reads_locally && is_read(it->second.request)) {
        // The broken shortcut: no ReadIndex, so a lagging node answers from stale state.
        complete_local(key, read_reply(key, it->second.request));
        return;
    }
    if (raft_->role() == Role::Leader) {
        const bool served = serve(it->second.request, kNoNode);  // may answer it at once
        it = local_.find(key);
        if (it != local_.end()) it->second.retry_at = now + (served ? cfg_.retry_interval_ms : cfg_.no_leader_retry_ms);
        return;
    }
    Frame f;
    f.type = MessageType::ClientRequest;
    f.request = it->second.request;
    const NodeId leader = raft_->leader_id() != kNoNode ? raft_->leader_id() : host_->uplink();
    if (leader != kNoNode && send_client(leader, std::move(f))) {
        stats_.forwarded++;
        it->second.retry_at = now + cfg_.retry_interval_ms;
    } else {
        it->second.retry_at = now + cfg_.no_leader_retry_ms;  // no leader known, or no route to it yet
    }
}

bool NodeRuntime::serve(const ClientRequest& req, NodeId origin) {
    if (raft_->role() != Role::Leader) return false;
    const RequestKey key{req.client_id, req.seq};
    // A checked write makes write_command() a valid command (kv_store.h).
    const std::string request_error = check_request(req);
    if (!request_error.empty()) {
        ClientReply bad = reply_to(key);
        bad.ok = false;
        bad.error = "invalid request: " + request_error;
        answer(key, origin, std::move(bad));
        return true;
    }
    if (is_membership_request(req)) {
        serve_membership(req, origin);
        return true;
    }
    if (is_read(req)) {
        if (!read_batch_open_) {
            // ReadIndex: one leadership confirmation for all reads until the next Ready.
            if (!raft_->read_index(read_context_ + 1)) return false;  // no commit in this term yet
            read_context_++;
            read_batch_open_ = true;
        }
        reads_awaiting_confirmation_[read_context_].push_back({key, origin, req});
        return true;
    }
    if (kv_.applied_request(req.client_id, req.seq)) {  // a retry of a write already applied
        ClientReply done = reply_to(key);
        if (const WriteResult* first = kv_.request_result(req.client_id, req.seq)) fill(&done, *first);
        answer(key, origin, std::move(done));
        return true;
    }
    Proposal& p = proposals_[key];
    p.expires = host_->now() + cfg_.proposal_memory_ms;
    if (origin != kNoNode &&
        std::find(p.remote_origins.begin(), p.remote_origins.end(), origin) == p.remote_origins.end())
        p.remote_origins.push_back(origin);
    if (p.term == raft_->current_term()) return true;  // already in our log in this term
    if (raft_->propose(write_command(req), req.client_id, req.seq) != ProposeResult::Ok) return false;
    p.term = raft_->current_term();
    stats_.proposals++;
    return true;
}

// ---------------------------------------------------------------- membership

// The leader's side of a membership request: propose it (Raft::propose_conf_change) and
// answer once its Config entry is applied, or start a leadership transfer and answer
// once the target leads. A refusal is answered with Raft's reason, which is final for
// this request (the client decides whether to retry), never with "not leader", which
// would make the requester's node retry it forever.
void NodeRuntime::serve_membership(const ClientRequest& req, NodeId origin) {
    const RequestKey key{req.client_id, req.seq};
    const TimeMs expires = host_->now() + cfg_.proposal_memory_ms;
    ClientReply reply = reply_to(key);
    if (req.op == "transfer_leader") {
        if (req.node == raft_->id()) {  // done: a retry that reached the new leader
            reply.leader_hint = raft_->id();
            return answer(key, origin, std::move(reply));
        }
        for (TransferWait& w : transfer_waits_) {
            if (w.key == key) return add_origin(&w.origins, origin);
        }
        if (std::string error = raft_->transfer_leadership(req.node); !error.empty()) {
            reply.ok = false;
            reply.error = error;
            return answer(key, origin, std::move(reply));
        }
        stats_.transfers++;
        transfer_waits_.push_back({key, req.node, {origin}, expires});
        return;
    }
    for (auto& [index, w] : conf_waits_) {
        if (w.key == key && w.term == raft_->current_term()) return add_origin(&w.origins, origin);
    }
    const ConfChange cc = conf_change_of(req);
    Index index = raft_->membership_index();
    if (in_force(raft_->membership(), cc)) {
        // Made already: answered once its entry is applied (at once if it is).
        if (index <= kv_.applied_index()) {
            reply.revision = index;
            return answer(key, origin, std::move(reply));
        }
        conf_waits_.emplace(index, ConfWait{key, *raft_->log().term(index), {origin}, expires});
        return;
    }
    if (std::string error = raft_->propose_conf_change(cc, &index); !error.empty()) {
        reply.ok = false;
        reply.error = error;
        return answer(key, origin, std::move(reply));
    }
    stats_.proposals++;
    conf_waits_.emplace(index, ConfWait{key, raft_->current_term(), {origin}, expires});
}

// Entry e was just applied: the membership requests waiting on its index are answered —
// done when it is their Config entry, else asked to retry (a new leader replaced it).
void NodeRuntime::answer_conf_waits(const Entry& e) {
    auto range = conf_waits_.equal_range(e.index);
    std::vector<ConfWait> done;
    for (auto it = range.first; it != range.second; ++it) done.push_back(std::move(it->second));
    conf_waits_.erase(range.first, range.second);
    for (ConfWait& w : done) {
        ClientReply reply = reply_to(w.key);
        if (e.type == EntryType::Config && e.term == w.term) {
            reply.revision = e.index;
        } else {
            reply.ok = false;
            reply.error = kNotLeader;
        }
        for (NodeId origin : w.origins) answer(w.key, origin, reply);
    }
}

// Leadership transfers this node started: ok once the target is known to lead, an
// error when it is abandoned (this node still leads, with no transfer in progress) or
// another node leads.
void NodeRuntime::check_transfers() {
    if (transfer_waits_.empty()) return;
    const NodeId leader = raft_->leader_id();
    const TimeMs now = host_->now();
    std::vector<TransferWait> waits = std::move(transfer_waits_);
    transfer_waits_.clear();
    for (TransferWait& w : waits) {
        ClientReply reply = reply_to(w.key);
        reply.leader_hint = leader;
        const std::string target = "node " + std::to_string(w.target);
        if (leader == w.target) {
            // done
        } else if (raft_->role() == Role::Leader && raft_->transfer_target() != w.target) {
            reply.ok = false;
            reply.error = "leadership transfer to " + target +
                          " abandoned: it did not take over within an election timeout; check that it is up "
                          "and connected, then retry";
        } else if (raft_->role() != Role::Leader && leader != kNoNode) {
            reply.ok = false;
            reply.error = "node " + std::to_string(leader) + " leads now, not " + target + "; retry the transfer";
        } else {
            if (w.expires >= now) transfer_waits_.push_back(std::move(w));
            continue;
        }
        for (NodeId origin : w.origins) answer(w.key, origin, reply);
    }
}

// promote_self: a learner asks for its own promotion until it is a voter. The leader
// refuses while it is behind; the next try comes retry_interval_ms after an answer.
void NodeRuntime::maybe_promote_self() {
    const Membership& m = raft_->membership();
    const NodeId self = raft_->id();
    if (!cfg_.promote_self || promoting_self_ || !m.is_member(self) || m.is_voter(self)) return;
    const TimeMs now = host_->now();
    if (now < next_promote_at_) return;
    promoting_self_ = true;
    ClientRequest promote;
    promote.op = "promote";
    promote.node = self;
    submit(std::move(promote), PromoteAnswered{this});
}

void NodeRuntime::relay_for(NodeId origin, const ClientRequest& request) {
    // The same request again (the browser node retries every retry_interval_ms): the
    // one waiting here answers it.
    if (request.client_id == 0 || local_.count({request.client_id, request.seq})) return;
    submit(request, RelayAnswer{this, origin});
}

void NodeRuntime::RelayAnswer::operator()(const ClientReply& reply) const {
    Frame f;
    f.type = MessageType::ClientReply;
    f.reply = reply;
    runtime->send_client(origin, std::move(f));
}

void NodeRuntime::PromoteAnswered::operator()(const ClientReply&) const {
    runtime->promoting_self_ = false;
    runtime->next_promote_at_ = runtime->host_->now() + runtime->cfg_.retry_interval_ms;
}

// ---------------------------------------------------------------- absent browsers

// Only members are noted (a peer's frame cannot grow the table with made-up ids).
void NodeRuntime::heard_from(NodeId id) {
    auto it = last_heard_.find(id);
    if (it != last_heard_.end()) it->second = host_->now();
}

// The leader removes one browser member silent for too long (see node_runtime.h):
// never a native member or itself, a voter only while min_voters voters remain, and
// only when no other change is uncommitted (Raft refuses a second one anyway).
void NodeRuntime::remove_absent_browsers() {
    const TimeMs limit = cfg_.remove_absent_browsers_after_ms;
    if (limit <= 0 || raft_->role() != Role::Leader || raft_->membership_index() > raft_->commit_index()) return;
    const Membership& m = raft_->membership();
    const TimeMs now = host_->now();
    const size_t voters = m.voters().size();
    for (const Member& b : m.members) {
        if (!b.browser || b.id == raft_->id()) continue;
        auto heard = last_heard_.find(b.id);
        const TimeMs since = std::max(leader_since_, heard == last_heard_.end() ? leader_since_ : heard->second);
        if (now - since <= limit || (b.voter && voters - 1 < cfg_.min_voters)) continue;
        ConfChange cc;
        cc.type = ConfChange::Type::Remove;
        cc.node = b.id;
        if (raft_->propose_conf_change(cc).empty()) {
            stats_.proposals++;
            stats_.absent_browsers_removed++;
        }
        return;  // one change at a time: the next one waits for this to commit
    }
}

void NodeRuntime::answer(const RequestKey& key, NodeId origin, ClientReply reply) {
    if (origin == kNoNode) {
        auto it = local_.find(key);
        if (it == local_.end()) return;
        if (reply.ok || reply.error != kNotLeader) {
            complete_local(key, reply);
        } else {
            it->second.retry_at = host_->now();
        }
        return;
    }
    Frame f;
    f.type = MessageType::ClientReply;
    f.reply = std::move(reply);
    send_client(origin, std::move(f));
}

// Client frames name their sender and addressee like Raft messages do, so that a node
// with no connection of its own to the other end (a browser member: README, Browser
// nodes) can have them relayed, and the answer finds its way back.
bool NodeRuntime::send_client(NodeId to, Frame f) {
    f.peer.from = cfg_.raft.id;
    f.peer.to = to;
    return host_->send(to, std::move(f));
}

void NodeRuntime::complete_local(const RequestKey& key, const ClientReply& reply) {
    auto it = local_.find(key);
    if (it == local_.end()) return;
    LocalRequest r = std::move(it->second);
    local_.erase(it);
    if (r.session != SIZE_MAX) free_sessions_.push_back(r.session);
    r.done(reply);
}

void NodeRuntime::expire_local_requests() {
    const TimeMs now = host_->now();
    std::vector<RequestKey> expired, due;
    for (auto& [key, r] : local_) {
        if (r.deadline <= now) {
            expired.push_back(key);
        } else if (r.retry_at <= now) {
            due.push_back(key);
        }
    }
    for (const RequestKey& key : expired) {
        auto it = local_.find(key);
        if (it == local_.end()) continue;
        ClientReply timeout = reply_to(key);
        timeout.ok = false;
        const NodeId leader = raft_->leader_id();
        timeout.leader_hint = leader;
        const std::string ms = std::to_string(cfg_.request_timeout_ms);
        const bool write = !is_read(it->second.request);
        if (leader == kNoNode) {
            timeout.error = "no leader elected within " + ms +
                            " ms; is a majority of the cluster up and connected? Retry later";
        } else {
            timeout.error = std::string(write ? "write not committed" : "read not confirmed") + " within " + ms +
                            " ms (leader: node " + std::to_string(leader) + ")" +
                            (write ? "; it may or may not take effect. Retry it" : "; retry it");
        }
        stats_.timeouts++;
        complete_local(key, timeout);
    }
    for (const RequestKey& key : due) dispatch(key);
}

// ---------------------------------------------------------------- inspection

nlohmann::json NodeRuntime::status() const {
    char fingerprint[17];
    std::snprintf(fingerprint, sizeof fingerprint, "%016llx", (unsigned long long)kv_.fingerprint());
    nlohmann::json members = nlohmann::json::array();
    for (const Member& m : raft_->membership().members) members.push_back({{"id", m.id}, {"voter", m.voter}});
    return {{"id", raft_->id()},
            {"role", role_name(raft_->role())},
            {"term", raft_->current_term()},
            {"leader", raft_->leader_id()},
            {"commit_index", raft_->commit_index()},
            {"applied_index", kv_.applied_index()},
            {"log_first_index", raft_->log().first_index()},
            {"log_last_index", raft_->log().last_index()},
            {"persisted_index", raft_->log().persisted_index()},
            {"kv_keys", kv_.size()},
            {"snapshot_index", raft_->snapshot() ? raft_->snapshot()->meta.index : 0},
            {"snapshot_term", raft_->snapshot() ? raft_->snapshot()->meta.term : 0},
            {"snapshot_bytes", raft_->snapshot() ? raft_->snapshot()->size() : 0},
            {"kv_fingerprint", fingerprint},
            {"membership", members},
            {"membership_index", raft_->membership_index()}};
}

}  // namespace raftbook
