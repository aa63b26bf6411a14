#include "core/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>

namespace raftbook {

namespace {
constexpr TimeMs kRequestTimeoutMs = 2000;  // a node answers a request it could not serve by then with an error
constexpr TimeMs kClientRetryMs = 50;       // a client waits this long before it tries again
constexpr int kClientMaxTries = 5;          // then it gives up: a write's outcome is unknown
// The random workload: operations over kKeys keys; a process does ~kOpsPerProcess a second.
constexpr int kKeys = 10;
constexpr double kReadShare = 0.3;
constexpr double kDeleteShare = 0.2;        // of the rest
constexpr size_t kMinProcesses = 3;
constexpr size_t kMaxProcesses = 64;
constexpr double kOpsPerProcess = 10;

bool is_client_frame(MessageType t) { return t == MessageType::ClientRequest || t == MessageType::ClientReply; }

// The simulator's clients name no idempotency key (each process has its session):
// one in a proposed command is refused rather than dropped.
Command checked_command(const std::string& command) {
    Command c;
    std::string error;
    if (!parse_command(command, &c, &error)) throw std::invalid_argument(error);
    if (!c.idempotency_key.empty())
        throw std::invalid_argument("the simulator's clients send no idempotency key ('idem IKEY'); '" + command +
                                    "' has one: drop it");
    return c;
}

}  // namespace

std::string ids_text(const std::vector<NodeId>& ids) {
    std::string s;
    for (NodeId n : ids) s += (s.empty() ? "" : ",") + std::to_string(n);
    return s.empty() ? "none" : s;
}

// The runtime is not copied with its machine (see Simulator::clone).
struct RuntimeSlot {
    std::unique_ptr<NodeRuntime> runtime;
    RuntimeSlot() = default;
    RuntimeSlot(const RuntimeSlot&) {}
    RuntimeSlot& operator=(const RuntimeSlot&) = delete;
};

// One simulated machine: the node runtime (Raft, state machine, client requests —
// volatile, lost on crash), its disk (durable) and the writes still on their way to it
// (lost on crash). It is the runtime's host: transport, disk and clock are the
// simulator's, and its observer hooks feed the checker.
struct Simulator::NodeHost final : RuntimeHost, RuntimeSlot {
    Simulator* sim = nullptr;
    NodeId id = kNoNode;
    bool up = false;
    uint64_t incarnation = 0;
    Faults faults;
    bool promote_self = false;  // added by add_node(n, learner = false)
    bool retired = false;       // removed from the cluster (clients no longer pick it)
    // A browser node (Simulator's top): linked to `via` (kNoNode: reconnecting until
    // reconnect_at), after last_via in the order it tries; closed for good once its tab is.
    bool browser = false;
    bool closed = false;
    NodeId via = kNoNode;
    NodeId last_via = kNoNode;
    TimeMs reconnect_at = 0;
    Role last_role = Role::Follower;
    Term last_term = 0;
    // The disk: what survives a crash. A snapshot is written whole or not at all; the
    // log on disk holds the entries after it (entries it covers are deleted with it).
    HardState durable_hs;
    std::optional<Snapshot> durable_snapshot;
    std::vector<Entry> durable_log;  // from index durable_base() + 1
    Index durable_base() const { return durable_snapshot ? durable_snapshot->meta.index : 0; }
    // Writes in progress, completed in order.
    struct Write {
        uint64_t id;
        TimeMs starts_ms;  // when the disk begins this write; until then it takes more
        std::optional<HardState> hs;
        std::vector<Entry> entries;
        uint64_t last_disk_write;  // the runtime's DiskWrites up to this id are in it
        std::optional<Snapshot> snapshot;  // written before the entries
        bool snapshot_resets_log = false;
        std::shared_ptr<OwnSnapshot> snapshot_to_encode;  // encoded into `snapshot` when the write is done
    };
    std::vector<Write> writes;
    uint64_t next_write_id = 0;
    TimeMs disk_free_at = 0;
    bool flush_scheduled = false;  // requests made at this instant go out together
    std::deque<KeyChange> changes;  // Simulator::changes(id)
    Index changes_floor = 0;

