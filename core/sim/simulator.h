// A deterministic simulator of a whole Raft cluster.
//
// Everything that is I/O for a real node is modelled here, in virtual time, with one
// seeded random source: a network with per-link latency and jitter, drops,
// duplicates, reordering, partitions and one-way cuts; a disk on which a write takes
// simulated time and a crash loses whatever was not yet durable; node crashes and
// restarts; and clients that send requests and record what happened to each.
//
// Each simulated machine is a host of the NodeRuntime (core/runtime), the same runtime
// a native node runs: the machine supplies its transport (the simulated network, which
// carries Raft messages and forwarded client requests alike), its disk and its clock
// (virtual time), and the runtime does the rest — the Ready loop, client sessions,
// forwarding to the leader, retries, ReadIndex waits. A crash drops the runtime; a
// restart builds a new one from what the disk holds.
//
// Clients talk to nodes as HTTP clients talk to native nodes (NodeRuntime::submit).
// A client process issues one operation at a time under its own client id (seq 1, 2,
// 3, ...) to a node of its choosing, and retries an unanswered one with the same
// (client id, seq) at another node, so a write applies at most once.
//
// The simulator is one event queue ordered by (virtual time, sequence number). Each
// step() pops one event and applies it; afterwards the node it touched is drained of
// its Ready (messages into the network, entries onto the disk, committed entries into
// its state machine) and the Checker re-checks the safety properties incrementally.
// Same seed + same inputs => same events in the same order => same trace hash. This
// is what the tests, the playground and `raftbook sim` all rely on.
//
// Browser members (README: browser nodes). A machine may be a browser node, a live
// page, which accepts no connections: its one link goes to a native node, its `via`,
// and every message to or from it takes that link and, for any other node, one more
// hop from the via (one browser to another: through both vias). A message is
// delivered only while every hop is up and every via is alive; each hop costs its own
// latency and drop chance. When its via crashes or is cut off (either way), the
// browser has no link for browser_reconnect_ms, then links to the next native node in
// id order after the old one that is up, still a member and reachable both ways. A
// browser does not crash and restart: its memory is its only disk, so a tab runs or is
// gone. close(n) closes it for good; reload(n) loses its memory and the page joins
// again as a new member under a fresh id, the next free slot (as add_node takes one:
// slots are never recycled, so ids never repeat and a run has room for kMaxNodes
// machines in all), while the old member stays in the configuration until the leader
// removes it as absent (RuntimeConfig::remove_absent_browsers_after_ms). The fault
// switch browser_reload_keeps_id (faults.h) brings the page back under its old id with
// empty memory instead: the mistake the checker must catch.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "core/kv/kv_store.h"
#include "core/raft/raft.h"
#include "core/runtime/node_runtime.h"
#include "core/sim/checker.h"
#include "core/sim/rng.h"

