// Whose data dir is this? A node's term, vote and log are its own history: Raft's
// safety rests on every server keeping its own stable storage. Real `raftbook serve`
// processes (process_cluster.h) show that a node never runs on a history that is not its
// own — another cluster's data dir, another node's — however far ahead that history is,
// that a fresh cluster agrees on one random cluster id, and that the commit index a
// node knew survives a clean restart.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <string>

#include "native/node/node_host.h"
#include "tests/native/process_cluster.h"

using namespace raftbook::test;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Starts every node and waits until they agree on a leader; 0 when they do not.
int start_cluster(ProcessCluster& c) {
    c.start_all();
    return c.wait_for_leader(15000ms);
}

std::string cluster_id_of(const ProcessCluster& c, int id) {
    const nlohmann::json s = c.status(id);
    return s.is_object() && s["cluster_id"].is_string() ? s["cluster_id"].get<std::string>() : "";
}

// Puts key0..key{n-1} through the leader; returns the acknowledged ones.
std::map<std::string, std::string> write_keys(ProcessCluster& c, int leader, const std::string& prefix, int n) {
    std::map<std::string, std::string> acked;
    for (int i = 0; i < n; i++) {
        const std::string key = prefix + std::to_string(i), value = prefix + " value " + std::to_string(i);
        if (c.put(leader, key, value).status == 200) acked[key] = value;
    }
    return acked;
}

uint64_t number(const nlohmann::json& s, const char* field) {
    return s.is_object() && s[field].is_number() ? s[field].get<uint64_t>() : 0;
}

void copy_data_dir(const std::string& from, const std::string& to) {
    std::filesystem::remove_all(to);
    std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

}  // namespace

TEST_CASE("A fresh cluster without --cluster-id agrees on one random cluster id and keeps it", "[serve][identity]") {
    ProcessCluster c(3);
    const int leader = start_cluster(c);
    INFO(c.logs());
    REQUIRE(leader != 0);
    const std::string id = cluster_id_of(c, 1);
    CHECK(id.size() == 16);
    CHECK(id != "raftbook");
    for (int n = 2; n <= 3; n++) CHECK(cluster_id_of(c, n) == id);
    CHECK(c.put(leader, "x", "1").status == 200);

    // Recorded in every data dir: a restart of the whole cluster keeps it.
    for (int n = 1; n <= 3; n++) REQUIRE(c.stop(n) == 0);
    REQUIRE(start_cluster(c) != 0);
    for (int n = 1; n <= 3; n++) CHECK(cluster_id_of(c, n) == id);
    CHECK(c.get(1, "x").body == "1");

    // A second fresh cluster draws another.
    ProcessCluster other(3);
    REQUIRE(start_cluster(other) != 0);
    CHECK(cluster_id_of(other, 1) != id);
}

TEST_CASE("A fresh member that cannot reach the first member learns the cluster id from another", "[serve][identity]") {
    // Node 3 is given a wrong address for node 1 and node 1 one for node 3: node 3 can
    // learn the id only from node 2, which learns it from node 1 and announces it.
    ProcessCluster c(3);
    const std::string nowhere = "127.0.0.1:" + std::to_string(free_port());
    c.start(2);
    c.start(3, {"--cluster", "1=" + nowhere + ",2=" + c.peer_address(2) + ",3=" + c.peer_address(3)});
    REQUIRE(c.wait_serving(2));
    REQUIRE(c.wait_serving(3));
    // Until a member presents the id, a fresh member takes part in nothing and says why.
    CHECK(c.status(2)["cluster_id"].is_null());
    const HttpResponse early = c.put(2, "early", "1");
    CHECK(early.status == 503);
    CHECK(contains(early.body, "has not joined its cluster yet"));

    c.start(1, {"--cluster", "1=" + c.peer_address(1) + ",2=" + c.peer_address(2) + ",3=" + nowhere});
    const bool learned = wait_until([&] { return !cluster_id_of(c, 3).empty(); }, 10000ms);
    INFO(c.logs());
    REQUIRE(learned);
    CHECK(cluster_id_of(c, 3) == cluster_id_of(c, 1));
    CHECK(cluster_id_of(c, 2) == cluster_id_of(c, 1));
    CHECK(contains(c.log(3), "joined cluster '" + cluster_id_of(c, 1) + "'"));
    // Node 2 announced it in a new Hello before any Raft frame: node 3 refused none.
    CHECK_FALSE(contains(c.log(3), "has not learned its cluster id yet"));
    // Nodes 1 and 2 are a majority; node 2 serves.
    CHECK(wait_until([&] { return c.put(2, "late", "ok").status == 200; }, 15000ms));
}