    bool send(NodeId to, Frame frame) override {
        sim->send_frame(id, to, std::move(frame));
        return true;  // the network is lossy, not refusing: what it loses, the sender retries
    }
    void write(DiskWrite w) override { sim->queue_write(*this, std::move(w)); }
    TimeMs now() const override { return sim->now_; }
    // Like a native node's disk thread, the disk encodes the node's own snapshots, when
    // the write completes: the state frozen when it was taken, whatever was applied since.
    bool encodes_snapshots() const override { return true; }
    void on_ready(const Raft& raft, const Ready& rd) override;
    void on_apply(const Entry& e, bool took_effect, const KvStore& kv) override;
    void on_snapshot(const SnapshotMeta& meta, const KvStore& kv, bool installed) override;
    // A browser the cluster removed is retired: no client picks it, no browser links to it.
    void on_membership(const Membership& m) override {
        for (NodeId r : m.removed)
            if (r <= NodeId(sim->size()) && sim->host(r).browser) sim->host(r).retired = true;
    }
};

// The checker sees each Ready before any of it is acted on: a new leader, the entries
// going to disk, the commit index.
void Simulator::NodeHost::on_ready(const Raft& raft, const Ready& rd) {
    Simulator& s = *sim;
    if (raft.role() == Role::Leader && (last_role != Role::Leader || last_term != raft.current_term())) {
        s.stats_.elections++;
        if (s.cfg_.check) s.checker_.on_leader(raft);
    }
    last_role = raft.role();
    last_term = raft.current_term();
    if (!s.cfg_.check) return;
    if (!rd.entries.empty()) s.checker_.on_append(raft, rd.entries);
    s.checker_.on_commit(raft);
}

void Simulator::NodeHost::on_apply(const Entry& e, bool took_effect, const KvStore& kv) {
    if (sim->cfg_.check) sim->checker_.on_apply(id, e, took_effect, kv.fingerprint());
    if (e.client_id != 0 && took_effect) sim->on_client_apply(id, e);
    const Applied& a = kv.last_applied();
    if (!a.changed) return;
    if (changes.size() == kChangesKept) {
        changes_floor = changes.front().revision;
        changes.pop_front();
    }
    changes.push_back({e.index, a.key, a.deleted ? std::string() : *kv.get(a.key), a.deleted});
}

// A node restored, installed or took a snapshot: its state at that index must be every
// node's state there (State Agreement across snapshots).
void Simulator::NodeHost::on_snapshot(const SnapshotMeta& meta, const KvStore& kv, bool installed) {
    Simulator& s = *sim;
    if (runtime) {  // not while starting: a restart restores, it installs nothing new
        (installed ? s.stats_.snapshots_installed : s.stats_.snapshots_taken)++;
    }
    if (s.cfg_.check) s.checker_.on_snapshot(id, meta.index, kv.fingerprint(), installed);
    if (installed) {  // the state was replaced wholesale: the changes restart above it
        changes.clear();
        changes_floor = meta.index;
    }
}

Simulator::Simulator(const SimConfig& config) : cfg_(config), rng_(config.seed) {
    if (cfg_.nodes < 1 || cfg_.nodes > 9) throw std::invalid_argument("nodes must be between 1 and 9");
    if (cfg_.browsers < 0 || cfg_.nodes + cfg_.browsers > kMaxNodes)
        throw std::invalid_argument("nodes and browsers together must be at most " + std::to_string(kMaxNodes));
    if (cfg_.tick_ms < 1) throw std::invalid_argument("tick_ms must be at least 1");
    if (cfg_.heartbeat_tick < 1 || cfg_.heartbeat_tick >= cfg_.election_tick)
        throw std::invalid_argument("heartbeat_tick must be at least 1 and below election_tick");
    set_network(cfg_.net);
    // Every per-machine table has room for all kMaxNodes slots, so add_node only adds a host.
    group_.assign(kMaxNodes, 0);
    link_clock_.assign(size_t(kMaxNodes) * kMaxNodes, 0);
    for (int i = 1; i <= cfg_.nodes; i++) add_host();
    for (int i = 1; i <= cfg_.nodes; i++) start_node(NodeId(i));
    if (cfg_.check) watch_durable_state();
    for (int i = 1; i <= cfg_.browsers; i++) add_node(NodeId(size() + 1), false, true);
}

// Commit Durability reads what each disk holds.
void Simulator::watch_durable_state() {
    checker_.set_durable_view(kMaxNodes, [this](NodeId n, Index i) -> std::optional<Term> {
        if (n > NodeId(size())) return std::nullopt;
        const NodeHost& h = host(n);
        const Index base = h.durable_base();
        // An entry a durable snapshot covers is held (a snapshot covers committed entries only).
        if (i >= 1 && i <= base && i <= checker_.committed().size()) return checker_.committed()[i - 1].term;
        if (i <= base || i > base + h.durable_log.size()) return std::nullopt;
        return h.durable_log[i - base - 1].term;
    });
}

Simulator::~Simulator() = default;

Simulator::Hosts::Hosts(const Hosts& other) : std::vector<std::unique_ptr<NodeHost>>() {
    for (const auto& h : other) push_back(std::make_unique<NodeHost>(*h));
}

// Every member is copied; what points back into the simulator is pointed at the copy:
// the machines' simulator, each runtime's host and its waiting clients' callbacks, and
// the checker's view of the disks.
std::unique_ptr<Simulator> Simulator::clone() const {
    std::unique_ptr<Simulator> c(new Simulator(*this));
    Simulator* copy = c.get();
    c->trace_sink_ = nullptr;
    c->send_observer_ = nullptr;
    // Every callback the simulator submits to a runtime is a ReplyTo. (Own snapshots
    // still being encoded stay shared: encoding one is deterministic and done once.)
    const auto rebind = [copy](const ReplyFn& done) -> ReplyFn {
        ReplyTo to = *done.target<ReplyTo>();
        to.sim = copy;
        return to;
    };
    for (size_t i = 0; i < hosts_.size(); i++) {
        NodeHost& h = *c->hosts_[i];
        h.sim = copy;
        if (hosts_[i]->runtime) h.runtime = hosts_[i]->runtime->clone(&h, rebind);
    }
    if (cfg_.check) c->watch_durable_state();
    return c;
}

void Simulator::ReplyTo::operator()(const ClientReply& reply) const {
    if (membership) sim->membership_reply(id, attempt, reply);
    else sim->client_reply(id, attempt, reply);
}

void Simulator::add_host() {
    hosts_.push_back(std::make_unique<NodeHost>());
    hosts_.back()->sim = this;
    hosts_.back()->id = NodeId(hosts_.size());
}

RaftConfig Simulator::raft_config(NodeId n) const {
    RaftConfig rc;
    rc.id = n;
    // The bootstrap voters know the first configuration; a machine added later starts
    // with none and learns it from the log (membership.h).
    if (n <= NodeId(cfg_.nodes)) {
        for (int i = 1; i <= cfg_.nodes; i++) rc.peers.push_back(NodeId(i));
        rc.members = Membership::of_voters(rc.peers);
    }
    rc.election_tick = cfg_.election_tick;
    rc.heartbeat_tick = cfg_.heartbeat_tick;
    rc.pre_vote = cfg_.pre_vote;
    rc.check_quorum = cfg_.check_quorum;
    rc.max_append_bytes = cfg_.max_append_bytes;
    rc.snapshot_chunk_bytes = std::max<size_t>(1, cfg_.snapshot_chunk_bytes);
    rc.random_seed = cfg_.seed ^ (0xA5A5A5A5ULL * n) ^ host(n).incarnation;
    return rc;
}

RuntimeConfig Simulator::runtime_config(NodeId n) const {
    RuntimeConfig rc;
    rc.raft = raft_config(n);
    rc.request_timeout_ms = kRequestTimeoutMs;
    // Seeded like the rest: each incarnation's sessions get client ids of their own.
    rc.session_seed = cfg_.seed * 0x9E3779B97F4A7C15ULL ^ (uint64_t(n) << 40) ^ host(n).incarnation;
    rc.snapshot_entries = cfg_.snapshot_entries;
    rc.catchup_entries = cfg_.catchup_entries;
    rc.promote_self = host(n).promote_self;
    rc.remove_absent_browsers_after_ms = cfg_.remove_absent_browsers_after_ms;
    rc.min_voters = cfg_.min_voters;
    return rc;
}

// (Re)starts node n from what its disk holds.
void Simulator::start_node(NodeId n) {
    NodeHost& h = host(n);
    h.incarnation++;
    Restored r;
    r.hard_state = h.durable_hs;
    r.snapshot = h.durable_snapshot;
    r.first_index = h.durable_base() + 1;
    r.prev_term = h.durable_snapshot ? h.durable_snapshot->meta.term : 0;
    r.entries = h.durable_log;
    h.changes.clear();
    h.changes_floor = h.durable_base();
    h.runtime = std::make_unique<NodeRuntime>(runtime_config(n), std::move(r), &h);
    h.runtime->raft_mut().faults = h.faults;
    h.up = true;
    h.last_role = Role::Follower;
    h.last_term = h.runtime->raft().current_term();
    h.writes.clear();
    h.disk_free_at = now_;
    h.flush_scheduled = false;
    h.via = kNoNode;
    h.reconnect_at = now_;  // a page links at its first tick
    checker_.on_restart(h.runtime->raft());
    // Nodes tick out of phase, as real clocks do.
    schedule_tick(n, now_ + rng_.range(0, cfg_.tick_ms - 1));
}

// ---------------------------------------------------------------- event queue

Simulator::Event& Simulator::new_event(EventKind kind, TimeMs at, NodeId node) {
    uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = uint32_t(slots_.size());
        slots_.emplace_back();
    }
    Event& e = slots_[slot];
    e.time = at;
    e.seq = next_seq_++;
    e.kind = kind;
    e.node = node;
    e.id = 0;
    e.lost = false;
    e.incarnation = node != kNoNode ? host(node).incarnation : 0;
    e.live = true;
    e.msg = Message{};
    e.payload = 0;
    e.relay[0] = e.relay[1] = kNoNode;
    queue_.push({at, e.seq, slot});
    return e;
}