namespace raftbook {

struct NetworkConfig {
    TimeMs latency_min_ms = 10;  // one-way latency is uniform in [min, max] (jitter)
    TimeMs latency_max_ms = 30;
    double drop = 0.0;           // probability that a message is lost
    double duplicate = 0.0;      // probability that a message is delivered twice
    double reorder = 0.0;        // probability that a message is held back, letting later ones overtake
    TimeMs disk_min_ms = 1;      // a write becomes durable after [min, max] ms
    TimeMs disk_max_ms = 3;
    // The tail real disks have: this fraction of writes takes [slow_min, slow_max] ms
    // instead, longer than a network round trip.
    double disk_slow = 0.03;
    TimeMs disk_slow_min_ms = 20;
    TimeMs disk_slow_max_ms = 80;
};

struct SimConfig {
    int nodes = 3;                 // 1..9
    uint64_t seed = 1;
    NetworkConfig net;
    TimeMs tick_ms = 50;           // one Raft tick of logical time
    int election_tick = 10;        // election timeout 500..1000 ms with tick_ms = 50
    int heartbeat_tick = 2;        // heartbeat every 100 ms
    bool pre_vote = true;
    bool check_quorum = true;
    size_t max_append_bytes = 64 * 1024;  // 1 = one entry per AppendEntries, as in the paper
    bool check = true;             // run the safety checker after every event
    uint64_t snapshot_entries = 0; // RuntimeConfig's: snapshot every this many entries (0: never)
    uint64_t catchup_entries = 0;  // ...keeping this many entries before the snapshot
    size_t snapshot_chunk_bytes = 64 * 1024;  // InstallSnapshot chunk size (small: many chunks)
    // Browser members joining at the start (machines nodes+1 .. nodes+browsers), each
    // asking to be a voter once caught up.
    int browsers = 0;
    TimeMs browser_reconnect_ms = 300;  // a browser whose link broke links again after this
    // RuntimeConfig's absent-browser removal (shorter than a native node's default, to
    // fit simulated runs; 0: never) and the fewest voters it leaves.
    TimeMs remove_absent_browsers_after_ms = 3000;
    size_t min_voters = 3;
};

// One client operation, as the simulator's clients saw it (a Jepsen-style record).
// Each client process issues one operation at a time under its own session
// (client_id, seq 1, 2, 3, ...), sends it to a node of its choosing (followers forward
// it to the leader) and retries it with the same (client_id, seq) until it is answered
// or it gives up; a process whose write ended Unknown is retired and a new process (new
// client id) takes its place, as Jepsen does. history_of() (sim_history.h) turns these
// records into the history `raftbook lincheck` reads.
struct ClientOp {
    enum class Kind : uint8_t { Write, Delete, Read };
    uint64_t id = 0;               // op id, 1, 2, 3, ... (index in client_ops() + 1)
    uint64_t process = 0;          // the client process that issued it
    uint64_t client_id = 0;
    uint64_t seq = 0;
    Kind kind = Kind::Write;
    std::string key;
    std::string value;             // the value written (Write only)
    std::string command;           // "set KEY VALUE", "del KEY" or "get KEY", with any condition
    std::optional<std::string> result;  // a Read's answer once Ok (nullopt: key absent)
    // A conditional write (kv_store.h): "revision" (the key's revision must be
    // prev_revision; 0: the key must be missing) or "value" (the key must hold
    // prev_value); "" for a plain one. ClientRequest's fields, sent as they are.
    std::string condition;
    Index prev_revision = 0;
    std::string prev_value;
    // A write's answer once Ok: it applied at `revision` (its log index), or — when
    // condition_failed — nothing changed, and the key was at `revision` (0: missing)
    // holding `current`.
    Index revision = 0;
    bool condition_failed = false;
    std::optional<std::string> current;
    TimeMs invoke_ms = 0;
    TimeMs complete_ms = -1;       // -1 while pending
    enum class Outcome { Pending, Ok, Fail, Unknown } outcome = Outcome::Pending;
    Index index = 0;               // log index once the leader accepted it (writes)
    NodeId node = kNoNode;         // the node the client last sent it to
    NodeId leader = kNoNode;       // node that accepted it
    int tries = 0;                 // how often the client sent it
};

// A change to a key as a node applied it: what a watch on that node streams (the
// native node's GET /watch), in revision order.
struct KeyChange {
    Index revision = 0;      // the log index of the write
    std::string key;
    std::string value;       // when !deleted
    bool deleted = false;
};

// A membership change or leadership transfer a simulated operator asked for
// (Simulator::add_node and friends), sent to the leader (else any up member) like a
// client write. An error — no leader yet, a change still uncommitted, a learner not yet
// caught up, a transfer abandoned — is retried after a pause, up to kMembershipTries
// tries in all; the last error is the op's. (A retry of a change already made is
// answered ok by the runtime: the op does not fail because its first answer was lost.)
struct MembershipOp {
    uint64_t id = 0;         // 1, 2, 3, ... (index in membership_ops() + 1)
    std::string op;          // "add_learner", "promote", "remove", "transfer_leader" (message.h)
    NodeId node = kNoNode;
    TimeMs invoke_ms = 0;
    TimeMs complete_ms = -1; // -1 while pending
    bool ok = false;         // once complete: done, or refused with `error`
    std::string error;
    Index index = 0;         // the Config entry's index (ok changes)
    int tries = 0;           // how often it was sent (an error is retried, up to max_tries tries)
    int max_tries = 0;
    NodeId asked = kNoNode;  // the node it was last sent to
};

// What a settle phase found (Simulator::settle).
struct SettleResult {
    bool settled = false;     // converged within the limit
    TimeMs took_ms = 0;       // virtual time it ran
    std::string stuck;        // when not settled: what was still unfinished, in words
    LincheckResult::Verdict history = LincheckResult::Verdict::Linearizable;  // check_history's verdict
};

// A message in flight, as the network holds it. A client frame (msg.type ClientRequest
// or ClientReply, between two nodes: a follower forwarding to the leader, the leader
// answering) carries its request or reply; the other fields of msg stay zero.
struct InFlight {
    Message msg;
    TimeMs sent_ms = 0;
    TimeMs arrives_ms = 0;
    uint64_t id = 0;
    bool lost = false;      // lose(id) was called: it is dropped when it arrives
    ClientRequest request;  // msg.type == ClientRequest
    ClientReply reply;      // msg.type == ClientReply
};

struct SimStats {
    uint64_t events = 0;
    uint64_t messages_sent = 0;
    uint64_t messages_delivered = 0;
    uint64_t messages_dropped = 0;
    uint64_t elections = 0;        // times a node became leader
    uint64_t proposals = 0;        // client operations invoked (writes, deletes and reads)
    uint64_t acked = 0;            // client operations that completed Ok
    uint64_t sent_by_type[16] = {};  // indexed by MessageType
    uint64_t snapshots_taken = 0;      // own snapshots taken (their writes issued)
    uint64_t snapshots_installed = 0;  // snapshots installed from a leader
};

// "1,2,3" ("none" when empty): node ids as scenario lines and messages write them.
std::string ids_text(const std::vector<NodeId>& ids);

class Simulator {
public:
    explicit Simulator(const SimConfig& config);
    ~Simulator();

