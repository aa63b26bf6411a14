#include "core/sim/simulator.h"

#include <algorithm>
#include <stdexcept>

namespace raftbook {

namespace {
constexpr TimeMs kClientTimeoutMs = 2000;  // a client retries a request unanswered this long
constexpr TimeMs kClientRetryMs = 50;      // ...and waits this long after a redirect
constexpr int kClientMaxTries = 6;         // then it gives up: the outcome is unknown
}  // namespace

// One simulated machine: the Raft node and state machine (volatile, lost on crash),
// its disk (durable) and the writes still on their way to it (lost on crash).
struct Simulator::NodeHost {
    NodeId id = kNoNode;
    bool up = false;
    uint64_t incarnation = 0;
    std::unique_ptr<Raft> raft;
    std::unique_ptr<KvStore> kv;
    Faults faults;
    Role last_role = Role::Follower;
    Term last_term = 0;
    // The disk: what survives a crash.
    HardState durable_hs;
    std::vector<Entry> durable_log;  // from index 1
    // Writes in progress, completed in order.
    struct Write {
        uint64_t id;
        TimeMs starts_ms;  // when the disk begins this write; until then it takes more
        std::optional<HardState> hs;
        std::vector<Entry> entries;
        std::vector<Message> after;
    };
    std::vector<Write> writes;
    uint64_t next_write_id = 0;
    TimeMs disk_free_at = 0;
    bool flush_scheduled = false;  // proposals made at this instant go out together
};

Simulator::Simulator(const SimConfig& config) : cfg_(config), rng_(config.seed) {
    if (cfg_.nodes < 1 || cfg_.nodes > 9) throw std::invalid_argument("nodes must be between 1 and 9");
    if (cfg_.tick_ms < 1) throw std::invalid_argument("tick_ms must be at least 1");
    if (cfg_.heartbeat_tick < 1 || cfg_.heartbeat_tick >= cfg_.election_tick)
        throw std::invalid_argument("heartbeat_tick must be at least 1 and below election_tick");
    set_network(cfg_.net);
    group_.assign(cfg_.nodes, 0);
    link_clock_.assign(size_t(cfg_.nodes) * size_t(cfg_.nodes), 0);
    for (int i = 1; i <= cfg_.nodes; i++) {
        hosts_.push_back(std::make_unique<NodeHost>());
        hosts_.back()->id = NodeId(i);
    }
    for (int i = 1; i <= cfg_.nodes; i++) start_node(NodeId(i));
    if (cfg_.check) {
        checker_.set_durable_view(cfg_.nodes, [this](NodeId n, Index i) -> std::optional<Term> {
            const std::vector<Entry>& log = host(n).durable_log;
            if (i < 1 || i > log.size()) return std::nullopt;
            return log[i - 1].term;
        });
    }
}

Simulator::~Simulator() = default;

RaftConfig Simulator::raft_config(NodeId n) const {
    RaftConfig rc;
    rc.id = n;
    for (int i = 1; i <= cfg_.nodes; i++) rc.peers.push_back(NodeId(i));
    rc.election_tick = cfg_.election_tick;
    rc.heartbeat_tick = cfg_.heartbeat_tick;
    rc.pre_vote = cfg_.pre_vote;
    rc.check_quorum = cfg_.check_quorum;
    rc.max_append_bytes = cfg_.max_append_bytes;
    rc.random_seed = cfg_.seed ^ (0xA5A5A5A5ULL * n) ^ host(n).incarnation;
    return rc;
}

// (Re)starts node n from what its disk holds.
void Simulator::start_node(NodeId n) {
    NodeHost& h = host(n);
    h.incarnation++;
    Restored r;
    r.hard_state = h.durable_hs;
    r.entries = h.durable_log;
    h.raft = std::make_unique<Raft>(raft_config(n), r);
    h.raft->faults = h.faults;
    h.kv = std::make_unique<KvStore>();
    h.up = true;
    h.last_role = Role::Follower;
    h.last_term = h.raft->current_term();
    h.writes.clear();
    h.disk_free_at = now_;
    h.flush_scheduled = false;
    checker_.on_restart(*h.raft);
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
    e.incarnation = node != kNoNode ? host(node).incarnation : 0;
    e.live = true;
    e.msg = Message{};
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
            h.raft->tick();
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
        case EventKind::Flush: {
            NodeHost& h = host(e.node);
            h.flush_scheduled = false;
            if (h.up && e.incarnation == h.incarnation) drain(e.node);
            break;
        }
        case EventKind::ClientTimeout: {
            ClientOp& op = ops_[e.id - 1];
            // Only the newest try's timeout counts; an answered request has no timeout.
            if (op.outcome == ClientOp::Outcome::Pending && e.incarnation == uint64_t(op.tries)) client_try(e.id);
            break;
        }
        case EventKind::Workload:
            if (e.id != workload_generation_ || client_rate_ <= 0) return;
            workload_propose();
            {
                const TimeMs gap = std::max<TimeMs>(0, TimeMs(rng_.range(0, int64_t(2000.0 / client_rate_))));
                new_event(EventKind::Workload, now_ + gap, kNoNode).id = workload_generation_;
            }
            break;
    }
}

