// A Raft node as a pure state machine.
//
// Nothing here touches a socket, a file, a clock or a global random source. The host
// feeds the node inputs — step(message), tick(), propose(), read_index() — and after
// each input asks for a Ready: what to persist, what to send, what to apply. This is
// the shape of etcd's raft, and it is what lets one core run in a browser simulation,
// a native node and a unit test alike.
//
// The durability contract (Raft §5, "respond to RPCs only after updating stable
// storage") is encoded in the two message lists of a Ready:
//   - `messages` may be sent at once. They are the leader's AppendEntries and
//     heartbeats, which depend on nothing the leader has yet to persist (the leader
//     writes its own log in parallel with its followers, Raft thesis §10.2.1).
//   - `messages_after_persist` may be sent only once `hard_state` and `entries` of
//     this Ready (and of every earlier one) are durable: votes, vote requests and
//     append acknowledgements all promise something about the sender's disk.
// The host then reports durability with persisted(index, term); only then does a
// leader count its own log towards a majority, and only persisted entries are applied.
//
// Invariants kept by this class (re-checked from outside by the simulator's checker):
//   - current_term never decreases; voted_for is set at most once per term.
//   - commit_index never decreases and never exceeds the last log index.
//   - for every follower: match_index < next_index.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/raft/entry.h"
#include "core/raft/faults.h"
#include "core/raft/membership.h"
#include "core/raft/message.h"
#include "core/raft/raft_log.h"
#include "core/raft/snapshot.h"

namespace raftbook {

enum class Role : uint8_t { Follower, PreCandidate, Candidate, Leader };
const char* role_name(Role r);

struct RaftConfig {
    NodeId id = kNoNode;
    // The bootstrap configuration, in force while the log and snapshot hold none (see
    // membership.h). `members` when not empty, else voters `peers` (ids only). A node
    // that joins an existing cluster starts with both empty: it is no member of its own
    // configuration, so it never campaigns, until a Config entry adds it.
    std::vector<NodeId> peers;
    Membership members;
    // Promote (membership.h) is refused until the learner's match index is within this
    // many entries of the leader's last index.
    Index promote_max_lag = 1000;
    int election_tick = 10;        // election timeout is random in [election_tick, 2*election_tick)
    int heartbeat_tick = 1;        // must be < election_tick
    bool pre_vote = true;          // §9.6 of the thesis: don't disrupt with a stale term
    bool check_quorum = true;      // leader steps down when it loses a majority
    size_t max_append_bytes = 64 * 1024;  // cap on one AppendEntries' entries
    size_t max_inflight = 64;      // pipelined AppendEntries per follower
    size_t snapshot_chunk_bytes = 64 * 1024;  // InstallSnapshot: data bytes per chunk
    size_t snapshot_inflight_chunks = 4;      // ...and chunks unacknowledged per follower
    uint64_t random_seed = 1;      // seeds this node's own PRNG (election timeouts)
};

// What a node restores from its storage on start.
struct Restored {
    HardState hard_state;
    // The newest durable snapshot, if any. When set, first_index - 1 == snapshot->meta.index
    // and prev_term == snapshot->meta.term (storage drops WAL entries the snapshot covers),
    // and the runtime starts its state machine from it.
    std::optional<Snapshot> snapshot;
    std::vector<Entry> entries;    // persisted log, contiguous from first index
    Index first_index = 1;         // index of entries[0]; entries before were compacted
    Term prev_term = 0;            // term of first_index - 1 (0 when first_index == 1)
    Index applied_index = 0;       // what the host's state machine has applied already
};

// A confirmed linearizable read point: once applied_index >= index, a read issued
// with `context` may be served from the local state machine.
struct ReadState {
    Index index = 0;
    uint64_t context = 0;
};

struct Ready {
    std::optional<HardState> hard_state;        // persist when set
    std::vector<Entry> entries;                 // append to storage (may overwrite a suffix)
    std::vector<Entry> committed_entries;       // apply in order
    std::vector<Message> messages;              // send now
    std::vector<Message> messages_after_persist;// send once this Ready is durable
    std::vector<ReadState> read_states;
    // A snapshot installed from the leader (§7): restore the state machine from it and
    // persist it (before `entries`, which follow it). snapshot_resets_log: the stored
    // log is dropped whole (it did not hold the snapshot's last entry); otherwise the
    // stored entries after the snapshot stay. committed_entries follow the snapshot.
    std::optional<Snapshot> snapshot;
    bool snapshot_resets_log = false;
    bool empty() const {
        return !hard_state && entries.empty() && committed_entries.empty() && messages.empty() &&
               messages_after_persist.empty() && read_states.empty() && !snapshot;
    }
};

// How the leader replicates to one follower (names as in etcd's raft/tracker).
struct Progress {
    enum class State : uint8_t {
        Probe,      // next_index is a guess: one AppendEntries at a time until one succeeds
        Replicate,  // next_index is known good: pipeline up to max_inflight appends
        Snapshot,   // the follower needs entries we compacted away: `snapshot` goes to it
                    // in chunks, up to snapshot_inflight_chunks unacknowledged, and no
                    // AppendEntries until it answers that it holds the snapshot
    };
    Index match_index = 0;  // highest index known to be replicated on the follower
    Index next_index = 1;   // next index to send
    State state = State::Probe;
    bool probe_sent = false;           // Probe: an append is outstanding
    std::vector<Index> inflight;       // Replicate: last index of each unacked append
    bool recent_active = false;        // heard from since the last check-quorum round
    uint64_t acked_context = 0;        // highest heartbeat context acknowledged
    Index last_index_at_heartbeat = 0; // leader's last index at the previous heartbeat answer
    // Snapshot state: the snapshot being sent (kept even if a newer one is taken
    // meanwhile), the next offset to send, the offset the follower last said it expects,
    // and whether that moved on since the previous heartbeat answer.
    std::shared_ptr<const Snapshot> snapshot;
    uint64_t snapshot_sent = 0;
    uint64_t snapshot_acked = 0;
    bool snapshot_moved = false;
};

enum class ProposeResult : uint8_t { Ok, NotLeader, Dropped };

class Raft {
public:
    Raft(const RaftConfig& config, Restored restored = Restored{});

