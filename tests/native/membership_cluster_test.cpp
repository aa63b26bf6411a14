// Membership changes in a real cluster of `raftbook serve` processes (Raft thesis,
// chapter 4): growing under write load with `serve --join`, removing the leader itself,
// replacing a dead node, handing leadership to each voter in turn, restarting members
// with neither --cluster nor --join, and refusing a node that was removed.
//
// Every test runs a write and read load against the members while the configuration
// changes, records it as a history, and ends with a read of every key; the whole
// history must be linearizable (core/lincheck), so no acknowledged write is lost.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/lincheck/lincheck.h"
#include "tests/native/process_cluster.h"

using namespace raftbook;
using namespace raftbook::test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Clients writing and reading three shared keys through the nodes in `targets`,
// recording every operation as a history for lincheck. A write answered 200 is
// acknowledged; one that got no answer may or may not have taken effect (info); one
// whose connection was refused never reached a node (fail).
class Load {
public:
    Load(const ProcessCluster& c, std::vector<int> targets, int clients = 4) : c_(c), targets_(std::move(targets)) {
        for (int p = 0; p < clients; p++) threads_.emplace_back([this, p] { run(p); });
    }
    ~Load() { stop(); }
    void set_targets(std::vector<int> targets) {
        std::lock_guard<std::mutex> lock(mu_);
        targets_ = std::move(targets);
    }
    void stop() {
        stop_ = true;
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    // After stop(): a read of every key through `node`, then the verdict.
    LincheckResult check(int node) {
        for (int k = 0; k < kKeys; k++) op(100, node, false, "k" + std::to_string(k), "");
        return check_linearizable(events_);
    }
    size_t acknowledged() const { return acknowledged_; }
    size_t operations() const { return events_.size() / 2; }

private:
    static constexpr int kKeys = 3;

    void run(int p) {
        std::mt19937 rng(uint32_t(p + 1));
        for (int n = 0; !stop_; n++) {
            int node;
            {
                std::lock_guard<std::mutex> lock(mu_);
                node = targets_[rng() % targets_.size()];
            }
            op(p, node, rng() % 3 != 0, "k" + std::to_string(rng() % kKeys),
               std::to_string(p) + "-" + std::to_string(n));
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

    void op(int p, int node, bool write, const std::string& key, const std::string& value) {
        HistoryEvent invoke;
        invoke.process = p;
        invoke.f = write ? HistoryEvent::Fn::Write : HistoryEvent::Fn::Read;
        invoke.key = key;
        if (write) invoke.value = value;
        invoke.time = now_ns();
        const HttpResponse r = write ? http_request(c_.http_address(node), "PUT", "/kv/" + key, value, 4000ms)
                                     : http_request(c_.http_address(node), "GET", "/kv/" + key, "", 4000ms);
        HistoryEvent done = invoke;
        done.time = now_ns();
        if (write) {
            done.type = r.status == 200                           ? HistoryEvent::Type::Ok
                        : contains(r.error, "Connection refused") ? HistoryEvent::Type::Fail
                                                                  : HistoryEvent::Type::Info;
            if (r.status == 200) acknowledged_++;
        } else {
            done.type = r.status == 200 || r.status == 404 ? HistoryEvent::Type::Ok : HistoryEvent::Type::Fail;
            done.value = r.status == 200 ? std::optional<std::string>(r.body) : std::nullopt;
        }
        std::lock_guard<std::mutex> lock(mu_);
        events_.push_back(invoke);
        events_.push_back(done);
    }

    const ProcessCluster& c_;
    std::mutex mu_;
    std::vector<int> targets_;
    std::vector<HistoryEvent> events_;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> acknowledged_{0};
    std::vector<std::thread> threads_;
};

nlohmann::json members_of(const ProcessCluster& c, int node) {
    const HttpResponse r = http_request(c.http_address(node), "GET", "/members", "", 2000ms);
    return r.status == 200 ? nlohmann::json::parse(r.body, nullptr, false) : nlohmann::json();
}

// The voter ids node `node` sees, sorted ("" when it does not answer).
std::string voters(const ProcessCluster& c, int node) {
    const nlohmann::json m = members_of(c, node);
    if (!m.is_object()) return "";
    std::string out;
    for (const auto& member : m["members"])
        if (member["voter"] == true) out += (out.empty() ? "" : ",") + std::to_string(member["id"].get<int>());
    return out;
}

HttpResponse post(const ProcessCluster& c, int node, const std::string& target, const nlohmann::json& body) {
    return http_request(c.http_address(node), "POST", target, body.is_null() ? "" : body.dump(), 5000ms);
}

// A membership change, asked again while the leader says to retry (503).
HttpResponse change(const ProcessCluster& c, int node, const std::string& method, const std::string& target,
                    const nlohmann::json& body = nullptr) {
    HttpResponse r;
    wait_until(
        [&] {
            r = http_request(c.http_address(node), method, target, body.is_null() ? "" : body.dump(), 5000ms);
            return r.status != 503;
        },
        10000ms);
    return r;
}

// The leader among `nodes` that they all agree on (0 when none within 10 s).
int leader_among(const ProcessCluster& c, const std::vector<int>& nodes) {
    int leader = 0;
    wait_until(
        [&] {
            leader = 0;
            for (int id : nodes) {
                const nlohmann::json s = c.status(id);
                if (!s.is_object() || s["leader"] == 0 || (leader != 0 && s["leader"] != leader)) return false;
                leader = s["leader"].get<int>();
            }
            return std::find(nodes.begin(), nodes.end(), leader) != nodes.end() &&
                   c.status(leader).value("role", "") == "leader";
        },
        10000ms);
    return leader;
}

void check_history(Load& load, int node, const ProcessCluster& c) {
    load.stop();
    const LincheckResult result = load.check(node);
    INFO(c.logs());
    CHECK(load.acknowledged() > 20);
    CHECK(result.verdict == LincheckResult::Verdict::Linearizable);
}

}  // namespace

TEST_CASE("Growing 3 -> 5 under write load: two nodes join with --join and are promoted", "[serve][membership]") {
    ProcessCluster c(3);
    c.start_all();
    REQUIRE(c.wait_for_leader() != 0);
    Load load(c, {1, 2, 3});
    const int four = c.add_node(), five = c.add_node();
    c.join(four, 1);
    c.join(five, 2);
    const bool grown = wait_until([&] { return voters(c, 1) == "1,2,3,4,5" && voters(c, five) == "1,2,3,4,5"; },
                                  15000ms);
    INFO(c.logs());
    REQUIRE(grown);
    load.set_targets({1, 2, 3, 4, 5});
    std::this_thread::sleep_for(500ms);
    // Every member learned every member's addresses from the configuration.
    const nlohmann::json seen_by_four = members_of(c, four);  // kept: a loop over a temporary's part would dangle
    REQUIRE(seen_by_four["members"].size() == 5);
    for (const auto& m : seen_by_four["members"]) CHECK(m["http"] == c.http_address(m["id"].get<int>()));
    CHECK(contains(c.log(four), "added to the cluster as a learner"));
    check_history(load, five, c);
}

TEST_CASE("A leader that removes itself steps down once the change commits, and writes go on", "[serve][membership]") {
    ProcessCluster c(3);
    c.start_all();
    const int old_leader = c.wait_for_leader();
    REQUIRE(old_leader != 0);
    std::vector<int> rest;
    for (int id = 1; id <= 3; id++)
        if (id != old_leader) rest.push_back(id);
    Load load(c, rest);
    std::this_thread::sleep_for(300ms);
    const HttpResponse removed = change(c, rest[0], "DELETE", "/members/" + std::to_string(old_leader));
    INFO(removed.body);
    REQUIRE(removed.status == 200);
    const int leader = leader_among(c, rest);
    INFO(c.logs());
    REQUIRE(leader != 0);
    CHECK(leader != old_leader);
    CHECK(voters(c, leader) == std::to_string(rest[0]) + "," + std::to_string(rest[1]));
    CHECK(members_of(c, leader)["removed"] == nlohmann::json::array({old_leader}));
    const size_t before = load.acknowledged();
    CHECK(wait_until([&] { return load.acknowledged() > before + 20; }, 5000ms));  // writes go on
    c.kill9(old_leader);
    check_history(load, leader, c);
}

TEST_CASE("Replacing a dead node: kill -9, remove it, add a new one, and the removed node is refused when it returns",
          "[serve][membership]") {
    ProcessCluster c(3);
    c.start_all();
    const int leader = c.wait_for_leader();
    REQUIRE(leader != 0);
    const int dead = leader == 3 ? 2 : 3;
    std::vector<int> live;
    for (int id = 1; id <= 3; id++)
        if (id != dead) live.push_back(id);
    Load load(c, live);
    c.kill9(dead);
    REQUIRE(change(c, live[0], "DELETE", "/members/" + std::to_string(dead)).status == 200);
    const int fresh = c.add_node();
    c.join(fresh, live[1]);
    const std::string expected = std::to_string(live[0]) + "," + std::to_string(live[1]) + "," + std::to_string(fresh);
    const bool replaced = wait_until([&] { return voters(c, live[0]) == expected; }, 15000ms);
    INFO(c.logs());
    REQUIRE(replaced);
    load.set_targets({live[0], live[1], fresh});
    std::this_thread::sleep_for(300ms);

    // The removed node comes back on its old data dir: refused, and it says so.
    c.start(dead);
    const bool told = wait_until([&] { return contains(c.log(dead), "this node was removed from the cluster"); }, 10000ms);
    CHECK(told);
    CHECK(contains(c.log(dead), "start it with a new --id and --join"));
    const HttpResponse put = c.put(dead, "x", "1");
    CHECK(put.status == 503);
    CHECK(contains(put.body, "was removed from the cluster"));
    c.kill9(dead);
    check_history(load, fresh, c);
    // Its id is never reused: a fresh node joining under it is refused before it starts.
    c.kill9(dead);
    std::string out;
    const int status = run_raftbook("serve --id " + std::to_string(dead) + " --listen " + c.peer_address(dead) +
                                        " --http " + c.http_address(dead) + " --data " + c.data_dir(dead) +
                                        "-again --join " + c.http_address(live[0]),
                                    &out);
    CHECK(status == 1);
    CHECK(contains(out, "was removed from this cluster and ids are never reused"));
}

TEST_CASE("Leadership transfer to each voter in turn, under write load", "[serve][membership]") {
    ProcessCluster c(3);
    c.start_all();
    int leader = c.wait_for_leader();
    REQUIRE(leader != 0);
    Load load(c, {1, 2, 3});
    for (int round = 0; round < 3; round++) {
        const int target = leader % 3 + 1;
        std::string out;
        // Through the CLI, and through a node that is not the leader (forwarded).
        const int status = run_raftbook("transfer-leader " + std::to_string(target) + " --server " +
                                            c.http_address(target) + " --json",
                                        &out);
        INFO(out);
        REQUIRE(status == 0);
        CHECK(nlohmann::json::parse(out)["leader"] == target);
        leader = c.wait_for_leader();
        CHECK(leader == target);
        const size_t before = load.acknowledged();
        CHECK(wait_until([&] { return load.acknowledged() > before + 10; }, 5000ms));  // writes go on
    }
    // A transfer to a node that is not a voter is refused for good (409).
    const HttpResponse refused = post(c, leader, "/transfer-leader", {{"id", 7}});
    CHECK(refused.status == 409);
    CHECK(contains(refused.body, "not a voter"));
    check_history(load, leader, c);
}

TEST_CASE("Members restart with neither --cluster nor --join: the data dir remembers the configuration",
          "[serve][membership]") {
    ProcessCluster c(3);
    c.start_all();
    REQUIRE(c.wait_for_leader() != 0);
    const int four = c.add_node();
    c.join(four, 2, {"--learner"});
    REQUIRE(wait_until([&] { return members_of(c, 1)["members"].size() == 4; }, 10000ms));
    REQUIRE(c.put(1, "before", "1").status == 200);
    CHECK(voters(c, 1) == "1,2,3");  // --learner: it stays one
    c.stop(four);
    c.stop(1);
    c.start_bare(1);
    c.start_bare(four, {"--learner"});
    REQUIRE(c.wait_for_leader() != 0);
    REQUIRE(c.put(2, "after", "2").status == 200);
    const bool caught_up = wait_until(
        [&] {
            const nlohmann::json learner = c.status(four), member = c.status(2);
            return learner.is_object() && member.is_object() &&
                   learner.value("applied_index", 0) >= member.value("commit_index", 1);
        },
        10000ms);
    INFO(c.logs());
    CHECK(caught_up);
    CHECK(members_of(c, four)["members"].size() == 4);
    CHECK(contains(c.log(1), "serving peers"));
    // A fresh data dir with neither flag does not start, and says what to pass.
    std::string out;
    CHECK(run_raftbook("serve --id 9 --listen 127.0.0.1:1 --http 127.0.0.1:2 --data " + c.data_dir(1) + "-none", &out) == 1);
    CHECK(contains(out, "records no configuration: start a new cluster with --cluster"));
}

TEST_CASE("serve --join: clear errors for an unreachable target and an id already a member", "[serve][membership]") {
    ProcessCluster c(1);
    c.start_all();
    REQUIRE(c.wait_for_leader() != 0);
    std::string out;
    const std::string nowhere = "127.0.0.1:" + std::to_string(free_port());
    CHECK(run_raftbook("serve --id 5 --listen 127.0.0.1:" + std::to_string(free_port()) + " --http 127.0.0.1:" +
                           std::to_string(free_port()) + " --data " + c.data_dir(1) + "-five --join " + nowhere,
                       &out) == 1);
    CHECK(contains(out, "cannot reach --join " + nowhere));
    out.clear();
    CHECK(run_raftbook("serve --id 1 --listen 127.0.0.1:" + std::to_string(free_port()) + " --http 127.0.0.1:" +
                           std::to_string(free_port()) + " --data " + c.data_dir(1) + "-one --join " + c.http_address(1),
                       &out) == 1);
    CHECK(contains(out, "node 1 is already a member of the cluster"));
}

TEST_CASE("raftbook members: list, add, promote and remove through the CLI", "[serve][membership][cli]") {
    ProcessCluster c(3);
    c.start_all();
    REQUIRE(c.wait_for_leader() != 0);
    // Node 4 need not run: a learner counts toward no majority, and a voter 4 of a
    // short log is within the promotion bound.
    const int four = c.add_node();
    std::string out;
    const std::string server = " --server " + c.http_address(2);
    INFO(out);
    REQUIRE(run_raftbook("members add 4 " + c.peer_address(four) + " --http " + c.http_address(four) + " --learner" + server, &out) == 0);
    CHECK(contains(out, "added node 4 as a learner"));
    out.clear();
    REQUIRE(run_raftbook("members list" + server, &out) == 0);
    CHECK(contains(out, "learner"));
    CHECK(contains(out, c.http_address(four)));
    out.clear();
    bool promoted = wait_until([&] {
        out.clear();
        return run_raftbook("members promote 4" + server, &out) == 0;
    }, 10000ms);
    INFO(out << c.logs());
    REQUIRE(promoted);
    CHECK(voters(c, 1) == "1,2,3,4");
    out.clear();
    REQUIRE(run_raftbook("members remove 4 --json" + server, &out) == 0);
    CHECK(nlohmann::json::parse(out)["revision"].get<int>() > 0);
    out.clear();
    REQUIRE(run_raftbook("members --json" + server, &out) == 0);
    CHECK(nlohmann::json::parse(out)["removed"] == nlohmann::json::array({4}));
    out.clear();
    CHECK(run_raftbook("members remove 0" + server, &out) == 2);
    CHECK(run_raftbook("members --help", &out) == 0);
    CHECK(contains(out, "members add ID PEER_ADDR"));
}
