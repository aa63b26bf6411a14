// Log entries and hard state: the two things a Raft node asks its host to make durable.
//
// An Entry is one slot of the replicated log. Index and term are the paper's; `type`
// separates client commands from the no-op a new leader appends (§8: it lets the
// leader commit entries of earlier terms) and from configuration entries, whose data is
// a whole cluster configuration (membership.h: Membership::encode).
// Client commands carry the client's id and sequence number so the state machine can
// apply a retried request once.
//
// HardState is the paper's "persistent state on all servers" other than the log:
// currentTerm, votedFor, plus the commit index (which may be persisted lazily; it is
// an optimisation on restart, never needed for safety).
#pragma once

#include <cstdint>
#include <string>

namespace raftbook {

using NodeId = uint64_t;
using Index = uint64_t;
using Term = uint64_t;
constexpr NodeId kNoNode = 0;

enum class EntryType : uint8_t { Command = 0, NoOp = 1, Config = 2 };

struct Entry {
    Index index = 0;
    Term term = 0;
    EntryType type = EntryType::Command;
    std::string data;        // the command, e.g. "set x 5" or "del x"
    uint64_t client_id = 0;  // 0 = no client session (no de-duplication)
    uint64_t seq = 0;

    bool operator==(const Entry& o) const {
        return index == o.index && term == o.term && type == o.type && data == o.data &&
               client_id == o.client_id && seq == o.seq;
    }
    bool operator!=(const Entry& o) const { return !(*this == o); }
    // Approximate bytes on the wire, used to cap AppendEntries batches.
    size_t size_bytes() const { return data.size() + 32; }
};

struct HardState {
    Term current_term = 0;
    NodeId voted_for = kNoNode;
    Index commit_index = 0;

    bool operator==(const HardState& o) const {
        return current_term == o.current_term && voted_for == o.voted_for &&
               commit_index == o.commit_index;
    }
    bool operator!=(const HardState& o) const { return !(*this == o); }
};

}  // namespace raftbook
