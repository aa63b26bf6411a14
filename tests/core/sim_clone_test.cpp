// Simulator::clone, the playground timeline's checkpoint: a copy taken at any moment —
// messages and disk writes in flight, clients waiting, a node crashed, a snapshot being
// sent, a learner asking to be promoted — continues exactly as the original does, given
// the same inputs: the same events (trace hash), the same state, the same client history.
// And it stands alone: the original can be gone.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/sim/sim_json.h"
#include "core/sim/simulator.h"

using namespace raftbook;

namespace {

SimConfig busy_config() {
    SimConfig c;
    c.nodes = 3;
    c.seed = 7;
    c.snapshot_entries = 15;   // snapshots taken, and sent to the nodes left behind
    c.catchup_entries = 5;
    c.snapshot_chunk_bytes = 64;
    c.net.drop = 0.05;
    c.net.duplicate = 0.05;
    c.net.reorder = 0.05;
    return c;
}

// The inputs at step i (each step then runs 300 ms): the same for original and copy.
void inputs(Simulator& sim, int i) {
    switch (i) {
        case 1: sim.set_client_rate(40); break;
        case 3: sim.add_node(4); break;              // asks to be promoted once caught up
        case 5: sim.crash(2); break;
        case 7: sim.add_node(5, /*learner=*/true); break;
        case 8: sim.restart(2); break;
        case 10: sim.partition({{1, 2}, {3, 4, 5}}); break;
        case 12: sim.heal(); sim.promote(5); break;
        case 13: sim.take_snapshot(1); sim.propose("set x 1"); sim.read("x"); break;
        case 15: sim.transfer_leader(3); break;
        case 17: sim.remove_node(1); break;
        case 19: sim.cut(3, 4); break;
        case 21: sim.restore(3, 4); break;
        default: break;
    }
}

constexpr int kSteps = 26;

// What is compared after every step: the trace hash, and the whole visible state.
std::string fingerprint(const Simulator& sim) {
    std::string s = trace_hash_hex(sim) + " " + std::to_string(sim.now()) + " " +
                    std::to_string(sim.client_ops().size()) + " " + std::to_string(sim.membership_ops().size());
    for (const ClientOp& op : sim.client_ops()) s += " " + std::to_string(int(op.outcome));
    for (NodeId n = 1; n <= NodeId(sim.size()); n++) {  // what a watch on each node streams
        s += " | " + std::to_string(sim.changes_floor(n));
        for (const KeyChange& c : sim.changes(n)) s += " " + std::to_string(c.revision) + c.key;
    }
    StateView all;
    return s + "\n" + state_json(sim, all);
}

}  // namespace

TEST_CASE("A clone of the simulator continues exactly as the original", "[sim][clone]") {
    const int at = GENERATE(2, 6, 9, 11, 14, 18);
    auto original = std::make_unique<Simulator>(busy_config());
    for (int i = 0; i < at; i++) {
        inputs(*original, i);
        original->advance(300);
    }
    std::unique_ptr<Simulator> copy = original->clone();
    REQUIRE(fingerprint(*copy) == fingerprint(*original));

    std::vector<std::string> expected;
    for (int i = at; i < kSteps; i++) {
        inputs(*original, i);
        original->advance(300);
        expected.push_back(fingerprint(*original));
    }
    REQUIRE(original->checker().ok());
    REQUIRE(original->stats().snapshots_installed > 0);  // the run did exercise them
    REQUIRE(original->membership_ops().size() == 5);
    original.reset();  // the copy points at nothing of the original's

    for (int i = at; i < kSteps; i++) {
        inputs(*copy, i);
        copy->advance(300);
        INFO("step " << i << " after a clone at step " << at);
        REQUIRE(fingerprint(*copy) == expected[size_t(i - at)]);
    }
}
