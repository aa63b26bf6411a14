// A snapshot: the state machine as it stood after applying entry `meta.index`.
//
// Log compaction (Raft §7). A node that has applied entry i may write its whole state
// (the key-value map, the client de-duplication table) and the cluster configuration
// at that index (meta.membership) to a snapshot, then discard the log up to i. The
// index and term of entry i stay known (RaftLog::prev_index/prev_term), so the
// AppendEntries consistency check works across the compaction point. A follower that
// needs an entry the leader has discarded is sent the snapshot instead
// (InstallSnapshot), in chunks.
//
// `data` is opaque to Raft: the runtime encodes it (KvStore::encode) and decodes it
// (KvStore::decode). It is shared, because a leader keeps its newest snapshot to send
// while the host may be writing the same bytes to disk.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "core/raft/entry.h"
#include "core/raft/membership.h"

namespace raftbook {

struct SnapshotMeta {
    SnapshotMeta() = default;
    SnapshotMeta(Index i, Term t, Membership m = {}) : index(i), term(t), membership(std::move(m)) {}
    Index index = 0;  // the last entry the snapshot covers
    Term term = 0;    // that entry's term
    Membership membership;  // the configuration in force at `index` (membership.h)
    bool operator==(const SnapshotMeta& o) const {
        return index == o.index && term == o.term && membership == o.membership;
    }
    bool operator!=(const SnapshotMeta& o) const { return !(*this == o); }
};

struct Snapshot {
    SnapshotMeta meta;
    std::shared_ptr<const std::string> data;  // the encoded state machine
    size_t size() const { return data ? data->size() : 0; }
};

}  // namespace raftbook
