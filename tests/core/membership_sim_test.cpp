// Membership changes in the simulator (thesis ch. 4): machines added, promoted, removed
// and leadership handed over while clients write, crashes and partitions strike, and the
// checker watches every event — including the configuration-aware majorities and One
// Change at a Time. Also the 2015 single-server-change bug, replayed with the fault
// switch that brings it back.
#include <catch2/catch.hpp>

#include "core/sim/nemesis.h"
#include "core/sim/scenario.h"
#include "tests/core/sim_support.h"

using namespace raftbook;
using namespace raftbook::testing;

namespace {

std::string first_violation(const Simulator& sim) {
    if (sim.checker().ok()) return "";
    const Violation& v = sim.checker().violations().front();
    return v.rule + ": " + v.detail;
}

// A 3-node cluster with a leader and a few committed writes.
std::unique_ptr<Simulator> running_cluster(uint64_t seed) {
    SimConfig c;
    c.nodes = 3;
    c.seed = seed;
    auto sim = std::make_unique<Simulator>(c);
    REQUIRE(sim->run_until([&] { return sim->leader().has_value(); }, 5000));
    sim->propose("set a 1");
    sim->advance(500);
    return sim;
}

bool all_done(const Simulator& sim) {
    for (const MembershipOp& m : sim.membership_ops())
        if (m.complete_ms < 0) return false;
    return true;
}

}  // namespace

TEST_CASE("membership: a machine added as a learner gets the log but no vote") {
    auto sim = running_cluster(1);
    const uint64_t op = sim->add_node(4, /*learner=*/true);
    REQUIRE(op == 1);
    CHECK(sim->size() == 4);
    REQUIRE(sim->run_until([&] { return all_done(*sim); }, 5000));
    const MembershipOp& m = sim->membership_ops()[op - 1];
    INFO(m.error);
    REQUIRE(m.ok);
    CHECK(m.index > 0);
    sim->propose("set b 2");
    sim->advance(2000);
    const Raft& leader = *sim->node(*sim->leader());
    CHECK(leader.membership().voters() == std::vector<NodeId>{1, 2, 3});
    CHECK(leader.membership().learners() == std::vector<NodeId>{4});
    CHECK(sim->node(4)->log().last_index() == leader.log().last_index());
    CHECK(sim->node(4)->membership() == leader.membership());
    CHECK(!sim->node(4)->is_voter());
    INFO(first_violation(*sim));
    CHECK(sim->checker().ok());
}

TEST_CASE("membership: add_node takes only the next free slot, up to kMaxNodes") {
    auto sim = running_cluster(2);
    CHECK(sim->add_node(5) == 0);  // slot 4 comes first
    CHECK(sim->add_node(3) == 0);
    CHECK(sim->size() == 3);
    for (NodeId n = 4; n <= NodeId(Simulator::kMaxNodes); n++) CHECK(sim->add_node(n, true) != 0);
    CHECK(sim->add_node(10) == 0);
    CHECK(sim->size() == Simulator::kMaxNodes);
}

TEST_CASE("membership: a node added as a voter is promoted once caught up, and the majority grows") {
    auto sim = running_cluster(3);
    sim->set_client_rate(30);
    sim->add_node(4);
    REQUIRE(sim->run_until([&] {
        const auto l = sim->leader();
        return l && sim->node(*l)->membership().is_voter(4) &&
               sim->node(*l)->commit_index() >= sim->node(*l)->membership_index();
    }, 10000));
    sim->set_client_rate(0);
    sim->advance(1000);  // every write answered, every acknowledgement delivered
    // Two of four voters down: no majority, nothing commits.
    const NodeId l = *sim->leader();
    std::vector<NodeId> others;
    for (NodeId n = 1; n <= 4; n++)
        if (n != l) others.push_back(n);
    sim->crash(others[0]);
    sim->crash(others[1]);
    const Index before = sim->checker().committed().size();
    sim->propose("set blocked 1");
    sim->advance(3000);
    CHECK(sim->checker().committed().size() == before);
    sim->restart(others[0]);
    sim->advance(3000);
    CHECK(sim->checker().committed().size() > before);
    INFO(first_violation(*sim));
    CHECK(sim->checker().ok());
}

TEST_CASE("membership: a removed node leaves, the rest commit without it, settle ignores it") {
    auto sim = running_cluster(4);
    const NodeId l = *sim->leader();
    const NodeId gone = l == 3 ? 2 : 3;
    const uint64_t op = sim->remove_node(gone);
    REQUIRE(sim->run_until([&] { return all_done(*sim); }, 5000));
    INFO(sim->membership_ops()[op - 1].error);
    REQUIRE(sim->membership_ops()[op - 1].ok);
    CHECK(sim->node(l)->membership().voters().size() == 2);
    CHECK(sim->node(l)->membership().was_removed(gone));
    sim->crash(gone);  // it is not counted: the two left still commit
    const uint64_t w = sim->propose("set after remove");
    const SettleResult r = sim->settle(10000);
    INFO(r.stuck << " / " << first_violation(*sim));
    CHECK(r.settled);
    CHECK(sim->client_ops()[w - 1].outcome == ClientOp::Outcome::Ok);
    CHECK(sim->checker().ok());
}

TEST_CASE("membership: the leader removes itself, keeps leading until it commits, then steps down") {
    auto sim = running_cluster(5);
    const NodeId l = *sim->leader();
    const uint64_t op = sim->remove_node(l);
    REQUIRE(sim->run_until([&] { return all_done(*sim); }, 5000));
    INFO(sim->membership_ops()[op - 1].error);
    REQUIRE(sim->membership_ops()[op - 1].ok);
    REQUIRE(sim->run_until([&] { return sim->leader() && *sim->leader() != l; }, 5000));
    CHECK(sim->node(l)->role() != Role::Leader);
    const SettleResult r = sim->settle(10000);
    INFO(r.stuck << " / " << first_violation(*sim));
    CHECK(r.settled);
    CHECK(sim->checker().ok());
}

TEST_CASE("membership: leadership transfer hands over to the named voter") {
    auto sim = running_cluster(6);
    const NodeId l = *sim->leader();
    const NodeId target = l % 3 + 1;
    const uint64_t op = sim->transfer_leader(target);
    REQUIRE(sim->run_until([&] { return all_done(*sim); }, 5000));
    INFO(sim->membership_ops()[op - 1].error);
    CHECK(sim->membership_ops()[op - 1].ok);
    CHECK(sim->leader() == target);
    CHECK(sim->checker().ok());
}

TEST_CASE("membership: scenario grow_cluster.txt grows 3 voters to 5, safely") {
    auto sim = run_script(read_scenario_file("grow_cluster.txt"));
    CHECK(sim->size() == 5);
    CHECK(sim->checker().ok());
}
