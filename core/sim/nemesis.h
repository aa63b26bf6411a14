// The nemesis: scheduled trouble for a simulated cluster. Every `partition_every` it
// splits the nodes into two random sides (healed halfway to the next split); every
// `crash_every` it crashes a random node (restarted halfway to the next crash). At
// the end every link is healed and every node restarted, so that a test can then ask
// whether the cluster recovers. Its choices come from its own seeded source, so a
// run is as reproducible as the simulator itself.
#pragma once

#include "rng.h"
#include "simulator.h"

namespace raftbook {

struct NemesisConfig {
    TimeMs partition_every = 0;  // 0: never
    TimeMs crash_every = 0;      // 0: never
};

// Runs `sim` for `duration` ms of virtual time with the nemesis at work, then heals
// the network and restarts every crashed node.
void run_with_nemesis(Simulator& sim, const NemesisConfig& nemesis, TimeMs duration, uint64_t seed);

}  // namespace raftbook