bool Simulator::step() {
    if (queue_.empty()) return false;
    const QueueKey k = queue_.top();
    queue_.pop();
    now_ = k.time;
    stats_.events++;
    checker_.set_event(stats_.events, now_);
    // Move the event out of its slot first: running it may schedule more events.
    Event e = std::move(slots_[k.slot]);
    slots_[k.slot].live = false;
    free_slots_.push_back(k.slot);
    mix_trace(uint64_t(now_));
    mix_trace(uint64_t(e.kind) << 8 | e.node);
    run_event(e);
    return true;
}

void Simulator::advance(TimeMs ms) {
    const TimeMs until = now_ + ms;
    while (!queue_.empty() && queue_.top().time <= until) step();
    now_ = until;
}

bool Simulator::run_until(const std::function<bool()>& pred, TimeMs limit_ms) {
    const TimeMs until = now_ + limit_ms;
    while (!pred()) {
        if (queue_.empty() || queue_.top().time > until) {
            now_ = until;
            return pred();
        }
        step();
    }
    return true;
}

void Simulator::run_event(Event& e) {
    switch (e.kind) {
        case EventKind::Deliver: deliver(e); break;
        case EventKind::Tick: {
            NodeHost& h = host(e.node);
            if (!h.up || e.incarnation != h.incarnation) return;
            if (h.browser) keep_linked(h);
            h.runtime->tick();
            drain(e.node);
            schedule_tick(e.node, now_ + cfg_.tick_ms);
            break;
        }
        case EventKind::DiskDone: {
            const NodeHost& h = host(e.node);
            if (h.up && e.incarnation == h.incarnation) on_disk_done(e.node, e.id);
            break;
        }
        case EventKind::ClientTry: client_try(e.id); break;
        case EventKind::MembershipTry: membership_try(e.id); break;
        case EventKind::Flush: {
            NodeHost& h = host(e.node);
            h.flush_scheduled = false;
            if (h.up && e.incarnation == h.incarnation) drain(e.node);
            break;
        }
        case EventKind::Workload:
            if (e.id != workload_generation_ || client_rate_ <= 0) return;
            workload_invoke();
            {
                const TimeMs gap = std::max<TimeMs>(0, TimeMs(rng_.range(0, int64_t(2000.0 / client_rate_))));
                new_event(EventKind::Workload, now_ + gap, kNoNode).id = workload_generation_;
            }
            break;
    }
}

void Simulator::schedule_tick(NodeId n, TimeMs at) { new_event(EventKind::Tick, at, n); }

// ---------------------------------------------------------------- nodes

// The runtime's Ready loop, run until the node has nothing more to hand over.
void Simulator::drain(NodeId n) {
    NodeRuntime& rt = *host(n).runtime;
    while (rt.has_ready()) rt.process_ready();
}

// Batching: everything a node is asked at this instant goes out in one Ready (one
// AppendEntries for ten requests), as a real host runs its loop once per wakeup.
void Simulator::flush_soon(NodeHost& h) {
    if (h.flush_scheduled) return;
    h.flush_scheduled = true;
    new_event(EventKind::Flush, now_, h.id);
}

// The disk completes writes in order, each taking a little simulated time. A write
// issued while the disk is still busy joins the queued one (group commit), as a real
// host batches everything that arrived during the previous fsync.
void Simulator::queue_write(NodeHost& h, DiskWrite w) {
    // (A snapshot starts a write of its own: hard state, snapshot, entries is the order
    // within one write, which a snapshot after queued entries would not keep.)
    if (!h.writes.empty() && h.writes.back().starts_ms > now_ && !w.snapshot && !w.snapshot_to_encode) {
        NodeHost::Write& q = h.writes.back();
        if (w.hard_state) q.hs = w.hard_state;
        if (!w.entries.empty()) {
            while (!q.entries.empty() && q.entries.back().index >= w.entries.front().index) q.entries.pop_back();
            q.entries.insert(q.entries.end(), std::make_move_iterator(w.entries.begin()),
                             std::make_move_iterator(w.entries.end()));
        }
        q.last_disk_write = w.id;
        return;
    }
    const TimeMs starts = std::max(now_, h.disk_free_at);
    const NetworkConfig& net = cfg_.net;
    const TimeMs done = starts + (rng_.chance(net.disk_slow) ? rng_.range(net.disk_slow_min_ms, net.disk_slow_max_ms)
                                                             : rng_.range(net.disk_min_ms, net.disk_max_ms));
    h.disk_free_at = done;
    NodeHost::Write q{h.next_write_id++, starts,           std::move(w.hard_state), std::move(w.entries),
                      w.id,                std::move(w.snapshot), w.snapshot_resets_log,
                      std::move(w.snapshot_to_encode)};
    new_event(EventKind::DiskDone, done, h.id).id = q.id;
    h.writes.push_back(std::move(q));
}

void Simulator::on_disk_done(NodeId n, uint64_t write_id) {
    NodeHost& h = host(n);
    if (h.writes.empty() || h.writes.front().id != write_id) return;
    NodeHost::Write w = std::move(h.writes.front());
    h.writes.erase(h.writes.begin());
    if (w.hs) h.durable_hs = *w.hs;
    if (w.snapshot_to_encode) w.snapshot = w.snapshot_to_encode->encode();
    if (w.snapshot) {
        // The stored log keeps only the entries after the snapshot, or none (reset).
        const Index index = w.snapshot->meta.index, base = h.durable_base();
        if (w.snapshot_resets_log || index < base) {
            h.durable_log.clear();
        } else {
            h.durable_log.erase(h.durable_log.begin(),
                                h.durable_log.begin() + std::min<size_t>(index - base, h.durable_log.size()));
        }
        h.durable_snapshot = std::move(w.snapshot);
    }
    if (!w.entries.empty()) {
        const Index base = h.durable_base();
        auto first = std::find_if(w.entries.begin(), w.entries.end(), [&](const Entry& e) { return e.index > base; });
        if (first != w.entries.end()) {
            h.durable_log.resize(std::min<size_t>(first->index - base - 1, h.durable_log.size()));  // a rewritten suffix replaces the old
            h.durable_log.insert(h.durable_log.end(), first, w.entries.end());
        }
    }
    h.runtime->persisted(w.last_disk_write);
    drain(n);
}

