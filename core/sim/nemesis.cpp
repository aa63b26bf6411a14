#include "core/sim/nemesis.h"

#include <algorithm>
#include <limits>

namespace raftbook {

namespace {

constexpr TimeMs kNever = std::numeric_limits<TimeMs>::max();

// "1,3,4": a partition side as the scenario format writes it.
std::string join(const std::vector<NodeId>& nodes) {
    std::string s;
    for (NodeId n : nodes) s += (s.empty() ? "" : ",") + std::to_string(n);
    return s;
}

}  // namespace

Nemesis::Nemesis(Simulator& sim, const NemesisConfig& config, uint64_t seed)
    : sim_(sim), cfg_(config), rng_(seed ^ 0x6E656D65736973ULL) {
    next_partition_ = cfg_.partition_every > 0 ? sim.now() + cfg_.partition_every : kNever;
    next_crash_ = cfg_.crash_every > 0 ? sim.now() + cfg_.crash_every : kNever;
    heal_at_ = restart_at_ = kNever;
}

void Nemesis::run(TimeMs duration) {
    const TimeMs end = sim_.now() + duration;
    const int n = sim_.size();
    while (true) {
        const TimeMs next = std::min({next_partition_, next_crash_, heal_at_, restart_at_});
        if (next > end) break;
        sim_.advance(next - sim_.now());
        if (next == heal_at_) {
            sim_.heal();
            note("heal");
            heal_at_ = kNever;
        } else if (next == restart_at_) {
            restart(crashed_);
            restart_at_ = kNever;
        } else if (next == next_partition_) {
            std::vector<NodeId> order;
            for (int i = 1; i <= n; i++) order.push_back(NodeId(i));
            for (int i = n - 1; i > 0; i--) std::swap(order[size_t(i)], order[size_t(rng_.range(0, i))]);
            const long cut = long(rng_.range(1, std::max(1, n - 1)));
            const std::vector<NodeId> side_a(order.begin(), order.begin() + cut), side_b(order.begin() + cut, order.end());
            sim_.partition({side_a, side_b});
            note("partition " + join(side_a) + " | " + join(side_b));
            heal_at_ = next + cfg_.partition_every / 2;
            next_partition_ = next + cfg_.partition_every;
        } else {
            if (restart_at_ != kNever) restart(crashed_);
            crashed_ = NodeId(rng_.range(1, n));
            if (sim_.is_up(crashed_)) note("crash " + std::to_string(crashed_));
            sim_.crash(crashed_);
            restart_at_ = next + cfg_.crash_every / 2;
            next_crash_ = next + cfg_.crash_every;
        }
    }
    sim_.advance(end - sim_.now());
}

void Nemesis::restart(NodeId n) {
    if (!sim_.is_up(n)) note("restart " + std::to_string(n));
    sim_.restart(n);
}

void Nemesis::finish() {
    sim_.heal();
    note("heal");
    for (int i = 1; i <= sim_.size(); i++) restart(NodeId(i));
    heal_at_ = restart_at_ = kNever;
}

void run_with_nemesis(Simulator& sim, const NemesisConfig& nemesis, TimeMs duration, uint64_t seed) {
    Nemesis n(sim, nemesis, seed);
    n.run(duration);
    n.finish();
}

}  // namespace raftbook
