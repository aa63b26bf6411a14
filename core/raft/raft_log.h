// The replicated log as one node holds it in memory.
//
// Entries are kept in order from first_index(), in a deque: appending never moves
// the entries already held (a vector would copy a million entries at once as it grows). The index and term of the entry
// just before first_index() — prev_index() / prev_term() — are kept too, so that a
// log compacted into a snapshot answers term(prev_index()) and the AppendEntries
// consistency check works across the compaction point with no special case.
//
// The log also tracks how far it is durable and how far it is committed:
//   prev_index() <= persisted_index() <= last_index()
//   commit_index() <= last_index(), and commit_index() never decreases
// Entries from unstable_from() on have not yet been handed to the host for writing.
#pragma once

#include <deque>
#include <optional>
#include <vector>

#include "core/raft/entry.h"
#include "core/raft/snapshot.h"

namespace raftbook {

class RaftLog {
public:
    RaftLog() = default;
    // A log restored from storage: `entries` start at first_index and are durable.
    RaftLog(Index first_index, Term prev_term, std::vector<Entry> entries, Index commit);

    Index first_index() const { return prev_index_ + 1; }
    Index prev_index() const { return prev_index_; }
    Term prev_term() const { return prev_term_; }
    Index last_index() const { return prev_index_ + entries_.size(); }
    Term last_term() const { return *term(last_index()); }
    // The term of entry i; nullopt when i is compacted away or beyond the end.
    std::optional<Term> term(Index i) const;
    bool matches(Index i, Term t) const { auto x = term(i); return x && *x == t; }
    const Entry& at(Index i) const { return entries_[i - first_index()]; }

    // Entries in [lo, hi], at most max_bytes of them (always at least one when lo <= hi).
    std::vector<Entry> slice(Index lo, Index hi, size_t max_bytes = SIZE_MAX) const;

    // Leader: appends an entry at the end (its index and term already set).
    void append(Entry e);
    // Follower: merges entries that follow a verified prevLogIndex. An entry that
    // conflicts with an existing one (same index, different term) deletes that entry
    // and all that follow it (§5.3); entries already present are left alone, so a stale
    // or duplicated AppendEntries never truncates anything. Returns the index of the
    // last entry the message vouched for (prev + entries.size()); *truncated_from, when
    // given, is set to the first index removed (0: nothing was).
    Index merge(Index prev, const std::vector<Entry>& entries, Index* truncated_from = nullptr);

    // §5.4.1: is a log ending at (last_index, last_term) at least as up-to-date as ours?
    bool is_up_to_date(Index last_index, Term last_term) const;

    // Fast backtracking: the largest index <= i whose term is <= t (or prev_index()).
    Index last_index_with_term_at_most(Index i, Term t) const;

    Index commit_index() const { return commit_; }
    void commit_to(Index i);

    Index persisted_index() const { return persisted_; }
    void persisted_to(Index i, Term t);
    Index unstable_from() const { return unstable_from_; }
    std::vector<Entry> take_unstable();

    size_t size() const { return entries_.size(); }

    // Log compaction (§7): discards the entries up to i, which a durable snapshot
    // covers; i becomes prev_index(), its term prev_term(). Needs i <= last_index().
    void compact(Index i);
    // Installs a snapshot from the leader. When keep_suffix and the log holds the
    // snapshot's last entry with the same term, the entries after it stay (Log
    // Matching: everything up to there is the snapshot's); otherwise every entry goes
    // and the log continues right after the snapshot. The snapshot is committed, so the
    // commit index becomes at least its index (exactly its index when the log is reset).
    // Returns whether the log was reset.
    bool restore(const SnapshotMeta& meta, bool keep_suffix);

private:
    void truncate_from(Index i);  // removes entries i.. (i > commit_index)

    Index prev_index_ = 0;
    Term prev_term_ = 0;
    std::deque<Entry> entries_;
    Index commit_ = 0;
    Index persisted_ = 0;
    Index unstable_from_ = 1;
};

}  // namespace raftbook
