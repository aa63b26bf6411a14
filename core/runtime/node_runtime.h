// The node runtime: everything a Raft node does besides I/O, written once for every host.
//
// A Raft core (raft.h) decides what to send, persist and apply; something must still
// run its Ready loop, hold client requests until they are answered, forward them to
// the leader, retry them, wait for ReadIndex confirmations and serve reads. That is this
// class. Three hosts wrap it — the simulator (virtual network, disk and clock), the
// native node (asio, WebSocket peers, the WAL thread) and the browser node — and each
// supplies only a transport, a disk and a clock through RuntimeHost. What the simulator
// checks is therefore exactly the client path a native PUT takes.
//
// The Ready loop (process_ready), one pass:
//   1. `messages` are handed to the transport at once (the leader's appends go out while
//      its own disk works: thesis §10.2.1);
//   2. `hard_state` and `entries` become one DiskWrite for the host, which makes writes
//      durable in the order they were issued and reports each with persisted(id). The
//      Ready's `messages_after_persist` wait in the runtime until their write (or, for a
//      Ready with nothing to write, every earlier write) is durable: Raft §5, respond to
//      RPCs only after updating stable storage. Only then does the core learn
//      persisted(index, term);
//   3. `committed_entries` are applied to the KvStore and the clients waiting on them are
//      answered; `read_states` release the reads waiting on them, which are served once
//      the state machine has applied up to their read index.
//
// Client requests. submit() takes a request from this node's own clients. A request
// with client_id 0 gets a session of this runtime's (a client id it alone uses, held
// while the request is unanswered, so requests within one id are sequential); a request
// that carries its own (client_id, seq) — a simulated client process, a client that
// retries — keeps them, and the KvStore's de-duplication applies it at most once however
// often it is sent. The leader proposes writes and answers reads (get, list) through
// ReadIndex (thesis §6.4): reads arriving before the next Ready share one confirmation.
// A write is answered once applied, with what the state machine made of it: its
// revision, or a failed condition with the key's current state (KvStore::last_applied;
// a retry of a write already applied gets the first result, KvStore::request_result). A follower
// forwards the request to the leader it knows as a ClientRequest frame and relays the
// ClientReply. An unanswered request is sent again on a leader change, after
// retry_interval_ms, and fails after request_timeout_ms with an error that says whether
// a write may still take effect.
//
// Snapshots (Raft §7). When the state machine has applied more than snapshot_entries
// entries beyond the last snapshot (or on take_snapshot()), the runtime freezes the
// KvStore (KvStore::freeze: O(shards), copy-on-write) and asks the host to encode it
// (KvStore::encode, O(keys): a native node does it on its disk thread, so its event loop
// never stalls on it; see OwnSnapshot) and write it as a DiskWrite with the
// snapshot and compact_to = its index - catchup_entries; once that write is durable,
// Raft holds it as the snapshot it sends to followers that need compacted entries and
// compacts its in-memory log to compact_to. One such write is in flight at a time.
// A snapshot installed from the leader arrives in a Ready: the KvStore is replaced by
// it (it was decoded, and so checked, before Raft accepted it: a peer's garbage is
// refused, never installed), and it goes to disk in the Ready's DiskWrite; the ack to
// the leader leaves once that is durable. On start, a Restored::snapshot is the
// KvStore's starting state.
//
// Invariants:
//   - every submitted request's `done` is called exactly once;
//   - a DiskWrite's after-persist messages leave only after persisted(id) for it;
//   - writes are applied in log order, each index once (KvStore::applied_index() + 1).
//
// Membership (membership.h). A membership change or a leadership transfer is a client
// request like a write (message.h: add_learner, promote, remove, transfer_leader):
// forwarded to the leader, proposed there (Raft::propose_conf_change,
// Raft::transfer_leadership), and answered once its Config entry is applied (a
// transfer: once the target leads, or when it is abandoned). A change the configuration
// already shows (a retry, maybe through another leader) is answered ok with the index
// of the entry in force; a refusal (one change at a time, a learner behind, ...) is
// answered with Raft's reason, never "not leader", so the requester does not retry it
// by itself. Config entries change nothing in the KvStore (its applied index moves on);
// the host hears of every new configuration through RuntimeHost::on_membership (a
// native node dials new members, drops removed ones). Raft traffic from a node whose
// removal is committed is dropped unheard.
// A browser node, or a node not (yet) in the configuration (a page asking to join), has a
// single link, to one native member, and cannot reach the leader itself: a follower
// that gets a client request over such a link asks the leader for it, as a request of
// its own with the same (client_id, seq), and sends the answer back down the link. A
// native member is told "not leader" instead and forwards its requests itself, so a
// request is never passed on twice (no loops between nodes with stale leader views).
// A learner started with promote_self asks the leader to promote it, again and again,
// until it is a voter: the leader refuses until it has caught up.
//
// Absent browsers. A browser member (Member::browser) lives in a tab: when the tab
// closes or reloads, its memory is gone and it never comes back under that id (it
// rejoins under a fresh one: README, browser nodes), so its vote would be missing for
// good. The leader removes such members: it notes when it last heard any frame from
// each member (receive(): a Raft message by its sender, a client frame by the link it
// came on), and a browser member silent for longer than remove_absent_browsers_after_ms
// is removed by a Remove change it proposes itself (Raft::propose_conf_change, so one
// change at a time: it waits while another change is uncommitted). Silence counts from
// no earlier than when this node became leader, nor than when the member joined, so a
// new leader that has heard nothing yet removes no one at once. It never removes a
// native member this way (a native node that is down comes back with its disk), nor
// itself, nor a voter when fewer than min_voters voters would remain (a learner always
// may go). 0 = never.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/codec/codec.h"
#include "core/kv/kv_store.h"
#include "core/raft/raft.h"

