// Browser members in the simulator (simulator.h, "Browser members") and the leader's
// removal of absent ones (node_runtime.h, "Absent browsers").
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/sim/nemesis.h"
#include "core/sim/sim_json.h"
#include "tests/core/sim_support.h"

using namespace raftbook;
using namespace raftbook::testing;

namespace {

// The script without its fault switches and expected violations, and `expect safe` at the end.
std::string without_faults(const std::string& text) {
    std::istringstream in(text);
    std::string line, out;
    while (std::getline(in, line))
        if (line.rfind("fault ", 0) != 0 && line.rfind("expect violation", 0) != 0) out += line + "\n";
    return out + "expect safe\n";
}

}  // namespace

TEST_CASE("browser reload keeps id: a browser voter that voted, reloads and votes again breaks Election Safety") {
    const std::string text = read_scenario_file("browser_reload_keeps_id.txt");
    auto sim = run_script(text);
    REQUIRE(!sim->checker().ok());
    CHECK(sim->checker().violations().front().rule == "Election Safety");
}

TEST_CASE("browser reload keeps id: the same script with the fault off (a fresh id) stays safe") {
    auto sim = run_script(without_faults(read_scenario_file("browser_reload_keeps_id.txt")));
    CHECK(sim->checker().ok());
    CHECK(sim->is_closed(3));
    CHECK(sim->size() == 4);  // the page came back as node 4
}

TEST_CASE("browser reload keeps id: a browser voter that acknowledged an entry and reloads lets a leader lack it") {
    auto sim = run_script(read_scenario_file("browser_reload_loses_entry.txt"));
    REQUIRE(!sim->checker().ok());
    CHECK(sim->checker().violations().front().rule == "Leader Completeness");
}

TEST_CASE("browser reload keeps id: the lost-entry script with the fault off stays safe") {
    auto sim = run_script(without_faults(read_scenario_file("browser_reload_loses_entry.txt")));
    CHECK(sim->checker().ok());
    CHECK(sim->is_closed(3));
}

// --- Links: a browser is reached through its via only ---------------------------

TEST_CASE("browser links: a browser is linked through a native node and relinks through the next when it crashes") {
    auto sim = run_script(R"(
nodes 3
browsers 1
seed 3
campaign 1
wait leader 1 within 2s
wait changes within 5s
advance 2s
expect members = 1,2,3,4
expect via 4 = 2
crash 2
advance 100ms
expect via 4 = none
advance 1s
expect via 4 = 3
propose set x 1
advance 1s
expect kv 4 x = 1
expect members = 1,2,3,4
)");
    CHECK(sim->checker().ok());
}

TEST_CASE("browser links: a relayed message needs both hops, so a browser whose via cannot reach the leader is silent to it") {
    // Node 4 (a learner) keeps its link to node 2, but node 2 and leader 1 are cut
    // apart: nothing from node 4 reaches node 1, which removes it as absent.
    auto sim = run_script(R"(
nodes 3
seed 3
remove_absent_browsers_after 2s
campaign 1
wait leader 1 within 2s
add 4 browser learner
wait changes within 5s
advance 2s
expect via 4 = 2
cut 1-2
advance 4s
expect via 4 = 2
expect leader 1
expect members = 1,2,3
expect learners = none
)");
    CHECK(sim->checker().ok());
}

// --- Absent browsers (node_runtime.h) ---------------------------------------------

TEST_CASE("absent browsers: the leader removes a browser member silent longer than the limit, not before") {
    auto sim = run_script(R"(
nodes 3
browsers 1
seed 2
remove_absent_browsers_after 3s
campaign 1
wait leader 1 within 2s
wait changes within 5s
advance 2s
expect members = 1,2,3,4
close 4
advance 2500ms
expect members = 1,2,3,4
advance 2s
expect members = 1,2,3
expect learners = none
)");
    CHECK(sim->runtime(1)->stats().absent_browsers_removed == 1);
    CHECK(sim->checker().ok());
}

