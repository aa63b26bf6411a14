// A client, or anyone on the peer port, that opens connections without limit must not
// take a `raftbook serve` node down: real processes on loopback, as in cluster_test.
//
// Two defences are tested. Past --max-clients open HTTP connections, a new one gets
// 503 with a JSON error at once, before its request is read, and the connections already
// open are served as before. And when the process is out of file descriptors, so that
// accept() itself fails (EMFILE), the node logs it once, retries every 100 ms instead
// of spinning on its listen queues, keeps serving the connections it has, and takes new
// ones as soon as descriptors free. The spin is measured, not assumed: the node's CPU
// time from /proc/PID/stat over a second of saturation.
#include <catch2/catch.hpp>

#include <memory>

#include "native/http_client.h"
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

}  // namespace

TEST_CASE("Past --max-clients connections a new client gets 503 and a JSON error, unread; freed, clients are served",
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

TEST_CASE("Out of file descriptors a node neither crashes nor spins, and serves again once they free",
          "[serve][limits]") {
    ProcessCluster cluster(1);
    cluster.limit_open_files(64);
    cluster.start_all();
    if (cluster.wait_for_leader() != 1) FAIL("no leader under a 64-descriptor limit\n" << cluster.logs());
    const pid_t pid = cluster.pid(1);
    CHECK(contains(cluster.log(1),
                   "the open-file limit is 64 (hard limit 64), below the 1088 that --max-clients 1024 needs"));
    HttpClient before("127.0.0.1", port_of(cluster.http_address(1)), 3s);
    REQUIRE(before.request("PUT", "/kv/before", "flood").status == 200);

    // More connections than the node has descriptors, to both of its ports: the kernel
    // completes them into the listen queues, the node takes what it can, then accept()
    // fails with EMFILE on both.
    std::vector<std::unique_ptr<RawSocket>> flood;
    for (int i = 0; i < 100; i++) {
        flood.push_back(std::make_unique<RawSocket>(cluster.http_address(1), 1000ms));
        flood.push_back(std::make_unique<RawSocket>(cluster.peer_address(1), 1000ms));
        REQUIRE(flood[flood.size() - 2]->connected());
        REQUIRE(flood.back()->connected());
    }
    const std::string http_full = "cannot accept HTTP connections: Too many open files";
    const std::string peer_full = "cannot accept peer connections: Too many open files";
    if (!wait_until([&] { return contains(cluster.log(1), http_full) && contains(cluster.log(1), peer_full); }, 5s))
        FAIL("the node never ran out of descriptors\n" << cluster.logs());

    // Saturated: it idles, it keeps serving the connection it had, and it said so once.
    const double cpu_before = cpu_seconds(pid);
    std::this_thread::sleep_for(1s);
    const double busy = cpu_seconds(pid) - cpu_before;
    INFO("CPU seconds in one saturated second: " << busy);
    CHECK(busy < 0.25);
    CHECK(before.request("PUT", "/kv/during", "saturated").status == 200);
    REQUIRE_FALSE(exited(pid));
    const std::string log = cluster.log(1);
    CHECK(count(log, "cannot accept HTTP connections") == 1);
    CHECK(count(log, "cannot accept peer connections") == 1);

    // The flood hangs up: new connections are served again.
    flood.clear();
    CHECK(wait_until([&] { return cluster.put(1, "after", "flood").status == 200; }, 5s));
    CHECK(cluster.get(1, "before").body == "flood");
    CHECK(cluster.get(1, "during").body == "saturated");
    CHECK(cluster.get(1, "after").body == "flood");
    REQUIRE_FALSE(exited(pid));
}
