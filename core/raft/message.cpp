#include "core/raft/message.h"

#include <cstdint>

#include "core/raft/membership.h"

namespace raftbook {

namespace {
struct TypeName {
    MessageType type;
    const char* name;
};
const TypeName kTypeNames[] = {
    {MessageType::Vote, "Vote"},
    {MessageType::VoteResp, "VoteResp"},
    {MessageType::PreVote, "PreVote"},
    {MessageType::PreVoteResp, "PreVoteResp"},
    {MessageType::Append, "Append"},
    {MessageType::AppendResp, "AppendResp"},
    {MessageType::Heartbeat, "Heartbeat"},
    {MessageType::HeartbeatResp, "HeartbeatResp"},
    {MessageType::ClientRequest, "ClientRequest"},
    {MessageType::ClientReply, "ClientReply"},
    {MessageType::Hello, "Hello"},
    {MessageType::Snapshot, "Snapshot"},
    {MessageType::SnapshotResp, "SnapshotResp"},
    {MessageType::TimeoutNow, "TimeoutNow"},
    {MessageType::Auth, "Auth"},
};
}  // namespace

const char* message_type_name(MessageType t) {
    for (const auto& tn : kTypeNames)
        if (tn.type == t) return tn.name;
    return "Unknown";
}

bool message_type_from_name(const std::string& name, MessageType* out) {
    for (const auto& tn : kTypeNames) {
        if (name == tn.name) {
            *out = tn.type;
            return true;
        }
    }
    return false;
}

std::string malformed_append(const Message& m) {
    using std::to_string;
    if (m.type != MessageType::Append) return "";
    if (m.log_term > m.term)
        return "Append's prevLogTerm " + to_string(m.log_term) + " is above its term " + to_string(m.term);
    Index prev_index = m.index;
    Term prev_term = m.log_term;
    for (size_t i = 0; i < m.entries.size(); i++) {
        const Entry& e = m.entries[i];
        auto entry = [&](const char* field, uint64_t v) {
            return "Append's entries[" + to_string(i) + "] has " + field + " " + to_string(v);
        };
        if (prev_index == UINT64_MAX || e.index != prev_index + 1)
            return entry("index", e.index) + " but must follow index " + to_string(prev_index) +
                   ": entries follow prevLogIndex without gaps";
        if (e.term < prev_term)
            return entry("term", e.term) + ", below the term " + to_string(prev_term) +
                   " before it: terms in a log never decrease";
        if (e.term > m.term) return entry("term", e.term) + ", above the message's term " + to_string(m.term);
        Membership config;
        if (e.type == EntryType::Config)
            if (std::string error = Membership::decode(e.data, &config); !error.empty())
                return entry("index", e.index) + ", a Config entry that holds no configuration: " + error;
        prev_index = e.index;
        prev_term = e.term;
    }
    return "";
}

std::string malformed_snapshot(const Message& m) {
    using std::to_string;
    if (m.type != MessageType::Snapshot) return "";
    const SnapshotChunk& c = m.chunk();
    if (m.log_term > m.term)
        return "Snapshot's term " + to_string(m.log_term) + " is above the message's term " + to_string(m.term);
    if (c.offset > c.total || c.data.size() > c.total - c.offset)
        return "Snapshot chunk at offset " + to_string(c.offset) + " with " + to_string(c.data.size()) +
               " bytes overruns the snapshot's " + to_string(c.total) + " bytes";
    if (c.done != (c.offset + c.data.size() == c.total))
        return std::string("Snapshot chunk's done flag is ") + (c.done ? "set" : "clear") + " but the chunk " +
               (c.done ? "does not end" : "ends") + " the snapshot";
    Membership config;
    if (!c.membership.empty())
        if (std::string error = Membership::decode(c.membership, &config); !error.empty())
            return "Snapshot chunk's membership is no configuration: " + error;
    return "";
}

}  // namespace raftbook
