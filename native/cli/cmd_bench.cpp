// `raftbook bench`: durable write throughput and latency of a cluster — issue 3's
// benchmark, without wrk.
//
// For each client count (default 1, 16, 64) it opens that many keep-alive connections
// to one node's HTTP API, all driven by one thread (HttpConnection on one io_context,
// so the load generator takes little of a small machine's CPU from the nodes). Each
// connection sends PUT /kv/KEY with a unique key and a fixed-size value, the next one
// as soon as the last is answered: a closed loop, as wrk runs it. After a warm-up it
// counts the writes answered 200 within the measured seconds, and their latencies
// (p50 and p99 over every sample). Every 200 means a majority of the cluster has the
// write on disk. The node's /metrics before and after a row give the entries one
// fdatasync made durable on that node: the group commit at work.
//
// --writes N ends a row after N acknowledged writes rather than after --seconds (no
// warm-up), and --keys K cycles the writes over K distinct keys rather than a new key
// each: a long run whose state stays the same size (bench/compaction/run.sh).
//
// --start runs a cluster of its own for the measurement (LocalCluster: fresh data on
// free ports, removed afterwards) and sends the load to its leader; without it the
// load goes to --server, e.g. a `raftbook demo` node.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "native/cli/commands.h"
#include "native/client/http_client.h"
#include "native/proof/local_cluster.h"
#include "native/cli/options.h"

namespace raftbook {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr auto kErrorBackoff = std::chrono::milliseconds(100);  // after a connection error

struct Row {
    int clients = 0;
    size_t writes = 0;  // answered 200 within the measured window
    size_t errors = 0;  // other answers and connection errors within it
    double writes_per_second = 0;
    double p50_ms = 0, p99_ms = 0;
    double entries_per_fsync = 0;  // on the target node; 0 when its /metrics was not readable
    std::string first_error;
};

// Nearest-rank percentile of sorted samples.
double percentile(const std::vector<uint32_t>& sorted_us, double p) {
    if (sorted_us.empty()) return 0;
    const size_t rank = size_t(std::max(1.0, std::ceil(p * double(sorted_us.size()))));
    return sorted_us[std::min(rank, sorted_us.size()) - 1] / 1000.0;
}

// A counter from the node's /metrics; -1 when unreadable.
double metric(const std::string& host, uint16_t port, const std::string& name) {
    HttpClient client(host, port, std::chrono::seconds(2));
    const HttpResult r = client.request("GET", "/metrics");
    std::istringstream lines(r.status == 200 ? r.body : "");
    std::string line;
    while (std::getline(lines, line))
        if (line.compare(0, name.size() + 1, name + " ") == 0) return std::atof(line.c_str() + name.size() + 1);
    return -1;
}

// One closed-loop client: a connection that sends the next write as soon as the last
// one is answered, until the window ends.
struct Writer {
    std::unique_ptr<HttpConnection> connection;
    std::unique_ptr<boost::asio::steady_timer> backoff;
    uint64_t sent = 0;
};

// How a row ends and which keys it writes.
struct Load {
    std::chrono::seconds warmup{1}, seconds{10};
    uint64_t writes = 0;  // > 0: the row ends after this many acknowledged writes instead
    uint64_t keys = 0;    // > 0: cycle over this many keys instead of a new key per write
};

Row run_row(const std::string& host, uint16_t port, int clients, const std::string& value, const Load& load,
            const std::string& key_prefix) {
    Row row;
    row.clients = clients;
    const double fsyncs_before = metric(host, port, "raftbook_fsyncs_total");
    const double entries_before = metric(host, port, "raftbook_entries_persisted_total");

    boost::asio::io_context ioc(1);
    std::vector<Writer> writers(static_cast<size_t>(clients));
    std::vector<uint32_t> latencies_us;
    const auto began = Clock::now();
    const auto measure_from = load.writes ? began : began + load.warmup;
    const auto measure_to = load.writes ? Clock::time_point::max() : measure_from + load.seconds;
    uint64_t issued = 0;  // writes sent and not failed (with load.writes)
    std::function<void(size_t)> send = [&](size_t i) {
        const auto start = Clock::now();
        if (start >= measure_to || (load.writes && issued >= load.writes)) return;
        Writer& w = writers[i];
        const std::string key = load.keys ? key_prefix + std::to_string(issued % load.keys)
                                          : key_prefix + std::to_string(clients) + "-" + std::to_string(i) + "-" +
                                                std::to_string(w.sent++);
        issued++;
        w.connection->request("PUT", kv_target(key), value, [&, i, start](HttpResult r) {
            const auto end = Clock::now();
            const bool counted = end >= measure_from && end <= measure_to;
            if (r.status == 200) {
                if (counted)
                    latencies_us.push_back(
                        uint32_t(std::chrono::duration_cast<std::chrono::microseconds>(end - start).count()));
                send(i);
                return;
            }
            if (counted) row.errors++;
            issued--;  // sent again
            if (row.first_error.empty())
                row.first_error = r.ok() ? "HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 200) : r.error;
            writers[i].backoff->expires_after(kErrorBackoff);  // a node that refuses must not be hammered
            writers[i].backoff->async_wait([&, i](const boost::system::error_code&) { send(i); });
        });
    };
    for (size_t i = 0; i < writers.size(); i++) {
        writers[i].connection = std::make_unique<HttpConnection>(ioc, host, port, kRequestTimeout);
        writers[i].backoff = std::make_unique<boost::asio::steady_timer>(ioc);
        send(i);
    }
    ioc.run();

    std::sort(latencies_us.begin(), latencies_us.end());
    row.writes = latencies_us.size();
    const double elapsed = load.writes ? std::chrono::duration<double>(Clock::now() - began).count()
                                       : double(load.seconds.count());
    row.writes_per_second = double(row.writes) / elapsed;
    row.p50_ms = percentile(latencies_us, 0.50);
    row.p99_ms = percentile(latencies_us, 0.99);
    const double fsyncs = metric(host, port, "raftbook_fsyncs_total") - fsyncs_before;
    const double entries = metric(host, port, "raftbook_entries_persisted_total") - entries_before;
    if (fsyncs_before >= 0 && entries_before >= 0 && fsyncs > 0) row.entries_per_fsync = entries / fsyncs;
    return row;
}

// Parses "1,16,64".
bool parse_clients(const std::string& text, std::vector<int>* out) {
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        const long n = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || n < 1 || n > 1000) return false;
        out->push_back(int(n));
    }
    return !out->empty();
}

