// The native node's event loop: Ready passes, client requests, ticks; see node_host.h.
#include "native/node/node_host.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <random>

#include <boost/asio/post.hpp>

#include "native/node/log.h"

namespace raftbook {

namespace {

// An unanswered request is sent again after this long (the leader may have died).
constexpr std::chrono::milliseconds kRetryInterval(1000);
// A proposal a forwarding node may still be waiting on is remembered this long.
constexpr std::chrono::seconds kProposalMemory(10);
const char kNotLeader[] = "not leader";

uint64_t random_u64() {
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ rd();
}

std::string command_text(const ClientRequest& r) {
    return r.op == "put" ? "set " + r.key + " " + r.value : "del " + r.key;
}

}  // namespace

// ---------------------------------------------------------------- NodeHost

NodeHost::NodeHost(boost::asio::io_context& ioc, NodeConfig config)
    : ioc_(ioc), cfg_(std::move(config)), tick_timer_(ioc) {}

NodeHost::~NodeHost() {
    if (disk_) disk_->stop();
}

bool NodeHost::start(std::string* error) {
    storage_ = Storage::open(cfg_.data_dir, error);
    if (!storage_) return false;
    if (!storage_->recovery_note().empty()) log_line("%s", storage_->recovery_note().c_str());

    RaftConfig rc;
    rc.id = cfg_.id;
    for (const auto& [id, address] : cfg_.members) rc.peers.push_back(id);
    rc.election_tick = cfg_.election_tick;
    rc.heartbeat_tick = cfg_.heartbeat_tick;
    rc.random_seed = random_u64();
    raft_ = std::make_unique<Raft>(rc, storage_->take_restored());
    last_role_ = raft_->role();
    log_line("starting: term %llu, log [%llu, %llu], commit %llu, %zu members",
             (unsigned long long)raft_->current_term(), (unsigned long long)raft_->log().first_index(),
             (unsigned long long)raft_->log().last_index(), (unsigned long long)raft_->commit_index(),
             cfg_.members.size());

    client_id_base_ = random_u64() | 1;  // never 0: 0 means "no session"
    read_client_id_ = random_u64() | 1;

    disk_ = std::make_unique<DiskWriter>(
        storage_.get(),
        [this](DiskWriter::Done d) {
            boost::asio::post(ioc_, [this, d = std::move(d)]() mutable { on_persisted(std::move(d)); });
        },
        [this](const std::exception& e) {
            const auto* storage_error = dynamic_cast<const StorageError*>(&e);
            const int error_number = storage_error ? storage_error->error_number() : 0;
            boost::asio::post(ioc_, [this, what = std::string(e.what()), error_number] {
                on_disk_error(what, error_number);
            });
        });

    PeerTransportConfig tc;
    tc.self = cfg_.id;
    tc.cluster_id = cfg_.cluster_id;
    tc.listen_host = cfg_.listen_host;
    tc.listen_port = cfg_.listen_port;
    tc.wire = cfg_.wire;
    tc.max_accepted = cfg_.max_peer_connections;
    for (const auto& [id, address] : cfg_.members)
        if (id != cfg_.id) tc.peers[id] = address;
    transport_ = std::make_unique<PeerTransport>(ioc_, tc, &metrics_,
                                                 [this](const Frame& f, NodeId link) { on_frame(f, link); });
    if (!transport_->start(error)) return false;

    http_ = std::make_unique<HttpServer>(ioc_, this, &metrics_, cfg_.web_dir);
    if (!http_->listen(cfg_.http_host, cfg_.http_port, cfg_.max_clients, error)) return false;
    log_line("serving peers on %s:%u (/raft), clients on http://%s:%u", cfg_.listen_host.c_str(),
             unsigned(cfg_.listen_port), cfg_.http_host.c_str(), unsigned(cfg_.http_port));

    on_tick();
    schedule_ready();
    return true;
}

void NodeHost::stop() {
    if (stopped_) return;
    stopped_ = true;
    tick_timer_.cancel();
    if (http_) http_->stop();
    if (transport_) transport_->stop();
    if (disk_) disk_->stop();
}

void NodeHost::on_disk_error(const std::string& error, int error_number) {
    if (stopped_) return;
    // Out of descriptors is no fault of the disk: say which limit to raise.
    const char* what_to_do =
        error_number == EMFILE   ? "the node is out of file descriptors: raise its open-file limit (ulimit -n)"
        : error_number == ENFILE ? "the system is out of file descriptors: raise fs.file-max or stop what holds them"
                                 : "fix the disk";
    log_line("fatal: cannot write to the data dir %s: %s. Stopping; %s and restart the node "
             "(it recovers from what is durable).",
             cfg_.data_dir.c_str(), error.c_str(), what_to_do);
    exit_code_ = 1;
    stopped_ = true;
    tick_timer_.cancel();
    if (http_) http_->stop();
    if (transport_) transport_->stop();
    if (on_fatal) on_fatal();
}

// ---------------------------------------------------------------- the Ready loop

void NodeHost::schedule_ready() {
    if (ready_scheduled_ || stopped_) return;
    ready_scheduled_ = true;
    // Posted, not run now: inputs already queued in this turn of the loop join the Ready.
    boost::asio::post(ioc_, [this] { process_ready(); });
}

void NodeHost::process_ready() {
    ready_scheduled_ = false;
    read_batch_open_ = false;  // the heartbeat confirming these reads goes out in this Ready
    if (stopped_ || !raft_->has_ready()) return;
    Ready rd = raft_->ready();
    observe_role_and_leader();
    for (Message& m : rd.messages) send_message(std::move(m));
    if (rd.hard_state || !rd.entries.empty() || !disk_jobs_inflight_.empty()) {
        // Also a Ready with nothing to write waits for the writes before it: its
        // messages promise everything earlier is durable.
        DiskWriter::Job job;
        job.id = ++last_disk_job_id_;
        job.hard_state = rd.hard_state;
        job.entries = std::move(rd.entries);
        job.commit_index = raft_->commit_index();
        disk_jobs_inflight_.emplace_back(job.id, std::move(rd.messages_after_persist));
        disk_->push(std::move(job));
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
    if (raft_->has_ready()) schedule_ready();
}

void NodeHost::on_persisted(DiskWriter::Done done) {
    std::vector<Message> after_persist;
    while (!disk_jobs_inflight_.empty() && disk_jobs_inflight_.front().first <= done.last_id) {
        for (Message& m : disk_jobs_inflight_.front().second) after_persist.push_back(std::move(m));
        disk_jobs_inflight_.pop_front();
    }
    if (stopped_) return;
    if (done.synced) {
        metrics_.fsyncs++;
        metrics_.entries_persisted += done.entries;
        metrics_.fsync_seconds.observe(done.seconds);
    }
    if (done.last_index != 0) raft_->persisted(done.last_index, done.last_term);
    for (Message& m : after_persist) send_message(std::move(m));
    schedule_ready();
}

void NodeHost::send_message(Message m) {
    const NodeId to = m.to;
    Frame f;
    f.type = m.type;
    f.peer = std::move(m);
    transport_->send(to, std::move(f));
}

void NodeHost::apply(const std::vector<Entry>& entries) {
    if (entries.empty()) return;
    for (const Entry& e : entries) {
        kv_.apply(e);
        metrics_.entries_applied++;
        if (e.client_id == 0) continue;
        // Applied now, or applied before and skipped as a retry: either way done.
        const RequestKey key{e.client_id, e.seq};
        ClientReply ok;
        ok.client_id = e.client_id;
        ok.seq = e.seq;
        ok.ok = true;
        auto p = proposals_.find(key);
        if (p != proposals_.end()) {
            for (NodeId origin : p->second.remote_origins) answer(key, origin, ok);
            proposals_.erase(p);
        }
        complete_local(key, ok);
    }
    raft_->applied(entries.back().index);
}

void NodeHost::serve_ready_reads() {
    while (!reads_awaiting_apply_.empty() && reads_awaiting_apply_.front().first <= kv_.applied_index()) {
        const PendingRead r = std::move(reads_awaiting_apply_.front().second);
        reads_awaiting_apply_.pop_front();
        ClientReply reply;
        reply.client_id = r.key.first;
        reply.seq = r.key.second;
        reply.ok = true;
        if (const std::string* v = kv_.get(r.kv_key)) {
            reply.found = true;
            reply.value = *v;
        }
        answer(r.key, r.origin, std::move(reply));
    }
}

void NodeHost::observe_role_and_leader() {
    const Role role = raft_->role();
    const NodeId leader = raft_->leader_id();
    if (role != last_role_) {
        if (role == Role::Candidate) metrics_.elections++;
        if (role == Role::Leader || last_role_ == Role::Leader || role == Role::Candidate)
            log_line("%s in term %llu", role == Role::Leader ? "became leader" : role_name(role),
                     (unsigned long long)raft_->current_term());
        if (last_role_ == Role::Leader) {
            // The core dropped its pending ReadIndex requests; try those reads again.
            for (auto& [context, reads] : reads_awaiting_confirmation_) {
                for (const PendingRead& r : reads) {
                    ClientReply retry;
                    retry.client_id = r.key.first;
                    retry.seq = r.key.second;
                    retry.error = kNotLeader;
                    answer(r.key, r.origin, std::move(retry));
                }
            }
            reads_awaiting_confirmation_.clear();
        }
        last_role_ = role;
    }
    if (leader != last_leader_) {
        if (leader != kNoNode) {
            metrics_.leader_changes++;
            if (role != Role::Leader)
                log_line("following leader %llu in term %llu", (unsigned long long)leader,
                         (unsigned long long)raft_->current_term());
        }
        last_leader_ = leader;
        // Requests sent to the old leader may be lost: send them to the new one now.
        const auto now = Clock::now();
        for (auto& [key, r] : local_) r.retry_at = now;
        if (leader != kNoNode) boost::asio::post(ioc_, [this] { expire_local_requests(Clock::now()); });
    }
}

void NodeHost::on_tick() {
    if (stopped_) return;
    raft_->tick();
    ticks_++;
    const auto now = Clock::now();
    expire_local_requests(now);
    if (ticks_ % 20 == 0) {
        for (auto it = proposals_.begin(); it != proposals_.end();)
            it = it->second.expires < now ? proposals_.erase(it) : std::next(it);
    }
    schedule_ready();
    tick_timer_.expires_after(cfg_.tick);
    tick_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) on_tick();
    });
}