    // A checkpoint: a copy of the whole simulation — every machine, runtime, disk,
    // message in flight, client, random source and checker — that, given the same
    // inputs, continues exactly as this one does (the same trace hash). The trace sink
    // and send observer are not copied. The playground's timeline seeks with these.
    std::unique_ptr<Simulator> clone() const;

    // --- Time ---
    bool step();                   // runs one event; false when nothing is scheduled
    void advance(TimeMs ms);       // runs every event up to now + ms
    // Runs until pred() holds or `limit_ms` of virtual time passed; returns pred().
    bool run_until(const std::function<bool()>& pred, TimeMs limit_ms);
    TimeMs now() const { return now_; }

    // --- Clients ---
    // A command ("set KEY VALUE" or "del KEY", either with a condition "if-rev N " or
    // "if-value LEN PREV " before it — kv_store.h; anything else, an idempotency key
    // too, throws invalid_argument) from a new client process, sent to the leader when there is one (the client
    // learned it from an earlier redirect) or else to any up node, and retried — with
    // the same client id and seq, at another node — until it is answered or the client
    // gives up (Unknown). Returns the op id (client_ops()[id - 1]).
    uint64_t propose(const std::string& command);
    // The same, sent to `node` only: the node forwards it if it does not lead, and the
    // client takes the node's answer as final (a timeout ends Unknown). 0 if it is down.
    uint64_t propose_at(NodeId node, const std::string& command);
    // A linearizable read of `key` (ReadIndex at the leader), from a new client process,
    // sent like propose() / propose_at(). The result is in the op once it ends Ok.
    uint64_t read(const std::string& key);
    uint64_t read_at(NodeId node, const std::string& key);
    // A random workload: `per_second` operations on average — about 30 % reads, the rest
    // writes and some deletes, over keys k0..k9 — issued by a few concurrent client
    // processes (more at higher rates), each one operation at a time to a node of its
    // choosing. An operation that finds every process busy is not issued.
    void set_client_rate(double per_second);
    const std::vector<ClientOp>& client_ops() const { return ops_; }

    // --- Settle ---
    // The end of a run: every link healed, every crashed node restarted, the random
    // workload stopped; then runs until a leader exists, every pending client operation
    // completed Ok, and every node's log, commit index (= the leader's last index),
    // applied index and key-value state agree. Not settling within `limit_ms`, or an
    // operation ending Unknown or Fail meanwhile, is the violation "Liveness". Ends with
    // the checker's check_history over every client operation.
    SettleResult settle(TimeMs limit_ms);

