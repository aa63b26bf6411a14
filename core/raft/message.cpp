#include "core/raft/message.h"

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

}  // namespace raftbook
