// `raftbook serve` as real processes on loopback: elections, writes through any node,
// crash and restart (kill -9) under load, and hostile input on both of a node's ports.
//
// Every test starts its own cluster (ProcessCluster) and the cluster's destructor
// kills its children, so a failed REQUIRE leaves no process behind. When a cluster
// does not elect, converge or answer, the failure message carries the nodes' logs,
// which is usually all one needs to see why.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>

#include "core/codec/codec.h"
#include "native/node/http_server.h"
#include "tests/native/process_cluster.h"
#include "tests/native/test_websocket.h"

using namespace raftbook;
using namespace raftbook::test;

namespace {

// Writers of unique keys through every node in turn, remembering which writes got a
// 200. A write to a node that is down fails fast and the writer moves on.
class WriteLoad {
public:
    WriteLoad(const ProcessCluster& cluster, int threads) : cluster_(cluster) {
        for (int t = 0; t < threads; t++) threads_.emplace_back([this, t] { run(t); });
    }
    ~WriteLoad() { stop(); }
    void stop() {
        stop_ = true;
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    size_t acked() const {
        std::lock_guard<std::mutex> lock(mu_);
        return acked_.size();
    }
    std::map<std::string, std::string> acked_writes() const {
        std::lock_guard<std::mutex> lock(mu_);
        return acked_;
    }

private:
    void run(int t) {
        for (uint64_t n = 0; !stop_; n++) {
            const int id = int((n + uint64_t(t)) % uint64_t(cluster_.size())) + 1;
            const std::string key = "load-" + std::to_string(t) + "-" + std::to_string(n);
            const std::string value = "value " + std::to_string(n) + " from writer " + std::to_string(t);
            const HttpResponse r = cluster_.put(id, key, value);
            if (r.status == 200) {
                std::lock_guard<std::mutex> lock(mu_);
                acked_[key] = value;
            }
            std::this_thread::sleep_for(5ms);
        }
    }

    const ProcessCluster& cluster_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::map<std::string, std::string> acked_;
    std::vector<std::thread> threads_;
};

// Waits until every running node has applied the same commit index with the same
// state machine fingerprint.
bool converged(const ProcessCluster& c, std::chrono::milliseconds timeout) {
    return wait_until(
        [&] {
            nlohmann::json first;
            for (int id = 1; id <= c.size(); id++) {
                if (!c.running(id)) continue;
                const nlohmann::json s = c.status(id);
                if (!s.is_object() || s["applied_index"] != s["commit_index"]) return false;
                if (first.is_null()) first = s;
                if (s["commit_index"] != first["commit_index"] || s["kv_fingerprint"] != first["kv_fingerprint"])
                    return false;
            }
            return !first.is_null();
        },
        timeout);
}

// Reads back every acknowledged write, through every node in turn. Returns the keys
// that were lost or wrong.
std::vector<std::string> missing_writes(const ProcessCluster& c, const std::map<std::string, std::string>& writes) {
    std::vector<std::string> missing;
    int id = 0;
    for (const auto& [key, value] : writes) {
        id = id % c.size() + 1;
        const HttpResponse r = c.get(id, key);
        if (r.status != 200 || r.body != value) missing.push_back(key + " (" + std::to_string(r.status) + ")");
    }
    return missing;
}

// Starts every node; returns the leader they agree on (and fails the test if none).
int start_cluster(ProcessCluster& c) {
    c.start_all();
    const int leader = c.wait_for_leader();
    if (leader == 0) FAIL("no leader elected\n" << c.logs());
    return leader;
}

int other_than(const ProcessCluster& c, int leader) { return leader % c.size() + 1; }

// The crash scenario: a write load runs while the `victims` are killed with -9; then they
// restart. A leader must be back within a few seconds, writes must keep succeeding,
// every node must catch up, and every write that got a 200 must be readable.
void crash_under_load(ProcessCluster& c, const std::function<std::vector<int>(int leader)>& victims) {
    const int leader = start_cluster(c);
    WriteLoad load(c, 3);
    REQUIRE(wait_until([&] { return load.acked() >= 50; }, 10000ms));

    const std::vector<int> killed = victims(leader);
    for (int id : killed) c.kill9(id);
    const auto killed_at = std::chrono::steady_clock::now();
    const bool all_down = int(killed.size()) == c.size();
    if (all_down) {
        std::this_thread::sleep_for(300ms);
        for (int id : killed) c.start(id);
    }
    const int new_leader = c.wait_for_leader(10000ms);
    const auto elected_in = std::chrono::steady_clock::now() - killed_at;
    if (new_leader == 0) FAIL("no leader after the crash\n" << c.logs());
    CHECK(elected_in < 5s);
    const size_t before = load.acked();
    CHECK(wait_until([&] { return load.acked() >= before + 30; }, 5000ms));  // writes continue

    if (!all_down)
        for (int id : killed) c.start(id);
    std::this_thread::sleep_for(1s);  // the restarted nodes rejoin under load
    load.stop();
    if (!converged(c, 15000ms))  // every node, the restarted ones too, caught up
        FAIL("the nodes did not converge\n" << c.logs());

    const auto writes = load.acked_writes();
    const std::vector<std::string> missing = missing_writes(c, writes);
    INFO(writes.size() << " acknowledged writes; missing: "
                       << (missing.empty() ? std::string("none") : missing.front() + " ..."));
    CHECK(missing.empty());
}

}  // namespace

TEST_CASE("serve --help exits 0, a bad flag exits 2 with the usage", "[serve]") {
    const std::string bin = RAFTBOOK_BINARY;
    const auto run = [&](const std::string& args, std::string* out) {
        FILE* p = ::popen((bin + " serve " + args + " 2>&1").c_str(), "r");
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
        const int status = ::pclose(p);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    };
    std::string help, bad, missing;
    CHECK(run("--help", &help) == 0);
    CHECK(help.find("usage: raftbook serve") != std::string::npos);
    CHECK(help.find("--cluster") != std::string::npos);
    CHECK(run("--no-such-flag", &bad) == 2);
    CHECK(bad.find("unknown flag '--no-such-flag'") != std::string::npos);
    CHECK(bad.find("usage: raftbook serve") != std::string::npos);
    CHECK(run("--id 4 --cluster 1=127.0.0.1:1 --http 127.0.0.1:2 --data /tmp/x", &missing) == 2);
    CHECK(missing.find("--id 4 is not in --cluster") != std::string::npos);
    CHECK(help.find("--cluster-id ID") != std::string::npos);
    CHECK(help.find("3 stopped after a disk error") != std::string::npos);
    const std::string flags = "--id 1 --cluster 1=127.0.0.1:1 --http 127.0.0.1:2 --data /tmp/raftbook-never-created";
    std::string empty_id, control_id, long_id;
    CHECK(run(flags + " --cluster-id ''", &empty_id) == 2);
    CHECK(empty_id.find("--cluster-id: ") != std::string::npos);
    CHECK(run(flags + " --cluster-id \"$(printf 'a\\tb')\"", &control_id) == 2);
    CHECK(control_id.find("--cluster-id: ") != std::string::npos);
    CHECK(run(flags + " --cluster-id " + std::string(257, 'x'), &long_id) == 2);
    CHECK(long_id.find("--cluster-id: ") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists("/tmp/raftbook-never-created"));
}

TEST_CASE("A 3-node cluster elects a leader, takes writes through any node, and converges", "[serve]") {
    ProcessCluster c(3);
    const int leader = start_cluster(c);

    // A write through each node, followers included (they forward to the leader).
    for (int id = 1; id <= 3; id++) {
        const HttpResponse r = c.put(id, "key" + std::to_string(id), "value of " + std::to_string(id));
        INFO(r.body << r.error);
        REQUIRE(r.status == 200);
    }
    // A read after a write sees it, through any node.
    for (int id = 1; id <= 3; id++) {
        for (int k = 1; k <= 3; k++) {
            const HttpResponse r = c.get(id, "key" + std::to_string(k));
            CHECK(r.status == 200);
            CHECK(r.body == "value of " + std::to_string(k));
        }
    }
    const int follower = other_than(c, leader);
    CHECK(c.del(follower, "key1").status == 200);
    CHECK(c.get(leader, "key1").status == 404);
    CHECK(c.get(follower, "never-written").status == 404);

    REQUIRE(converged(c, 5000ms));
    const nlohmann::json s = c.status(leader);
    CHECK(s["role"] == "leader");
    CHECK(s["id"] == leader);
    CHECK(s["kv_keys"] == 2);
    CHECK(s["log_first_index"] == 1);
    CHECK(s["log_last_index"].get<uint64_t>() >= 5);  // a no-op, three puts, a delete
    REQUIRE(s["members"].size() == 3);
    for (const auto& m : s["members"]) {
        CHECK(m["voter"] == true);
        CHECK(m["peer"].get<std::string>().find("127.0.0.1:") == 0);
        CHECK(m["http"] == c.http_address(m["id"].get<int>()));  // every member learns every member's
        CHECK(m["match_index"].is_number());  // the leader's view of each member
    }
    CHECK(c.status(follower)["members"][0]["match_index"].is_null());  // followers have no view

    const HttpResponse metrics = http_request(c.http_address(leader), "GET", "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.body.find("raftbook_proposals_total 4") != std::string::npos);
    CHECK(metrics.body.find("raftbook_fsync_seconds_count") != std::string::npos);
    CHECK(metrics.body.find("raftbook_peer_sent_bytes_total{peer=\"" + std::to_string(follower) + "\"}") !=
          std::string::npos);
    CHECK(http_request(c.http_address(follower), "GET", "/").status == 200);
}

TEST_CASE("A stopped node restarts from its data dir with its log intact", "[serve]") {
    ProcessCluster c(3);
    const int leader = start_cluster(c);
    for (int i = 0; i < 20; i++) REQUIRE(c.put(leader, "k" + std::to_string(i), std::to_string(i)).status == 200);
    REQUIRE(converged(c, 5000ms));
    const auto last = c.status(leader)["log_last_index"];
    for (int id = 1; id <= 3; id++) CHECK(c.stop(id) == 0);  // SIGTERM: a clean exit
    c.start_all();
    REQUIRE(c.wait_for_leader() != 0);
    REQUIRE(converged(c, 5000ms));
    for (int id = 1; id <= 3; id++) CHECK(c.status(id)["log_last_index"].get<uint64_t>() > last.get<uint64_t>());
    CHECK(c.get(1, "k7").body == "7");
}

TEST_CASE("kill -9 of the leader under write load loses no acknowledged write", "[serve][crash]") {
    ProcessCluster c(3);
    crash_under_load(c, [](int leader) { return std::vector<int>{leader}; });
}

TEST_CASE("kill -9 of a follower under write load loses no acknowledged write", "[serve][crash]") {
    ProcessCluster c(3);
    crash_under_load(c, [&c](int leader) { return std::vector<int>{other_than(c, leader)}; });
}

TEST_CASE("kill -9 of all three nodes under write load: the cluster restarts from disk", "[serve][crash]") {
    ProcessCluster c(3);
    crash_under_load(c, [](int) { return std::vector<int>{1, 2, 3}; });
}

TEST_CASE("With no leader, a client gets 503 and a JSON error once the request times out", "[serve]") {
    ProcessCluster c(3, {"--request-timeout-ms", "1000"});
    c.start(1);  // alone: no majority, no leader
    REQUIRE(c.wait_serving(1));
    const auto t0 = std::chrono::steady_clock::now();
    const HttpResponse r = c.put(1, "x", "1");
    const auto took = std::chrono::steady_clock::now() - t0;
    INFO(c.logs());
    CHECK(r.status == 503);
    const auto body = nlohmann::json::parse(r.body, nullptr, false);
    REQUIRE(body.is_object());
    CHECK(body["error"].get<std::string>().find("no leader") != std::string::npos);
    CHECK(took >= 900ms);
    CHECK(took < 5s);
    CHECK(c.get(1, "x").status == 503);
}

TEST_CASE("A connection a peer dialled in is a route to that peer", "[serve][transport]") {
    // Node 1 is given wrong addresses for nodes 2 and 3, so it can reach node 2 only
    // over the connection node 2 opens to it; with node 3 down, the two need each
    // other for a majority.
    ProcessCluster c(3);
    const std::string wrong = "1=" + c.peer_address(1) + ",2=127.0.0.1:" + std::to_string(free_port()) +
                              ",3=127.0.0.1:" + std::to_string(free_port());
    c.start(1, {"--cluster", wrong});
    c.start(2);
    const int leader = c.wait_for_leader();
    INFO(c.logs());
    REQUIRE(leader != 0);
    CHECK(c.put(1, "through", "accepted").status == 200);
    CHECK(c.get(2, "through").body == "accepted");
}

TEST_CASE("A frame for another node is relayed over the connection to it", "[serve][transport]") {
    ProcessCluster c(1, {"--cluster-id", "raftbook"});  // the id the test's frames carry
    c.start(1);
    REQUIRE(c.wait_for_leader() == 1);
    // A browser-like node 9 with two connections to node 1: the first is node 1's route
    // to node 9, so a frame for node 9 sent over the second arrives over the first.
    TestWebSocket route(c.peer_address(1)), other(c.peer_address(1));
    REQUIRE(route.open());
    REQUIRE(other.open());
    REQUIRE(route.send(hello(9)));
    CHECK(route.read().opcode == 0x2);  // node 1's own Hello
    std::this_thread::sleep_for(200ms);
    REQUIRE(other.send(hello(9)));
    CHECK(other.read().opcode == 0x2);
    Frame f;
    f.cluster = "raftbook";
    f.type = MessageType::Heartbeat;
    f.peer.type = MessageType::Heartbeat;
    f.peer.from = 8;
    f.peer.to = 9;
    f.peer.term = 42;
    REQUIRE(other.send(f));
    const auto in = route.read();
    REQUIRE(in.opcode == 0x2);
    Frame relayed;
    std::string error;
    REQUIRE(decode_frame(in.payload, WireFormat::Cbor, &relayed, &error));
    CHECK(relayed.peer.term == 42);
    CHECK(relayed.peer.to == 9);
}

TEST_CASE("Garbage, malformed and oversized frames on /raft close that connection only", "[serve][transport]") {
    ProcessCluster c(3, {"--cluster-id", "raftbook"});  // the id the test's frames carry
    start_cluster(c);
    const std::string target = c.peer_address(1);

    {  // Not HTTP, not WebSocket: bytes.
        RawSocket raw(target, 3000ms);
        REQUIRE(raw.connected());
        raw.send_all(std::string("\x16\x03\x01\x00\xff garbage \x00\x01\x02\r\n\r\n", 20));
        raw.recv_all();
        CHECK(raw.closed());
    }
    struct Case {
        const char* what;
        std::function<void(TestWebSocket&)> send;
        int code;
        const char* reason;
    };
    const std::vector<Case> cases = {
        {"text that is not JSON", [](TestWebSocket& ws) { ws.send_frame(0x1, "{not json"); }, 1007, "undecodable"},
        {"JSON of the wrong shape",
         [](TestWebSocket& ws) { ws.send_frame(0x1, R"({"v":1,"cluster":"raftbook","type":"Hello","from":"x"})"); },
         1007, "undecodable"},
        {"an unknown message type",
         [](TestWebSocket& ws) { ws.send_frame(0x1, R"({"v":1,"cluster":"raftbook","type":"Gossip","from":7})"); },
         1007, "unknown message type 'Gossip'"},
        {"random binary (not CBOR)",
         [](TestWebSocket& ws) {
             std::mt19937 rng(7);
             std::string junk(300, '\0');
             for (char& ch : junk) ch = char(rng());
             ws.send_frame(0x2, "\xff" + junk);
         },
         1007, "undecodable"},
        {"a frame for another cluster", [](TestWebSocket& ws) { ws.send(hello(7, "other")); }, 1008, "cluster 'other'"},
        {"a first frame that is not Hello",
         [](TestWebSocket& ws) {
             Frame f = hello(7);
             f.type = f.peer.type = MessageType::Heartbeat;
             f.peer.to = 1;
             ws.send(f);
         },
         1008, "first frame must be Hello"},
        {"a frame over the size limit", [](TestWebSocket& ws) { ws.send_header(0x2, kMaxFrameBytes + 1); }, 1009, ""},
        {"garbage after a good Hello",
         [](TestWebSocket& ws) {
             ws.send(hello(7));
             ws.send_frame(0x2, "\x1f\x00garbage");
         },
         1007, "undecodable"},
    };
    for (const Case& k : cases) {
        INFO(k.what);
        TestWebSocket ws(target);
        REQUIRE(ws.open());
        k.send(ws);
        const auto [code, reason] = ws.read_close();
        CHECK(code == k.code);
        CHECK(reason.find(k.reason) != std::string::npos);
    }
    // The node kept serving: its peers are still connected and writes go through it.
    CHECK(c.put(1, "after", "bad input").status == 200);
    CHECK(c.get(1, "after").body == "bad input");
    const nlohmann::json status = c.status(1);
    for (const auto& m : status["members"])
        if (!m.contains("self")) CHECK(m["connected"] == true);
    CHECK(c.log(1).find("closed peer connection") != std::string::npos);
}

TEST_CASE("Bad HTTP requests get 4xx with a JSON error, a huge body gets 413 unread", "[serve][http]") {
    ProcessCluster c(1);
    c.start(1);
    REQUIRE(c.wait_for_leader() == 1);
    const std::string at = c.http_address(1);
    const auto error_of = [](const HttpResponse& r) {
        const auto j = nlohmann::json::parse(r.body, nullptr, false);
        return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : "<no JSON error>";
    };

    HttpResponse r = http_request(at, "PUT", "/kv/", "v");  // (GET /kv/ lists keys)
    CHECK(r.status == 400);
    CHECK(error_of(r).find("missing key") != std::string::npos);
    r = http_request(at, "PUT", "/kv/two%20words", "v");
    CHECK(r.status == 400);
    CHECK(error_of(r).find("spaces") != std::string::npos);
    r = http_request(at, "PUT", "/kv/" + std::string(kMaxKeyBytes + 1, 'k'), "v");
    CHECK(r.status == 400);
    CHECK(error_of(r).find("limit is 1024") != std::string::npos);
    r = http_request(at, "PUT", "/kv/%zz", "v");
    CHECK(r.status == 400);
    r = http_request(at, "POST", "/kv/x", "v");
    CHECK(r.status == 405);
    CHECK(r.headers.find("Allow: GET, PUT, DELETE") != std::string::npos);
    r = http_request(at, "PUT", "/kv/bin", std::string("\xff\xfe", 2));
    CHECK(r.status == 400);
    CHECK(error_of(r).find("UTF-8") != std::string::npos);
    r = http_request(at, "DELETE", "/status");
    CHECK(r.status == 405);
    r = http_request(at, "GET", "/no/such/file");
    CHECK(r.status == 404);
    CHECK(error_of(r).find("no such file") != std::string::npos);

    {  // Not HTTP at all.
        RawSocket s(at);
        s.send_all("HELLO THERE\r\n\r\n");
        const HttpResponse bad = parse_http_response(s.recv_all());
        CHECK(bad.status == 400);
        CHECK(error_of(bad).find("malformed HTTP request") != std::string::npos);
    }
    {  // A value at the limit is fine; one byte more is not.
        CHECK(http_request(at, "PUT", "/kv/big", std::string(kMaxValueBytes, 'v')).status == 200);
        r = http_request(at, "PUT", "/kv/big", std::string(kMaxValueBytes + 1, 'v'));
        CHECK(r.status == 413);
        CHECK(error_of(r).find("limit") != std::string::npos);
    }
    {  // A client announcing 10 GB gets 413 after sending a little of it; the node does
       // not wait for (or buffer) the rest.
        RawSocket s(at);
        const auto t0 = std::chrono::steady_clock::now();
        s.send_all("PUT /kv/huge HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n" + std::string(100000, 'x'));
        const HttpResponse huge = parse_http_response(s.recv_all());
        CHECK(huge.status == 413);
        CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    }
    // Still serving, with keep-alive: two requests on one connection.
    {
        RawSocket s(at);
        s.send_all("PUT /kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1"
                   "GET /kv/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        const std::string both = s.recv_all();
        CHECK(both.find("HTTP/1.1 200") == 0);
        CHECK(both.find("HTTP/1.1 200", 5) != std::string::npos);
        CHECK(both.substr(both.size() - 1) == "1");
    }
}