void Simulator::schedule_tick(NodeId n, TimeMs at) { new_event(EventKind::Tick, at, n); }

// ---------------------------------------------------------------- nodes

// Hands a node's Ready to the simulated world: messages into the network, entries
// and hard state onto the disk, committed entries into the state machine.
void Simulator::drain(NodeId n) {
    NodeHost& h = host(n);
    Raft& raft = *h.raft;
    while (raft.has_ready()) {
        Ready rd = raft.ready();
        if (raft.role() == Role::Leader && (h.last_role != Role::Leader || h.last_term != raft.current_term())) {
            stats_.elections++;
            if (cfg_.check) checker_.on_leader(raft);
        }
        h.last_role = raft.role();
        h.last_term = raft.current_term();
        if (cfg_.check && !rd.entries.empty()) checker_.on_append(raft, rd.entries);
        for (Message& m : rd.messages) send_message(std::move(m));
        if (rd.hard_state || !rd.entries.empty() || !h.writes.empty()) {
            queue_write(h, std::move(rd.hard_state), std::move(rd.entries), std::move(rd.messages_after_persist));
        } else {
            for (Message& m : rd.messages_after_persist) send_message(std::move(m));  // nothing to wait for
        }
        if (cfg_.check) checker_.on_commit(raft);
        for (const Entry& e : rd.committed_entries) {
            const bool took_effect = h.kv->apply(e, !h.faults.apply_duplicates);
            if (cfg_.check) checker_.on_apply(n, e, took_effect, h.kv->fingerprint());
            auto it = pending_by_client_.find(e.client_id);
            if (e.client_id != 0 && raft.role() == Role::Leader && it != pending_by_client_.end()) {
                ClientOp& op = ops_[it->second - 1];
                if (op.seq == e.seq) {
                    if (cfg_.check) checker_.on_ack(n, e.index, e.client_id, e.seq);
                    op.index = e.index;
                    op.leader = n;
                    client_complete(op, ClientOp::Outcome::Ok);
                }
            }
        }
        if (!rd.committed_entries.empty()) raft.applied(rd.committed_entries.back().index);
    }
}

// The disk completes writes in order, each taking a little simulated time. A write
// issued while the disk is still busy joins the queued one (group commit), as a real
// host batches everything that arrived during the previous fsync.
void Simulator::queue_write(NodeHost& h, std::optional<HardState> hs, std::vector<Entry> entries,
                            std::vector<Message> after) {
    if (!h.writes.empty() && h.writes.back().starts_ms > now_) {
        NodeHost::Write& w = h.writes.back();
        if (hs) w.hs = hs;
        if (!entries.empty()) {
            while (!w.entries.empty() && w.entries.back().index >= entries.front().index) w.entries.pop_back();
            w.entries.insert(w.entries.end(), entries.begin(), entries.end());
        }
        w.after.insert(w.after.end(), after.begin(), after.end());
        return;
    }
    const TimeMs starts = std::max(now_, h.disk_free_at);
    const NetworkConfig& net = cfg_.net;
    const TimeMs done = starts + (rng_.chance(net.disk_slow) ? rng_.range(net.disk_slow_min_ms, net.disk_slow_max_ms)
                                                             : rng_.range(net.disk_min_ms, net.disk_max_ms));
    h.disk_free_at = done;
    NodeHost::Write w{h.next_write_id++, starts, std::move(hs), std::move(entries), std::move(after)};
    new_event(EventKind::DiskDone, done, h.id).id = w.id;
    h.writes.push_back(std::move(w));
}