bool Simulator::campaign(NodeId n) {
    if (!is_up(n)) return false;
    host(n).runtime->campaign();
    drain(n);
    return true;
}

bool Simulator::take_snapshot(NodeId n) {
    if (!is_up(n)) return false;
    const bool taken = host(n).runtime->take_snapshot();
    drain(n);
    return taken;
}

void Simulator::crash(NodeId n) {
    if (is_browser(n))
        throw std::invalid_argument("node " + std::to_string(n) +
                                    " is a browser: its memory is its only disk, so it does not restart; reload or "
                                    "close it instead");
    stop(n);
}

// Node n's machine stops: what it held in memory is lost, and its clients' requests
// go elsewhere.
void Simulator::stop(NodeId n) {
    NodeHost& h = host(n);
    if (!h.up) return;
    h.up = false;
    h.runtime.reset();
    h.writes.clear();  // what was not yet durable is lost
    h.changes.clear();
    h.incarnation++;
    mix_trace(0xC0 | n);
    // Its clients' connections break; each tries again, at another node.
    std::vector<uint64_t> broken;
    for (const ClientProcess& p : processes_)
        if (p.waiting && ops_[p.op - 1].node == n) broken.push_back(p.op);
    for (uint64_t op : broken) {
        processes_[ops_[op - 1].process - 1].waiting = false;
        client_failed(ops_[op - 1], ClientReply{});
    }
    for (const MembershipOp& m : membership_ops_) {
        if (m.complete_ms < 0 && m.asked == n) {
            ClientReply lost;
            lost.error = "node " + std::to_string(n) + " crashed";
            membership_reply(m.id, m.tries, lost);
        }
    }
}

void Simulator::restart(NodeId n) {
    if (host(n).up || host(n).browser) return;  // a browser is up, or closed for good
    start_node(n);
    mix_trace(0xD0 | n);
    drain(n);
}

bool Simulator::is_up(NodeId n) const { return n >= 1 && n <= NodeId(size()) && host(n).up; }
bool Simulator::is_browser(NodeId n) const { return n >= 1 && n <= NodeId(size()) && host(n).browser; }
bool Simulator::is_closed(NodeId n) const { return is_browser(n) && host(n).closed; }
NodeId Simulator::via(NodeId n) const { return is_browser(n) ? host(n).via : kNoNode; }

const Raft* Simulator::node(NodeId n) const { return is_up(n) ? &host(n).runtime->raft() : nullptr; }
const NodeRuntime* Simulator::runtime(NodeId n) const { return is_up(n) ? host(n).runtime.get() : nullptr; }
const std::vector<Entry>& Simulator::durable_log(NodeId n) const { return host(n).durable_log; }
const std::optional<Snapshot>& Simulator::durable_snapshot(NodeId n) const { return host(n).durable_snapshot; }
const HardState& Simulator::durable_hard_state(NodeId n) const { return host(n).durable_hs; }
const std::deque<KeyChange>& Simulator::changes(NodeId n) const { return host(n).changes; }
Index Simulator::changes_floor(NodeId n) const { return host(n).changes_floor; }

const KvStore* Simulator::kv(NodeId n) const { return is_up(n) ? &host(n).runtime->kv() : nullptr; }

std::optional<NodeId> Simulator::leader() const {
    std::optional<NodeId> best;
    Term best_term = 0;
    for (const auto& h : hosts_) {
        if (!h->up) continue;
        const Raft& r = h->runtime->raft();
        if (r.role() == Role::Leader && (!best || r.current_term() > best_term)) {
            best = h->id;
            best_term = r.current_term();
        }
    }
    return best;
}

bool Simulator::set_fault(NodeId n, const std::string& name, bool on) {
    if (n < 1 || n > NodeId(size())) return false;
    NodeHost& h = host(n);
    if (!h.faults.set(name, on)) return false;
    if (h.runtime) h.runtime->raft_mut().faults = h.faults;
    return true;
}

void Simulator::preload_log(NodeId n, const std::vector<Term>& terms, Term term) {
    if (stats_.events != 0) throw std::logic_error("preload_log must come before the first event");
    NodeHost& h = host(n);
    h.durable_log.clear();
    h.durable_snapshot.reset();
    Term last = 0;
    for (size_t i = 0; i < terms.size(); i++) {
        if (terms[i] < last || terms[i] == 0) throw std::invalid_argument("preloaded terms must be positive and non-decreasing");
        last = terms[i];
        Entry e;
        e.index = i + 1;
        e.term = terms[i];
        e.data = "set k" + std::to_string(i + 1) + " " + std::to_string(i + 1);
        h.durable_log.push_back(e);
    }
    h.durable_hs = HardState{std::max(term, last), kNoNode, 0};
    h.up = false;
    start_node(n);
    if (cfg_.check) checker_.on_append(h.runtime->raft(), h.durable_log);
}

// ---------------------------------------------------------------- network

void Simulator::set_network(const NetworkConfig& net) {
    if (net.latency_min_ms < 0 || net.latency_max_ms < net.latency_min_ms)
        throw std::invalid_argument("latency must satisfy 0 <= min <= max");
    if (net.disk_min_ms < 0 || net.disk_max_ms < net.disk_min_ms)
        throw std::invalid_argument("disk latency must satisfy 0 <= min <= max");
    if (net.disk_slow_min_ms < 0 || net.disk_slow_max_ms < net.disk_slow_min_ms)
        throw std::invalid_argument("slow disk latency must satisfy 0 <= min <= max");
    for (double p : {net.drop, net.duplicate, net.reorder, net.disk_slow})
        if (!(p >= 0 && p <= 1)) throw std::invalid_argument("probabilities must be between 0 and 1");
    cfg_.net = net;
}

void Simulator::partition(const std::vector<std::vector<NodeId>>& groups) {
    std::vector<int> g(kMaxNodes, 0);
    int gid = 0;
    for (const auto& group : groups) {
        gid++;
        for (NodeId n : group) {
            if (n < 1 || n > NodeId(size())) throw std::invalid_argument("no node " + std::to_string(n));
            if (g[n - 1] != 0) throw std::invalid_argument("node " + std::to_string(n) + " is in two groups");
            g[n - 1] = gid;
        }
    }
    group_ = g;
    mix_trace(0xE0 + gid);
}

void Simulator::cut(NodeId from, NodeId to) { cut_links_.insert({from, to}); }
void Simulator::restore(NodeId from, NodeId to) { cut_links_.erase({from, to}); }

void Simulator::heal() {
    cut_links_.clear();
    group_.assign(kMaxNodes, 0);
}

bool Simulator::link_up(NodeId from, NodeId to) const {
    return group_[from - 1] == group_[to - 1] && !cut_links_.count({from, to});
}

