// A client, or anyone on the peer port, that opens connections without limit must not
// take a `raftbook serve` node down: real processes on loopback, as in cluster_test.
//
// Every connection holds a file descriptor, and so does the node's storage: the hard
// state is saved through a temp file, a WAL rollover opens a segment. So the node splits
// its open-file limit (cmd_serve.cpp): a reserve of its own, a cap on accepted peer
// connections, and the rest for clients, --max-clients lowered to fit. Tested here:
// past the client cap a new client gets 503 at once, unread, and past the refusals in
// flight it is closed unanswered; past the peer cap a connection is closed before any
// handshake; so a node flooded on both ports under a 128-descriptor limit never runs
// out, stays idle (its CPU time measured from /proc/PID/stat), votes through a leader
// change and serves again once the flood ends. A limit too low to run refuses to start,
// and a node whose own descriptors run out anyway (its limit lowered under it) stops
// saying so rather than blaming the disk.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <filesystem>
#include <iterator>
#include <memory>

#include "native/client/http_client.h"
#include "native/node/http_server.h"
#include "native/node/node_host.h"
#include "tests/native/process_cluster.h"

using namespace raftbook;
using namespace raftbook::test;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

size_t count(const std::string& text, const std::string& part) {
    size_t n = 0;
    for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) n++;
    return n;
}

// The value of metric `name` in Prometheus text, or -1 when it is missing.
double metric(const std::string& text, const std::string& name) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.compare(0, name.size() + 1, name + " ") == 0) return std::stod(line.substr(name.size() + 1));
    return -1;
}

uint16_t port_of(const std::string& host_port) {
    return uint16_t(std::stoi(host_port.substr(host_port.rfind(':') + 1)));
}

// User plus system CPU seconds process `pid` has used so far (fields 14 and 15 of
// /proc/PID/stat, counted from after the command name, which may hold spaces).
double cpu_seconds(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; i++) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
}

bool exited(pid_t pid) { return ::waitpid(pid, nullptr, WNOHANG) != 0; }

using Flood = std::vector<std::unique_ptr<RawSocket>>;

// `n` idle connections to `address`, none of which sends anything.
Flood flood(const std::string& address, int n) {
    Flood sockets;
    for (int i = 0; i < n; i++) {
        sockets.push_back(std::make_unique<RawSocket>(address, 1000ms));
        if (!sockets.back()->connected()) throw std::runtime_error(sockets.back()->error());
    }
    return sockets;
}

size_t count_heard(const Flood& sockets, RawSocket::Heard heard) {
    return size_t(std::count_if(sockets.begin(), sockets.end(), [&](const auto& s) { return s->heard() == heard; }));
}

// Starts nodes 1 and 2, waits for one of them to lead, then starts node 3 (with the
// cluster's open-file limit from then on, see `limit`) and waits until it follows that
// leader and has its log. Returns the leader.
int start_with_node3_following(ProcessCluster& cluster, rlim_t limit) {
    cluster.start(1);
    cluster.start(2);
    const int leader = cluster.wait_for_leader();
    if (leader == 0) return 0;
    if (cluster.put(leader, "before", "3 joins").status != 200) return 0;
    cluster.limit_open_files(limit);
    cluster.start(3);
    const bool following = wait_until(
        [&] {
            const nlohmann::json s = cluster.status(3);
            return s.is_object() && s["leader"] == leader &&
                   s["applied_index"] == cluster.status(leader)["commit_index"];
        },
        10s);
    return following ? leader : 0;
}

// How many descriptors process `pid` has open.
size_t open_fds(pid_t pid) {
    const std::filesystem::directory_iterator fds("/proc/" + std::to_string(pid) + "/fd");
    return size_t(std::distance(begin(fds), end(fds)));
}

}  // namespace

