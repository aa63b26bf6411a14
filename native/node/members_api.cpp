// The membership routes: request parsing and answers; see members_api.h.
#include "native/node/members_api.h"

#include "core/runtime/node_runtime.h"

namespace raftbook {

namespace {

// A node id in a path segment: decimal, from 1.
bool parse_id(const std::string& text, NodeId* out) {
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::stoull(text);
    return *out != kNoNode;
}

MembersRequest refuse(int status, const std::string& error, const std::string& allow = "") {
    MembersRequest r;
    r.matched = true;
    r.status = status;
    r.error = error;
    r.allow = allow;
    return r;
}

// The "id" of a JSON body: a positive integer.
bool body_id(const nlohmann::json& j, NodeId* out) {
    if (!j.contains("id") || !j["id"].is_number_unsigned()) return false;
    *out = j["id"].get<NodeId>();
    return *out != kNoNode;
}

// Whether trying again later may succeed (503), as opposed to a change the leader
// refuses on its own terms (409). The runtime's unavailability answers (no leader, not
// committed in time, a node stopping) and the leader's passing refusals (another change
// or a transfer under way, no commit in its term yet, a learner not caught up) all
// say to retry; a refusal for good (already a member, removed, not a voter) does not.
bool unavailable(const ClientReply& reply) {
    if (reply.error == "not leader" || reply.error.rfind("no leader", 0) == 0) return true;
    for (const char* part : {"retry", "Retry", " is stopping", " has not joined its cluster", " is already waiting"})
        if (reply.error.find(part) != std::string::npos) return true;
    return false;
}

}  // namespace

MembersRequest parse_members_request(const std::string& method, const std::string& path, const std::string& body) {
    MembersRequest r;
    if (path == "/transfer-leader") {
        if (method != "POST") return refuse(405, "use POST /transfer-leader with {\"id\": N}", "POST");
        const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
        if (!j.is_object() || !body_id(j, &r.request.node))
            return refuse(400, "POST /transfer-leader takes a JSON body {\"id\": N}, N the voter to lead");
        r.matched = true;
        r.request.op = "transfer_leader";
        return r;
    }
    if (path == "/members" || path == "/members/") {
        if (method == "GET") return r;  // the view, not a request to the cluster
        if (method != "POST")
            return refuse(405, "GET /members lists the members; POST /members adds one", "GET, POST");
        const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
        const std::string usage =
            "POST /members takes a JSON body {\"id\": N, \"peer\": \"HOST:PORT\", \"http\": \"HOST:PORT\", "
            "\"learner\": true}, or {\"id\": N, \"kind\": \"browser\"} for a browser node";
        if (!j.is_object() || !body_id(j, &r.request.node) || (j.contains("peer") && !j["peer"].is_string()) ||
            (j.contains("http") && !j["http"].is_string()) || (j.contains("learner") && !j["learner"].is_boolean()) ||
            (j.contains("kind") && j["kind"] != "native" && j["kind"] != "browser"))
            return refuse(400, usage);
        r.request.browser = j.value("kind", "native") == "browser";
        r.request.peer = j.value("peer", "");
        r.request.http = j.value("http", "");
        if (r.request.browser && (!r.request.peer.empty() || !r.request.http.empty()))
            return refuse(400, "a browser member has no addresses (it cannot accept connections: members reach it "
                               "through the native node it dialled); send {\"id\": N, \"kind\": \"browser\"}");
        if (!r.request.browser && r.request.peer.empty()) return refuse(400, usage);
        if (!j.value("learner", true))
            return refuse(400, "a new member joins as a learner (\"learner\": true); promote it once it has caught up "
                               "(POST /members/ID/promote)");
        r.matched = true;
        r.request.op = "add_learner";
        if (const std::string error = check_request(r.request); !error.empty()) return refuse(400, error);
        return r;
    }
    if (path.rfind("/members/", 0) != 0) return r;
    r.matched = true;
    std::string rest = path.substr(9);
    const bool promote = rest.size() > 8 && rest.compare(rest.size() - 8, 8, "/promote") == 0;
    if (promote) rest.resize(rest.size() - 8);
    if (!parse_id(rest, &r.request.node))
        return refuse(404, "no such route: " + path.substr(0, 200) +
                               " (POST /members/ID/promote, DELETE /members/ID, ID a node id from 1)");
    if (promote) {
        if (method != "POST") return refuse(405, "use POST /members/ID/promote", "POST");
        r.request.op = "promote";
    } else {
        if (method != "DELETE") return refuse(405, "use DELETE /members/ID to remove a member", "DELETE");
        r.request.op = "remove";
    }
    return r;
}

int members_reply_status(const ClientReply& reply) {
    if (reply.ok) return 200;
    if (reply.error.rfind("invalid request", 0) == 0) return 400;
    return unavailable(reply) ? 503 : 409;
}

nlohmann::json members_reply_body(const ClientRequest& request, const ClientReply& reply) {
    if (!reply.ok) {
        nlohmann::json j = {{"error", reply.error}};
        if (members_reply_status(reply) == 503) {
            j["leader"] = reply.leader_hint;
            j["note"] = "the change may still take effect: GET /members shows the configuration";
        }
        return j;
    }
    if (request.op == "transfer_leader") return {{"leader", request.node}};
    return {{"revision", reply.revision}};
}

nlohmann::json members_view(const nlohmann::json& status) {
    return {{"members", status.value("members", nlohmann::json::array())},
            {"removed", status.value("removed", nlohmann::json::array())},
            {"leader", status.value("leader", nlohmann::json())},
            {"cluster_id", status.value("cluster_id", nlohmann::json())}};
}

}  // namespace raftbook