// The vias a message from `from` to `to` passes through, in order (kNoNode-padded):
// a browser's own via, then the receiving browser's. False when a browser end has no
// link right now.
bool Simulator::relays(NodeId from, NodeId to, NodeId relay[2]) const {
    relay[0] = relay[1] = kNoNode;
    int k = 0;
    if (host(from).browser) {
        const NodeId v = host(from).via;
        if (v == kNoNode) return false;
        if (v != to) relay[k++] = v;
    }
    if (host(to).browser) {
        const NodeId v = host(to).via;
        if (v == kNoNode) return false;
        if (v != from && (k == 0 || relay[0] != v)) relay[k++] = v;
    }
    return true;
}

// Every hop up and every via alive. With no relay: the one link from -> to.
bool Simulator::route_up(NodeId from, NodeId to, const NodeId relay[2]) const {
    NodeId at = from;
    for (int i = 0; i < 2 && relay[i] != kNoNode; i++) {
        if (!host(relay[i]).up || !link_up(at, relay[i])) return false;
        at = relay[i];
    }
    return link_up(at, to);
}

// A browser's link to a native node works while that node is up, still in the
// cluster, and the link is up both ways (a connection that loses one way dies).
bool Simulator::link_alive(NodeId browser, NodeId native) const {
    const NodeHost& v = host(native);
    return v.up && !v.retired && link_up(browser, native) && link_up(native, browser);
}

// At each of a browser's ticks: a broken link is dropped, and after
// browser_reconnect_ms the page links to the next native node that works.
void Simulator::keep_linked(NodeHost& b) {
    if (b.via != kNoNode) {
        if (link_alive(b.id, b.via)) return;
        b.via = kNoNode;
        b.reconnect_at = now_ + cfg_.browser_reconnect_ms;
        mix_trace(0xB0 | b.id);
        return;
    }
    if (now_ < b.reconnect_at) return;
    for (int k = 1; k <= size(); k++) {
        const NodeId c = NodeId((b.last_via + k - 1) % size() + 1);
        if (!host(c).browser && link_alive(b.id, c)) {
            b.via = b.last_via = c;
            mix_trace(0xB8 | uint64_t(c) << 8 | b.id);
            return;
        }
    }
}

// A frame from a node's runtime: Raft messages as they are; a client frame as a
// Message naming its type and ends, with the request or reply kept on the side, so
// that the common event stays small. Both take the same links, with the same faults.
void Simulator::send_frame(NodeId from, NodeId to, Frame&& f) {
    if (!is_client_frame(f.type)) {
        send_message(std::move(f.peer));
        return;
    }
    Message m;
    m.type = f.type;
    m.from = from;
    m.to = to;
    send_message(std::move(m), store_client_frame({std::move(f.request), std::move(f.reply)}));
}

uint32_t Simulator::store_client_frame(ClientFrame&& f) {
    if (free_client_frames_.empty()) {
        client_frames_.push_back(std::move(f));
        return uint32_t(client_frames_.size());
    }
    const uint32_t payload = free_client_frames_.back();
    free_client_frames_.pop_back();
    client_frames_[payload - 1] = std::move(f);
    return payload;
}

void Simulator::send_message(Message&& m, uint32_t payload) {
    stats_.messages_sent++;
    stats_.sent_by_type[size_t(m.type)]++;
    if (send_observer_) send_observer_(m);
    // A browser's message takes a hop more through each via, each hop with its chance
    // of loss and its latency.
    NodeId relay[2];
    const bool routed = relays(m.from, m.to, relay) && route_up(m.from, m.to, relay);
    const int hops = 1 + (relay[0] != kNoNode) + (relay[1] != kNoNode);
    bool dropped = !routed;
    for (int i = 0; i < hops && !dropped; i++) dropped = rng_.chance(cfg_.net.drop);
    if (dropped) {
        stats_.messages_dropped++;
        constexpr size_t kRecentDrops = 32;
        if (recent_drops_.size() == kRecentDrops) recent_drops_.pop_front();
        recent_drops_.push_back(InFlight{std::move(m), now_, now_, 0, false, {}, {}});
        if (payload) {
            recent_drops_.back().request = client_frames_[payload - 1].request;
            recent_drops_.back().reply = client_frames_[payload - 1].reply;
            free_client_frames_.push_back(payload);
        }
        return;
    }
    // Links are FIFO, like a TCP connection: jitter varies the delay, but a message
    // does not overtake an earlier one on the same link unless `reorder` holds one back.
    TimeMs& link_clock = link_clock_[(m.from - 1) * size_t(kMaxNodes) + (m.to - 1)];
    TimeMs latency = 0;
    for (int i = 0; i < hops; i++) latency += rng_.range(cfg_.net.latency_min_ms, cfg_.net.latency_max_ms);
    TimeMs arrives = std::max(now_ + latency, link_clock);
    if (rng_.chance(cfg_.net.reorder)) {
        arrives += rng_.range(cfg_.net.latency_max_ms, 3 * cfg_.net.latency_max_ms + 1);
    } else {
        link_clock = arrives;
    }
    if (rng_.chance(cfg_.net.duplicate)) {
        const uint32_t copy = payload ? store_client_frame(ClientFrame(client_frames_[payload - 1])) : 0;
        schedule_delivery(Message(m), arrives + rng_.range(0, cfg_.net.latency_max_ms), copy, relay);
    }
    schedule_delivery(std::move(m), arrives, payload, relay);
}

void Simulator::schedule_delivery(Message&& m, TimeMs arrives, uint32_t payload, const NodeId relay[2]) {
    Event& e = new_event(EventKind::Deliver, arrives, m.to);
    e.relay[0] = relay[0];
    e.relay[1] = relay[1];
    e.id = ++next_message_id_;
    e.sent_ms = now_;
    e.msg = std::move(m);
    e.payload = payload;
}

void Simulator::deliver(Event& e) {
    const Message& m = e.msg;
    mix_trace(uint64_t(m.type) << 56 ^ m.from << 48 ^ m.term << 24 ^ m.index);
    NodeHost& h = host(m.to);
    Frame& f = inbox_;
    f.type = m.type;
    if (e.payload) {
        ClientFrame& c = client_frames_[e.payload - 1];
        f.request = std::move(c.request);
        f.reply = std::move(c.reply);
        free_client_frames_.push_back(e.payload);
        f.peer = Message{};  // a client frame names its sender and addressee (NodeRuntime::send_client)
        f.peer.from = m.from;
        f.peer.to = m.to;
    }
    if (e.lost || !h.up || !route_up(m.from, m.to, e.relay)) {
        stats_.messages_dropped++;
        return;
    }
    stats_.messages_delivered++;
    if (trace_sink_) trace_sink_(trace_line(e));
    if (e.payload) {
        h.runtime->receive(f, m.from);
        if (h.runtime->has_ready()) flush_soon(h);  // requests arriving together share a Ready
        return;
    }
    const NodeId from = m.from;
    f.peer = std::move(e.msg);
    h.runtime->receive(f, from);
    drain(h.id);
}

