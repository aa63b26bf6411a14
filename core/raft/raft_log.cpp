#include "core/raft/raft_log.h"

#include <algorithm>
#include <cassert>
#include <iterator>

namespace raftbook {

RaftLog::RaftLog(Index first_index, Term prev_term, std::vector<Entry> entries, Index commit)
    : prev_index_(first_index - 1),
      prev_term_(prev_term),
      entries_(std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.end())) {
    persisted_ = last_index();
    unstable_from_ = last_index() + 1;
    commit_ = std::min(std::max(commit, prev_index_), last_index());
}

std::optional<Term> RaftLog::term(Index i) const {
    if (i == prev_index_) return prev_term_;
    if (i < prev_index_ || i > last_index()) return std::nullopt;
    return entries_[i - first_index()].term;
}

std::vector<Entry> RaftLog::slice(Index lo, Index hi, size_t max_bytes) const {
    std::vector<Entry> out;
    lo = std::max(lo, first_index());
    hi = std::min(hi, last_index());
    if (lo <= hi) out.reserve(std::min<size_t>(hi - lo + 1, 1024));
    size_t bytes = 0;
    for (Index i = lo; i <= hi; i++) {
        const Entry& e = at(i);
        bytes += e.size_bytes();
        if (!out.empty() && bytes > max_bytes) break;
        out.push_back(e);
    }
    return out;
}

void RaftLog::append(Entry e) {
    assert(e.index == last_index() + 1);
    entries_.push_back(std::move(e));
}

Index RaftLog::merge(Index prev, const std::vector<Entry>& entries, Index* truncated_from) {
    if (truncated_from) *truncated_from = 0;
    for (const Entry& e : entries) {
        if (e.index <= prev_index_) continue;  // already compacted, hence committed
        auto t = term(e.index);
        if (t && *t == e.term) continue;       // Log Matching: already have this entry
        if (t) {                               // conflict: drop it and all that follow
            truncate_from(e.index);
            if (truncated_from) *truncated_from = e.index;
        }
        entries_.push_back(e);
    }
    return prev + entries.size();
}

void RaftLog::truncate_from(Index i) {
    // Committed entries are never removed: a correct leader never sends a conflicting
    // entry at or below our commit index (Leader Completeness, §5.4). Only a broken
    // rule (a test fault switch) gets here with i <= commit_; then the commit index
    // moves back, which the simulator's checker reports, instead of crashing.
    commit_ = std::min(commit_, i - 1);
    entries_.resize(i - first_index());
    unstable_from_ = std::min(unstable_from_, i);
    persisted_ = std::min(persisted_, i - 1);
}

bool RaftLog::is_up_to_date(Index li, Term lt) const {
    return lt > last_term() || (lt == last_term() && li >= last_index());
}

Index RaftLog::last_index_with_term_at_most(Index i, Term t) const {
    i = std::min(i, last_index());
    while (i > prev_index_ && at(i).term > t) i--;
    return i;
}

void RaftLog::commit_to(Index i) {
    if (i > commit_) commit_ = std::min(i, last_index());
}

void RaftLog::persisted_to(Index i, Term t) {
    // Ignore a write that finished after its entries were overwritten (term differs).
    if (i > persisted_ && i < unstable_from_ && matches(i, t)) persisted_ = i;
}

std::vector<Entry> RaftLog::take_unstable() {
    std::vector<Entry> out;
    if (unstable_from_ <= last_index()) out = slice(unstable_from_, last_index());
    unstable_from_ = last_index() + 1;
    return out;
}

void RaftLog::compact(Index i) {
    if (i <= prev_index_ || i > last_index()) return;
    prev_term_ = at(i).term;
    entries_.erase(entries_.begin(), entries_.begin() + (i - prev_index_));
    prev_index_ = i;
    persisted_ = std::max(persisted_, i);
    unstable_from_ = std::max(unstable_from_, i + 1);
}

bool RaftLog::restore(const SnapshotMeta& meta, bool keep_suffix) {
    if (keep_suffix && matches(meta.index, meta.term)) {
        compact(meta.index);
        commit_ = std::max(commit_, meta.index);
        return false;
    }
    entries_.clear();
    prev_index_ = meta.index;
    prev_term_ = meta.term;
    commit_ = persisted_ = meta.index;
    unstable_from_ = meta.index + 1;
    return true;
}

}  // namespace raftbook