// ---------------------------------------------------------------- peer frames

void NodeHost::on_frame(const Frame& frame, NodeId link_peer) {
    if (stopped_) return;
    switch (frame.type) {
        case MessageType::ClientRequest: {
            const ClientRequest& req = frame.request;
            if (!serve(req, link_peer)) {
                ClientReply retry;
                retry.client_id = req.client_id;
                retry.seq = req.seq;
                retry.error = kNotLeader;
                retry.leader_hint = raft_->leader_id();
                answer({req.client_id, req.seq}, link_peer, std::move(retry));
            }
            break;
        }
        case MessageType::ClientReply: {
            const ClientReply& reply = frame.reply;
            const RequestKey key{reply.client_id, reply.seq};
            auto it = local_.find(key);
            if (it == local_.end()) break;
            if (reply.ok) {
                complete_local(key, reply);
            } else {
                it->second.retry_at = Clock::now() + cfg_.tick;  // not leader (any more): ask again
            }
            break;
        }
        case MessageType::Hello: break;
        default:
            // Raft traffic, from members only: a stray node cannot vote or lead here.
            if (!cfg_.members.count(frame.peer.from)) break;
            raft_->step(frame.peer);
            schedule_ready();
    }
}

// ---------------------------------------------------------------- client requests

void NodeHost::submit(ClientRequest request, std::function<void(const ClientReply&)> done) {
    LocalRequest r;
    if (request.op == "get") {
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
    const RequestKey key{request.client_id, request.seq};
    const auto now = Clock::now();
    r.request = std::move(request);
    r.done = std::move(done);
    r.deadline = now + cfg_.request_timeout;
    local_.emplace(key, std::move(r));
    dispatch(key);
}

void NodeHost::dispatch(const RequestKey& key) {
    auto it = local_.find(key);
    if (it == local_.end()) return;
    const auto now = Clock::now();
    if (raft_->role() == Role::Leader) {
        const bool served = serve(it->second.request, kNoNode);  // may answer it at once
        it = local_.find(key);
        if (it != local_.end()) it->second.retry_at = served ? now + kRetryInterval : now + cfg_.tick;
        return;
    }
    Frame f;
    f.type = MessageType::ClientRequest;
    f.request = it->second.request;
    const NodeId leader = raft_->leader_id();
    if (leader != kNoNode && transport_->send(leader, std::move(f))) {
        it->second.retry_at = now + kRetryInterval;
    } else {
        it->second.retry_at = now + cfg_.tick;  // no leader known, or no connection to it yet
    }
}

bool NodeHost::serve(const ClientRequest& req, NodeId origin) {
    if (raft_->role() != Role::Leader) return false;
    const RequestKey key{req.client_id, req.seq};
    if (req.op == "get") {
        if (!read_batch_open_) {
            // ReadIndex: one leadership confirmation for all reads until the next Ready.
            if (!raft_->read_index(read_context_ + 1)) return false;  // no commit in this term yet
            read_context_++;
            read_batch_open_ = true;
            schedule_ready();
        }
        reads_awaiting_confirmation_[read_context_].push_back({key, origin, req.key});
        return true;
    }
    // A checked key makes command_text() a valid command ("set KEY VALUE" / "del KEY").
    const std::string key_error = req.op == "put" || req.op == "del" ? check_key(req.key) : "unknown op '" + req.op + "'";
    if (!key_error.empty()) {
        ClientReply bad;
        bad.client_id = req.client_id;
        bad.seq = req.seq;
        bad.error = "invalid request: " + key_error;
        answer(key, origin, std::move(bad));
        return true;
    }
    if (kv_.applied_request(req.client_id, req.seq)) {  // a retry of a write already applied
        ClientReply ok;
        ok.client_id = req.client_id;
        ok.seq = req.seq;
        ok.ok = true;
        answer(key, origin, std::move(ok));
        return true;
    }
    Proposal& p = proposals_[key];
    p.expires = Clock::now() + kProposalMemory;
    if (origin != kNoNode && std::find(p.remote_origins.begin(), p.remote_origins.end(), origin) == p.remote_origins.end())
        p.remote_origins.push_back(origin);
    if (p.term == raft_->current_term()) return true;  // already in our log in this term
    if (raft_->propose(command_text(req), req.client_id, req.seq) != ProposeResult::Ok) return false;
    p.term = raft_->current_term();
    metrics_.proposals++;
    schedule_ready();
    return true;
}

void NodeHost::answer(const RequestKey& key, NodeId origin, ClientReply reply) {
    if (origin == kNoNode) {
        auto it = local_.find(key);
        if (it == local_.end()) return;
        if (reply.ok || reply.error != kNotLeader) {
            complete_local(key, reply);
        } else {
            it->second.retry_at = Clock::now();
        }
        return;
    }
    Frame f;
    f.type = MessageType::ClientReply;
    f.reply = std::move(reply);
    transport_->send(origin, std::move(f));
}

void NodeHost::complete_local(const RequestKey& key, const ClientReply& reply) {
    auto it = local_.find(key);
    if (it == local_.end()) return;
    LocalRequest r = std::move(it->second);
    local_.erase(it);
    if (r.session != SIZE_MAX) free_sessions_.push_back(r.session);
    r.done(reply);
}

void NodeHost::expire_local_requests(Clock::time_point now) {
    std::vector<RequestKey> expired, due;
    for (auto& [key, r] : local_) {
        if (r.deadline <= now) {
            expired.push_back(key);
        } else if (r.retry_at <= now) {
            due.push_back(key);
        }
    }
    for (const RequestKey& key : expired) {
        ClientReply timeout;
        timeout.client_id = key.first;
        timeout.seq = key.second;
        timeout.leader_hint = raft_->leader_id();
        const long long ms = (long long)cfg_.request_timeout.count();
        const bool write = local_.at(key).request.op != "get";
        if (raft_->leader_id() == kNoNode) {
            timeout.error = "no leader elected within " + std::to_string(ms) +
                            " ms; is a majority of the cluster up and connected? Retry later";
        } else {
            timeout.error = std::string(write ? "write not committed" : "read not confirmed") + " within " +
                            std::to_string(ms) + " ms (leader: node " + std::to_string(raft_->leader_id()) + ")" +
                            (write ? "; it may or may not take effect. Retry it" : "; retry it");
        }
        complete_local(key, timeout);
    }
    for (const RequestKey& key : due) dispatch(key);
}

// ---------------------------------------------------------------- inspection

nlohmann::json NodeHost::status() const {
    const bool leader = raft_->role() == Role::Leader;
    nlohmann::json members = nlohmann::json::array();
    for (const auto& [id, address] : cfg_.members) {
        nlohmann::json m = {{"id", id}, {"address", address}, {"kind", "voter"}};
        if (id == cfg_.id) {
            m["self"] = true;
            m["match_index"] = leader ? nlohmann::json(raft_->log().persisted_index()) : nlohmann::json();
        } else {
            m["connected"] = transport_->connected(id);
            const Progress* pr = leader ? raft_->progress(id) : nullptr;
            m["match_index"] = pr ? nlohmann::json(pr->match_index) : nlohmann::json();
        }
        members.push_back(m);
    }
    char fingerprint[17];
    std::snprintf(fingerprint, sizeof fingerprint, "%016llx", (unsigned long long)kv_.fingerprint());
    return {{"id", cfg_.id},
            {"cluster_id", cfg_.cluster_id},
            {"role", role_name(raft_->role())},
            {"term", raft_->current_term()},
            {"leader", raft_->leader_id()},
            {"commit_index", raft_->commit_index()},
            {"applied_index", kv_.applied_index()},
            {"log_first_index", raft_->log().first_index()},
            {"log_last_index", raft_->log().last_index()},
            {"persisted_index", raft_->log().persisted_index()},
            {"kv_keys", kv_.size()},
            {"kv_fingerprint", fingerprint},
            {"members", members}};
}

std::string NodeHost::metrics_text() const {
    return metrics_.render({{"raftbook_term", double(raft_->current_term())},
                            {"raftbook_is_leader", raft_->role() == Role::Leader ? 1.0 : 0.0},
                            {"raftbook_commit_index", double(raft_->commit_index())},
                            {"raftbook_applied_index", double(kv_.applied_index())},
                            {"raftbook_log_last_index", double(raft_->log().last_index())},
                            {"raftbook_pending_client_requests", double(local_.size())},
                            {"raftbook_http_connections", double(http_ ? http_->open_connections() : 0)}});
}

}  // namespace raftbook
