// Access control end to end, on real `raftbook serve` processes: a cluster started with
// a token (--token-file) admits only peers that prove they know it, on both ends of a
// connection, and closes the others' connections with a reason that says what to do;
// HTTP writes need the token as a bearer header and reads never do; every answer
// allows any origin; the client commands send the token from --token-file or
// RAFTBOOK_TOKEN.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/auth/auth.h"
#include "tests/native/process_cluster.h"
#include "tests/native/test_websocket.h"

using namespace raftbook;
using namespace raftbook::test;

namespace {

const std::string kToken = "sesame";
const std::string kBearer = "Authorization: Bearer " + kToken + "\r\n";

// A file holding `token` (and a newline) beside the cluster's data dirs.
std::string token_file(const ProcessCluster& c, const std::string& token, const std::string& name = "token") {
    const std::string path = (std::filesystem::path(c.data_dir(1)).parent_path() / name).string();
    std::ofstream(path) << token << "\n";
    return path;
}

HttpResponse put(const ProcessCluster& c, int id, const std::string& key, const std::string& value,
                 const std::string& headers = kBearer) {
    return http_request(c.http_address(id), "PUT", "/kv/" + key, value, 10000ms, headers);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Whether node `id`'s log comes to hold `line` within 10 s.
bool logs(const ProcessCluster& c, int id, const std::string& line) {
    return wait_until([&] { return contains(c.log(id), line); }, 10000ms);
}

// A one-node cluster with the token, leading.
void start_one(ProcessCluster& c) {
    c.start(1, {"--token", kToken});
    REQUIRE(c.wait_for_leader() == 1);
}

Frame auth_frame(NodeId from, const std::string& proof) {
    Frame f;
    f.cluster = "raftbook";
    f.type = MessageType::Auth;
    f.peer.type = MessageType::Auth;
    f.peer.from = from;
    f.proof = proof;
    return f;
}

Frame decoded(const TestWebSocket::Incoming& in) {
    Frame f;
    std::string error;
    REQUIRE(in.opcode == 0x2);
    if (!decode_frame(in.payload, WireFormat::Cbor, &f, &error)) FAIL(error);
    return f;
}

}  // namespace

TEST_CASE("A cluster with a token commits, and refuses a peer with a wrong token or none, naming the token",
          "[serve][auth]") {
    ProcessCluster c(3, {"--cluster-id", "raftbook"});
    const std::string file = token_file(c, kToken);
    for (int id = 1; id <= 3; id++) c.start(id, {"--token-file", file});
    INFO(c.logs());
    const int leader = c.wait_for_leader(15000ms);
    REQUIRE(leader != 0);
    for (int id = 1; id <= 3; id++) CHECK(put(c, id, "k" + std::to_string(id), "v").status == 200);

    // Node 4 believes it founded a cluster with nodes 1-3 and dials them; node 5 too,
    // with no token at all.
    const int wrong = c.add_node(), none = c.add_node();
    auto rogue_cluster = [&](int id) {
        return "1=" + c.peer_address(1) + ",2=" + c.peer_address(2) + ",3=" + c.peer_address(3) + "," +
               std::to_string(id) + "=" + c.peer_address(id) + "/" + c.http_address(id);
    };
    c.start(wrong, {"--cluster", rogue_cluster(wrong), "--token", "open sesame"});
    c.start(none, {"--cluster", rogue_cluster(none)});
    // Each end checks: the members close node 4's connections, and node 4 theirs.
    CHECK(logs(c, 1, "closed peer connection from node 4 (127.0.0.1:"));
    CHECK(logs(c, 1, "wrong token: node 4's proof does not match node 1's token; give both the cluster's --token-file"));
    CHECK(logs(c, wrong, "wrong token: node 1's proof does not match node 4's token"));
    // Node 5 takes node 1's Auth for nothing and sends Raft traffic, which is refused.
    CHECK(logs(c, 1, "this cluster needs a token: start node 5 with the cluster's --token-file"));
    CHECK(logs(c, none, "closed the connection: this cluster needs a token: start node 5"));

    // The cluster goes on committing, and never took either of them as a peer.
    for (int id = 1; id <= 3; id++) CHECK(put(c, id, "after" + std::to_string(id), "v").status == 200);
    for (int id = 1; id <= 3; id++) {
        CHECK_FALSE(contains(c.log(id), "peer 4 connected"));
        CHECK_FALSE(contains(c.log(id), "peer 5 connected"));
        CHECK(contains(c.log(id), "peer " + std::to_string(id % 3 + 1) + " connected"));
    }
    CHECK_FALSE(contains(c.log(wrong), " connected ("));
    CHECK(c.wait_for_leader(10000ms, {wrong, none}) == leader);  // the rogues know no leader
}

TEST_CASE("A peer that sends Hello and then a wrong proof, or no proof, is closed with the reason",
          "[serve][auth][transport]") {
    ProcessCluster c(1, {"--cluster-id", "raftbook"});  // the id the test's frames carry
    start_one(c);
    INFO(c.logs());
    const std::string our_nonce = auth_nonce(0x1234, 0x5678);

    // The node's handshake: its Hello with a nonce, then its proof for ours.
    auto handshake = [&](TestWebSocket& ws) -> std::string {
        Frame h = hello(9);
        h.nonce = our_nonce;
        REQUIRE(ws.open());
        REQUIRE(ws.send(h));
        const Frame theirs = decoded(ws.read());
        REQUIRE(theirs.type == MessageType::Hello);
        CHECK(theirs.nonce.size() == 32);
        const Frame auth = decoded(ws.read());
        REQUIRE(auth.type == MessageType::Auth);
        CHECK(auth.peer.from == 1);
        CHECK(auth_proof_ok(kToken, our_nonce, 1, auth.proof));
        return theirs.nonce;
    };

    SECTION("a wrong proof") {
        TestWebSocket ws(c.peer_address(1));
        const std::string nonce = handshake(ws);
        REQUIRE(ws.send(auth_frame(9, auth_proof("open sesame", nonce, 9))));
        const auto [code, reason] = ws.read_close();
        CHECK(code == 1008);
        CHECK(reason == "wrong token: node 9's proof does not match node 1's token; give both the cluster's --token-file");
    }
    SECTION("a right proof for another node's id") {
        TestWebSocket ws(c.peer_address(1));
        const std::string nonce = handshake(ws);
        REQUIRE(ws.send(auth_frame(9, auth_proof(kToken, nonce, 8))));
        CHECK(ws.read_close().second.rfind("wrong token", 0) == 0);
    }
    SECTION("a right proof for another connection's nonce") {
        TestWebSocket first(c.peer_address(1)), second(c.peer_address(1));
        const std::string nonce = handshake(first);
        handshake(second);
        REQUIRE(second.send(auth_frame(9, auth_proof(kToken, nonce, 9))));
        CHECK(second.read_close().second.rfind("wrong token", 0) == 0);
    }
    SECTION("Raft traffic instead of a proof") {
        TestWebSocket ws(c.peer_address(1));
        handshake(ws);
        Frame f;
        f.cluster = "raftbook";
        f.type = MessageType::Heartbeat;
        f.peer.type = MessageType::Heartbeat;
        f.peer.from = 9;
        f.peer.to = 1;
        f.peer.term = 99;
        REQUIRE(ws.send(f));
        const auto [code, reason] = ws.read_close();
        CHECK(code == 1008);
        CHECK(reason == "this cluster needs a token: start node 9 with the cluster's --token-file");
        CHECK(c.status(1)["term"] != 99);
    }
    SECTION("the right proof admits: the node answers a client request over the link") {
        TestWebSocket ws(c.peer_address(1));
        const std::string nonce = handshake(ws);
        REQUIRE(ws.send(auth_frame(9, auth_proof(kToken, nonce, 9))));
        Frame get;
        get.cluster = "raftbook";
        get.type = MessageType::ClientRequest;
        get.request.op = "get";
        get.request.key = "k";
        get.request.client_id = 77;
        get.request.seq = 1;
        REQUIRE(ws.send(get));
        const Frame reply = decoded(ws.read());
        CHECK(reply.type == MessageType::ClientReply);
        CHECK(reply.reply.ok);
        CHECK(reply.reply.client_id == 77);
    }
    CHECK(c.status(1)["role"] == "leader");  // and it serves on
}

TEST_CASE("With a token, HTTP writes need the bearer header (401 otherwise) and reads never do", "[serve][auth][http]") {
    ProcessCluster c(1);
    start_one(c);
    INFO(c.logs());
    const std::string http = c.http_address(1);

    const HttpResponse none = put(c, 1, "k", "v", "");
    CHECK(none.status == 401);
    CHECK(contains(none.body, "\"error\":\"writes to this node need its token: send 'Authorization: Bearer TOKEN'"));
    CHECK(contains(none.headers, "WWW-Authenticate: Bearer"));
    const HttpResponse wrong = put(c, 1, "k", "v", "Authorization: Bearer open sesame\r\n");
    CHECK(wrong.status == 401);
    CHECK(contains(wrong.body, "\"error\":\"wrong token: send 'Authorization: Bearer TOKEN' with the cluster's token"));
    CHECK(put(c, 1, "k", "v", "Authorization: Basic c2VzYW1l\r\n").status == 401);
    CHECK(put(c, 1, "k", "v", "Authorization: Bearer " + kToken + "x\r\n").status == 401);
    CHECK(http_request(http, "DELETE", "/kv/k").status == 401);
    CHECK(http_request(http, "POST", "/members", R"({"id": 7, "peer": "127.0.0.1:1"})").status == 401);
    CHECK(http_request(http, "POST", "/transfer-leader", R"({"id": 1})").status == 401);
    CHECK(http_request(http, "GET", "/kv/k").status == 404);  // none of those wrote

    CHECK(put(c, 1, "k", "v").status == 200);
    const HttpResponse got = http_request(http, "GET", "/kv/k");
    CHECK(got.status == 200);
    CHECK(got.body == "v");
    CHECK(http_request(http, "GET", "/kv/?prefix=").status == 200);
    CHECK(http_request(http, "GET", "/status").status == 200);
    CHECK(http_request(http, "GET", "/metrics").status == 200);
    CHECK(http_request(http, "GET", "/members").status == 200);
    CHECK(http_request(http, "GET", "/").status == 200);
    CHECK(http_request(http, "DELETE", "/kv/k", "", 10000ms, kBearer).status == 200);
}

TEST_CASE("Every HTTP answer allows any origin, and an OPTIONS preflight gets 204 with the methods and headers",
          "[serve][http]") {
    ProcessCluster c(1);
    start_one(c);
    INFO(c.logs());
    const std::string http = c.http_address(1);

    const HttpResponse pre = http_request(http, "OPTIONS", "/kv/k", "", 10000ms,
                                          "Origin: http://example.org\r\nAccess-Control-Request-Method: PUT\r\n"
                                          "Access-Control-Request-Headers: authorization\r\n");
    CHECK(pre.status == 204);
    CHECK(contains(pre.headers, "Access-Control-Allow-Origin: *"));
    CHECK(contains(pre.headers, "Access-Control-Allow-Methods: GET, PUT, POST, DELETE"));
    CHECK(contains(pre.headers, "Access-Control-Allow-Headers: Authorization, Content-Type, Idempotency-Key, Last-Event-ID"));
    CHECK(http_request(http, "OPTIONS", "/members").status == 204);

    for (const HttpResponse& r : {put(c, 1, "k", "v"), put(c, 1, "k", "v", ""), http_request(http, "GET", "/kv/k"),
                                  http_request(http, "GET", "/kv/missing"), http_request(http, "GET", "/status"),
                                  http_request(http, "GET", "/metrics"), http_request(http, "GET", "/kv/bad%zz")}) {
        INFO(r.headers);
        CHECK(contains(r.headers, "Access-Control-Allow-Origin: *"));
        CHECK(contains(r.headers, "Access-Control-Expose-Headers: Raftbook-Revision"));
    }
    RawSocket watch(http);
    REQUIRE(watch.send_all("GET /watch/k HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(contains(watch.recv_some(), "Access-Control-Allow-Origin: *"));
}

TEST_CASE("The client commands send the token from --token-file or RAFTBOOK_TOKEN, and without it say so",
          "[cli][auth]") {
    ProcessCluster c(1);
    start_one(c);
    INFO(c.logs());
    const std::string server = " --server " + c.http_address(1);
    const std::string file = token_file(c, kToken);
    std::string out;

    CHECK(run_raftbook("put k v" + server + " --token-file " + file, &out) == 0);
    out.clear();
    CHECK(run_raftbook("put k v2" + server, &out) == 1);
    CHECK(contains(out, "answered 401: writes to this node need its token"));
    CHECK(contains(out, "--token-file FILE or RAFTBOOK_TOKEN"));
    out.clear();
    CHECK(run_raftbook("get k" + server, &out) == 0);  // a read needs none
    CHECK(out == "v\n");
    out.clear();
    CHECK(run_raftbook("del k" + server + " --token-file " + token_file(c, "open sesame", "wrong"), &out) == 1);
    CHECK(contains(out, "answered 401: wrong token"));
    out.clear();
    // A change goes through the same header: without it 401, with it the node's own answer.
    CHECK(run_raftbook("members remove 7" + server, &out) == 1);
    CHECK(contains(out, "answered 401"));
    out.clear();
    ::setenv("RAFTBOOK_TOKEN", kToken.c_str(), 1);
    const int removed = run_raftbook("members remove 7" + server, &out);
    const int deleted = run_raftbook("del k" + server, &out);
    ::unsetenv("RAFTBOOK_TOKEN");
    CHECK_FALSE(contains(out, "401"));
    CHECK(removed == 1);  // 7 is no member: refused by the cluster, not by the token
    CHECK(deleted == 0);
    out.clear();
    CHECK(run_raftbook("put k v" + server + " --token-file /nonexistent/token", &out) == 2);
    CHECK(contains(out, "--token-file: cannot read the token file '/nonexistent/token'"));
}

TEST_CASE("serve reads --token-file, refuses an empty or missing one, and warns when it listens beyond loopback "
          "without a token",
          "[serve][auth]") {
    ProcessCluster c(2);
    std::string out;
    const std::string empty = token_file(c, "  ", "empty");
    const std::string base = "serve --id 1 --cluster 1=127.0.0.1:1 --http 127.0.0.1:2 --data " + c.data_dir(1);
    CHECK(run_raftbook(base + " --token-file " + empty, &out) == 2);
    CHECK(contains(out, "--token-file: the token file '" + empty + "' is empty; put the cluster's token on its first line"));
    out.clear();
    CHECK(run_raftbook(base + " --token-file /nonexistent/token", &out) == 2);
    CHECK(contains(out, "cannot read the token file '/nonexistent/token': No such file or directory"));

    // Node 1 serves HTTP on every address with no token, node 2 with one.
    const std::string all = "0.0.0.0:" + c.http_address(1).substr(c.http_address(1).rfind(':') + 1);
    c.start(1, {"--http", all});
    c.start(2, {"--http", "0.0.0.0:" + c.http_address(2).substr(c.http_address(2).rfind(':') + 1), "--token-file",
                token_file(c, kToken)});
    INFO(c.logs());
    REQUIRE(c.wait_serving(1));
    REQUIRE(c.wait_serving(2));
    CHECK(contains(c.log(1), "warning: no token, and --http " + all + " is not loopback: anyone who can reach this "
                             "node can join the cluster or write; give every member the same --token-file FILE"));
    CHECK_FALSE(contains(c.log(2), "warning"));
}

TEST_CASE("A node joins a cluster with a token when it has it, and is refused with the reason when not",
          "[serve][auth][membership]") {
    ProcessCluster c(1);
    start_one(c);
    const int good = c.add_node(), bad = c.add_node();
    c.join(good, 1, {"--token", kToken});
    INFO(c.logs());
    REQUIRE(wait_until([&] { return contains(c.log(good), "added to the cluster as a learner"); }, 15000ms));
    CHECK(logs(c, 1, "peer 2 connected"));
    c.join(bad, 1, {"--token", "open sesame"});
    CHECK(c.wait_exit(bad, 15000ms) == 1);
    CHECK(contains(c.log(bad), "fatal: the cluster refused to add this node: wrong token"));
}