TEST_CASE("Past --max-clients connections a new client gets 503 and a JSON error, unread, freed, clients are served",
          "[serve][limits]") {
    ProcessCluster cluster(1, {"--max-clients", "8"});
    cluster.start_all();
    if (cluster.wait_for_leader() != 1) FAIL("no leader\n" << cluster.logs());
    const std::string address = cluster.http_address(1);
    const auto open_connections = [&](HttpClient& via) {
        return metric(via.request("GET", "/metrics").body, "raftbook_http_connections");
    };
    {
        // The status polls have hung up; once the node has let them go, only the
        // connection asking is open.
        HttpClient probe("127.0.0.1", port_of(address), 3s);
        REQUIRE(wait_until([&] { return open_connections(probe) == 1; }, 3s));
    }

    std::vector<std::unique_ptr<HttpClient>> idle;
    for (int i = 0; i < 8; i++) {
        idle.push_back(std::make_unique<HttpClient>("127.0.0.1", port_of(address), 3s));
        REQUIRE(idle.back()->request("GET", "/status").status == 200);
    }

    // The ninth is answered at once: the megabyte of body it announces is never sent,
    // and the node does not wait for it.
    {
        RawSocket ninth(address, 3000ms);
        REQUIRE(ninth.connected());
        REQUIRE(ninth.send_all("PUT /kv/over HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"));
        const HttpResponse refused = parse_http_response(ninth.recv_all());
        CHECK(ninth.closed());
        INFO(refused.headers << "\n" << refused.body << refused.error);
        CHECK(refused.status == 503);
        CHECK(contains(refused.headers, "Connection: close"));
        CHECK(contains(refused.headers, "Retry-After: 1"));
        const nlohmann::json j = nlohmann::json::parse(refused.body, nullptr, false);
        REQUIRE(j.is_object());
        const std::string error = j.value("error", "");
        CHECK(contains(error, "this node has 8 open client connections"));
        CHECK(contains(error, "--max-clients 8"));
        CHECK(contains(error, "retry later"));
    }
    CHECK(http_request(address, "GET", "/status").status == 503);

    // The connections already open are served as before, and the node counts them.
    CHECK(wait_until([&] { return open_connections(*idle[0]) == 8; }, 3s));
    CHECK(idle[7]->request("PUT", "/kv/kept", "open").status == 200);

    // Three hang up: new clients are served again.
    idle.resize(5);
    CHECK(wait_until([&] { return cluster.put(1, "after", "served").status == 200; }, 3s));
    CHECK(cluster.get(1, "after").body == "served");
    CHECK(cluster.get(1, "kept").body == "open");
    CHECK(cluster.get(1, "over").status == 404);  // the refused PUT was never applied
    CHECK(wait_until([&] { return open_connections(*idle[0]) == 5; }, 3s));
}

TEST_CASE("A node flooded on both ports keeps its connections within its descriptor budget, idles and serves again",
          "[serve][limits]") {
    // Under a 128-descriptor limit a 1-node cluster serves 36 clients (128 - 64 for the
    // node itself - 12 peer connections - 16 refusals in flight).
    ProcessCluster cluster(1);
    cluster.limit_open_files(128);
    cluster.start_all();
    if (cluster.wait_for_leader() != 1) FAIL("no leader under a 128-descriptor limit\n" << cluster.logs());
    const pid_t pid = cluster.pid(1);
    HttpClient before("127.0.0.1", port_of(cluster.http_address(1)), 3s);
    REQUIRE(before.request("PUT", "/kv/before", "flood").status == 200);
    const auto open_connections = [&] {
        return metric(before.request("GET", "/metrics").body, "raftbook_http_connections");
    };
    REQUIRE(wait_until([&] { return open_connections() == 1; }, 3s));

    // 100 idle connections to each port, more than the node has descriptors for.
    Flood http = flood(cluster.http_address(1), 100);
    Flood peer = flood(cluster.peer_address(1), 100);
    using Heard = RawSocket::Heard;
    // Clients: 35 more are served (they wait for their request), at least 16 are answered
    // 503 and the rest closed unanswered. Peers: 12 wait in their handshake (it times out
    // after 5 s), the other 88 are closed at once.
    const bool settled = wait_until(
        [&] { return count_heard(http, Heard::Nothing) == 35 && count_heard(peer, Heard::Closed) == 88; }, 3s);
    INFO("clients waiting " << count_heard(http, Heard::Nothing) << ", answered " << count_heard(http, Heard::Bytes)
                            << ", closed " << count_heard(http, Heard::Closed) << "; peers waiting "
                            << count_heard(peer, Heard::Nothing) << ", closed " << count_heard(peer, Heard::Closed)
                            << "\n" << cluster.log(1));
    REQUIRE(settled);
    CHECK(count_heard(peer, Heard::Nothing) == 12);
    CHECK(count_heard(http, Heard::Bytes) >= kMaxClientRefusals);
    CHECK(count_heard(http, Heard::Closed) > 0);
    for (auto& s : http) {
        if (s->heard() != Heard::Bytes) continue;
        const HttpResponse refused = parse_http_response(s->recv_all());
        CHECK(refused.status == 503);
        CHECK(contains(refused.body, "this node has 36 open client connections, its limit (--max-clients 36)"));
        break;
    }
    CHECK(open_connections() <= 36 + kMaxClientRefusals);

    // It never ran out: no accept failed. It idles, keeps serving the connection it had,
    // and said what it refused once each.
    const double cpu_before = cpu_seconds(pid);
    std::this_thread::sleep_for(1s);
    const double busy = cpu_seconds(pid) - cpu_before;
    INFO("CPU seconds in one flooded second: " << busy);
    CHECK(busy < 0.25);
    CHECK(before.request("PUT", "/kv/during", "flooded").status == 200);
    REQUIRE_FALSE(exited(pid));
    const std::string log = cluster.log(1);
    CHECK_FALSE(contains(log, "cannot accept"));
    CHECK_FALSE(contains(log, "Too many open files"));
    CHECK(count(log, "closed a client connection at once, unanswered: 36 are open (--max-clients 36)") == 1);
    CHECK(count(log, "closed a peer connection from 127.0.0.1:") == 1);
    CHECK(contains(log, "12 accepted peer connections are open, the limit"));

    // The flood hangs up: new connections are served again.
    http.clear();
    peer.clear();
    CHECK(wait_until([&] { return cluster.put(1, "after", "flood").status == 200; }, 5s));
    CHECK(cluster.get(1, "before").body == "flood");
    CHECK(cluster.get(1, "during").body == "flooded");
    CHECK(cluster.get(1, "after").body == "flood");
    REQUIRE_FALSE(exited(pid));
}

