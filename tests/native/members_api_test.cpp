// The membership routes of the HTTP API (native/node/members_api.h): what each request
// becomes, what is refused before it reaches the cluster, and the status of each answer.
#include <catch2/catch.hpp>

#include "native/node/members_api.h"

using namespace raftbook;

TEST_CASE("Membership routes become runtime requests", "[http][membership]") {
    MembersRequest add = parse_members_request(
        "POST", "/members", R"({"id": 4, "peer": "127.0.0.1:7004", "http": "127.0.0.1:8004", "learner": true})");
    REQUIRE(add.matched);
    CHECK(add.status == 0);
    CHECK(add.request.op == "add_learner");
    CHECK(add.request.node == 4);
    CHECK(add.request.peer == "127.0.0.1:7004");
    CHECK(add.request.http == "127.0.0.1:8004");
    CHECK_FALSE(add.request.browser);

    // A browser node has no addresses: members reach it over the link it opened.
    const MembersRequest browser = parse_members_request("POST", "/members", R"({"id": 1234, "kind": "browser"})");
    REQUIRE(browser.matched);
    CHECK(browser.status == 0);
    CHECK(browser.request.op == "add_learner");
    CHECK(browser.request.node == 1234);
    CHECK(browser.request.browser);
    CHECK(browser.request.peer.empty());

    const MembersRequest promote = parse_members_request("POST", "/members/4/promote", "");
    CHECK(promote.request.op == "promote");
    CHECK(promote.request.node == 4);
    const MembersRequest remove = parse_members_request("DELETE", "/members/12", "");
    CHECK(remove.request.op == "remove");
    CHECK(remove.request.node == 12);
    const MembersRequest transfer = parse_members_request("POST", "/transfer-leader", R"({"id": 2})");
    CHECK(transfer.request.op == "transfer_leader");
    CHECK(transfer.request.node == 2);
    CHECK_FALSE(parse_members_request("GET", "/members", "").matched);  // the view, from /status
}

TEST_CASE("Malformed membership requests are refused with the rule", "[http][membership]") {
    const struct {
        const char* method;
        const char* path;
        const char* body;
        int status;
        const char* error;
    } bad[] = {
        {"POST", "/members", "", 400, "POST /members takes a JSON body"},
        {"POST", "/members", R"({"id": 0, "peer": "a:1"})", 400, "POST /members takes a JSON body"},
        {"POST", "/members", R"({"id": -3, "peer": "a:1"})", 400, "POST /members takes a JSON body"},
        {"POST", "/members", R"({"id": 4})", 400, "POST /members takes a JSON body"},
        {"POST", "/members", R"({"id": 4, "peer": "a:1", "learner": false})", 400, "a new member joins as a learner"},
        {"POST", "/members", R"({"id": 4, "peer": "a 1"})", 400, "peer and http must be host:port addresses"},
        {"POST", "/members", R"({"id": 4, "kind": "phone"})", 400, "POST /members takes a JSON body"},
        {"POST", "/members", R"({"id": 4, "kind": "native"})", 400, "POST /members takes a JSON body"},
        {"POST", "/members", R"({"id": 4, "kind": "browser", "peer": "a:1"})", 400, "a browser member has no addresses"},
        {"PUT", "/members", "", 405, "GET /members lists the members"},
        {"POST", "/members/x/promote", "", 404, "no such route"},
        {"POST", "/members/0", "", 404, "no such route"},
        {"POST", "/members/4", "", 405, "use DELETE /members/ID"},
        {"DELETE", "/members/4/promote", "", 405, "use POST /members/ID/promote"},
        {"POST", "/transfer-leader", "{}", 400, "POST /transfer-leader takes a JSON body"},
        {"GET", "/transfer-leader", "", 405, "use POST /transfer-leader"},
    };
    for (const auto& b : bad) {
        INFO(b.method << " " << b.path << " " << b.body);
        const MembersRequest r = parse_members_request(b.method, b.path, b.body);
        CHECK(r.matched);
        CHECK(r.status == b.status);
        CHECK(r.error.find(b.error) == 0);
    }
}

TEST_CASE("A refusal for good is 409, one that may pass on a retry 503", "[http][membership]") {
    ClientReply reply;
    reply.ok = true;
    reply.revision = 9;
    CHECK(members_reply_status(reply) == 200);
    ClientRequest remove;
    remove.op = "remove";
    CHECK(members_reply_body(remove, reply) == nlohmann::json{{"revision", 9}});
    reply.ok = false;
    reply.error = "node 4 was removed from this cluster; ids are never reused: add it under a new id";
    CHECK(members_reply_status(reply) == 409);
    reply.error = "node 7 is not a voter; only a voter can lead";
    CHECK(members_reply_status(reply) == 409);
    reply.error = "the configuration change at index 5 is not committed yet; one change at a time, retry once it is";
    CHECK(members_reply_status(reply) == 503);
    reply.error = "no leader elected within 3000 ms; is a majority of the cluster up and connected? Retry later";
    CHECK(members_reply_status(reply) == 503);
    CHECK(members_reply_body(remove, reply).contains("note"));
    reply.error = "not leader";
    CHECK(members_reply_status(reply) == 503);
    reply.error = "invalid request: node id must be 1 or more";
    CHECK(members_reply_status(reply) == 400);
}