namespace raftbook {

using TimeMs = int64_t;

// This node's own snapshot, for a host that encodes it (RuntimeHost::encodes_snapshots):
// the state machine frozen at the snapshot's index (KvStore::freeze), to be encoded off
// the event loop. The host calls encode() — on any one thread — and writes the snapshot
// it returns; the runtime reads the bytes only once the host has reported that write
// durable (persisted), and holds the frozen state until then (so the live KvStore
// copies, never writes in place, a shard the host's thread may be reading): a host whose
// report crosses threads through a mutex or a posted handler needs nothing more.
class OwnSnapshot {
public:
    OwnSnapshot(SnapshotMeta meta, std::shared_ptr<const KvStore> state);
    // Encodes the frozen state into the snapshot's data (the first call; later calls
    // return the same). The bytes are exactly what kv.encode() gave when it was frozen.
    const Snapshot& encode();
    // Its meta, and its data once encode() has run.
    const Snapshot& snapshot() const { return snapshot_; }

private:
    Snapshot snapshot_;
    std::shared_ptr<const KvStore> state_;
};

// One durable write the runtime asks of its host, done in this order: the hard state
// (when set); the snapshot (when set); the entries (which may overwrite a suffix of the
// stored log); the commit index known when the write was issued (a restart hint,
// recorded with the batch; when only it has moved, the write carries nothing else); and
// last, once all that is durable, deleting stored entries up to compact_to.
//
// A snapshot is written atomically: after a crash the host finds either the new
// snapshot whole or the one before it, never part of one. It is either this node's own
// (taken from its state machine: the stored log is unchanged) or one installed from the
// leader; then, when snapshot_resets_log is set, the stored log did not hold the
// snapshot's last entry, and every stored entry is dropped — the log continues right
// after the snapshot with this write's entries. On restart the host restores the newest
// durable snapshot (Restored::snapshot) and the stored entries after it.
//
// The runtime issues snapshots in two shapes: its own (snapshot or snapshot_to_encode
// only, compact_to = its index - catchup_entries; at most one in flight) and one installed from the
// leader (with the Ready's hard state and entries, compact_to = its index). For both it
// relies on persisted(id) meaning the snapshot is durable: only then does Raft hold its
// own as the one it sends followers, and only then does the ack of an installed one
// leave for the leader.
struct DiskWrite {
    uint64_t id = 0;  // 1, 2, 3, ...: the host reports them durable in this order
    std::optional<HardState> hard_state;
    std::optional<Snapshot> snapshot;
    // Instead of `snapshot`, when the host encodes snapshots (RuntimeHost::encodes_snapshots):
    // this node's own, to encode() and write as `snapshot` would be.
    std::shared_ptr<OwnSnapshot> snapshot_to_encode;
    bool snapshot_resets_log = false;
    std::vector<Entry> entries;
    Index commit_index = 0;
    // Stored entries at or below this index are no longer needed (0: keep all). The host
    // may delete them at leisure (a native node deletes WAL segments wholly at or below
    // it), but only after a snapshot covering them is durable.
    Index compact_to = 0;
};

// What a host gives the runtime. Called from inside the runtime's inputs; none of them
// may call back into the runtime synchronously.
class RuntimeHost {
public:
    virtual ~RuntimeHost() = default;
    // Transport: hands a frame (a Raft message, a forwarded ClientRequest or its
    // ClientReply) to node `to`. Best effort; false when there is no route right now
    // (the runtime retries client requests; Raft retries its own messages).
    virtual bool send(NodeId to, Frame frame) = 0;
    // Disk: starts a durable write. The host later calls persisted(w.id), in id order
    // (one call may cover several writes: persisted(7) says 1..7 are durable).
    virtual void write(DiskWrite w) = 0;
    // Clock: milliseconds on a monotonic clock (virtual time in the simulator).
    virtual TimeMs now() const = 0;
    // Whether the host encodes this node's own snapshots (DiskWrite::snapshot_to_encode),
    // as a native node does on its disk thread. Otherwise the runtime encodes them when
    // it takes them, in the input that took them, and sets DiskWrite::snapshot.
    virtual bool encodes_snapshots() const { return false; }
    // Where client requests go while this node knows no leader: kNoNode to wait for one,
    // or a node that asks the leader on this node's behalf. A browser node names the
    // native member its link goes to: it hears from no leader until it has joined, and
    // reaches every node through that one anyway (browser_node.h).
    virtual NodeId uplink() const { return kNoNode; }

