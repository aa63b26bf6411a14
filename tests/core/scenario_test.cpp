// The story's scenarios, as the playground runs them: each script's own `expect`
// lines are the assertions. Then the fault-switch variants, which must turn red.
#include "sim_support.h"

using namespace raftbook;
using namespace raftbook::testing;

TEST_CASE("scenario: a follower holding 1-7 catches up to the leader's 1-10") {
    auto sim = run_script(read_scenario_file("follower_behind.txt"));
    CHECK(sim->checker().ok());
}

TEST_CASE("scenario: a follower's conflicting entry 7 is overwritten and 8-10 appended") {
    auto sim = run_script(read_scenario_file("conflict_overwritten.txt"));
    CHECK(sim->node(3)->log().at(7).term == 3);
}

TEST_CASE("scenario: without the prevLog check the checker reports Log Matching") {
    auto sim = run_script(read_scenario_file("missing_prevlog_check.txt"));
    REQUIRE_FALSE(sim->checker().ok());
    CHECK(sim->checker().violations().front().rule == "Log Matching");
}

TEST_CASE("scenario: the same lesson with the prevLog check on stays safe") {
    std::string text = read_scenario_file("missing_prevlog_check.txt");
    text.replace(text.find("fault 3 skip_prev_log_check"), 27, "fault 3 skip_prev_log_check off");
    const Scenario s = parse_or_fail(text);
    auto sim = make_simulator(s);
    const ScenarioResult r = run_scenario(*sim, s);
    CHECK_FALSE(r.ok);  // its `expect violation` no longer holds...
    CHECK(sim->checker().ok());  // ...because nothing was violated
    CHECK(sim->node(3)->log().at(10).term == 3);
}

TEST_CASE("scenario: leader crash and re-election") { run_script(read_scenario_file("leader_crash.txt")); }

TEST_CASE("scenario: a minority partition cannot commit") { run_script(read_scenario_file("minority_partition.txt")); }

TEST_CASE("Figure 8: an old-term entry on a majority is not committed by counting") {
    auto sim = run_script(read_scenario_file("figure8.txt"));
    CHECK(sim->checker().ok());
}

TEST_CASE("Figure 8: the old-term entry is committed once an entry of the current term is") {
    // The first half of the lesson, then the leader keeps going instead of crashing.
    std::string text = read_scenario_file("figure8.txt");
    text = text.substr(0, text.find("partition 1 | 2 | 3,4,5"));
    text += "heal\nwait commit 1 >= 3 within 2s\nexpect log 1 terms 1,2,4\nexpect safe\n";
    auto sim = run_script(text);
    CHECK(sim->checker().committed().at(1).term == 2);  // entry 2 committed, with entry 3
}

TEST_CASE("Figure 8 with commit_old_term_by_count: the checker catches the lost entry, in every seed") {
    for (int seed = 1; seed <= 20; seed++) {
        for (bool fault : {true, false}) {
            std::string text = read_scenario_file("figure8.txt");
            text.replace(text.find("seed 8"), 6, "seed " + std::to_string(seed));
            if (fault) text.replace(text.find("partition 1,2,3"), 0, "fault 1 commit_old_term_by_count\n");
            const Scenario s = parse_or_fail(text);
            auto sim = make_simulator(s);
            for (const ScenarioAction& a : s.actions) run_action(*sim, a);  // with the fault, expects fail
            INFO("seed " << seed << (fault ? " with" : " without") << " the fault");
            REQUIRE(sim->checker().ok() == !fault);
            if (!fault) continue;
            // Node 5 is elected without the entry node 1 committed: caught at the election.
            const Violation& v = sim->checker().violations().front();
            CHECK(v.rule == "Leader Completeness");
            CHECK(v.detail.find("node 5") != std::string::npos);
            CHECK(v.detail.find("(2, term 2") != std::string::npos);
        }
    }
}

