// The membership routes of the HTTP API (http_server.h), as requests to the cluster.
//
//   GET    /members           {"members": [...] as in /status, "removed": [ids],
//                             "leader", "cluster_id"}
//   POST   /members           body {"id": N, "peer": "HOST:PORT", "http": "HOST:PORT",
//                             "learner": true}: adds node N as a learner (a new member
//                             always starts as one; promote it once it has caught up);
//                             {"id": N, "kind": "browser"} adds browser node N (no
//                             addresses: it is reached over the link it opened)
//   POST   /members/N/promote the learner N becomes a voter (refused until caught up)
//   DELETE /members/N         node N leaves the cluster (its id is never reused)
//   POST   /transfer-leader   body {"id": N}: the leader hands leadership to voter N
//
// Each change is one ClientRequest (op add_learner, promote, remove, transfer_leader)
// through the node runtime, forwarded to the leader like a write, answered once its
// Config entry is applied (200 {"revision": its index}) or, for a transfer, once N
// leads (200 {"leader": N}). Errors are JSON {"error": ...}: 400 for a malformed
// request, 409 for a change the leader refuses for good (already a member, removed,
// not a voter), 503 when trying again later may succeed: the cluster could not serve it
// in time (a change may then still take effect: GET /members says) or the leader
// refuses it for now (another change or a transfer under way, a learner not caught up).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/raft/message.h"

namespace raftbook {

struct MembersRequest {
    bool matched = false;  // the path is one of the routes above
    int status = 0;        // when not 0: answer at once with this status and `error`
    std::string error;
    std::string allow;     // with 405: the methods the path takes
    ClientRequest request; // else: submit this
};

// Reads a request for one of the routes above (GET /members excluded).
MembersRequest parse_members_request(const std::string& method, const std::string& path, const std::string& body);

// The HTTP status and JSON body for the cluster's answer.
int members_reply_status(const ClientReply& reply);
nlohmann::json members_reply_body(const ClientRequest& request, const ClientReply& reply);

// GET /members, from a node's /status.
nlohmann::json members_view(const nlohmann::json& status);

}  // namespace raftbook
