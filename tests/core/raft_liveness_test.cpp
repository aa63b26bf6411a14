// Liveness in an idle cluster: a follower that misses entries while nothing else is
// being written must still get them, from heartbeats alone. In Replicate state the
// leader moves next_index on as it sends, so a lost AppendEntries is never re-sent
// unless something notices; the catch-up rule in Raft::handle_heartbeat_response is
// that something, and the fault switch `no_catch_up_on_heartbeat` turns it off.
#include "sim_support.h"

using namespace raftbook;
using namespace raftbook::testing;

namespace {

constexpr TimeMs kHeartbeatMs = 100;  // heartbeat_tick 2 x tick 50 ms (SimConfig defaults)

// A quiet 3-node cluster whose leader has replicated its no-op to both followers and
// so pipelines to both (Replicate state). `no_catch_up` sets the fault switch on every node.
std::unique_ptr<Simulator> idle_cluster(uint64_t seed, bool no_catch_up) {
    SimConfig c;
    c.nodes = 3;
    c.seed = seed;
    auto sim = std::make_unique<Simulator>(c);
    for (NodeId n = 1; n <= 3; n++) sim->set_fault(n, "no_catch_up_on_heartbeat", no_catch_up);
    REQUIRE(sim->run_until([&] { return sim->leader().has_value(); }, 5000));
    const NodeId l = *sim->leader();
    REQUIRE(sim->run_until([&] { return all_committed(*sim, sim->node(l)->log().last_index()); }, 2000));
    sim->advance(500);
    for (NodeId f = 1; f <= 3; f++)
        if (f != l) REQUIRE(sim->node(l)->progress(f)->state == Progress::State::Replicate);
    return sim;
}

// Cuts the leader's links to both followers, proposes one command (its one
// AppendEntries per follower is lost), and restores the links at once.
Index propose_with_appends_lost(Simulator& sim) {
    const NodeId l = *sim.leader();
    for (NodeId f = 1; f <= 3; f++)
        if (f != l) sim.cut(l, f);
    REQUIRE(sim.propose_at(l, "set lost-append 1") != 0);
    sim.advance(0);  // the node's Ready for this instant: its appends go out into the cut links
    for (NodeId f = 1; f <= 3; f++)
        if (f != l) sim.restore(l, f);
    return sim.node(l)->log().last_index();
}

// Crashes a follower, commits three commands without it, and restarts it.
NodeId restart_behind(Simulator& sim) {
    const NodeId l = *sim.leader();
    const NodeId f = l % 3 + 1;
    sim.crash(f);
    for (int i = 0; i < 3; i++) REQUIRE(sim.propose_at(l, "set while-down " + std::to_string(i)) != 0);
    const Index last = sim.node(l)->log().last_index();
    REQUIRE(sim.run_until([&] { return sim.node(l)->commit_index() >= last; }, 1000));
    sim.advance(300);
    sim.restart(f);
    return f;
}

}  // namespace

TEST_CASE("liveness: an entry whose AppendEntries were all lost commits within a few heartbeats, with no further writes",
          "[liveness]") {
    for (uint64_t seed = 1; seed <= 10; seed++) {
        INFO("seed " << seed);
        auto sim = idle_cluster(seed, false);
        const Index index = propose_with_appends_lost(*sim);
        CHECK(sim->run_until([&] { return all_committed(*sim, index); }, 5 * kHeartbeatMs));
        CHECK(sim->checker().ok());
    }
}

TEST_CASE("liveness: a follower restarted in an idle cluster catches up within a few heartbeats", "[liveness]") {
    for (uint64_t seed = 1; seed <= 10; seed++) {
        INFO("seed " << seed);
        auto sim = idle_cluster(seed, false);
        const NodeId f = restart_behind(*sim);
        const Raft* leader = sim->node(*sim->leader());
        CHECK(sim->run_until([&] { return sim->node(f)->log().last_index() == leader->log().last_index(); },
                             5 * kHeartbeatMs));
        CHECK(sim->checker().ok());
    }
}

TEST_CASE("liveness: with no_catch_up_on_heartbeat, lost appends and a restarted follower stay behind while idle",
          "[liveness]") {
    auto sim = idle_cluster(1, true);
    const Index index = propose_with_appends_lost(*sim);
    sim->advance(50 * kHeartbeatMs);
    CHECK_FALSE(all_committed(*sim, index));
    CHECK(sim->node(*sim->leader())->commit_index() < index);

    sim = idle_cluster(2, true);
    const NodeId f = restart_behind(*sim);
    sim->advance(50 * kHeartbeatMs);
    CHECK(sim->node(f)->log().last_index() < sim->node(*sim->leader())->log().last_index());
}
