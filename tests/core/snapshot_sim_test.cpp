// Log compaction in the whole cluster: the lesson, randomized runs with small snapshot
// thresholds among crashes and partitions, and the checker catching a stale install.
#include "core/sim/nemesis.h"
#include "sim_support.h"

using namespace raftbook;
using namespace raftbook::testing;

namespace {

// Snapshots every few dozen entries, sent in small chunks (many per snapshot), so
// that crashes, partitions and a lossy network land in the middle of taking, writing
// and transferring them.
SimConfig compacting(uint64_t seed) {
    SimConfig c;
    c.nodes = seed % 2 ? 5 : 3;
    c.seed = seed;
    c.snapshot_entries = 20 + seed % 31;
    c.catchup_entries = seed % 3 == 0 ? 0 : 5;
    c.snapshot_chunk_bytes = 64;
    c.net.drop = 0.05;
    c.net.duplicate = 0.03;
    c.net.reorder = 0.05;
    return c;
}

}  // namespace

TEST_CASE("scenario: a far-behind follower catches up by snapshot") {
    auto sim = run_script(read_scenario_file("snapshot_catch_up.txt"));
    CHECK(sim->checker().ok());
    CHECK(sim->stats().snapshots_installed >= 1);
    CHECK(sim->stats().sent_by_type[size_t(MessageType::Snapshot)] > 1);  // in several chunks
    // Its state is every other node's.
    CHECK(sim->kv(3)->fingerprint() == sim->kv(1)->fingerprint());
    CHECK(sim->kv(3)->applied_index() == sim->kv(1)->applied_index());
}

TEST_CASE("a restart restores the newest durable snapshot and the entries after it") {
    auto sim = run_script(
        "nodes 3\nseed 4\ncampaign 1\nwait leader within 2s\nrate 30\nadvance 3s\nrate 0\nadvance 500ms\n"
        "snapshot 2\nadvance 200ms\nexpect snapshot 2 >= 20\npropose set after snap\nadvance 500ms\n"
        "crash 2\nrestart 2\nexpect safe\n");
    REQUIRE(sim->durable_snapshot(2));
    const Raft& r = *sim->node(2);
    CHECK(r.snapshot()->meta == sim->durable_snapshot(2)->meta);
    CHECK(r.log().prev_index() == sim->durable_snapshot(2)->meta.index);
    CHECK(r.log().last_index() > r.log().prev_index());  // the entries after it
    sim->advance(1000);
    CHECK(sim->kv(2)->fingerprint() == sim->kv(1)->fingerprint());
    CHECK(sim->checker().ok());
}

TEST_CASE("randomized: seeds with snapshots every 20-50 entries, crashes and partitions run clean and settle") {
    uint64_t taken = 0, installed = 0;
    for (uint64_t seed = 1; seed <= 120; seed++) {
        Simulator sim(compacting(seed));
        sim.set_client_rate(60);
        run_with_nemesis(sim, {2000 + TimeMs(seed % 5) * 500, 2500 + TimeMs(seed % 7) * 500}, 12000, seed);
        const SettleResult settled = sim.settle(10000);
        INFO("seed " << seed << ": " << (sim.checker().ok() ? "" : sim.checker().violations().front().rule + ": " +
                                                                   sim.checker().violations().front().detail));
        REQUIRE(sim.checker().ok());
        REQUIRE(settled.settled);
        REQUIRE(settled.history == LincheckResult::Verdict::Linearizable);
        taken += sim.stats().snapshots_taken;
        installed += sim.stats().snapshots_installed;
    }
    CHECK(taken > 1000);
    CHECK(installed > 20);  // followers crashed or cut off long enough did catch up by snapshot
}

TEST_CASE("fault switch install_stale_snapshot: the checker catches a follower discarding committed entries") {
    std::string found;
    uint64_t seed = 1;
    for (; seed <= 100 && found.empty(); seed++) {
        SimConfig c = compacting(seed);
        c.snapshot_chunk_bytes = 64 * 1024;  // one chunk: a late duplicate is a whole snapshot
        c.net.duplicate = 0.2;
        c.net.reorder = 0.1;
        Simulator sim(c);
        for (int n = 1; n <= c.nodes; n++) sim.set_fault(NodeId(n), "install_stale_snapshot", true);
        sim.set_client_rate(100);
        run_with_nemesis(sim, {1500, 1700}, 15000, seed);
        sim.settle(10000);
        if (!sim.checker().ok()) found = sim.checker().violations().front().rule;
    }
    INFO("caught after " << seed - 1 << " seeds as " << found);
    CHECK(found == "State Machine Safety");
}

TEST_CASE("a crash while a snapshot is being written loses that snapshot whole, and the restart uses the older state") {
    auto sim = run_script("nodes 3\nseed 5\ncampaign 1\nwait leader within 2s\nrate 30\nadvance 2s\nrate 0\nadvance 500ms\n");
    REQUIRE(sim->take_snapshot(2));
    CHECK(sim->runtime(2)->snapshot_in_flight());
    sim->crash(2);  // before the disk finished it
    CHECK_FALSE(sim->durable_snapshot(2));
    sim->restart(2);
    CHECK_FALSE(sim->node(2)->snapshot());
    CHECK(sim->node(2)->log().first_index() == 1);
    sim->advance(1000);
    CHECK(sim->kv(2)->fingerprint() == sim->kv(1)->fingerprint());
    CHECK(sim->checker().ok());
}

TEST_CASE("checker: a snapshot whose state is not what the nodes had at its index breaks State Agreement") {
    // A node applies index 1 in a cluster run, then snapshots are checked against it.
    auto sim = run_script("nodes 3\nseed 2\ncampaign 1\nwait leader within 2s\nadvance 300ms\n");
    Checker c = sim->checker();
    REQUIRE(c.ok());
    const uint64_t at_1 = [&] {
        KvStore kv;
        kv.apply(sim->node(1)->log().at(1));
        return kv.fingerprint();
    }();
    c.on_snapshot(2, 1, at_1, /*installed=*/true);
    c.on_snapshot(1, 1, at_1, /*installed=*/false);
    CHECK(c.ok());
    c.on_snapshot(3, 1, at_1 + 1, /*installed=*/true);
    REQUIRE_FALSE(c.ok());
    CHECK(c.violations().front().rule == "State Agreement");
    CHECK(c.violations().front().nodes == std::vector<NodeId>{3, 1});
}
