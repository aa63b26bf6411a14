#include "nemesis.h"

#include <algorithm>

namespace raftbook {

void run_with_nemesis(Simulator& sim, const NemesisConfig& nemesis, TimeMs duration, uint64_t seed) {
    Rng rng(seed ^ 0x6E656D65736973ULL);
    const TimeMs end = sim.now() + duration;
    const TimeMs never = end + 1;
    TimeMs next_partition = nemesis.partition_every > 0 ? sim.now() + nemesis.partition_every : never;
    TimeMs next_crash = nemesis.crash_every > 0 ? sim.now() + nemesis.crash_every : never;
    TimeMs heal_at = never, restart_at = never;
    NodeId crashed = kNoNode;
    const int n = sim.size();
    while (true) {
        const TimeMs next = std::min({next_partition, next_crash, heal_at, restart_at, end});
        sim.advance(next - sim.now());
        if (next >= end) break;
        if (next == heal_at) {
            sim.heal();
            heal_at = never;
        } else if (next == restart_at) {
            sim.restart(crashed);
            restart_at = never;
        } else if (next == next_partition) {
            std::vector<NodeId> order;
            for (int i = 1; i <= n; i++) order.push_back(NodeId(i));
            for (int i = n - 1; i > 0; i--) std::swap(order[size_t(i)], order[size_t(rng.range(0, i))]);
            const size_t cut = size_t(rng.range(1, std::max(1, n - 1)));
            sim.partition({std::vector<NodeId>(order.begin(), order.begin() + long(cut)),
                           std::vector<NodeId>(order.begin() + long(cut), order.end())});
            heal_at = next + nemesis.partition_every / 2;
            next_partition = next + nemesis.partition_every;
        } else if (next == next_crash) {
            if (restart_at != never) sim.restart(crashed);
            crashed = NodeId(rng.range(1, n));
            sim.crash(crashed);
            restart_at = next + nemesis.crash_every / 2;
            next_crash = next + nemesis.crash_every;
        }
    }
    sim.heal();
    for (int i = 1; i <= n; i++) sim.restart(NodeId(i));
}

}  // namespace raftbook
