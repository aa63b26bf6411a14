#include "core/sim/checker.h"

#include <set>
#include <string>

#include "core/raft/membership.h"
#include "core/raft/raft.h"
#include "core/sim/sim_history.h"
#include "core/sim/simulator.h"

namespace raftbook {

namespace {

// Bounds on check_history's search: deterministic (steps, not seconds) and far above
// what a simulated run's history needs (thousands of steps per key).
constexpr uint64_t kHistorySearchSteps = uint64_t(1) << 26;
constexpr size_t kHistoryMemoBytes = size_t(1) << 27;

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
    if (e.type == EntryType::NoOp) return s + ", no-op)";
    if (e.type == EntryType::Config) {
        Membership m;
        if (Membership::decode(e.data, &m).empty())
            return s + ", configuration: voters " + ids_text(m.voters()) + ", learners " + ids_text(m.learners()) + ")";
    }
    return s + ", \"" + e.data + "\")";
}

uint32_t voter_bits(const Membership& m) {
    uint32_t bits = 0;
    for (NodeId n : m.voters()) bits |= n >= 1 && n <= 32 ? uint32_t(1) << (n - 1) : 0;
    return bits;
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
        if (e.type == EntryType::Config) check_one_change(node, e);
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
    for (Index i = std::max(checked + 1, node.log().first_index()); i <= c; i++) {
        const Entry& e = node.log().at(i);
        // Commit Durability, for every index the first time any node commits it, and
        // for the top of every commit advance (what a majority's disks hold is a
        // prefix, so the top stands for the rest on later commits). The majority is the
        // committing leader's: a leader's own configuration, else the one recorded when
        // the index was first committed (a follower's may still be older).
        const bool first = i > committed_.size();
        uint32_t voters = node.role() == Role::Leader || i > commit_voters_.size() ? voter_bits(node.membership())
                                                                                   : commit_voters_[i - 1];
        if (first || i == c) voters = check_durable(node, e, voters);
        if (first && i == commit_voters_.size() + 1) commit_voters_.push_back(voters);
        check_committed(node.id(), e);
    }
    checked = c;
}

void Checker::set_durable_view(int nodes, DurableView view) {
    nodes_ = nodes;
    durable_ = std::move(view);
}

// Commit Durability: a node treats entry e as committed; a majority of disks must hold
// it. (A leader counts its own copy only once durable, and a follower acknowledges only
// what is durable, so in a correct run this holds the moment commit advances.)
//
// The majority may also be one of the configuration before the node's newest Config
// entry: a leader that counted a majority of the old configuration and appended the new
// one in the same step shows the new one by the time the checker looks. (Single-server
// changes make every majority of the one overlap every majority of the other, which is
// why either keeps the entry.) Returns the voters whose majority holds it.
uint32_t Checker::check_durable(const Raft& node, const Entry& e, uint32_t voters) {
    if (!durable_ || voters == 0) return voters;  // (no configuration known yet: nothing to count)
    std::string where;
    auto holders_of = [&](uint32_t among, int* count) {
        int holders = 0;
        *count = 0;
        where.clear();
        for (int n = 1; n <= nodes_; n++) {
            if (!(among >> (n - 1) & 1)) continue;
            ++*count;
            if (durable_(NodeId(n), e.index) == std::optional<Term>(e.term)) {
                holders++;
                where += (where.empty() ? "" : ", ") + std::to_string(n);
            }
        }
        return holders;
    };
    int count = 0;
    if (2 * holders_of(voters, &count) > count) return voters;
    if (node.membership_index() > 0) {
        const uint32_t before = voter_bits(node.membership_at(node.membership_index() - 1));
        int before_count = 0;
        if (before != 0 && 2 * holders_of(before, &before_count) > before_count) return before;
    }
    const int holders = holders_of(voters, &count);
    fail("Commit Durability", "node " + std::to_string(node.id()) + " committed " + describe(e) + " while only " +
                                  std::to_string(holders) + " of " + std::to_string(count) + " disks hold it" +
                                  (where.empty() ? "" : " (node " + where + ")") +
                                  ": a crash of the others would lose a committed entry",
         {node.id()}, e.index);
    return voters;
}

// One Change at a Time: node just appended Config entry `config`; no other Config
// entry may sit between the commit index and it — the cluster's (the highest index any
// node committed), which a follower may not know yet: a new leader whose own commit
// index lags sends it entries that its predecessor committed. (Config entries are rare,
// so the walk down the uncommitted suffix happens rarely.)
void Checker::check_one_change(const Raft& node, const Entry& config) {
    const RaftLog& log = node.log();
    const Index commit = std::max<Index>(node.commit_index(), committed_.size());
    const Index floor = std::max(commit + 1, log.first_index());
    for (Index i = std::min(config.index, log.last_index() + 1); i-- > floor;) {
        if (log.at(i).type != EntryType::Config) continue;
        fail("One Change at a Time", "node " + std::to_string(node.id()) + " holds configuration entries " +
                                         describe(log.at(i)) + " and " + describe(config) +
                                         ", neither committed (the commit index is " +
                                         std::to_string(commit) + ")",
             {node.id()}, config.index);
        return;
    }
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

// State Machine Safety for what is applied, then Apply Order, Exactly Once and State
// Agreement.
void Checker::on_apply(NodeId node, const Entry& e, bool took_effect, uint64_t fingerprint_after) {
    const std::string who = "node " + std::to_string(node);
    if (applied_.size() < node) applied_.resize(node, 0);
    Index& applied = applied_[node - 1];
    if (e.index != applied + 1) {
        fail("Apply Order", who + " applied index " + std::to_string(e.index) + " after index " +
                                std::to_string(applied) + (e.index > applied ? ": it skipped " : ": it repeated ") +
                                std::to_string(e.index > applied ? e.index - applied - 1 : applied - e.index + 1) +
                                " entries",
             {node}, e.index);
    }
    applied = e.index;
    if (e.index > committed_.size()) {
        fail("State Machine Safety", who + " applied " + describe(e) + " before any node committed it", {node},
             e.index);
        return;
    }
    const Entry& c = committed_[e.index - 1];
    if (c.term != e.term || entry_hash(c) != entry_hash(e)) {
        fail("State Machine Safety", who + " applied " + describe(e) + " where " + describe(c) + " was committed",
             {node}, e.index);
    }
    if (states_.size() < e.index) states_.resize(e.index, {0, kNoNode});
    auto& [fingerprint, first] = states_[e.index - 1];
    const bool is_first = first == kNoNode;
    if (is_first) {
        fingerprint = fingerprint_after;
        first = node;
    }
    const bool agrees = fingerprint == fingerprint_after;
    if (took_effect && e.client_id != 0 && (is_first || !agrees)) check_once(node, e, is_first);
    if (!agrees) {
        fail("State Agreement", who + "'s key-value state after applying " + describe(e) + " differs from node " +
                                    std::to_string(first) + "'s after the same index",
             {node, first}, e.index);
    }
}

void Checker::on_snapshot(NodeId node, Index index, uint64_t fingerprint, bool installed) {
    if (installed) {
        if (applied_.size() < node) applied_.resize(node, 0);
        applied_[node - 1] = index;
    }
    if (index == 0 || states_.size() < index || states_[index - 1].second == kNoNode) return;
    const auto& [expected, first] = states_[index - 1];
    if (fingerprint == expected) return;
    fail("State Agreement", "node " + std::to_string(node) + (installed ? " installed" : " took") +
                                " a snapshot at index " + std::to_string(index) + " whose key-value state differs from node " +
                                std::to_string(first) + "'s after the same index",
         {node, first}, index);
}

void Checker::check_once(NodeId node, const Entry& e, bool first) {
    const auto [it, fresh] = sessions_.try_emplace(e.client_id, Session{e.seq, e.index});
    Session& s = it->second;
    if (fresh) return;
    if (e.seq > s.seq) {
        if (first) s = {e.seq, e.index};
        return;
    }
    if (s.index >= e.index) return;  // (this very entry, or one this node has not reached)
    fail("Exactly Once", "node " + std::to_string(node) + " applied " + describe(e) + " of client " +
                             std::to_string(e.client_id) + " seq " + std::to_string(e.seq) + ", but the client's " +
                             (s.seq == e.seq ? "same request" : "seq " + std::to_string(s.seq)) +
                             " had already taken effect at index " + std::to_string(s.index),
         {node}, e.index);
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

void Checker::on_restart(const Raft& node) {
    checked_commit_[node.id()] = 0;
    if (applied_.size() < node.id()) applied_.resize(node.id(), 0);
    applied_[node.id() - 1] = node.last_applied();  // its state machine is rebuilt from there
}

LincheckResult::Verdict Checker::check_history(const std::vector<ClientOp>& ops) {
    std::vector<uint64_t> op_of;  // history event -> op id
    const std::vector<HistoryEvent> history = history_of(ops, &op_of);
    LincheckOptions options;
    options.search_steps = kHistorySearchSteps;
    options.shrink_steps = kHistorySearchSteps;
    options.memo_bytes = kHistoryMemoBytes;
    const LincheckResult r = check_linearizable(history, options);
    if (r.verdict == LincheckResult::Verdict::Malformed) {
        fail("Linearizability", "the client history is malformed at event " + std::to_string(r.error.line) + ": " +
                                    r.error.message, {}, 0);
    } else if (r.verdict == LincheckResult::Verdict::NotLinearizable) {
        std::string detail = "key " + r.failing_keys.front() + ": no order of its operations behaves like a register;";
        std::set<uint64_t> shown;
        std::set<NodeId> nodes;
        for (const HistoryEvent& ev : r.violation) {
            const ClientOp& op = ops[op_of[ev.line - 1] - 1];
            if (!shown.insert(op.id).second) continue;
            detail += " " + describe(op) + ";";
            if (op.node != kNoNode) nodes.insert(op.node);
        }
        detail.pop_back();
        fail("Linearizability", detail, std::vector<NodeId>(nodes.begin(), nodes.end()), 0);
    }
    return r.verdict;
}

void Checker::on_liveness_failure(const std::string& detail, std::vector<NodeId> nodes, Index index) {
    fail("Liveness", detail, std::move(nodes), index);
}

}  // namespace raftbook