    // --- Faults ---
    bool campaign(NodeId n);       // node n starts an election now; false if it is down
    // Node n snapshots its applied state now (NodeRuntime::take_snapshot); false if it
    // is down, already writing one, or applied nothing since its last.
    bool take_snapshot(NodeId n);
    void crash(NodeId n);          // volatile state lost, durable state kept (a browser: throws, see reload)
    void restart(NodeId n);
    bool is_up(NodeId n) const;
    // --- Browser members (see the top) ---
    bool is_browser(NodeId n) const;
    bool is_closed(NodeId n) const;  // a browser tab closed or reloaded away: gone for good
    NodeId via(NodeId n) const;      // the native node browser n is linked to (kNoNode: none now)
    // The tab closes: browser n's memory is lost and it never comes back. False when n
    // is not a running browser.
    bool close(NodeId n);
    // The page reloads: browser n's tab closes and a new browser, in the next free slot,
    // joins under that fresh id (a learner again, asking to be promoted if n did).
    // Returns the new id; with browser_reload_keeps_id on n, n itself, restarted with
    // empty memory. 0 when n is not a running browser or no slot is free.
    NodeId reload(NodeId n);
    // Splits the cluster: nodes in different groups cannot talk; nodes in no group
    // form one more group together.
    void partition(const std::vector<std::vector<NodeId>>& groups);
    void cut(NodeId from, NodeId to);     // one-way: from's messages to `to` are lost
    void restore(NodeId from, NodeId to);
    void heal();                          // every link restored, partitions lifted
    bool link_up(NodeId from, NodeId to) const;
    void set_network(const NetworkConfig& net);
    const NetworkConfig& network() const { return cfg_.net; }
    // Test-only rule switches (see faults.h); survive crash and restart.
    bool set_fault(NodeId n, const std::string& name, bool on);
    // --- Membership (thesis ch. 4) ---
    // Machine slots go up to kMaxNodes. The first config().nodes are the bootstrap voters;
    // add_node(n) starts machine n (the next unused slot: size() + 1) with an empty disk
    // and no configuration, and asks the leader to add it as a learner — and, unless
    // `learner`, the node asks to be promoted once caught up (RuntimeConfig::promote_self).
    // promote, remove_node and transfer_leader ask the leader for that change. A removed
    // machine keeps running, outside the cluster. Each returns the op id
    // (membership_ops()[id - 1]), or 0 when it cannot be asked (no such slot; add_node:
    // n is not the next free slot).
    // `browser`: the machine is a browser node (see the top), added as a browser member.
    static constexpr int kMaxNodes = 9;
    uint64_t add_node(NodeId n, bool learner = false, bool browser = false);
    // `once`: a single try, not retried whatever the answer (an operator who gives up;
    // a lesson that must not see the request come back through another leader).
    uint64_t promote(NodeId n, bool once = false);
    uint64_t remove_node(NodeId n, bool once = false);
    uint64_t transfer_leader(NodeId n, bool once = false);
    const std::vector<MembershipOp>& membership_ops() const { return membership_ops_; }

    // Before the first step only: gives node n a durable log with these entry terms
    // (commands "set kI I") and current term = the last of them (or `term` if higher).
    void preload_log(NodeId n, const std::vector<Term>& terms, Term term = 0);

