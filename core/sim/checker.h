// The safety checker: Raft's guarantees (paper Figure 3), re-checked after every
// simulated event, incrementally, so that the first violation is reported together
// with the event that caused it.
//
//   Election Safety       at most one leader per term
//   Log Matching          two logs with an entry of the same index and term are
//                         identical up to it. Checked by induction on appends: each
//                         (index, term) is recorded with its command and the term of
//                         the entry before it; a second copy must agree on both.
//   Leader Completeness   a new leader's log holds every committed entry
//   State Machine Safety  no two nodes commit (and so apply) different entries at one
//                         index; a node's commit index never moves back; every
//                         applied entry is the committed one
//   No lost ack           an entry whose client got "ok" is in the committed log
//   Commit Durability     when a node's commit index reaches i, entry i (with its
//                         term) is on the durable logs — the disks, not the memories —
//                         of a majority of the voters of the configuration that
//                         committed it (the leader's configuration in force when its
//                         commit index first passed i — thesis §4.1, a configuration
//                         counts from the moment it is appended — or the one just
//                         before it), so no crash of a minority can lose it. Checked for every index when first
//                         committed, and for the top index of every later commit advance.
//   One Change at a Time  no node's log ever holds two Config entries above the commit
//                         index (the highest any node reached: thesis §4.2, a leader
//                         appends a configuration change only once the previous one
//                         is committed)
//   Apply Order           each node applies indexes 1, 2, 3, ... with no gap or repeat
//                         (a restarted node starts again from its restored position)
//   State Agreement       every node's key-value state after applying i is the same
//                         (its fingerprint equals that of the first node to apply i),
//                         and a snapshot at i (taken, installed or restored) holds it
//   Exactly Once          a client command (client id, seq) takes effect at most once
//                         in each node's state, across retries and leader changes
//   Linearizability       the clients' history (check_history, at the end of a run)
//                         is that of one register per key (core/lincheck)
//   Liveness              reported by the simulator's settle phase (Simulator::settle)
//                         when a healed cluster does not converge in time
//
// The checker keeps the committed log it has seen (the union of what any node
// committed) — an observer's memory, so it remembers what crashed nodes forgot.
// Every check is incremental: constant work per event, per entry committed and per
// entry applied, so it can run after every simulated event.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/lincheck/lincheck.h"
#include "core/raft/entry.h"

namespace raftbook {

class Raft;
struct ClientOp;  // simulator.h

struct Violation {
    std::string rule;      // "Election Safety", "Log Matching", ...
    std::string detail;    // which nodes, indexes and terms, in words
    std::vector<NodeId> nodes;  // the nodes involved
    Index index = 0;       // the log index involved (0: none, e.g. two leaders)
    uint64_t event = 0;    // number of the event after which it was found
    int64_t time_ms = 0;
};

class Checker {
public:
    void set_event(uint64_t event, int64_t time_ms) { event_ = event; time_ms_ = time_ms; }
    // A node became leader of its current term.
    void on_leader(const Raft& node);
    // A node handed these entries to its disk (they are now in its log).
    void on_append(const Raft& node, const std::vector<Entry>& entries);
    // After any event touching the node: commit index moved? (checks new range only)
    void on_commit(const Raft& node);
    // Where the checker reads the disks: the term of node n's durable entry i (n is 1 up
    // to `nodes`, the highest machine id), or nullopt when its disk holds none there.
    // Without a view, Commit Durability is off.
    using DurableView = std::function<std::optional<Term>(NodeId, Index)>;
    void set_durable_view(int nodes, DurableView view);
    // The node's state machine applied this entry; `took_effect` says whether it changed
    // the state (false for a no-op, a duplicate or an invalid command), and
    // `fingerprint_after` is KvStore::fingerprint() just after.
    void on_apply(NodeId node, const Entry& e, bool took_effect, uint64_t fingerprint_after);
    // The node took a snapshot at `index` (installed = false), or its state machine was
    // replaced by one (installed from the leader, or restored on start): the state it
    // holds must be the state every node had after `index`, and an installed one is
    // where the node's Apply Order continues.
    void on_snapshot(NodeId node, Index index, uint64_t fingerprint, bool installed);
    // A client was told its command at this index succeeded.
    void on_ack(NodeId leader, Index index, uint64_t client_id, uint64_t seq);
    // The node restarted from disk: its commit index may legitimately be lower, and its
    // state machine starts again from its restored applied index.
    void on_restart(const Raft& node);
    // Checks the clients' history for linearizability (history_of in sim_history.h);
    // a failure is the violation "Linearizability". Bounded by search steps, not time:
    // Unknown when the bound passed (not a violation).
    LincheckResult::Verdict check_history(const std::vector<ClientOp>& ops);
    // The simulator's settle phase found the cluster stuck.
    void on_liveness_failure(const std::string& detail, std::vector<NodeId> nodes, Index index);

    bool ok() const { return violations_.empty(); }
    const std::vector<Violation>& violations() const { return violations_; }
    const std::vector<Entry>& committed() const { return committed_; }  // index i at [i-1]

private:
    void fail(const std::string& rule, const std::string& detail, std::vector<NodeId> nodes, Index index);
    void check_committed(NodeId node, const Entry& e);
    uint32_t check_durable(const Raft& node, const Entry& e, uint32_t voters);
    void check_one_change(const Raft& node, const Entry& config);
    void check_once(NodeId node, const Entry& e, bool first);

    struct Recorded {
        Term prev_term;
        uint64_t command_hash;
        NodeId first_holder;
    };
    std::map<Term, NodeId> leaders_;
    std::unordered_map<uint64_t, Recorded> appended_;  // keyed by (index, term), see slot_key
    std::unordered_map<NodeId, Index> checked_commit_;
    std::vector<Entry> committed_;
    // The voters (bit n-1 for node n) of the configuration that first committed each
    // index (at [i-1]): Commit Durability's majority.
    std::vector<uint32_t> commit_voters_;
    std::set<Index> acked_;  // indexes whose client was told "ok"
    int nodes_ = 0;
    DurableView durable_;
    // Apply Order: the index each node applied last (node n at [n-1]).
    std::vector<Index> applied_;
    // State Agreement: the fingerprint after index i (at [i-1]) and the first node
    // that reached it.
    std::vector<std::pair<uint64_t, NodeId>> states_;
    // Exactly Once, followed along the log as the first node to apply each index saw
    // it (a node that differs from it is caught by State Agreement): per client, the
    // highest seq that took effect and the index where. Clients number their requests
    // 1, 2, 3, ..., so a seq at or below it taking effect again is a duplicate.
    struct Session {
        uint64_t seq;
        Index index;
    };
    std::unordered_map<uint64_t, Session> sessions_;
    std::vector<Violation> violations_;
    uint64_t event_ = 0;
    int64_t time_ms_ = 0;
};

}  // namespace raftbook