std::string Simulator::trace_line(const Event& e) const {
    const Message& m = e.msg;
    std::string line = std::to_string(now_) + "ms " + message_type_name(m.type) + " " + std::to_string(m.from) + "->" +
                       std::to_string(m.to);
    if (e.payload) {
        const uint64_t client = m.type == MessageType::ClientRequest ? inbox_.request.client_id : inbox_.reply.client_id;
        const uint64_t seq = m.type == MessageType::ClientRequest ? inbox_.request.seq : inbox_.reply.seq;
        return line + " client " + std::to_string(client) + " seq " + std::to_string(seq);
    }
    return line + " term " + std::to_string(m.term) + " index " + std::to_string(m.index) + " entries " +
           std::to_string(m.entries.size()) + (m.reject ? " reject" : "");
}

const std::vector<InFlight>& Simulator::in_flight() const {
    in_flight_cache_.clear();
    for (const Event& e : slots_) {
        if (!e.live || e.kind != EventKind::Deliver) continue;
        InFlight f{e.msg, e.sent_ms, e.time, e.id, e.lost, {}, {}};
        if (e.payload) {
            f.request = client_frames_[e.payload - 1].request;
            f.reply = client_frames_[e.payload - 1].reply;
        }
        in_flight_cache_.push_back(std::move(f));
    }
    std::sort(in_flight_cache_.begin(), in_flight_cache_.end(),
              [](const InFlight& a, const InFlight& b) { return a.arrives_ms != b.arrives_ms ? a.arrives_ms < b.arrives_ms : a.id < b.id; });
    return in_flight_cache_;
}

bool Simulator::lose(uint64_t message_id) {
    for (Event& e : slots_) {
        if (e.live && e.kind == EventKind::Deliver && e.id == message_id) {
            e.lost = true;
            return true;
        }
    }
    return false;
}

// ---------------------------------------------------------------- clients

// A client process has a client id of its own (its process number); its operations
// are seq 1, 2, 3, ... under it, so a retry is recognised and applied at most once.
uint64_t Simulator::new_process(NodeId pinned, bool prefer_leader) {
    ClientProcess p;
    p.client_id = processes_.size() + 1;
    p.pinned = pinned;
    p.prefer_leader = prefer_leader;
    processes_.push_back(p);
    return p.client_id;
}

uint64_t Simulator::invoke(uint64_t process, ClientOp::Kind kind, const std::string& key, const std::string& value,
                           const Command* conditional) {
    ClientProcess& p = processes_[process - 1];
    ClientOp op;
    op.id = ops_.size() + 1;
    op.process = process;
    op.client_id = p.client_id;
    op.seq = p.next_seq++;
    op.kind = kind;
    op.key = key;
    op.value = value;
    op.command = kind == ClientOp::Kind::Write    ? "set " + key + " " + value
                 : kind == ClientOp::Kind::Delete ? "del " + key
                                                  : "get " + key;
    if (conditional && conditional->condition != Command::If::Always) {
        op.command = command_text(*conditional);
        op.condition = conditional->condition == Command::If::Revision ? "revision" : "value";
        op.prev_revision = conditional->prev_revision;
        op.prev_value = conditional->prev_value;
    }
    op.invoke_ms = now_;
    const uint64_t id = op.id;
    p.op = id;
    ops_.push_back(std::move(op));
    stats_.proposals++;
    client_try(id);
    return id;
}

uint64_t Simulator::propose(const std::string& command) {
    const Command c = checked_command(command);
    const ClientOp::Kind kind = c.op == Command::Op::Set ? ClientOp::Kind::Write : ClientOp::Kind::Delete;
    return invoke(new_process(kNoNode, true), kind, c.key, c.value, &c);
}

uint64_t Simulator::propose_at(NodeId n, const std::string& command) {
    const Command c = checked_command(command);
    if (!is_up(n)) return 0;
    const ClientOp::Kind kind = c.op == Command::Op::Set ? ClientOp::Kind::Write : ClientOp::Kind::Delete;
    return invoke(new_process(n, false), kind, c.key, c.value, &c);
}

uint64_t Simulator::read(const std::string& key) {
    const std::string error = check_key(key);
    if (!error.empty()) throw std::invalid_argument("cannot read key '" + key + "': " + error);
    return invoke(new_process(kNoNode, true), ClientOp::Kind::Read, key, "");
}

uint64_t Simulator::read_at(NodeId n, const std::string& key) {
    const std::string error = check_key(key);
    if (!error.empty()) throw std::invalid_argument("cannot read key '" + key + "': " + error);
    if (!is_up(n)) return 0;
    return invoke(new_process(n, false), ClientOp::Kind::Read, key, "");
}

// One try: the request goes to a node (the one the process is pinned to; the leader,
// on a first try that prefers it; the leader an error reply named; else any up node),
// which serves it or forwards it to its leader, and answers through client_reply.
void Simulator::client_try(uint64_t op_id) {
    ClientOp& op = ops_[op_id - 1];
    if (op.outcome != ClientOp::Outcome::Pending) return;
    ClientProcess& p = processes_[op.process - 1];
    NodeId to = p.pinned;
    if (to == kNoNode) {
        const std::optional<NodeId> l = p.prefer_leader && op.tries == 0 ? leader() : std::nullopt;
        to = l ? *l : is_up(p.hint) ? p.hint : random_up_node();
    }
    if (!is_up(to)) {  // no node to talk to: waiting for one is not a try
        new_event(EventKind::ClientTry, now_ + kClientRetryMs, kNoNode).id = op_id;
        return;
    }
    // While the cluster settles, a client keeps trying: a request a healed cluster never
    // answers shows up as still pending (Liveness), not as a client that gave up early.
    if (op.tries >= kClientMaxTries && !settling_) {
        client_complete(op, op.kind == ClientOp::Kind::Read ? ClientOp::Outcome::Fail : ClientOp::Outcome::Unknown);
        return;
    }
    op.tries++;
    op.node = to;
    p.waiting = true;
    ClientRequest r;
    r.client_id = op.client_id;
    r.seq = op.seq;
    r.op = op.kind == ClientOp::Kind::Write ? "put" : op.kind == ClientOp::Kind::Delete ? "del" : "get";
    r.key = op.key;
    r.value = op.value;
    r.condition = op.condition;
    r.prev_revision = op.prev_revision;
    r.prev_value = op.prev_value;
    const int attempt = op.tries;
    NodeHost& h = host(to);
    // op and p may move while the request runs: the answer finds them by op id.
    h.runtime->submit(std::move(r), ReplyTo{this, op_id, attempt, false});
    if (h.runtime->has_ready()) flush_soon(h);
}

NodeId Simulator::random_up_node() {
    NodeId up[9];
    int count = 0;
    for (const auto& h : hosts_)
        if (h->up && !h->retired) up[count++] = h->id;
    return count == 0 ? kNoNode : up[rng_.range(0, count - 1)];
}