    // Observation, for logs, metrics and the simulator's checker. All optional.
    // A Ready just taken from the core, before any of it is acted on.
    virtual void on_ready(const Raft& /*raft*/, const Ready& /*rd*/) {}
    // One committed entry applied; `took_effect` is false for a duplicate client request
    // or a no-op. kv is the state right after it.
    virtual void on_apply(const Entry& /*e*/, bool /*took_effect*/, const KvStore& /*kv*/) {}
    // Role, term or leader changed (seen after an input); what they were before.
    virtual void on_role_change(const Raft& /*raft*/, Role /*was_role*/, NodeId /*was_leader*/) {}
    // A snapshot at meta.index: `installed` — the state machine was just replaced by it
    // (installed from the leader, or restored on start); otherwise this node just took
    // it from its own state (its write is about to be issued). kv is the state it holds.
    virtual void on_snapshot(const SnapshotMeta& /*meta*/, const KvStore& /*kv*/, bool /*installed*/) {}
    // The configuration in force changed (a Config entry appended or truncated away, a
    // snapshot installed) or was first known, on start. Called after the input that changed it.
    virtual void on_membership(const Membership& /*membership*/) {}
};

struct RuntimeConfig {
    RaftConfig raft;
    TimeMs request_timeout_ms = 3000;  // a request unanswered this long fails
    TimeMs retry_interval_ms = 1000;   // an unanswered request is sent again this often
    TimeMs no_leader_retry_ms = 50;    // ...or this soon when no leader is known
    TimeMs proposal_memory_ms = 10000; // a forwarded write's requester is remembered this long
    uint64_t session_seed = 1;         // host-chosen random: client ids of this runtime's sessions
    // Log compaction: snapshot when more than this many entries were applied since the
    // last snapshot (0: never, except on take_snapshot()), keeping the last
    // catchup_entries entries before the snapshot so that a follower a little behind
    // is sent entries, not the snapshot.
    uint64_t snapshot_entries = 0;
    uint64_t catchup_entries = 0;
    // A learner asks the leader to promote it (every retry_interval_ms) until it is a voter.
    bool promote_self = false;
    // The leader removes a browser member (Member::browser) it has heard nothing from
    // for this long, so that closed tabs do not erode the quorum (0: never). Never a
    // native member, and never a voter when that would leave fewer than min_voters.
    TimeMs remove_absent_browsers_after_ms = 60000;
    size_t min_voters = 3;
};

// Counters a host can export (metrics) or a test can read.
struct RuntimeStats {
    uint64_t proposals = 0;
    uint64_t entries_applied = 0;
    uint64_t reads_served = 0;
    uint64_t forwarded = 0;       // requests sent to the leader
    uint64_t timeouts = 0;        // requests that failed after request_timeout_ms
    uint64_t elections = 0;       // times this node became candidate
    uint64_t leader_changes = 0;  // times it learned of a new leader
    uint64_t snapshots_taken = 0;      // own snapshots made durable
    uint64_t snapshot_bytes_taken = 0; // ...their bytes
    uint64_t snapshots_sent = 0;       // InstallSnapshot transfers sent whole (last chunk sent)
    uint64_t snapshot_bytes_sent = 0;  // chunk data bytes sent
    uint64_t snapshots_installed = 0;  // snapshots installed from a leader
    uint64_t snapshots_refused = 0;    // ...refused: the data did not decode
    uint64_t conf_changes_applied = 0; // Config entries applied
    uint64_t transfers = 0;            // leadership transfers this node started as leader
    uint64_t absent_browsers_removed = 0;  // browser members this node removed as leader (absent too long)
};

using ReplyFn = std::function<void(const ClientReply&)>;

// Whether the request is a read ("get", "list"): served through ReadIndex, not the log.
bool is_read(const ClientRequest& r);
// Whether it is a membership change ("add_learner", "promote", "remove") or "transfer_leader".
bool is_membership_request(const ClientRequest& r);
// Checks a client request against the limits (key, value, prefix, list limit,
// condition, idempotency key). Returns "" or the rule it breaks, for the client.
std::string check_request(const ClientRequest& r);
// The log command (kv_store.h) a checked write request ("put", "del") proposes.
std::string write_command(const ClientRequest& r);

class NodeRuntime {
public:
    NodeRuntime(RuntimeConfig config, Restored restored, RuntimeHost* host);
    ~NodeRuntime();