TEST_CASE("scripts: errors name the line") {
    Scenario s;
    std::string error;
    CHECK_FALSE(parse_scenario("nodes 3\npropose set x 1\nnodes 5\n", &s, &error));
    CHECK(error.find("line 3") != std::string::npos);
    CHECK_FALSE(parse_scenario("nodes 12\n", &s, &error));
    CHECK(error.find("line 1") != std::string::npos);
    CHECK_FALSE(parse_scenario("preload 2 terms 1,x\n", &s, &error));
    REQUIRE(parse_scenario("nodes 3\nfrobnicate 2\n", &s, &error));
    auto sim = make_simulator(s);
    const ScenarioResult r = run_scenario(*sim, s);
    CHECK_FALSE(r.ok);
    CHECK(r.failed_line == 2);
    CHECK(r.message.find("unknown action") != std::string::npos);
}

TEST_CASE("scripts: bad arguments fail the action, never crash") {
    const Scenario s = parse_or_fail("nodes 3\n");
    auto sim = make_simulator(s);
    for (const char* line : {"crash 0", "crash 4", "crash x", "partition 1,2 | 2,3", "cut 1", "advance -5s",
                             "expect commit 9 >= 1", "expect commit 1 ~ 2", "propose frob x", "fault 1 no_such_rule",
                             "net drop=2", "net latency=30..10", "wait", "expect", "expect log 1 = a..b",
                             "net disk_slow=0.1", "net disk_slow=0.1@80..20", "settle 5s", "settle within", "read",
                             "read 9 x", "read 1 two words", "propose 9 set x 1"}) {
        ScenarioAction a;
        std::string error;
        REQUIRE(parse_action(line, &a, &error));
        INFO(line);
        CHECK_FALSE(run_action(*sim, a).ok);
    }
}

TEST_CASE("scripts: step runs exactly the events asked for, rate starts a client load") {
    const Scenario s = parse_or_fail("nodes 3\n");
    auto sim = make_simulator(s);
    ScenarioAction a;
    std::string error;
    REQUIRE(parse_action("step 7", &a, &error));
    REQUIRE(run_action(*sim, a).ok);
    CHECK(sim->stats().events == 7);
    REQUIRE(parse_action("rate 50", &a, &error));
    REQUIRE(run_action(*sim, a).ok);
    REQUIRE(parse_action("advance 3s", &a, &error));
    REQUIRE(run_action(*sim, a).ok);
    CHECK(sim->stats().proposals > 100);
    CHECK(sim->checker().committed().size() > 60);  // about 70 % of the operations are writes
}

TEST_CASE("scripts: propose N sends the request to node N, read asks for a linearizable read") {
    auto sim = run_script("nodes 3\nseed 4\ncampaign 1\nwait leader\npropose 2 set x 1\nwait commit 3 >= 2\n"
                          "read 3 x\nread missing\nadvance 500ms\nexpect kv 1 x = 1\n");
    const std::vector<ClientOp>& ops = sim->client_ops();
    REQUIRE(ops.size() == 3);
    CHECK(ops[0].node == 2);
    CHECK(ops[0].leader == 1);
    CHECK(ops[0].outcome == ClientOp::Outcome::Ok);
    CHECK(ops[1].kind == ClientOp::Kind::Read);
    CHECK(ops[1].node == 3);
    CHECK(ops[1].result == std::optional<std::string>("1"));
    CHECK(ops[2].outcome == ClientOp::Outcome::Ok);
    CHECK(ops[2].result == std::nullopt);
}

TEST_CASE("checker: a violation names the nodes and the index involved") {
    auto sim = run_script(read_scenario_file("missing_prevlog_check.txt"));
    const Violation& v = sim->checker().violations().front();
    CHECK(v.index == 11);
    CHECK(v.nodes == std::vector<NodeId>{3, 1});
}

TEST_CASE("a crashed node's disk keeps what it made durable") {
    auto sim = run_script("nodes 3\nseed 4\ncampaign 1\nwait leader\npropose set x 1\nwait commit 1 >= 2\ncrash 2\n");
    CHECK(sim->node(2) == nullptr);
    REQUIRE(sim->durable_log(2).size() >= 2);
    CHECK(sim->durable_log(2)[1].data == "set x 1");
    CHECK(sim->durable_hard_state(2).current_term == sim->node(1)->current_term());
}
