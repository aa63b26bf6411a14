// The nemesis: scheduled trouble for a simulated cluster. Every `partition_every` it
// splits the nodes into two random sides (healed halfway to the next split); every
// `crash_every` it crashes a random node (restarted halfway to the next crash).
// finish() heals every link and restarts every node, so that a test can then ask
// whether the cluster recovers. Every `membership_every` it asks for a random membership
// change or leadership transfer (one at a time: none while the last is unanswered): add
// the next machine (a voter-to-be, or now and then a learner that stays one), promote a
// learner, remove a learner or a voter (never below kMinVoters voters, so that the
// cluster can still settle with one node down), or hand leadership to another voter.
// Every `reload_every` it reloads a random running browser node (Simulator::reload: it
// joins again under a fresh id, while a slot is free; none while a closed tab is still
// a voter, see reload_browser). Crashes pick native nodes only
// (a browser does not restart from a disk). Its choices come from its own seeded source, so a
// run is as reproducible as the simulator itself; an observer can write each action
// down as a scenario line, so that a run can be replayed as a script or a playground
// link.
#pragma once

#include <functional>
#include <string>

#include "core/sim/rng.h"
#include "core/sim/simulator.h"

namespace raftbook {

struct NemesisConfig {
    TimeMs partition_every = 0;  // 0: never
    TimeMs crash_every = 0;      // 0: never
    TimeMs membership_every = 0; // 0: never
    TimeMs reload_every = 0;     // 0: never
};

class Nemesis {
public:
    static constexpr size_t kMinVoters = 3;
    Nemesis(Simulator& sim, const NemesisConfig& config, uint64_t seed);
    void run(TimeMs duration);  // advances the simulator, acting on schedule
    void finish();              // heals the network and restarts every crashed node
    // Called with each action as a scenario line ("partition 1,3 | 2", "heal",
    // "crash 2", "restart 2", "add 4", "promote 4", "remove 2", "transfer 3", "reload 4"), at the
    // virtual time it is taken.
    void set_observer(std::function<void(const std::string& line)> f) { observer_ = std::move(f); }

private:
    void restart(NodeId n);
    void change_membership();
    void reload_browser();
    void note(const std::string& line) {
        if (observer_) observer_(line);
    }

    Simulator& sim_;
    NemesisConfig cfg_;
    Rng rng_;
    TimeMs next_partition_, next_crash_, heal_at_, restart_at_, next_membership_, next_reload_;
    NodeId crashed_ = kNoNode;
    std::function<void(const std::string&)> observer_;
};

// Runs `sim` for `duration` ms with a nemesis at work, then finish().
void run_with_nemesis(Simulator& sim, const NemesisConfig& nemesis, TimeMs duration, uint64_t seed);

}  // namespace raftbook