    // --- Inputs (each may leave work for process_ready) ---
    void tick();                                        // one Raft tick; retries and timeouts
    void receive(const Frame& frame, NodeId link_peer); // a frame from a peer connection
    void persisted(uint64_t write_id);                  // writes up to this id are durable
    // A request from one of this node's clients (message.h: "put", "del", "get", "list"); `done` is
    // called exactly once, possibly before submit returns, and may itself submit.
    void submit(ClientRequest request, ReplyFn done);
    void campaign();                                    // start an election now (tools, tests)
    // Takes a snapshot of the applied state now (the sim's `snapshot N`). False when one
    // is being written already or nothing was applied since the last.
    bool take_snapshot();
    // A copy of this runtime, to the byte, for `host` (a copy of this one's host, as a
    // simulator's checkpoint makes), continuing exactly as this one would. The callbacks
    // of the clients still waiting are the host's: rebind(done) gives the copy's.
    std::unique_ptr<NodeRuntime> clone(RuntimeHost* host,
                                       const std::function<ReplyFn(const ReplyFn&)>& rebind) const;

    // --- The Ready loop ---
    bool has_ready() const;
    void process_ready();  // one pass; the host calls it after inputs (batching as it likes)

    // --- Inspection ---
    const Raft& raft() const { return *raft_; }
    Raft& raft_mut() { return *raft_; }  // fault switches, tests
    const KvStore& kv() const { return kv_; }
    const RuntimeStats& stats() const { return stats_; }
    bool snapshot_in_flight() const { return snapshot_in_flight_; }
    size_t pending_requests() const;     // this node's clients still waiting
    size_t writes_in_flight() const { return writes_.size(); }
    // The node's own part of /status: id, role, term, leader, indexes, kv summary, and the
    // configuration in force ("membership": [{id, voter}], "membership_index").
    nlohmann::json status() const;

private:
    NodeRuntime(const NodeRuntime&) = default;  // clone(): every member, then re-bound
    NodeRuntime& operator=(const NodeRuntime&) = delete;
    // promote_self's own request is answered here (a type clone() can find and re-bind).
    struct PromoteAnswered {
        NodeRuntime* runtime;
        void operator()(const ClientReply&) const;
    };
    // A request asked of the leader for a browser node (see the top): its answer goes
    // back down the link it came from.
    struct RelayAnswer {
        NodeRuntime* runtime;
        NodeId origin;
        void operator()(const ClientReply& reply) const;
    };