    // --- Inspection ---
    int size() const { return int(hosts_.size()); }  // machine slots in use (add_node grows it)
    const SimConfig& config() const { return cfg_; }
    const Raft* node(NodeId n) const;      // nullptr while crashed
    const NodeRuntime* runtime(NodeId n) const;  // nullptr while crashed
    // What node n's disk holds (what a restart recovers): its newest snapshot, the log
    // after it (from index 1 without a snapshot) and its hard state.
    const std::optional<Snapshot>& durable_snapshot(NodeId n) const;
    const std::vector<Entry>& durable_log(NodeId n) const;
    const HardState& durable_hard_state(NodeId n) const;
    const KvStore* kv(NodeId n) const;     // nullptr while crashed
    // The last kChangesKept key changes node n applied, oldest first: what a watch on n
    // would have streamed. The record is volatile, like a native node's watch history:
    // it starts again, empty, when n restarts or installs a snapshot (the changes a
    // snapshot covers never pass through apply). changes(n) holds every change n applied
    // above changes_floor(n): a watch from a revision at or below it has missed some.
    static constexpr size_t kChangesKept = 1000;
    const std::deque<KeyChange>& changes(NodeId n) const;
    Index changes_floor(NodeId n) const;
    std::optional<NodeId> leader() const;  // the up leader with the highest term
    const std::vector<InFlight>& in_flight() const;  // sorted by arrival
    // Message `id`, in flight, is lost: it is dropped when it arrives (as on a cut link,
    // so no event is added or removed). False when no such message is in flight.
    bool lose(uint64_t message_id);
    // The last few messages the network dropped as they were sent (at random, or on a
    // link that was down), oldest first, each with sent_ms = arrives_ms = the send time
    // and id 0 (the playground draws them being lost).
    const std::deque<InFlight>& recent_drops() const { return recent_drops_; }
    const Checker& checker() const { return checker_; }
    const SimStats& stats() const { return stats_; }
    uint64_t trace_hash() const { return trace_hash_; }
    // A short line per delivered message, when tracing is on (for debugging a seed).
    void set_trace(std::function<void(const std::string&)> sink) { trace_sink_ = std::move(sink); }
    // Called for every message a node sends, before the network decides its fate.
    void set_send_observer(std::function<void(const Message&)> f) { send_observer_ = std::move(f); }

private:
    enum class EventKind : uint8_t { Deliver, Tick, DiskDone, ClientTry, Workload, Flush, MembershipTry };
    struct Event {
        TimeMs time = 0;
        uint64_t seq = 0;          // tie-break: events at one instant run in schedule order
        EventKind kind = EventKind::Tick;
        NodeId node = kNoNode;
        uint64_t id = 0;           // message id, write id, client op id or generation
        uint64_t incarnation = 0;  // ticks and disk writes of a crashed incarnation are void
        TimeMs sent_ms = 0;
        Message msg;
        uint32_t payload = 0;      // a client frame's request or reply: client_frames_[payload - 1]
        bool live = false;
        bool lost = false;         // Deliver: lose() was called on it
        NodeId relay[2] = {kNoNode, kNoNode};  // Deliver: the vias it passes through (browsers)
    };
    struct QueueKey {
        TimeMs time;
        uint64_t seq;
        uint32_t slot;
        bool operator>(const QueueKey& o) const { return time != o.time ? time > o.time : seq > o.seq; }
    };
    struct NodeHost;
    // The machines, each at an address of its own (its runtime points to it). A copy
    // copies each machine, runtime aside: clone() gives each copy its runtime.
    struct Hosts : std::vector<std::unique_ptr<NodeHost>> {
        Hosts() = default;
        Hosts(const Hosts& other);
        Hosts& operator=(const Hosts&) = delete;
    };
    // What a client operation's or membership op's try is answered with (a type clone()
    // can find in a runtime and point at the copy).
    struct ReplyTo {
        Simulator* sim;
        uint64_t id;  // the op
        int attempt;
        bool membership;
        void operator()(const ClientReply& reply) const;
    };
    struct ClientFrame {  // the part of a client frame a Message cannot hold
        ClientRequest request;
        ClientReply reply;
    };
    // A client process: one operation at a time, under one client id.
    struct ClientProcess {
        uint64_t client_id = 0;
        uint64_t next_seq = 1;
        uint64_t op = 0;             // the operation in progress (0: idle)
        bool waiting = false;        // op was submitted to op's node, not yet answered
        NodeId pinned = kNoNode;     // propose_at / read_at: this node only
        bool prefer_leader = false;  // propose / read: first try at the known leader
        NodeId hint = kNoNode;       // leader named by the last error reply
    };

    Simulator(const Simulator&) = default;  // clone(): every member, then re-bound
    Simulator& operator=(const Simulator&) = delete;
    void watch_durable_state();

