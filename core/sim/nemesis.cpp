#include "core/sim/nemesis.h"

#include <algorithm>
#include <limits>
#include <optional>

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
    next_membership_ = cfg_.membership_every > 0 ? sim.now() + cfg_.membership_every : kNever;
    next_reload_ = cfg_.reload_every > 0 ? sim.now() + cfg_.reload_every : kNever;
    heal_at_ = restart_at_ = kNever;
}

void Nemesis::run(TimeMs duration) {
    const TimeMs end = sim_.now() + duration;
    while (true) {
        const TimeMs next = std::min({next_partition_, next_crash_, heal_at_, restart_at_, next_membership_, next_reload_});
        if (next > end) break;
        const int n = sim_.size();  // (add_node grows it)
        sim_.advance(next - sim_.now());
        if (next == heal_at_) {
            sim_.heal();
            note("heal");
            heal_at_ = kNever;
        } else if (next == restart_at_) {
            restart(crashed_);
            restart_at_ = kNever;
        } else if (next == next_membership_) {
            change_membership();
            next_membership_ = next + cfg_.membership_every;
        } else if (next == next_reload_) {
            reload_browser();
            next_reload_ = next + cfg_.reload_every;
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
            std::vector<NodeId> natives;
            for (int i = 1; i <= n; i++)
                if (!sim_.is_browser(NodeId(i))) natives.push_back(NodeId(i));
            crashed_ = natives[size_t(rng_.range(0, int64_t(natives.size()) - 1))];
            if (sim_.is_up(crashed_)) note("crash " + std::to_string(crashed_));
            sim_.crash(crashed_);
            restart_at_ = next + cfg_.crash_every / 2;
            next_crash_ = next + cfg_.crash_every;
        }
    }
    sim_.advance(end - sim_.now());
}

// One random change, chosen among those the leader's configuration allows. Nothing
// while there is no leader or the last change is still unanswered.
void Nemesis::change_membership() {
    const auto& ops = sim_.membership_ops();
    const std::optional<NodeId> l = sim_.leader();
    if (!l || (!ops.empty() && ops.back().complete_ms < 0)) return;
    const Membership& m = sim_.node(*l)->membership();
    const std::vector<NodeId> voters = m.voters(), learners = m.learners();
    std::vector<NodeId> others;  // voters that could take over
    for (NodeId v : voters)
        if (v != *l) others.push_back(v);
    auto pick = [this](const std::vector<NodeId>& from) { return from[size_t(rng_.range(0, int64_t(from.size()) - 1))]; };
    enum Kind { Add, Promote, RemoveLearner, RemoveVoter, Transfer };
    std::vector<Kind> kinds;
    if (sim_.size() < Simulator::kMaxNodes) kinds.push_back(Add);
    if (!learners.empty()) kinds.push_back(Promote), kinds.push_back(RemoveLearner);
    if (voters.size() > kMinVoters) kinds.push_back(RemoveVoter);
    if (!others.empty()) kinds.push_back(Transfer);
    if (kinds.empty()) return;
    const Kind kind = kinds[size_t(rng_.range(0, int64_t(kinds.size()) - 1))];
    switch (kind) {
        case Add: {
            const NodeId n = NodeId(sim_.size() + 1);
            const bool learner = rng_.chance(0.25);
            sim_.add_node(n, learner);
            note("add " + std::to_string(n) + (learner ? " learner" : ""));
            break;
        }
        case Promote: {
            const NodeId n = pick(learners);
            sim_.promote(n);
            note("promote " + std::to_string(n));
            break;
        }
        case RemoveLearner:
        case RemoveVoter: {
            const NodeId n = pick(kind == RemoveVoter ? voters : learners);
            sim_.remove_node(n);
            note("remove " + std::to_string(n));
            break;
        }
        case Transfer: {
            const NodeId n = pick(others);
            sim_.transfer_leader(n);
            note("transfer " + std::to_string(n));
            break;
        }
    }
}

// A random running page reloads — but not while a closed tab is still a voter (or
// there is no leader to tell): closed voters count toward the majority and never
// answer, so reloads faster than the leader removes them would leave a majority of
// voters that can never vote, and the cluster could not settle.
void Nemesis::reload_browser() {
    const std::optional<NodeId> l = sim_.leader();
    if (!l) return;
    for (NodeId v : sim_.node(*l)->membership().voters())
        if (sim_.is_closed(v)) return;
    std::vector<NodeId> running;
    for (int i = 1; i <= sim_.size(); i++)
        if (sim_.is_up(NodeId(i)) && sim_.is_browser(NodeId(i))) running.push_back(NodeId(i));
    if (running.empty() || sim_.size() >= Simulator::kMaxNodes) return;
    const NodeId n = running[size_t(rng_.range(0, int64_t(running.size()) - 1))];
    sim_.reload(n);
    note("reload " + std::to_string(n));
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