// "node 1 of 3, the leader" / "node 2 of 3, a follower: it forwards ...".
std::string describe_target(const nlohmann::json& status) {
    const std::string node = "node " + std::to_string(status.value("id", 0ull)) + " of " +
                             std::to_string(status.value("members", nlohmann::json::array()).size());
    const std::string role = status.value("role", "");
    if (role == "leader") return node + ", the leader";
    return node + ", a " + role + ": it forwards each write to the leader (node " +
           std::to_string(status.value("leader", 0ull)) + "), one more hop";
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    Options opts("bench",
                 "Measures durable writes: for each client count, that many keep-alive connections\n"
                 "send PUT /kv/KEY (unique keys, fixed-size values) to one node back to back; prints\n"
                 "writes/s, p50 and p99 latency as a markdown table. Every write counted was\n"
                 "acknowledged, so a majority had it on disk. Either drive a running cluster\n"
                 "(--server, e.g. a 'raftbook demo' node) or let --start run one for the benchmark.");
    opts.flag("server", "HOST:PORT", "the node to send the writes to (its --http address)",
              "127.0.0.1:" + std::to_string(kDemoPort));
    opts.flag_switch("start", "start a fresh local cluster on free ports, send the load to its leader, stop it after");
    opts.flag("nodes", "N", "cluster size with --start", "3");
    opts.flag("clients", "N,N,...", "concurrent connections, one table row each", "1,16,64");
    opts.flag("seconds", "S", "measured seconds per row", "10");
    opts.flag("warmup", "S", "seconds of load before each row's measurement", "1");
    opts.flag("value-bytes", "N", "size of each value", "64");
    opts.flag("writes", "N", "end each row after N acknowledged writes instead of --seconds (no warm-up)");
    opts.flag("keys", "N", "cycle the writes over N distinct keys instead of a new key each");
    opts.flag_switch("json", "print the rows as a JSON array instead of a table");
    int exit_code = 0;
    if (!opts.parse(argc, argv, &exit_code)) return exit_code;
    uint64_t nodes = 0, seconds = 0, warmup = 0, value_bytes = 0;
    Load load;
    if (!opts.get_uint("nodes", 1, 9, &nodes, &exit_code) || !opts.get_uint("seconds", 1, 3600, &seconds, &exit_code) ||
        !opts.get_uint("warmup", 0, 3600, &warmup, &exit_code) ||
        !opts.get_uint("value-bytes", 1, 64 * 1024, &value_bytes, &exit_code) ||
        (opts.given("writes") && !opts.get_uint("writes", 1, UINT64_MAX, &load.writes, &exit_code)) ||
        (opts.given("keys") && !opts.get_uint("keys", 1, UINT64_MAX, &load.keys, &exit_code)))
        return exit_code;
    load.seconds = std::chrono::seconds(seconds);
    load.warmup = std::chrono::seconds(warmup);
    std::vector<int> clients;
    if (!parse_clients(opts.get("clients"), &clients))
        return opts.usage_error("--clients must be a comma-separated list of counts from 1 to 1000, got '" +
                                opts.get("clients") + "'");
    std::string host, error;
    uint16_t port = 0;
    if (!parse_host_port(opts.get("server"), &host, &port, &error)) return opts.usage_error("--server: " + error);
    if (host.empty()) host = "127.0.0.1";

    std::unique_ptr<LocalCluster> cluster;
    std::vector<LocalNodePorts> ports;
    std::string root;
    if (opts.given("start")) {
        char tmpl[] = "/tmp/raftbook-bench-XXXXXX";
        if (!::mkdtemp(tmpl)) {
            std::perror("raftbook bench: cannot create a data directory under /tmp");
            return 1;
        }
        root = tmpl;
        const std::vector<uint16_t> free = free_loopback_ports(2 * nodes);
        for (size_t i = 0; i < nodes; i++) ports.push_back({free[2 * i], free[2 * i + 1]});
        cluster = std::make_unique<LocalCluster>(ports, root);
        for (int id = 1; id <= cluster->size() && error.empty(); id++) cluster->start(id, &error);
        int leader = 0;
        const auto deadline = Clock::now() + std::chrono::seconds(30);
        while (error.empty() && !leader && Clock::now() < deadline) {
            for (const auto& [id, how] : cluster->reap())
                error = "node " + std::to_string(id) + " " + how + " while starting; its log ends with:\n" +
                        cluster->log_tail(id);
            if (error.empty()) leader = cluster->agreed_leader(std::chrono::milliseconds(300));
            if (!leader) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (error.empty() && !leader) error = "the cluster elected no leader within 30 s";
        if (!error.empty()) {
            std::fprintf(stderr, "raftbook bench: %s\n", error.c_str());
            cluster->stop_all();
            std::error_code ignored;
            std::filesystem::remove_all(root, ignored);
            return 1;
        }
        host = "127.0.0.1";
        port = ports[size_t(leader - 1)].http;
    }

    HttpClient probe(host, port, std::chrono::seconds(5));
    const HttpResult status = probe.request("GET", "/status");
    const nlohmann::json s = nlohmann::json::parse(status.body, nullptr, false);
    int rc = 0;
    if (!status.ok() || status.status != 200 || !s.is_object()) {
        std::fprintf(stderr, "raftbook bench: %s\n",
                     !status.ok() ? (status.error + " — is a cluster running? Start one with 'raftbook demo', "
                                                    "or pass --start").c_str()
                                  : (probe.address() + " did not answer /status; is it a raftbook node's --http address?")
                                        .c_str());
        rc = 1;
    } else {
        if (!opts.given("json")) {
            std::printf("raftbook bench: durable writes (PUT /kv/KEY, %llu-byte values, unique keys), %llu s per row\n"
                        "after %llu s of warm-up, to %s: %s\n\n",
                        (unsigned long long)value_bytes, (unsigned long long)seconds, (unsigned long long)warmup,
                        probe.address().c_str(), describe_target(s).c_str());
            std::printf("| clients | writes/s | p50 ms | p99 ms | errors | entries/fsync |\n");
            std::printf("|---|---|---|---|---|---|\n");
            std::fflush(stdout);
        }
        const std::string value(value_bytes, 'v');
        // --keys: the same keys in every run, so that runs one after the other overwrite them.
        const std::string key_prefix = load.keys ? "bench-key-" : "bench-" + std::to_string(::getpid()) + "-";
        nlohmann::json rows = nlohmann::json::array();
        std::string first_error;
        for (int c : clients) {
            const Row r = run_row(host, port, c, value, load, key_prefix);
            if (first_error.empty()) first_error = r.first_error;
            if (r.writes == 0) rc = 1;
            rows.push_back({{"clients", r.clients}, {"writes", r.writes}, {"writes_per_second", r.writes_per_second},
                            {"p50_ms", r.p50_ms}, {"p99_ms", r.p99_ms}, {"errors", r.errors},
                            {"entries_per_fsync", r.entries_per_fsync}});
            if (!opts.given("json")) {
                std::printf("| %d | %.0f | %.2f | %.2f | %zu | %.1f |\n", r.clients, r.writes_per_second, r.p50_ms,
                            r.p99_ms, r.errors, r.entries_per_fsync);
                std::fflush(stdout);
            }
        }
        if (opts.given("json")) std::printf("%s\n", rows.dump().c_str());
        if (!first_error.empty()) std::fprintf(stderr, "raftbook bench: first error: %s\n", first_error.c_str());
    }
    if (cluster) {
        cluster->stop_all();
        std::error_code ignored;
        std::filesystem::remove_all(root, ignored);
    }
    return rc;
}

}  // namespace raftbook