    Event& new_event(EventKind kind, TimeMs at, NodeId node);
    void run_event(Event& e);
    void deliver(Event& e);
    void drain(NodeId n);
    void flush_soon(NodeHost& h);
    void send_frame(NodeId from, NodeId to, Frame&& f);
    void send_message(Message&& m, uint32_t payload = 0);
    void schedule_delivery(Message&& m, TimeMs arrives, uint32_t payload, const NodeId relay[2]);
    bool relays(NodeId from, NodeId to, NodeId relay[2]) const;
    bool route_up(NodeId from, NodeId to, const NodeId relay[2]) const;
    bool link_alive(NodeId browser, NodeId native) const;
    void keep_linked(NodeHost& browser);
    void stop(NodeId n);
    uint32_t store_client_frame(ClientFrame&& f);
    std::string trace_line(const Event& e) const;
    void schedule_tick(NodeId n, TimeMs at);
    void queue_write(NodeHost& h, DiskWrite w);
    void on_disk_done(NodeId n, uint64_t write_id);
    void start_node(NodeId n);
    RuntimeConfig runtime_config(NodeId n) const;
    uint64_t new_process(NodeId pinned, bool prefer_leader);
    uint64_t invoke(uint64_t process, ClientOp::Kind kind, const std::string& key, const std::string& value,
                    const Command* conditional = nullptr);
    void client_try(uint64_t op_id);
    NodeId random_up_node();
    void client_reply(uint64_t op_id, int attempt, const ClientReply& reply);
    void client_failed(ClientOp& op, const ClientReply& reply);
    void client_complete(ClientOp& op, ClientOp::Outcome o);
    void on_client_apply(NodeId n, const Entry& e);
    void workload_invoke();
    bool unsettled(std::string* why, std::vector<NodeId>* nodes, Index* index) const;
    bool settling_ = false;  // inside settle(): clients retry without a bound
    void mix_trace(uint64_t x) { trace_hash_ = (trace_hash_ ^ x) * 1099511628211ULL; }
    RaftConfig raft_config(NodeId n) const;
    void add_host();
    uint64_t membership_request(const char* op, NodeId n, bool once);
    void membership_try(uint64_t id);
    void membership_reply(uint64_t id, int attempt, const ClientReply& reply);
    bool is_member(NodeId n) const;  // of the leader's configuration
    NodeHost& host(NodeId n) { return *hosts_[n - 1]; }
    const NodeHost& host(NodeId n) const { return *hosts_[n - 1]; }

    SimConfig cfg_;
    Rng rng_;
    TimeMs now_ = 0;
    uint64_t next_seq_ = 0;
    uint64_t next_message_id_ = 0;
    std::vector<Event> slots_;
    std::vector<uint32_t> free_slots_;
    std::priority_queue<QueueKey, std::vector<QueueKey>, std::greater<QueueKey>> queue_;
    Hosts hosts_;
    std::vector<int> group_;                       // partition group per node (index n-1)
    std::set<std::pair<NodeId, NodeId>> cut_links_;
    std::vector<TimeMs> link_clock_;               // last arrival per (from, to): FIFO links
    std::vector<ClientFrame> client_frames_;       // in flight, by Event::payload - 1
    std::vector<uint32_t> free_client_frames_;
    std::vector<ClientOp> ops_;                    // op id i at [i-1]
    std::vector<MembershipOp> membership_ops_;     // op id i at [i-1]
    std::vector<ClientProcess> processes_;         // process p (= its client id) at [p-1]
    std::vector<uint64_t> workers_;                // the workload's live processes
    std::vector<uint64_t> idle_;                   // scratch: workers with nothing to do
    Frame inbox_;                                  // the frame being delivered (reused)
    double client_rate_ = 0;
    uint64_t workload_generation_ = 0;
    uint64_t workload_count_ = 0;
    Checker checker_;
    SimStats stats_;
    uint64_t trace_hash_ = 1469598103934665603ULL;
    std::function<void(const std::string&)> trace_sink_;
    std::function<void(const Message&)> send_observer_;
    mutable std::vector<InFlight> in_flight_cache_;
    std::deque<InFlight> recent_drops_;
};

}  // namespace raftbook
