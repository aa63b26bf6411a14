// Snapshots in a real cluster of `raftbook serve` processes (Raft §7): the serve flags
// that set when a node snapshots, what /status and /metrics say about snapshots, and a
// follower that was down while the leader compacted its log catching up by snapshot.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/native/process_cluster.h"

using namespace raftbook::test;

namespace {

uint64_t field(const nlohmann::json& status, const char* name) {
    return status.is_object() && status[name].is_number() ? status[name].get<uint64_t>() : 0;
}

// Whether every node has applied the same index, at least `index`, to the same state.
bool same_state(const ProcessCluster& c, uint64_t index) {
    std::string fingerprint;
    uint64_t applied = 0;
    for (int id = 1; id <= c.size(); id++) {
        const nlohmann::json s = c.status(id);
        if (!s.is_object() || field(s, "applied_index") < index) return false;
        if (id > 1 && (field(s, "applied_index") != applied || s["kv_fingerprint"] != fingerprint)) return false;
        applied = field(s, "applied_index");
        fingerprint = s["kv_fingerprint"].get<std::string>();
    }
    return true;
}

}  // namespace

TEST_CASE("serve --snapshot-entries and --catchup-entries: defaults in --help, a bad value exits 2",
          "[serve][snapshot]") {
    std::string help;
    CHECK(run_raftbook("serve --help", &help) == 0);
    CHECK(help.find("--snapshot-entries N") != std::string::npos);
    CHECK(help.find("0: never (default 10000)") != std::string::npos);
    CHECK(help.find("--catchup-entries N") != std::string::npos);
    CHECK(help.find("rather than the snapshot (default 5000)") != std::string::npos);
    const std::string flags = "serve --id 1 --cluster 1=127.0.0.1:1 --http 127.0.0.1:2 --data /tmp/raftbook-never-created";
    const struct {
        const char* args;
        const char* error;
    } bad[] = {
        {"--snapshot-entries -1", "--snapshot-entries must be a whole number from 0 to 1000000000, got '-1'"},
        {"--snapshot-entries 1000000001",
         "--snapshot-entries must be a whole number from 0 to 1000000000, got '1000000001'"},
        {"--snapshot-entries 10k", "--snapshot-entries must be a whole number from 0 to 1000000000, got '10k'"},
        {"--catchup-entries ''", "--catchup-entries must be a whole number from 0 to 1000000000, got ''"},
        {"--catchup-entries", "--catchup-entries needs a value (N)"},
    };
    for (const auto& b : bad) {
        std::string out;
        INFO(b.args);
        CHECK(run_raftbook(flags + " " + b.args, &out) == 2);
        CHECK(out.find(b.error) != std::string::npos);
        CHECK(out.find("usage: raftbook serve") != std::string::npos);
    }
    CHECK_FALSE(std::filesystem::exists("/tmp/raftbook-never-created"));
}

TEST_CASE("/status shows the snapshot's index and term, /metrics the snapshot files written",
          "[serve][snapshot]") {
    ProcessCluster c(1);
    c.start_all();
    REQUIRE(c.wait_for_leader() == 1);
    REQUIRE(c.put(1, "k", "v").status == 200);
    const nlohmann::json s = c.status(1);
    CHECK(s["snapshot_index"] == 0);  // none taken yet
    CHECK(s["snapshot_term"] == 0);
    const HttpResponse metrics = http_request(c.http_address(1), "GET", "/metrics");
    REQUIRE(metrics.status == 200);
    for (const char* line : {"raftbook_snapshot_writes_total 0", "raftbook_snapshot_written_bytes_total 0",
                             "raftbook_snapshot_write_seconds_count 0", "raftbook_wal_segments_deleted_total 0",
                             "raftbook_log_first_index 1"})
        CHECK(metrics.body.find(line) != std::string::npos);
}

// Needs the core's snapshots (issue 10): the leader compacts its log past what the
// follower holds, so the follower can only catch up by InstallSnapshot.
TEST_CASE("A follower down during 50,000 writes comes back, catches up by snapshot, and its state equals the "
          "leader's",
          "[serve][snapshot]") {
    ProcessCluster c(3, {"--snapshot-entries", "2000", "--catchup-entries", "1000"});
    c.start_all();
    const int leader = c.wait_for_leader();
    REQUIRE(leader != 0);
    const int follower = leader == 3 ? 2 : 3;
    REQUIRE(c.put(leader, "before", "the follower went down").status == 200);
    REQUIRE(wait_until([&] { return same_state(c, 2); }, 10000ms));
    const uint64_t follower_last = field(c.status(follower), "log_last_index");
    c.kill9(follower);

    std::string out;
    const int rc = run_raftbook("bench --server " + c.http_address(leader) +
                                    " --clients 32 --writes 50000 --keys 5000 --value-bytes 64 --json",
                                &out);
    INFO(out);
    REQUIRE(rc == 0);
    const nlohmann::json rows = nlohmann::json::parse(out.substr(out.find('[')), nullptr, false);
    REQUIRE(rows.is_array());
    REQUIRE(rows[0]["writes"] == 50000);

    // The leader has snapshotted and discarded the entries the follower needs next.
    const nlohmann::json at_restart = c.status(leader);
    INFO(at_restart.dump());
    CHECK(field(at_restart, "snapshot_index") > follower_last);
    REQUIRE(field(at_restart, "log_first_index") > follower_last + 1);
    const uint64_t commit = field(at_restart, "commit_index");

    c.start(follower);
    INFO(c.logs());
    REQUIRE(wait_until([&] { return same_state(c, commit); }, 60000ms));
    const nlohmann::json s = c.status(follower);
    CHECK(field(s, "snapshot_index") >= field(at_restart, "log_first_index") - 1);
    CHECK(c.get(follower, "before").body == "the follower went down");
    const HttpResponse metrics = http_request(c.http_address(follower), "GET", "/metrics");
    CHECK(metrics.body.find("raftbook_snapshot_writes_total 0") == std::string::npos);
    bool has_snapshot_file = false;
    for (const auto& f : std::filesystem::directory_iterator(c.data_dir(follower)))
        has_snapshot_file |= f.path().filename().string().rfind("snap-", 0) == 0 &&
                             f.path().filename().string().find('.') == std::string::npos;
    CHECK(has_snapshot_file);
}

TEST_CASE("A follower whose data dir was wiped comes back empty and is sent the snapshot", "[serve][snapshot]") {
    ProcessCluster c(3, {"--snapshot-entries", "500", "--catchup-entries", "100"});
    c.start_all();
    const int leader = c.wait_for_leader();
    REQUIRE(leader != 0);
    const int follower = leader == 3 ? 2 : 3;
    std::string out;
    REQUIRE(run_raftbook("bench --server " + c.http_address(leader) +
                             " --clients 16 --writes 3000 --keys 300 --value-bytes 64 --json",
                         &out) == 0);
    REQUIRE(wait_until([&] { return same_state(c, 3000); }, 20000ms));

    c.kill9(follower);
    std::filesystem::remove_all(c.data_dir(follower));
    const uint64_t commit = field(c.status(leader), "commit_index");
    c.start(follower);
    INFO(c.logs());
    // The leader still records what the follower acknowledged before; its answer of an
    // empty log makes the leader send everything again, here as the snapshot.
    REQUIRE(wait_until([&] { return same_state(c, commit); }, 30000ms));
    CHECK(field(c.status(follower), "snapshot_index") > 0);
}