void Simulator::on_disk_done(NodeId n, uint64_t write_id) {
    NodeHost& h = host(n);
    if (h.writes.empty() || h.writes.front().id != write_id) return;
    NodeHost::Write w = std::move(h.writes.front());
    h.writes.erase(h.writes.begin());
    if (w.hs) h.durable_hs = *w.hs;
    if (!w.entries.empty()) {
        h.durable_log.resize(w.entries.front().index - 1);  // a rewritten suffix replaces the old
        h.durable_log.insert(h.durable_log.end(), w.entries.begin(), w.entries.end());
        h.raft->persisted(w.entries.back().index, w.entries.back().term);
    }
    for (Message& m : w.after) send_message(std::move(m));
    drain(n);
}

bool Simulator::campaign(NodeId n) {
    if (!is_up(n)) return false;
    host(n).raft->campaign();
    drain(n);
    return true;
}

void Simulator::crash(NodeId n) {
    NodeHost& h = host(n);
    if (!h.up) return;
    h.up = false;
    h.raft.reset();
    h.kv.reset();
    h.writes.clear();  // what was not yet durable is lost
    h.incarnation++;
    mix_trace(0xC0 | n);
}

void Simulator::restart(NodeId n) {
    if (host(n).up) return;
    start_node(n);
    mix_trace(0xD0 | n);
    drain(n);
}

bool Simulator::is_up(NodeId n) const { return n >= 1 && n <= NodeId(cfg_.nodes) && host(n).up; }

const Raft* Simulator::node(NodeId n) const { return is_up(n) ? host(n).raft.get() : nullptr; }
const std::vector<Entry>& Simulator::durable_log(NodeId n) const { return host(n).durable_log; }
const HardState& Simulator::durable_hard_state(NodeId n) const { return host(n).durable_hs; }

const KvStore* Simulator::kv(NodeId n) const { return is_up(n) ? host(n).kv.get() : nullptr; }

std::optional<NodeId> Simulator::leader() const {
    std::optional<NodeId> best;
    Term best_term = 0;
    for (const auto& h : hosts_) {
        if (h->up && h->raft->role() == Role::Leader && (!best || h->raft->current_term() > best_term)) {
            best = h->id;
            best_term = h->raft->current_term();
        }
    }
    return best;
}

bool Simulator::set_fault(NodeId n, const std::string& name, bool on) {
    if (n < 1 || n > NodeId(cfg_.nodes)) return false;
    NodeHost& h = host(n);
    if (!h.faults.set(name, on)) return false;
    if (h.raft) h.raft->faults = h.faults;
    return true;
}