    // --- Inputs ---
    void tick();                          // one unit of logical time
    void step(const Message& m);          // a message from a peer (m.to must be our id)
    // Appends a client command to the leader's log. On Ok, *index is its log index.
    // Dropped while a leadership transfer is in progress (the client retries).
    ProposeResult propose(std::string data, uint64_t client_id = 0, uint64_t seq = 0,
                          Index* index = nullptr);
    // Asks for a linearizable read point (ReadIndex, thesis §6.4). The answer comes back
    // as a ReadState with this context once a majority has confirmed our leadership.
    // Contexts must increase within a leadership: one not greater than the last accepted
    // (or zero) is refused. Returns false when refused, not leader, or not yet ready to serve.
    bool read_index(uint64_t context);
    void campaign();                      // start an election now (tests and tools)
    // Membership change (thesis ch. 4), leader only: appends a Config entry holding the
    // configuration that results from `cc` (apply_conf_change). Returns "" (and *index,
    // the entry's index) or why it was refused: not leader, a leadership transfer in
    // progress, a configuration change not yet committed (one at a time), no entry of
    // this term committed yet (the 2015 correction), a learner not caught up (promote),
    // or the change itself (apply_conf_change).
    std::string propose_conf_change(const ConfChange& cc, Index* index = nullptr);
    // Leadership transfer (thesis §3.10), leader only: stop accepting proposals, bring
    // `target` (a voter) up to date, then send it TimeoutNow. Abandoned, and proposals
    // accepted again, if `target` does not lead within an election timeout. Returns ""
    // or why refused (not leader, not a voter, is us, a transfer already in progress).
    std::string transfer_leadership(NodeId target);
    // The host's own snapshot `s` (taken at an applied index) is durable: it becomes the
    // snapshot this node sends to followers that need it, and the log is compacted up
    // to compact_to (<= s.meta.index; entries after it stay to serve followers a little
    // behind). Ignored when not newer than the snapshot already held.
    void snapshot_taken(Snapshot s, Index compact_to);
    // How the host checks a snapshot from the leader before it is installed: false
    // refuses it (a peer's garbage is dropped, never installed). Unset: all accepted.
    using SnapshotCheck = std::function<bool(const Snapshot&)>;
    void set_snapshot_check(SnapshotCheck check) { snapshot_check_ = std::move(check); }

    // --- Outputs ---
    bool has_ready() const;
    Ready ready();                        // collects and clears pending output
    void persisted(Index index, Term term);  // storage now durably holds the log up to index
    void applied(Index index);            // the host applied committed entries up to index

    // --- Inspection (paper names) ---
    NodeId id() const { return cfg_.id; }
    Role role() const { return role_; }
    Term current_term() const { return current_term_; }
    NodeId voted_for() const { return voted_for_; }
    NodeId leader_id() const { return leader_; }
    Index commit_index() const { return log_.commit_index(); }
    Index last_applied() const { return last_applied_; }
    const RaftLog& log() const { return log_; }
    // The configuration in force: the newest in the log (appended, maybe uncommitted),
    // else the snapshot's, else the bootstrap one. membership_index(): its Config entry
    // (0: it came from the snapshot or the bootstrap).
    const Membership& membership() const { return membership_; }
    Index membership_index() const { return membership_index_; }
    // The configuration in force at log index i (prev_index() <= i <= last index): what a
    // snapshot taken at i records.
    Membership membership_at(Index i) const;
    bool is_voter() const { return membership_.is_voter(cfg_.id); }
    NodeId transfer_target() const { return transfer_target_; }  // kNoNode when none
    const Progress* progress(NodeId peer) const;
    // (Pre-)candidates: the nodes whose votes this election has counted, ourselves included.
    const std::vector<NodeId>& votes_granted() const { return votes_granted_; }
    int election_elapsed() const { return election_elapsed_; }
    int randomized_election_timeout() const { return randomized_timeout_; }
    HardState hard_state() const { return {current_term_, voted_for_, log_.commit_index()}; }
    // The newest snapshot this node holds (its own once durable, or installed), or null.
    const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }

    Faults faults;  // test-only rule switches; all off in normal operation

private:
    // Role transitions.
    void become_follower(Term term, NodeId leader);
    void become_pre_candidate();
    void become_candidate();
    void become_leader();
    void start_election(bool pre_vote, uint64_t context = 0);
    void reset(Term term);
    void reset_election_timer();

    // Handlers, one per rule.
    void handle_vote_request(const Message& m);
    void handle_vote_response(const Message& m);
    void handle_append(const Message& m);
    void handle_append_response(const Message& m);
    void handle_heartbeat(const Message& m);
    void handle_heartbeat_response(const Message& m);
    void handle_snapshot(const Message& m);
    void handle_snapshot_response(const Message& m);
    void handle_timeout_now(const Message& m);
    void install_snapshot(Snapshot s, NodeId leader);
    void answer_snapshot_chunk(const Message& m, uint64_t expected_offset);
    bool step_term(const Message& m);  // returns false when the message must be ignored

    // Leader replication.
    void broadcast_append();
    // Sends entries from next_index; with nothing to send, an empty append only when
    // even_if_empty (the catch-up probe). Returns whether it sent.
    bool send_append(NodeId to, bool even_if_empty = false);
    bool send_snapshot_chunk(NodeId to, Progress& pr);
    void broadcast_heartbeat(uint64_t context);
    bool maybe_commit();
    bool check_quorum_active();
    size_t quorum() const { return membership_.quorum(); }
    bool counts(NodeId id) const { return membership_.is_voter(id); }  // toward majorities
    void release_reads();

    // Membership.
    Index newest_config(Index i, Membership* out) const;  // see membership_at
    void use_newest_config();
    void track_members(Index next_index);
    void send_timeout_now_if_caught_up();

    void send(Message m);
    void send_after_persist(Message m);
    Index vouched_index() const;
    uint64_t next_random();

    RaftConfig cfg_;
    RaftLog log_;
    Role role_ = Role::Follower;
    Term current_term_ = 0;
    NodeId voted_for_ = kNoNode;
    NodeId leader_ = kNoNode;
    Index last_applied_ = 0;
    Index applying_ = 0;  // committed entries handed out in a Ready up to here

    int election_elapsed_ = 0;
    int heartbeat_elapsed_ = 0;
    int randomized_timeout_ = 0;
    uint64_t rng_state_;

    std::vector<NodeId> votes_granted_;
    std::vector<NodeId> votes_rejected_;
    std::vector<std::pair<NodeId, Progress>> progress_;  // leader only; small N, keep ordered
    Progress* progress_mut(NodeId peer);

    // Membership (membership.h): the configuration in force and where it came from, and
    // the configuration at prev_index() (the snapshot's, or the bootstrap one): what is in
    // force when the log holds no Config entry.
    Membership membership_;
    Index membership_index_ = 0;
    Membership base_membership_;
    NodeId transfer_target_ = kNoNode;  // leadership transfer in progress (leader only)
    int transfer_elapsed_ = 0;          // ticks since it started

    // ReadIndex: requests waiting for a heartbeat round to confirm leadership.
    struct PendingRead { Index index; uint64_t context; };
    std::vector<PendingRead> pending_reads_;
    uint64_t last_read_context_ = 0;  // highest context accepted in this leadership
    std::vector<ReadState> read_states_;

    // Log compaction (§7).
    std::shared_ptr<const Snapshot> snapshot_;  // the newest held (see snapshot())
    SnapshotCheck snapshot_check_;
    std::optional<Snapshot> installed_;         // for the next Ready
    bool installed_resets_log_ = false;
    // A snapshot arriving from the leader, chunk by chunk, in memory only: a crash, a
    // new term or another snapshot drops it, so no partial or mixed snapshot is installed.
    struct Receiving {
        NodeId from = kNoNode;
        Term term = 0;  // the leader's
        SnapshotMeta meta;
        uint64_t total = 0;
        std::string data;
    };
    std::optional<Receiving> receiving_;

    bool broadcast_pending_ = false;  // new entries to send at the next ready()
    bool heartbeat_pending_ = false;  // a read waits for a heartbeat round
    HardState prev_hard_state_;
    std::vector<Message> msgs_;
    std::vector<Message> msgs_after_persist_;
};

}  // namespace raftbook
