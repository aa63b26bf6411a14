#include "core/sim/checker.h"

#include <string>

#include "core/raft/raft.h"

namespace raftbook {

namespace {

uint64_t entry_hash(const Entry& e) {
    uint64_t h = 1469598103934665603ULL;
    auto mix = [&h](uint64_t x) { h = (h ^ x) * 1099511628211ULL; };
    mix(std::hash<std::string>()(e.data));
    mix(uint64_t(e.type));
    mix(e.client_id);
    mix(e.seq);
    return h;
}

// (index, term) as one key; indexes stay below 2^40 and terms below 2^24 in any run.
uint64_t slot_key(Index i, Term t) { return (t << 40) | i; }

std::string describe(const Entry& e) {
    std::string s = "(" + std::to_string(e.index) + ", term " + std::to_string(e.term);
    s += e.type == EntryType::NoOp ? ", no-op)" : ", \"" + e.data + "\")";
    return s;
}

}  // namespace

void Checker::fail(const std::string& rule, const std::string& detail, std::vector<NodeId> nodes, Index index) {
    violations_.push_back({rule, detail, std::move(nodes), index, event_, time_ms_});
}

// Election Safety and Leader Completeness are both checked the moment a node
// becomes leader.
void Checker::on_leader(const Raft& node) {
    const Term t = node.current_term();
    auto [it, fresh] = leaders_.emplace(t, node.id());
    if (!fresh && it->second != node.id()) {
        fail("Election Safety", "nodes " + std::to_string(it->second) + " and " + std::to_string(node.id()) +
                                    " were both elected leader in term " + std::to_string(t),
             {it->second, node.id()}, 0);
    }
    const RaftLog& log = node.log();
    for (Index i = log.first_index(); i <= committed_.size(); i++) {
        const Entry& c = committed_[i - 1];
        if (!log.matches(i, c.term)) {
            fail("Leader Completeness", "node " + std::to_string(node.id()) + " became leader of term " +
                                            std::to_string(t) + " without committed entry " + describe(c),
                 {node.id()}, i);
            return;
        }
    }
}

// Log Matching, by induction over appends: the first copy of an entry (index, term)
// fixes its command and the term of the entry before it; every later copy on any node
// must agree on both. Then two logs that share (index, term) share the entry before
// it too, and so on down to the start.
void Checker::on_append(const Raft& node, const std::vector<Entry>& entries) {
    for (const Entry& e : entries) {
        const Term prev_term = node.log().term(e.index - 1).value_or(0);
        const uint64_t h = entry_hash(e);
        auto [it, fresh] = appended_.emplace(slot_key(e.index, e.term), Recorded{prev_term, h, node.id()});
        if (fresh) continue;
        const Recorded& r = it->second;
        if (r.command_hash != h) {
            fail("Log Matching", "node " + std::to_string(node.id()) + " holds entry " + describe(e) +
                                     " but node " + std::to_string(r.first_holder) +
                                     " holds a different command at the same index and term",
                 {node.id(), r.first_holder}, e.index);
        } else if (r.prev_term != prev_term) {
            fail("Log Matching", "node " + std::to_string(node.id()) + " holds entry " + describe(e) +
                                     " after an entry of term " + std::to_string(prev_term) + ", node " +
                                     std::to_string(r.first_holder) + " holds it after term " +
                                     std::to_string(r.prev_term) + ": their logs differ before index " +
                                     std::to_string(e.index),
                 {node.id(), r.first_holder}, e.index);
        }
    }
}

void Checker::on_commit(const Raft& node) {
    Index& checked = checked_commit_[node.id()];
    const Index c = node.commit_index();
    if (c < checked) {
        fail("State Machine Safety", "node " + std::to_string(node.id()) + "'s commit index moved back from " +
                                         std::to_string(checked) + " to " + std::to_string(c) +
                                         ": a committed entry was removed",
             {node.id()}, checked);
        checked = c;
        return;
    }
    for (Index i = std::max(checked + 1, node.log().first_index()); i <= c; i++) check_committed(node.id(), node.log().at(i));
    checked = c;
}

void Checker::check_committed(NodeId node, const Entry& e) {
    if (e.index == committed_.size() + 1) {
        committed_.push_back(e);
        return;
    }
    if (e.index > committed_.size()) return;  // unreachable: commits are checked in order
    const Entry& c = committed_[e.index - 1];
    if (c.term == e.term && entry_hash(c) == entry_hash(e)) return;
    const bool acked = acked_.count(e.index) != 0;
    fail(acked ? "No lost ack" : "State Machine Safety",
         "node " + std::to_string(node) + " committed " + describe(e) + " where " + describe(c) +
             " was committed before" + (acked ? " and acknowledged to its client" : ""),
         {node}, e.index);
}

void Checker::on_apply(NodeId node, const Entry& e) {
    if (e.index > committed_.size()) {
        fail("State Machine Safety", "node " + std::to_string(node) + " applied " + describe(e) +
                                         " before any node committed it",
             {node}, e.index);
        return;
    }
    const Entry& c = committed_[e.index - 1];
    if (c.term != e.term || entry_hash(c) != entry_hash(e)) {
        fail("State Machine Safety", "node " + std::to_string(node) + " applied " + describe(e) + " where " +
                                         describe(c) + " was committed",
             {node}, e.index);
    }
}

void Checker::on_ack(NodeId leader, Index index, uint64_t client_id, uint64_t seq) {
    if (index > committed_.size() || committed_[index - 1].client_id != client_id ||
        committed_[index - 1].seq != seq) {
        fail("No lost ack", "node " + std::to_string(leader) + " acknowledged a request at index " +
                                std::to_string(index) + " that is not the committed entry there",
             {leader}, index);
        return;
    }
    acked_.insert(index);
}

void Checker::on_restart(const Raft& node) { checked_commit_[node.id()] = 0; }

}  // namespace raftbook