    using RequestKey = std::pair<uint64_t, uint64_t>;  // (client id, seq)
    // A request from this node's own clients, until it is answered.
    struct LocalRequest {
        ClientRequest request;
        ReplyFn done;
        TimeMs deadline = 0;
        TimeMs retry_at = 0;
        size_t session = SIZE_MAX;  // the runtime session it holds (client_id was 0)
    };
    // A write this node proposed as leader, until it is applied.
    struct Proposal {
        Term term = 0;                       // proposed in this term (0: not yet)
        std::vector<NodeId> remote_origins;  // nodes that forwarded it and want the reply
        TimeMs expires = 0;
    };
    // A read waiting for its ReadIndex confirmation, then for apply to reach it.
    struct PendingRead {
        RequestKey key;
        NodeId origin;  // kNoNode: a local request
        ClientRequest request;
    };
    // A DiskWrite not yet durable, and what waits for it.
    struct PendingWrite {
        uint64_t id = 0;
        Index last_index = 0;  // of its last entry (0: none)
        Term last_term = 0;
        std::vector<Message> after_persist;
        std::shared_ptr<OwnSnapshot> own_snapshot;  // this node's, for Raft once durable
        Index compact_to = 0;
    };

    void send_message(Message m);
    void apply(const std::vector<Entry>& entries);
    void maybe_snapshot();
    bool check_snapshot(const Snapshot& s);
    void install(const Snapshot& s);
    void serve_ready_reads();
    void observe_role_and_leader();
    void dispatch(const RequestKey& key);
    bool serve(const ClientRequest& request, NodeId origin);
    void relay_for(NodeId origin, const ClientRequest& request);
    void serve_membership(const ClientRequest& request, NodeId origin);
    void answer_conf_waits(const Entry& e);
    void check_transfers();
    void observe_membership();
    void maybe_promote_self();
    void heard_from(NodeId id);
    void remove_absent_browsers();
    void answer(const RequestKey& key, NodeId origin, ClientReply reply);
    bool send_client(NodeId to, Frame f);  // a ClientRequest or ClientReply, from and to set
    void complete_local(const RequestKey& key, const ClientReply& reply);
    void expire_local_requests();
    ClientReply reply_to(const RequestKey& key) const;
    ClientReply read_reply(const RequestKey& key, const ClientRequest& request);  // from this node's state

    RuntimeConfig cfg_;
    RuntimeHost* host_;
    std::optional<Raft> raft_;  // set once the restored state decoded
    KvStore kv_;
    RuntimeStats stats_;
    uint64_t ticks_ = 0;
    Role last_role_ = Role::Follower;
    Term last_term_ = 0;
    NodeId last_leader_ = kNoNode;

    std::deque<PendingWrite> writes_;
    uint64_t next_write_id_ = 1;
    Index written_commit_ = 0;  // the commit index the last DiskWrite carried
    bool snapshot_in_flight_ = false;  // an own snapshot's write is not yet durable
    // The state of the last snapshot Raft was asked to accept, decoded when it checked
    // it, kept for the install that follows in the next Ready.
    std::optional<KvStore> checked_kv_;

    std::map<RequestKey, LocalRequest> local_;
    std::vector<uint64_t> session_next_seq_;  // per runtime session
    std::vector<size_t> free_sessions_;
    uint64_t client_id_base_ = 0;             // session i has client id base + i
    uint64_t read_client_id_ = 0;
    uint64_t read_seq_ = 0;

    std::map<RequestKey, Proposal> proposals_;
    // Membership changes this node proposed as leader, by the index of their Config
    // entry, until that index is applied; and leadership transfers it started, until the
    // target leads or the transfer is abandoned. origins: kNoNode for a local request.
    struct ConfWait {
        RequestKey key;
        Term term = 0;  // of the Config entry
        std::vector<NodeId> origins;
        TimeMs expires = 0;
    };
    std::multimap<Index, ConfWait> conf_waits_;
    struct TransferWait {
        RequestKey key;
        NodeId target = kNoNode;
        std::vector<NodeId> origins;
        TimeMs expires = 0;
    };
    std::vector<TransferWait> transfer_waits_;
    Membership last_membership_;  // as last told to host_->on_membership
    bool promoting_self_ = false; // promote_self: a promote request is waiting for its answer
    TimeMs next_promote_at_ = 0;
    // Absent browsers: when each member of the configuration in force was last heard
    // from, or joined (whichever is later); and when this node last became leader.
    std::map<NodeId, TimeMs> last_heard_;
    TimeMs leader_since_ = 0;
    uint64_t read_context_ = 0;
    bool read_batch_open_ = false;  // reads arriving before the next Ready share one ReadIndex
    std::map<uint64_t, std::vector<PendingRead>> reads_awaiting_confirmation_;  // by context
    std::deque<std::pair<Index, PendingRead>> reads_awaiting_apply_;
};

}  // namespace raftbook
