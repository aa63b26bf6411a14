// Cluster membership: who the members are, which of them vote, and how it changes.
//
// Membership is replicated state (Raft thesis, chapter 4). It changes only through a
// log entry of type Config that the leader appends, and each such entry holds the
// *whole* new configuration, not a delta: a node's configuration is the one in the
// newest Config entry of its log — appended, not necessarily committed (thesis §4.1:
// "a server always uses the latest configuration in its log") — or, with none in the
// log, the one in its snapshot, or else the bootstrap configuration its host gave it.
// Whole configurations make each entry self-contained, so a node that joins with an
// empty configuration learns the full membership from the first Config entry it
// receives; when its log is truncated past a Config entry, it falls back to the newest
// one that remains.
//
// Changes go one server at a time (thesis §4.2, single-server changes), so any
// majority of the old configuration overlaps any majority of the new one:
//   AddLearner  a new member that receives the log but never votes, never counts
//               toward a majority and never campaigns;
//   Promote     a learner becomes a voter (the leader refuses it until the learner
//               has caught up to within RaftConfig::promote_max_lag entries);
//   Remove      a member leaves; its id is remembered in `removed` and never reused,
//               so a removed node that comes back is refused, not readmitted.
// Each member also carries the addresses and kind (native or browser) its hosts use (peer: where other nodes dial it;
// http: where clients reach it), so every node learns every member's addresses from
// the configuration itself. Raft reads only the ids and the voter flags.
//
// Invariants (checked by validate()): ids are unique and non-zero, sorted; removed ids
// are not members.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/raft/entry.h"

namespace raftbook {

struct Member {
    NodeId id = kNoNode;
    bool voter = true;
    std::string peer;  // host:port other nodes dial ("" when unknown, as in the simulator)
    std::string http;  // host:port clients use ("" when unknown)
    // A browser node (a live page): it cannot accept connections, so it has no peer
    // address; nodes reach it through the native member it is connected to (relayed,
    // peer_transport.h). It joins under a fresh id every time (README: browser nodes).
    bool browser = false;
    bool operator==(const Member& o) const {
        return id == o.id && voter == o.voter && peer == o.peer && http == o.http && browser == o.browser;
    }
    bool operator!=(const Member& o) const { return !(*this == o); }
};

struct Membership {
    std::vector<Member> members;  // sorted by id
    std::vector<NodeId> removed;  // ids that left; never members again (sorted)

    bool empty() const { return members.empty(); }
    const Member* find(NodeId id) const;
    bool is_member(NodeId id) const { return find(id) != nullptr; }
    bool is_voter(NodeId id) const;
    bool was_removed(NodeId id) const;
    std::vector<NodeId> voters() const;
    std::vector<NodeId> learners() const;
    size_t quorum() const { return voters().size() / 2 + 1; }  // of the voters

    // A configuration of voters with these ids and no addresses (tests, the simulator).
    static Membership of_voters(const std::vector<NodeId>& ids);

    // The entry data of a Config entry and the snapshot's copy of it. decode() returns
    // "" on success, else what is wrong (untrusted bytes never crash it).
    std::string encode() const;
    static std::string decode(const std::string& data, Membership* out);
    std::string validate() const;  // "" or the invariant broken

    bool operator==(const Membership& o) const { return members == o.members && removed == o.removed; }
    bool operator!=(const Membership& o) const { return !(*this == o); }
};

// One single-server change, as a client asks for it.
struct ConfChange {
    enum class Type : uint8_t { AddLearner, Promote, Remove };
    Type type = Type::AddLearner;
    NodeId node = kNoNode;
    std::string peer;  // AddLearner: the new member's addresses
    std::string http;
    bool browser = false;  // AddLearner: the new member is a browser node
};
const char* conf_change_name(ConfChange::Type t);  // "add_learner", "promote", "remove"

// The configuration that results from applying `cc` to `from`, in *out. Returns "" or
// why the change is not allowed on its own terms: adding a member twice or an id that
// was removed, promoting a voter or a non-member, removing a non-member, removing the
// last voter, promoting a browser or removing a native voter when that leaves as many
// browser voters as native ones, or more. (Catch-up and one-change-at-a-time are the
// leader's rules: raft.cpp.)
std::string apply_conf_change(const Membership& from, const ConfChange& cc, Membership* out);

// Whether `a` may be a member's address: at most 255 bytes, no space or control byte
// ("" is allowed: unknown).
bool valid_member_address(const std::string& a);

}  // namespace raftbook