TEST_CASE("A node on another cluster's data dir never joins, however far ahead that dir is", "[serve][identity]") {
    ProcessCluster a(3), b(3);
    const int leader_a = start_cluster(a);
    INFO(a.logs());
    REQUIRE(leader_a != 0);
    const std::map<std::string, std::string> acked = write_keys(a, leader_a, "a", 5);
    REQUIRE(acked.size() == 5);
    const std::string id_a = cluster_id_of(a, 1);

    // Cluster b is ahead: more entries and a later term (leaders killed until it is).
    int leader_b = start_cluster(b);
    REQUIRE(leader_b != 0);
    write_keys(b, leader_b, "b", 30);
    for (int round = 0; round < 6 && number(b.status(3), "term") <= number(a.status(3), "term"); round++) {
        b.kill9(leader_b);
        b.start(leader_b);
        leader_b = b.wait_for_leader(15000ms, {leader_b});
        REQUIRE(leader_b != 0);
        write_keys(b, leader_b, "b more", 1);
    }
    const std::string id_b = cluster_id_of(b, 3);
    const nlohmann::json b3 = b.status(3), a3 = a.status(3);
    REQUIRE(number(b3, "term") > number(a3, "term"));
    REQUIRE(number(b3, "commit_index") > number(a3, "commit_index"));
    REQUIRE(id_b != id_a);
    for (int n = 1; n <= 3; n++) b.stop(n);

    // Node 3 of cluster a restarts on node 3 of cluster b's data dir.
    REQUIRE(a.stop(3) == 0);
    copy_data_dir(b.data_dir(3), a.data_dir(3));

    // (Both cases on one setup: building a cluster that is ahead is the slow part, and a
    // refused start leaves the dir as it was.)
    {
        INFO("told its cluster id, it refuses to start, naming both");
        a.start(3, {"--cluster-id", id_a});
        CHECK(a.wait_exit(3) == 1);
        CHECK(contains(a.log(3), id_a));
        CHECK(contains(a.log(3), id_b));
    }
    {
        INFO("not told, it starts as a member of its dir's cluster, and the others refuse it, naming both");
        a.start(3);
        REQUIRE(a.wait_serving(3));
        CHECK(cluster_id_of(a, 3) == id_b);
        const int leader = a.wait_for_leader(15000ms, {3});
        REQUIRE(leader != 0);
        REQUIRE(wait_until([&] { return contains(a.log(leader), "frame for cluster '" + id_b + "', this is cluster '" + id_a + "'"); },
                           10000ms));
        CHECK(a.status(3)["role"] != "leader");
    }
    // Cluster a keeps serving with the two nodes it has, and lost no acknowledged write.
    const int leader = a.wait_for_leader(15000ms, {3});
    REQUIRE(leader != 0);
    CHECK(a.put(leader, "after", "still serving").status == 200);
    for (const auto& [key, value] : acked) CHECK(a.get(leader, key).body == value);
    for (int n = 1; n <= 2; n++) CHECK(cluster_id_of(a, n) == id_a);
}

TEST_CASE("A node started with another node's data dir refuses to start, naming both ids", "[serve][identity]") {
    ProcessCluster c(3);
    REQUIRE(start_cluster(c) != 0);
    REQUIRE(c.put(1, "x", "1").status == 200);
    REQUIRE(c.stop(2) == 0);
    REQUIRE(c.stop(3) == 0);
    c.start(3, {"--data", c.data_dir(2)});
    CHECK(c.wait_exit(3) == 1);
    const std::string log = c.log(3);
    INFO(log);
    CHECK(contains(log, "node 2"));
    CHECK(contains(log, "3"));
    // Its own dir is untouched and it still starts from it.
    c.start(2);
    c.start(3);
    REQUIRE(c.wait_for_leader(15000ms) != 0);
    CHECK(c.get(3, "x").body == "1");
}

// The commit index rides with every write, and gets a write of its own when it moves
// with nothing else to write, so even a kill -9 in an idle cluster leaves the true
// commit on disk.
TEST_CASE("A node restarted alone has the commit index it had", "[serve][identity]") {
    ProcessCluster c(3);
    const int leader = start_cluster(c);
    INFO(c.logs());
    REQUIRE(leader != 0);
    REQUIRE(write_keys(c, leader, "k", 10).size() == 10);
    const int follower = leader == 3 ? 2 : 3;
    uint64_t commit = 0;
    REQUIRE(wait_until([&] {
        commit = number(c.status(follower), "commit_index");
        return commit != 0 && commit == number(c.status(leader), "commit_index");
    }, 5000ms));
    SECTION("after a clean stop") { REQUIRE(c.stop(follower) == 0); }
    SECTION("after kill -9 in an idle cluster") {
        std::this_thread::sleep_for(300ms);  // its commit-only write: one fdatasync away
        c.kill9(follower);
    }
    for (int n = 1; n <= 3; n++) c.stop(n);
    c.start(follower);  // alone: no quorum, so nothing new can commit
    REQUIRE(c.wait_serving(follower));
    CHECK(number(c.status(follower), "commit_index") == commit);
    CHECK(c.status(follower)["leader"] == 0);
}
