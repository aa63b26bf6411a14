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
//   Heartbeat             commit (clamped to what the follower is known to hold), context
//   HeartbeatResp         context (echoed: confirms leadership for ReadIndex),
//                         index = the follower's last log index
//   Snapshot              InstallSnapshot, one chunk: index, log_term = the snapshot's
//                         last index and term; offset of this chunk's data in the
//                         snapshot, total = the snapshot's size in bytes; done on the
//                         last chunk (offset + data size == total); membership =
//                         the configuration at the snapshot's index (in every chunk)
//   SnapshotResp          index, log_term = which snapshot; offset = the next offset the
//                         follower expects (it keeps only chunks received in order).
//                         The last chunk is answered by an AppendResp instead, once
//                         the snapshot is durable (index = the snapshot's index)
//   TimeoutNow            leadership transfer (thesis §3.10): the leader tells an
//                         up-to-date voter to campaign at once, skipping pre-vote; its
//                         vote requests then carry context = kTransferCampaign so that
//                         voters grant them despite the leader lease
//   Hello                 from = the connecting node (hosts only; never reaches Raft);
//                         the frame's nonce: a fresh challenge for the other side
//   Auth                  from; the frame's proof = auth_proof(token, the other side's
//                         nonce, from) (hosts only; see core/auth/auth.h)
//
// Client messages (ClientRequest / ClientReply) travel between a client-facing host
// and a node; they are in the codec so every byte on a socket goes through one decoder.
#pragma once

#include <cstdint>
#include <memory>
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
    Snapshot,
    SnapshotResp,
    TimeoutNow,
    Auth,  // after Hello, when the cluster has a token: proof of knowing it (core/auth/auth.h)
};

// Vote / PreVote context of a campaign started by TimeoutNow (a leadership transfer).
constexpr uint64_t kTransferCampaign = 1;

const char* message_type_name(MessageType t);
// Returns false when `name` names no type.
bool message_type_from_name(const std::string& name, MessageType* out);

// The part of a Snapshot chunk (and of its answer: offset only) other messages lack.
struct SnapshotChunk {
    uint64_t offset = 0;  // Snapshot, SnapshotResp
    uint64_t total = 0;   // Snapshot
    std::string data;     // Snapshot: bytes [offset, offset + size) of the snapshot
    bool done = false;    // Snapshot: the last chunk
    std::string membership;  // Snapshot: the configuration at the snapshot's index
                             // (Membership::encode), on every chunk
    bool operator==(const SnapshotChunk& o) const {
        return offset == o.offset && total == o.total && data == o.data && done == o.done &&
               membership == o.membership;
    }
};

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
    // Snapshot and SnapshotResp only, behind a pointer so that every other message
    // stays as small as it was (the simulator moves millions of them). Null reads as
    // all zero; chunk_mut() copies it first when it is shared (copy on write).
    std::shared_ptr<const SnapshotChunk> snapshot_chunk;
    const SnapshotChunk& chunk() const {
        static const SnapshotChunk kNone;
        return snapshot_chunk ? *snapshot_chunk : kNone;
    }
    SnapshotChunk& chunk_mut() {
        if (!snapshot_chunk || snapshot_chunk.use_count() > 1) snapshot_chunk = std::make_shared<SnapshotChunk>(chunk());
        return const_cast<SnapshotChunk&>(*snapshot_chunk);  // made non-const just above, or here before
    }

    bool operator==(const Message& o) const {
        return type == o.type && from == o.from && to == o.to && term == o.term &&
               index == o.index && log_term == o.log_term && commit == o.commit &&
               reject == o.reject && hint_index == o.hint_index && hint_term == o.hint_term &&
               context == o.context && entries == o.entries && chunk() == o.chunk();
    }
};

// An AppendEntries is well formed when its entries follow prevLogIndex without gaps
// (entries[i].index == index + 1 + i), their terms never decrease (starting from
// prevLogTerm), and neither they nor prevLogTerm exceed the message's term: a
// leader's log has exactly this shape. A Config entry must hold a configuration
// (Membership::decode). Returns "" for a well-formed message (or one
// of another type), else a one-line account of the rule it breaks. The decoder
// refuses such frames and Raft::step ignores such messages.
std::string malformed_append(const Message& m);
// A Snapshot chunk is well formed when it fits its snapshot (offset + data size <=
// total), `done` says whether it is the last (offset + data size == total), the
// snapshot's term is not above the message's, and its membership, when set, is a
// configuration. Returns "" or the rule it breaks, and
// is checked where malformed_append is.
std::string malformed_snapshot(const Message& m);

// A client's request to the cluster, and the answer. `op` is "put", "del" (writes),
// "get" or "list" (reads, through ReadIndex), or a membership change (membership.h),
// served by the leader like a write and answered once its Config entry is applied:
//   add_learner  node, peer, http (the new member's id and addresses)
//   promote      node (refused until it has caught up)
//   remove       node
//   transfer_leader  node: answered ok once `node` leads, an error if the transfer is
//                abandoned (it did not finish within an election timeout)
//   put/del  key (value); optionally a condition ("revision": the key's revision must
//            be prev_revision, 0 for a missing key; "value": the key must hold
//            prev_value) and an idempotency_key (kv_store.h)
//   get      key
//   list     key = the prefix (may be empty), after = list keys after this one, limit
struct ClientRequest {
    uint64_t client_id = 0;
    uint64_t seq = 0;
    std::string op;
    std::string key;
    std::string value;
    std::string condition;  // "", "revision" or "value"
    uint64_t prev_revision = 0;
    std::string prev_value;
    std::string idempotency_key;
    std::string after;
    uint64_t limit = 0;
    NodeId node = kNoNode;  // membership changes and transfer_leader
    std::string peer;       // add_learner
    std::string http;       // add_learner
    bool browser = false;   // add_learner: the new member is a browser node (Member::browser)
    bool operator==(const ClientRequest& o) const {
        return client_id == o.client_id && seq == o.seq && op == o.op && key == o.key && value == o.value &&
               condition == o.condition && prev_revision == o.prev_revision && prev_value == o.prev_value &&
               idempotency_key == o.idempotency_key && after == o.after && limit == o.limit && node == o.node &&
               peer == o.peer && http == o.http && browser == o.browser;
    }
};

// One key as a listing shows it.
struct KeyValue {
    std::string key;
    std::string value;
    uint64_t revision = 0;
    bool operator==(const KeyValue& o) const { return key == o.key && value == o.value && revision == o.revision; }
};

// `ok` says the request was served (false: `error`, e.g. "not leader"). What it carries:
//   add_learner/promote/remove  revision = the Config entry's index
//   put/del  revision = the write's index; or condition_failed, with the key's current
//            revision, found and value
//   get      found, value, revision = the key's revision
//   list     items, more (more keys follow the page), revision = the store's (applied index)
struct ClientReply {
    uint64_t client_id = 0;
    uint64_t seq = 0;
    bool ok = false;
    bool found = false;
    std::string value;
    std::string error;       // when !ok
    NodeId leader_hint = kNoNode;
    uint64_t revision = 0;
    bool condition_failed = false;
    std::vector<KeyValue> items;
    bool more = false;
    bool operator==(const ClientReply& o) const {
        return client_id == o.client_id && seq == o.seq && ok == o.ok && found == o.found &&
               value == o.value && error == o.error && leader_hint == o.leader_hint && revision == o.revision &&
               condition_failed == o.condition_failed && items == o.items && more == o.more;
    }
};

}  // namespace raftbook
