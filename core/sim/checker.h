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
//
// The checker keeps the committed log it has seen (the union of what any node
// committed) — an observer's memory, so it remembers what crashed nodes forgot.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/raft/entry.h"

namespace raftbook {

class Raft;

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
    // The node's state machine applied this entry.
    void on_apply(NodeId node, const Entry& e);
    // A client was told its command at this index succeeded.
    void on_ack(NodeId leader, Index index, uint64_t client_id, uint64_t seq);
    // The node restarted from disk: its commit index may legitimately be lower.
    void on_restart(const Raft& node);

    bool ok() const { return violations_.empty(); }
    const std::vector<Violation>& violations() const { return violations_; }
    const std::vector<Entry>& committed() const { return committed_; }  // index i at [i-1]

private:
    void fail(const std::string& rule, const std::string& detail, std::vector<NodeId> nodes, Index index);
    void check_committed(NodeId node, const Entry& e);

    struct Recorded {
        Term prev_term;
        uint64_t command_hash;
        NodeId first_holder;
    };
    std::map<Term, NodeId> leaders_;
    std::unordered_map<uint64_t, Recorded> appended_;  // keyed by (index, term), see slot_key
    std::unordered_map<NodeId, Index> checked_commit_;
    std::vector<Entry> committed_;
    std::set<Index> acked_;  // indexes whose client was told "ok"
    std::vector<Violation> violations_;
    uint64_t event_ = 0;
    int64_t time_ms_ = 0;
};

}  // namespace raftbook