void Simulator::preload_log(NodeId n, const std::vector<Term>& terms, Term term) {
    if (stats_.events != 0) throw std::logic_error("preload_log must come before the first event");
    NodeHost& h = host(n);
    h.durable_log.clear();
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
    if (cfg_.check) checker_.on_append(*h.raft, h.durable_log);
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
    std::vector<int> g(cfg_.nodes, 0);
    int gid = 0;
    for (const auto& group : groups) {
        gid++;
        for (NodeId n : group) {
            if (n < 1 || n > NodeId(cfg_.nodes)) throw std::invalid_argument("no node " + std::to_string(n));
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
    group_.assign(cfg_.nodes, 0);
}

bool Simulator::link_up(NodeId from, NodeId to) const {
    return group_[from - 1] == group_[to - 1] && !cut_links_.count({from, to});
}

void Simulator::send_message(Message&& m) {
    stats_.messages_sent++;
    stats_.sent_by_type[size_t(m.type)]++;
    if (send_observer_) send_observer_(m);
    if (!link_up(m.from, m.to) || rng_.chance(cfg_.net.drop)) {
        stats_.messages_dropped++;
        return;
    }
    // Links are FIFO, like a TCP connection: jitter varies the delay, but a message
    // does not overtake an earlier one on the same link unless `reorder` holds one back.
    TimeMs& link_clock = link_clock_[(m.from - 1) * size_t(cfg_.nodes) + (m.to - 1)];
    TimeMs arrives = std::max(now_ + rng_.range(cfg_.net.latency_min_ms, cfg_.net.latency_max_ms), link_clock);
    if (rng_.chance(cfg_.net.reorder)) {
        arrives += rng_.range(cfg_.net.latency_max_ms, 3 * cfg_.net.latency_max_ms + 1);
    } else {
        link_clock = arrives;
    }
    if (rng_.chance(cfg_.net.duplicate)) schedule_delivery(Message(m), arrives + rng_.range(0, cfg_.net.latency_max_ms));
    schedule_delivery(std::move(m), arrives);
}

void Simulator::schedule_delivery(Message&& m, TimeMs arrives) {
    Event& e = new_event(EventKind::Deliver, arrives, m.to);
    e.id = ++next_message_id_;
    e.sent_ms = now_;
    e.msg = std::move(m);
}

void Simulator::deliver(Event& e) {
    const Message& m = e.msg;
    mix_trace(uint64_t(m.type) << 56 ^ m.from << 48 ^ m.term << 24 ^ m.index);
    NodeHost& h = host(m.to);
    if (!h.up || !link_up(m.from, m.to)) {
        stats_.messages_dropped++;
        return;
    }
    stats_.messages_delivered++;
    if (trace_sink_) {
        trace_sink_(std::to_string(now_) + "ms " + message_type_name(m.type) + " " + std::to_string(m.from) + "->" +
                    std::to_string(m.to) + " term " + std::to_string(m.term) + " index " + std::to_string(m.index) +
                    " entries " + std::to_string(m.entries.size()) + (m.reject ? " reject" : ""));
    }
    h.raft->step(m);
    drain(m.to);
}

const std::vector<InFlight>& Simulator::in_flight() const {
    in_flight_cache_.clear();
    for (const Event& e : slots_)
        if (e.live && e.kind == EventKind::Deliver) in_flight_cache_.push_back({e.msg, e.sent_ms, e.time, e.id});
    std::sort(in_flight_cache_.begin(), in_flight_cache_.end(),
              [](const InFlight& a, const InFlight& b) { return a.arrives_ms != b.arrives_ms ? a.arrives_ms < b.arrives_ms : a.id < b.id; });
    return in_flight_cache_;
}

// ---------------------------------------------------------------- clients

// Each request is its own client session (client id = request id, seq 1), so a retry
// carries the same (client id, seq) and the state machine applies it at most once.
ClientOp& Simulator::new_client_op(const std::string& command) {
    ClientOp op;
    op.id = ops_.size() + 1;
    op.client_id = op.id;
    op.seq = 1;
    op.process = op.client_id;
    op.command = command;
    Command c;
    std::string error;
    if (parse_command(command, &c, &error)) {
        op.kind = c.op == Command::Op::Set ? ClientOp::Kind::Write : ClientOp::Kind::Delete;
        op.key = c.key;
        op.value = c.value;
    }
    op.invoke_ms = now_;
    ops_.push_back(op);
    pending_by_client_[op.client_id] = op.id;
    stats_.proposals++;
    return ops_.back();
}

uint64_t Simulator::propose(const std::string& command) {
    const uint64_t id = new_client_op(command).id;
    client_try(id);
    return id;
}

uint64_t Simulator::propose_at(NodeId n, const std::string& command) {
    if (!is_up(n) || host(n).raft->role() != Role::Leader) return 0;
    ClientOp& op = new_client_op(command);
    op.leader = n;
    host(n).raft->propose(command, op.client_id, op.seq, &op.index);
    drain(n);
    return op.id;
}

// The client sends its request to the leader it knows (or any node); a follower
// redirects it; a leader appends it and the client waits, retrying on timeout.
void Simulator::client_try(uint64_t op_id) {
    ClientOp& op = ops_[op_id - 1];
    if (op.outcome != ClientOp::Outcome::Pending) return;
    const std::optional<NodeId> l = leader();
    if (!l) {  // waiting for an election is not a try
        new_event(EventKind::ClientTry, now_ + kClientRetryMs, kNoNode).id = op_id;
        return;
    }
    if (++op.tries > kClientMaxTries) {
        client_complete(op, ClientOp::Outcome::Unknown);
        return;
    }
    Index index = 0;
    host(*l).raft->propose(op.command, op.client_id, op.seq, &index);
    op.index = index;
    op.leader = *l;
    Event& t = new_event(EventKind::ClientTimeout, now_ + kClientTimeoutMs, kNoNode);
    t.id = op_id;
    t.incarnation = uint64_t(op.tries);
    // Batching: every proposal made at this instant travels in one AppendEntries.
    NodeHost& h = host(*l);
    if (!h.flush_scheduled) {
        h.flush_scheduled = true;
        new_event(EventKind::Flush, now_, *l);
    }
}

void Simulator::client_complete(ClientOp& op, ClientOp::Outcome o) {
    op.outcome = o;
    op.complete_ms = now_;
    pending_by_client_.erase(op.client_id);
    if (o == ClientOp::Outcome::Ok) stats_.acked++;
}

void Simulator::set_client_rate(double per_second) {
    client_rate_ = per_second;
    workload_generation_++;
    if (per_second > 0) new_event(EventKind::Workload, now_, kNoNode).id = workload_generation_;
}

void Simulator::workload_propose() {
    const uint64_t n = ++workload_count_;
    const std::string key = "k" + std::to_string(rng_.range(0, 9));
    if (rng_.chance(0.2)) {
        propose("del " + key);
    } else {
        propose("set " + key + " v" + std::to_string(n));
    }
}

// ---------------------------------------------------------------- settle

SettleResult Simulator::settle(TimeMs limit_ms) {
    heal();
    for (int n = 1; n <= cfg_.nodes; n++) restart(NodeId(n));
    set_client_rate(0);
    const TimeMs start = now_;
    std::string why;
    std::vector<NodeId> nodes;
    Index index = 0;
    SettleResult r;
    r.settled = run_until([&] { return !unsettled(&why, &nodes, &index); }, limit_ms);
    r.took_ms = now_ - start;
    if (!r.settled) {
        r.stuck = why;
        checker_.on_liveness_failure("not settled " + std::to_string(limit_ms) +
                                         " ms after every link was healed and every node restarted: " + why,
                                     nodes, index);
    }
    for (const ClientOp& op : ops_) {
        if (op.complete_ms < start || (op.outcome != ClientOp::Outcome::Unknown && op.outcome != ClientOp::Outcome::Fail))
            continue;
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
    if (!pending_by_client_.empty()) {
        const ClientOp& op = ops_[pending_by_client_.begin()->second - 1];
        *why = "client request " + std::to_string(op.id) + " (" + op.command + ") still pending after " +
               std::to_string(op.tries) + " tries";
        *nodes = {*l};
        *index = op.index;
        return true;
    }
    const Raft& lr = *host(*l).raft;
    const Index last = lr.log().last_index();
    const std::optional<Term> last_term = lr.log().term(last);
    const uint64_t fingerprint = host(*l).kv->fingerprint();
    for (const auto& h : hosts_) {
        const std::string node = "node " + std::to_string(h->id);
        *nodes = {h->id};
        *index = last;
        if (!h->up) {
            *why = node + " is down";
            return true;
        }
        const Raft& r = *h->raft;
        if (r.log().last_index() != last || r.log().term(last) != last_term) {
            *why = node + "'s log ends at index " + std::to_string(r.log().last_index()) + ", leader " +
                   std::to_string(*l) + "'s at " + std::to_string(last) + " (term " + std::to_string(last_term.value_or(0)) + ")";
        } else if (r.commit_index() != last) {
            *why = node + "'s commit index is " + std::to_string(r.commit_index()) + ", the leader's last index " +
                   std::to_string(last);
        } else if (h->kv->applied_index() != last) {
            *why = node + " applied up to index " + std::to_string(h->kv->applied_index()) + " of " + std::to_string(last);
        } else if (h->kv->fingerprint() != fingerprint) {
            *why = node + "'s key-value state differs from leader " + std::to_string(*l) + "'s at index " +
                   std::to_string(last);
        } else {
            continue;
        }
        return true;
    }
    return false;
}

}  // namespace raftbook