TEST_CASE("absent browsers: two tabs closed together are removed one change at a time") {
    auto sim = run_script(R"(
nodes 3
seed 2
remove_absent_browsers_after 2s
campaign 1
wait leader 1 within 2s
add 4 browser learner
wait changes within 5s
add 5 browser learner
wait changes within 5s
advance 1s
expect learners = 4,5
close 4
close 5
advance 5s
expect members = 1,2,3
expect learners = none
expect safe
)");
    // Two Config entries, each committed before the next (the checker's One Change at a Time).
    CHECK(sim->runtime(1)->stats().absent_browsers_removed == 2);
    const Raft& leader = *sim->node(1);
    int configs = 0;
    for (Index i = leader.log().first_index(); i <= leader.log().last_index(); i++)
        configs += leader.log().at(i).type == EntryType::Config;
    CHECK(configs == 4);  // two adds, two removals
}

TEST_CASE("absent browsers: a native member is never removed this way, however long it is down") {
    auto sim = run_script(R"(
nodes 3
seed 2
remove_absent_browsers_after 1s
campaign 1
wait leader 1 within 2s
add 4
add 5 learner
wait changes within 10s
advance 2s
expect members = 1,2,3,4
expect learners = 5
crash 4
crash 5
advance 10s
expect members = 1,2,3,4
expect learners = 5
)");
    CHECK(sim->runtime(1)->stats().absent_browsers_removed == 0);
}

TEST_CASE("absent browsers: never a voter when that would leave fewer than min_voters, though a learner may go") {
    auto sim = run_script(R"(
nodes 2
browsers 1
seed 2
remove_absent_browsers_after 1s
min_voters 3
campaign 1
wait leader 1 within 2s
wait changes within 5s
advance 2s
add 4 browser learner
wait changes within 5s
advance 1s
expect members = 1,2,3
expect learners = 4
close 3
close 4
advance 10s
expect members = 1,2,3
expect learners = none
propose set x 1
advance 1s
expect kv 2 x = 1
)");
    CHECK(sim->runtime(1)->stats().absent_browsers_removed == 1);
    CHECK(sim->checker().ok());
}

TEST_CASE("absent browsers: a browser the leader hears from stays, through crashes of its via and short partitions") {
    auto sim = run_script(R"(
nodes 3
browsers 1
seed 4
remove_absent_browsers_after 2s
campaign 1
wait leader 1 within 2s
wait changes within 5s
advance 2s
expect via 4 = 2
crash 2
advance 3s
restart 2
expect via 4 = 3
partition 4 | 1,2,3
advance 1500ms
heal
advance 3s
crash 3
advance 3s
expect members = 1,2,3,4
)");
    CHECK(sim->checker().ok());
}

TEST_CASE("absent browsers: 0 means never") {
    auto sim = run_script(R"(
nodes 3
browsers 1
seed 2
remove_absent_browsers_after 0
campaign 1
wait leader 1 within 2s
wait changes within 5s
advance 2s
close 4
advance 10s
expect members = 1,2,3,4
)");
    CHECK(sim->checker().ok());
}

TEST_CASE("absent browsers: silence counts from no earlier than when the node became leader") {
    // Node 4's tab closes; 2 s later the leader crashes. The new leader has never heard
    // from node 4 itself, but it waits its own full limit before removing it.
    auto sim = run_script(R"(
nodes 3
seed 2
remove_absent_browsers_after 3s
campaign 1
wait leader 1 within 2s
add 4 browser learner
wait changes within 5s
advance 2s
close 4
advance 2s
crash 1
wait leader within 3s
)");
    const NodeId leader = *sim->leader();
    const TimeMs elected = sim->now();
    sim->advance(2000);  // 4 s and more since node 4 was last heard, 2 s since the election
    CHECK(sim->node(leader)->membership().is_member(4));
    sim->advance(2000);
    CHECK(!sim->node(leader)->membership().is_member(4));
    CHECK(sim->now() - elected > 3000);
    CHECK(sim->checker().ok());
}

// --- Reloads ------------------------------------------------------------------------

TEST_CASE("browser reload: the page joins again under a fresh id, and the old member is removed as absent") {
    auto sim = run_script(R"(
nodes 3
browsers 1
seed 5
remove_absent_browsers_after 2s
campaign 1
wait leader 1 within 2s
wait changes within 5s
advance 2s
expect members = 1,2,3,4
reload 4
wait changes within 5s
advance 5s
expect members = 1,2,3,5
settle
expect safe
)");
    CHECK(sim->is_closed(4));
    CHECK(sim->is_browser(5));
    CHECK(sim->size() == 5);
}