TEST_CASE("A node flooded on both ports under a small open-file limit votes through a leader change and stays up",
          "[serve][limits]") {
    // Node 3 saves its new term and vote when the leader dies: a temp file and the data
    // dir's descriptor, which connections must not have taken.
    ProcessCluster cluster(3);
    const int leader = start_with_node3_following(cluster, 128);
    if (leader == 0) FAIL("nodes 1 and 2 elected no leader, or node 3 never followed it\n" << cluster.logs());
    const int survivor = 3 - leader;  // the other of nodes 1 and 2
    const pid_t pid = cluster.pid(3);
    CHECK(contains(cluster.log(3), "serving at most 28 client connections, not --max-clients 1024"));

    // The flood holds (at least) 28 client connections, 16 refusals and the peer
    // connections' handshakes open on node 3.
    const size_t fds_before = open_fds(pid);
    Flood http = flood(cluster.http_address(3), 100);
    Flood peer = flood(cluster.peer_address(3), 100);
    REQUIRE(wait_until([&] { return open_fds(pid) >= fds_before + 40; }, 3s));

    cluster.kill9(leader);
    // Without node 3 there is no majority: a new leader, and a committed write, mean
    // node 3 voted and made the entry durable.
    int new_leader = 0;
    const bool elected = wait_until(
        [&] {
            const nlohmann::json s = cluster.status(survivor);
            new_leader = s.is_object() ? s["leader"].get<int>() : 0;
            return new_leader != 0 && new_leader != leader;
        },
        10s);
    if (!elected) FAIL("no new leader after node " << leader << " was killed\n" << cluster.logs());
    CHECK(wait_until([&] { return cluster.put(survivor, "after", "leader change").status == 200; }, 10s));
    REQUIRE_FALSE(exited(pid));
    const std::string log = cluster.log(3);
    CHECK_FALSE(contains(log, "fatal"));
    CHECK_FALSE(contains(log, "Too many open files"));
    CHECK((contains(log, "following leader " + std::to_string(new_leader)) || contains(log, "became leader")));

    // The flood hangs up; node 3 answers clients again, and has the write.
    http.clear();
    peer.clear();
    CHECK(wait_until([&] { return cluster.get(3, "after").body == "leader change"; }, 5s));
    CHECK(cluster.get(3, "before").body == "3 joins");
    REQUIRE_FALSE(exited(pid));
}

TEST_CASE("The open-file limit bounds --max-clients with a log line saying so and one too low refuses to start",
          "[serve][limits]") {
    ProcessCluster cluster(1);
    cluster.limit_open_files(64);
    cluster.start(1);
    CHECK(cluster.wait_exit(1) == 1);
    CHECK(contains(cluster.log(1), "the open-file limit is 64 (hard limit 64), too low to run: a member of a 1-member "
                                   "cluster needs at least 100 (64 for itself, 12 for peer connections, 24 for client "
                                   "connections); raise it (ulimit -n"));

    cluster.limit_open_files(128);
    cluster.start(1);
    REQUIRE(cluster.wait_serving(1));
    CHECK(contains(cluster.log(1),
                   "serving at most 36 client connections, not --max-clients 1024: the open-file limit is 128 (hard "
                   "limit 128), of which 64 are kept for the node itself, 12 for peer connections and 16 for answering "
                   "clients over the cap. To serve 1024, raise it to 1116 (ulimit -n"));
    REQUIRE(cluster.stop(1) == 0);

    // A --max-clients the limit has room for is kept, without a word.
    cluster.start(1, {"--max-clients", "36"});
    REQUIRE(cluster.wait_serving(1));
    CHECK(count(cluster.log(1), "serving at most") == 1);
}

TEST_CASE("A node whose own descriptors run out anyway stops naming the open-file limit and not the disk",
          "[serve][limits]") {
    ProcessCluster cluster(3);
    const int leader = start_with_node3_following(cluster, 0);
    if (leader == 0) FAIL("nodes 1 and 2 elected no leader, or node 3 never followed it\n" << cluster.logs());
    // Lowered under the running node to 3, past what its budget planned for: every
    // descriptor it asks for from now on fails with EMFILE (those it has stay open).
    const rlimit rl{3, 3};
    REQUIRE(::prlimit(cluster.pid(3), RLIMIT_NOFILE, &rl, nullptr) == 0);

    cluster.kill9(leader);  // node 3 saves a new term: hardstate.tmp cannot be opened
    CHECK(cluster.wait_exit(3) == kExitDiskError);
    const std::string log = cluster.log(3);
    INFO(log);
    CHECK(contains(log, "fatal: cannot write to the data dir " + cluster.data_dir(3) + ": cannot open " +
                            cluster.data_dir(3) + "/hardstate.tmp: Too many open files. Stopping; the node is out "
                            "of file descriptors: raise its open-file limit (ulimit -n) and restart the node"));
    CHECK_FALSE(contains(log, "fix the disk"));
}