void Simulator::client_reply(uint64_t op_id, int attempt, const ClientReply& reply) {
    ClientOp& op = ops_[op_id - 1];
    if (op.outcome != ClientOp::Outcome::Pending || op.tries != attempt) return;
    processes_[op.process - 1].waiting = false;
    if (reply.ok) {
        if (op.kind == ClientOp::Kind::Read) {
            if (reply.found) op.result = reply.value;
        } else {
            op.revision = reply.revision;
            op.condition_failed = reply.condition_failed;
            if (reply.condition_failed && reply.found) op.current = reply.value;
            // op.index is where it took effect (on_client_apply), which an ok follows.
            if (cfg_.check && op.index != 0) checker_.on_ack(op.leader, op.index, op.client_id, op.seq);
        }
        client_complete(op, ClientOp::Outcome::Ok);
    } else if (reply.error.rfind("invalid request", 0) == 0) {
        client_complete(op, ClientOp::Outcome::Fail);  // refused: it will never take effect
    } else {
        client_failed(op, reply);
    }
}

// A try that ended without an answer (an error reply, or the node crashed under it).
void Simulator::client_failed(ClientOp& op, const ClientReply& reply) {
    ClientProcess& p = processes_[op.process - 1];
    if (p.pinned != kNoNode) {  // the node's answer was final
        client_complete(op, op.kind == ClientOp::Kind::Read ? ClientOp::Outcome::Fail : ClientOp::Outcome::Unknown);
        return;
    }
    p.hint = reply.leader_hint;
    new_event(EventKind::ClientTry, now_ + kClientRetryMs, kNoNode).id = op.id;
}

void Simulator::client_complete(ClientOp& op, ClientOp::Outcome o) {
    op.outcome = o;
    op.complete_ms = now_;
    ClientProcess& p = processes_[op.process - 1];
    p.op = 0;
    p.waiting = false;
    if (o == ClientOp::Outcome::Ok) stats_.acked++;
    if (o != ClientOp::Outcome::Unknown) return;
    // A write of unknown outcome may still take effect at any time: its process is done
    // (Jepsen's rule), and a fresh one, with a new client id, takes its place.
    auto w = std::find(workers_.begin(), workers_.end(), op.process);
    if (w != workers_.end()) *w = new_process(kNoNode, false);
}

// A client write took effect at index e.index on node n (the first apply anywhere is
// the committed one: the checker holds every apply to that).
void Simulator::on_client_apply(NodeId n, const Entry& e) {
    if (e.client_id > processes_.size()) return;  // a runtime session's, not a process's
    const ClientProcess& p = processes_[e.client_id - 1];
    if (p.op == 0) return;
    ClientOp& op = ops_[p.op - 1];
    if (op.seq != e.seq || op.index != 0) return;
    op.index = e.index;
    op.leader = host(n).runtime->raft().leader_id();
}

void Simulator::set_client_rate(double per_second) {
    client_rate_ = per_second;
    workload_generation_++;
    if (per_second > 0) new_event(EventKind::Workload, now_, kNoNode).id = workload_generation_;
}

// One arrival of the random workload: an idle process (of enough for the rate) gets
// the next operation; with every process busy, the arrival is skipped.
void Simulator::workload_invoke() {
    const size_t target =
        std::clamp(size_t(std::ceil(client_rate_ / kOpsPerProcess)), kMinProcesses, kMaxProcesses);
    while (workers_.size() < target) workers_.push_back(new_process(kNoNode, false));
    idle_.clear();
    for (size_t i = 0; i < target; i++)
        if (processes_[workers_[i] - 1].op == 0) idle_.push_back(workers_[i]);
    if (idle_.empty()) return;
    const uint64_t process = idle_[rng_.range(0, int64_t(idle_.size()) - 1)];
    const uint64_t n = ++workload_count_;
    const std::string key = "k" + std::to_string(rng_.range(0, kKeys - 1));
    if (rng_.chance(kReadShare)) {
        invoke(process, ClientOp::Kind::Read, key, "");
    } else if (rng_.chance(kDeleteShare)) {
        invoke(process, ClientOp::Kind::Delete, key, "");
    } else {
        invoke(process, ClientOp::Kind::Write, key, "v" + std::to_string(n));
    }
}

// ---------------------------------------------------------------- settle

SettleResult Simulator::settle(TimeMs limit_ms) {
    heal();
    for (int n = 1; n <= size(); n++) restart(NodeId(n));
    set_client_rate(0);
    settling_ = true;
    const TimeMs start = now_;
    std::string why;
    std::vector<NodeId> nodes;
    Index index = 0;
    SettleResult r;
    r.settled = run_until([&] { return !unsettled(&why, &nodes, &index); }, limit_ms);
    r.took_ms = now_ - start;
    settling_ = false;
    if (!r.settled) {
        r.stuck = why;
        checker_.on_liveness_failure("not settled " + std::to_string(limit_ms) +
                                         " ms after every link was healed and every node restarted: " + why,
                                     nodes, index);
    }
    for (const ClientOp& op : ops_) {
        if (op.complete_ms < start || (op.outcome != ClientOp::Outcome::Unknown && op.outcome != ClientOp::Outcome::Fail))
            continue;
        if (processes_[op.process - 1].pinned != kNoNode) continue;  // one node's answer, final by design
        const std::string what = "client request " + std::to_string(op.id) + " (" + op.command + ") ended " +
                                 (op.outcome == ClientOp::Outcome::Fail ? "failed" : "unknown") + " at " +
                                 std::to_string(op.complete_ms) + " ms, during the settle phase";
        if (r.stuck.empty()) r.stuck = what;
        checker_.on_liveness_failure(what, op.leader != kNoNode ? std::vector<NodeId>{op.leader} : std::vector<NodeId>{}, op.index);
    }
    r.history = checker_.check_history(ops_);
    return r;
}

