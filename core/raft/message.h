// Messages between Raft nodes, and between clients and nodes.
//
// One flat struct serves every peer message type (as in etcd's raftpb.Message): the
// fields a type does not use stay zero. Which field means what, per type:
//
//   Vote / PreVote        term = candidate's term (PreVote: the term it *would* use)
//                         index, log_term = candidate's last log index and term
//   VoteResp/PreVoteResp  term, reject
//   Append                index, log_term = prevLogIndex, prevLogTerm; entries; commit
//   AppendResp            success: index = highest index now known to match
//                         reject:  index = the rejected prevLogIndex,
//                                  hint_index, hint_term = where to probe next
//                                  (fast backtracking, see Raft::handle_append)
//   Heartbeat             commit (clamped to what the follower is known to hold), context;
//                         index, log_term = the last entry sent to it while some are
//                         unacknowledged (0: none)
//   HeartbeatResp         context (echoed: confirms leadership for ReadIndex);
//                         index (echoed), reject = that entry is not in our log
//   Hello                 from = the connecting node (hosts only; never reaches Raft)
//
// Client messages (ClientRequest / ClientReply) travel between a client-facing host
// and a node; they are in the codec so every byte on a socket goes through one decoder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/raft/entry.h"

namespace raftbook {

enum class MessageType : uint8_t {
    Vote = 1,
    VoteResp,
    PreVote,
    PreVoteResp,
    Append,
    AppendResp,
    Heartbeat,
    HeartbeatResp,
    ClientRequest,
    ClientReply,
    Hello,  // first frame on a peer connection: `from` names the sender
};

const char* message_type_name(MessageType t);
// Returns false when `name` names no type.
bool message_type_from_name(const std::string& name, MessageType* out);

struct Message {
    MessageType type = MessageType::Heartbeat;
    NodeId from = kNoNode;
    NodeId to = kNoNode;
    Term term = 0;
    Index index = 0;
    Term log_term = 0;
    Index commit = 0;
    bool reject = false;
    Index hint_index = 0;
    Term hint_term = 0;
    uint64_t context = 0;
    std::vector<Entry> entries;

    bool operator==(const Message& o) const {
        return type == o.type && from == o.from && to == o.to && term == o.term &&
               index == o.index && log_term == o.log_term && commit == o.commit &&
               reject == o.reject && hint_index == o.hint_index && hint_term == o.hint_term &&
               context == o.context && entries == o.entries;
    }
};

// A client's request to the cluster, and the answer. `op` is "put", "get" or "del".
struct ClientRequest {
    uint64_t client_id = 0;
    uint64_t seq = 0;
    std::string op;
    std::string key;
    std::string value;
    bool operator==(const ClientRequest& o) const {
        return client_id == o.client_id && seq == o.seq && op == o.op && key == o.key &&
               value == o.value;
    }
};

struct ClientReply {
    uint64_t client_id = 0;
    uint64_t seq = 0;
    bool ok = false;
    bool found = false;      // for get: whether the key exists
    std::string value;       // for get
    std::string error;       // when !ok, e.g. "not leader"
    NodeId leader_hint = kNoNode;
    bool operator==(const ClientReply& o) const {
        return client_id == o.client_id && seq == o.seq && ok == o.ok && found == o.found &&
               value == o.value && error == o.error && leader_hint == o.leader_hint;
    }
};

}  // namespace raftbook