// --- Randomized -------------------------------------------------------------------

// Many seeds of 8 virtual seconds: 3 native voters and 2 browser members that join and
// become voters, a page reloading every 1.5 s (joining again under a fresh id while the
// leader removes the old one as absent), native crashes, partitions that split pages
// from their vias, a lossy network and client load. Every seed must stay safe and
// settle: every closed tab removed, everything else converged.
namespace {

SimConfig randomized_config(uint64_t seed) {
    SimConfig c;
    c.nodes = 3;
    c.browsers = 2;
    c.seed = seed;
    c.net.drop = 0.02;
    c.net.duplicate = 0.02;
    c.net.reorder = 0.02;
    c.remove_absent_browsers_after_ms = 2000;
    return c;
}

void run_randomized(Simulator& sim, uint64_t seed) {
    sim.set_client_rate(20);
    NemesisConfig nemesis;
    nemesis.partition_every = 2500 + TimeMs(seed % 3) * 500;
    nemesis.crash_every = 3000 + TimeMs(seed % 4) * 500;
    nemesis.reload_every = 1500;
    run_with_nemesis(sim, nemesis, 8000, seed);
}

}  // namespace

TEST_CASE("browser randomized: 100 seeds of reloads, crashes and partitions with browser members, zero violations, every seed settles") {
    const uint64_t seeds = 100;
    int reloads = 0, removed = 0;
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        Simulator sim(randomized_config(seed));
        run_randomized(sim, seed);
        const uint64_t op = sim.propose("set after heal");
        const SettleResult settled = sim.settle(20000);
        INFO("seed " << seed << ": " << first_violation(sim) << " " << settled.stuck);
        REQUIRE(sim.checker().ok());
        REQUIRE(settled.settled);
        REQUIRE(sim.client_ops()[op - 1].outcome == ClientOp::Outcome::Ok);
        const Membership& m = sim.node(*sim.leader())->membership();
        for (int n = 1; n <= sim.size(); n++) {
            if (!sim.is_closed(NodeId(n))) continue;
            reloads++;
            REQUIRE(!m.is_member(NodeId(n)));  // 3 native voters remain: every closed tab can go
            removed += m.was_removed(NodeId(n));
        }
    }
    CHECK(reloads >= int(seeds));  // the runs did reload pages
    CHECK(removed == reloads);
}

// The same runs with browser_reload_keeps_id on both pages: a reloaded page comes back
// under its old id, memory empty, and the checker finds what it forgot (an entry whose
// majority of durable copies is gone, a vote cast twice) in many seeds.
TEST_CASE("browser randomized: with browser_reload_keeps_id the checker catches the forgotten votes and entries") {
    int caught = 0;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        Simulator sim(randomized_config(seed));
        REQUIRE(sim.set_fault(4, "browser_reload_keeps_id", true));
        REQUIRE(sim.set_fault(5, "browser_reload_keeps_id", true));
        run_randomized(sim, seed);
        sim.settle(20000);
        caught += !sim.checker().ok();
    }
    CHECK(caught >= 5);
}

TEST_CASE("browser sim_json: each node's kind, and a browser's via and whether its tab is closed") {
    SimConfig c = sim_config_from_json(R"({"nodes": 3, "browsers": 2, "seed": 3})");
    CHECK(c.browsers == 2);
    CHECK_THROWS_WITH(sim_config_from_json(R"({"nodes": 5, "browsers": 5})"), Catch::Contains("at most 9"));
    Simulator sim(c);
    sim.advance(3000);
    sim.close(5);
    const nlohmann::json s = nlohmann::json::parse(state_json(sim));
    CHECK(s["nodes"][0]["kind"] == "native");
    CHECK(!s["nodes"][0].contains("via"));
    CHECK(s["nodes"][3]["kind"] == "browser");
    CHECK(s["nodes"][3]["via"] == sim.via(4));
    CHECK(s["nodes"][3]["via"].is_number());
    CHECK(s["nodes"][3]["closed"] == false);
    CHECK(s["nodes"][4]["via"].is_null());
    CHECK(s["nodes"][4]["closed"] == true);
}