// What keeps the cluster from being settled, or false when nothing does. Cheap: it
// runs after every event of a settle phase. Equal last (index, term) means equal logs,
// by Log Matching (which the checker verifies).
bool Simulator::unsettled(std::string* why, std::vector<NodeId>* nodes, Index* index) const {
    *index = 0;
    nodes->clear();
    const std::optional<NodeId> l = leader();
    if (!l) {
        *why = "no leader";
        return true;
    }
    for (const ClientProcess& p : processes_) {
        if (p.op == 0) continue;
        const ClientOp& op = ops_[p.op - 1];
        *why = "client request " + std::to_string(op.id) + " (" + op.command + ") still pending after " +
               std::to_string(op.tries) + " tries";
        *nodes = {*l};
        *index = op.index;
        return true;
    }
    const Raft& lr = host(*l).runtime->raft();
    const Index last = lr.log().last_index();
    const std::optional<Term> last_term = lr.log().term(last);
    const uint64_t fingerprint = host(*l).runtime->kv().fingerprint();
    for (const auto& h : hosts_) {
        // A machine removed, or never admitted, is outside the cluster: nothing to agree on.
        if (!lr.membership().is_member(h->id)) continue;
        const std::string node = "node " + std::to_string(h->id);
        *nodes = {h->id};
        *index = last;
        if (h->closed) {
            // A closed tab is gone for good: nothing to agree on, but the leader must
            // remove it as absent, unless that would leave too few voters.
            const bool voter = lr.membership().is_voter(h->id);
            if (cfg_.remove_absent_browsers_after_ms <= 0 ||
                (voter && lr.membership().voters().size() - 1 < cfg_.min_voters))
                continue;
            *why = node + ", a closed browser tab, is still a member (absent browsers are removed after " +
                   std::to_string(cfg_.remove_absent_browsers_after_ms) + " ms)";
            return true;
        }
        if (!h->up) {
            *why = node + " is down";
            return true;
        }
        const Raft& r = h->runtime->raft();
        const KvStore& kv = h->runtime->kv();
        if (r.log().last_index() != last || r.log().term(last) != last_term) {
            *why = node + "'s log ends at index " + std::to_string(r.log().last_index()) + ", leader " +
                   std::to_string(*l) + "'s at " + std::to_string(last) + " (term " + std::to_string(last_term.value_or(0)) + ")";
        } else if (r.commit_index() != last) {
            *why = node + "'s commit index is " + std::to_string(r.commit_index()) + ", the leader's last index " +
                   std::to_string(last);
        } else if (kv.applied_index() != last) {
            *why = node + " applied up to index " + std::to_string(kv.applied_index()) + " of " + std::to_string(last);
        } else if (kv.fingerprint() != fingerprint) {
            *why = node + "'s key-value state differs from leader " + std::to_string(*l) + "'s at index " +
                   std::to_string(last);
        } else if (r.membership() != lr.membership()) {
            *why = node + "'s configuration (voters " + ids_text(r.membership().voters()) + ") differs from leader " +
                   std::to_string(*l) + "'s (voters " + ids_text(lr.membership().voters()) + ")";
        } else {
            continue;
        }
        return true;
    }
    return false;
}

}  // namespace raftbook

namespace raftbook {

// ---------------------------------------------------------------- membership

namespace {
constexpr int kMembershipTries = 12;
constexpr TimeMs kMembershipRetryMs = 250;
}  // namespace

// A new machine: the next slot, an empty disk, no configuration. It is a host like the
// others from now on (the network, the nemesis and settle reach it); the leader hears
// of it through the add_learner request.
uint64_t Simulator::add_node(NodeId n, bool learner, bool browser) {
    if (n != NodeId(size() + 1) || size() >= kMaxNodes) return 0;
    add_host();
    host(n).promote_self = !learner;
    host(n).browser = browser;
    host(n).last_via = NodeId(n % cfg_.nodes);  // browsers spread over the native nodes
    start_node(n);
    mix_trace(0xA0 | n);
    drain(n);
    return membership_request("add_learner", n, false);
}

uint64_t Simulator::promote(NodeId n, bool once) {
    return n >= 1 && n <= NodeId(size()) ? membership_request("promote", n, once) : 0;
}
uint64_t Simulator::remove_node(NodeId n, bool once) {
    return n >= 1 && n <= NodeId(size()) ? membership_request("remove", n, once) : 0;
}
uint64_t Simulator::transfer_leader(NodeId n, bool once) {
    return n >= 1 && n <= NodeId(size()) ? membership_request("transfer_leader", n, once) : 0;
}

uint64_t Simulator::membership_request(const char* op, NodeId n, bool once) {
    MembershipOp m;
    m.id = membership_ops_.size() + 1;
    m.op = op;
    m.node = n;
    m.max_tries = once ? 1 : kMembershipTries;
    m.invoke_ms = now_;
    membership_ops_.push_back(m);
    membership_try(m.id);
    return m.id;
}

bool Simulator::is_member(NodeId n) const {
    const std::optional<NodeId> l = leader();
    return l && host(*l).runtime->raft().membership().is_member(n);
}

// One try, at the leader when there is one, else at a random up node (which forwards
// it); the runtime answers once the change is applied, or with why not.
void Simulator::membership_try(uint64_t id) {
    MembershipOp& op = membership_ops_[id - 1];
    if (op.complete_ms >= 0) return;
    const std::optional<NodeId> l = leader();
    const NodeId to = l ? *l : random_up_node();
    if (to == kNoNode) {
        new_event(EventKind::MembershipTry, now_ + kMembershipRetryMs, kNoNode).id = id;
        return;
    }
    op.tries++;
    op.asked = to;
    ClientRequest r;
    r.op = op.op;
    r.node = op.node;
    r.browser = op.op == "add_learner" && host(op.node).browser;
    const int attempt = op.tries;
    NodeHost& h = host(to);
    h.runtime->submit(std::move(r), ReplyTo{this, id, attempt, true});
    if (h.runtime->has_ready()) flush_soon(h);
}

void Simulator::membership_reply(uint64_t id, int attempt, const ClientReply& reply) {
    MembershipOp& op = membership_ops_[id - 1];
    if (op.complete_ms >= 0 || op.tries != attempt) return;
    op.asked = kNoNode;
    if (!reply.ok && op.tries < op.max_tries) {
        op.error = reply.error;
        new_event(EventKind::MembershipTry, now_ + kMembershipRetryMs, kNoNode).id = id;
        return;
    }
    op.ok = reply.ok;
    op.error = reply.ok ? "" : reply.error;
    op.index = reply.ok && op.op != "transfer_leader" ? reply.revision : 0;
    op.complete_ms = now_;
    if (op.ok && op.op == "remove") host(op.node).retired = true;
}

// ---------------------------------------------------------------- browser tabs

bool Simulator::close(NodeId n) {
    if (!is_browser(n) || host(n).closed) return false;
    stop(n);
    NodeHost& h = host(n);
    h.closed = true;
    h.via = kNoNode;
    // Its memory is gone, and its vote with it: it can never be part of a majority that
    // lacks what it held, so Commit Durability counts its disk as the tab left it.
    mix_trace(0xF0 | n);
    return true;
}

NodeId Simulator::reload(NodeId n) {
    if (!is_browser(n) || host(n).closed) return 0;
    NodeHost& h = host(n);
    if (h.faults.browser_reload_keeps_id) {  // the mistake: the same id, nothing remembered
        stop(n);
        h.durable_hs = HardState{};
        h.durable_snapshot.reset();
        h.durable_log.clear();
        start_node(n);
        mix_trace(0xF8 | n);
        drain(n);
        return n;
    }
    if (size() >= kMaxNodes) return 0;
    const bool learner = !h.promote_self;
    close(n);
    const NodeId fresh = NodeId(size() + 1);
    add_node(fresh, learner, true);
    return fresh;
}

}  // namespace raftbook
