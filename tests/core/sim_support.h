// Helpers shared by the simulator-driven tests: load a scenario file, run one, and
// count messages by type.
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "core/sim/scenario.h"

namespace raftbook::testing {

inline std::string read_scenario_file(const std::string& name) {
    std::ifstream f(std::string(RAFTBOOK_SCENARIO_DIR) + "/" + name);
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline Scenario parse_or_fail(const std::string& text) {
    Scenario s;
    std::string error;
    INFO(error);
    REQUIRE(parse_scenario(text, &s, &error));
    return s;
}

// The checker's first violation as "rule: detail", or "" when the run is safe.
inline std::string first_violation(const Simulator& sim) {
    if (sim.checker().ok()) return "";
    const Violation& v = sim.checker().violations().front();
    return v.rule + ": " + v.detail;
}

// Runs a script; every action must succeed. Returns the simulator for more checks.
inline std::unique_ptr<Simulator> run_script(const std::string& text) {
    const Scenario s = parse_or_fail(text);
    auto sim = make_simulator(s);
    const ScenarioResult r = run_scenario(*sim, s);
    INFO(r.message);
    REQUIRE(r.ok);
    return sim;
}

// Counts messages sent, by type, from the moment it is attached.
struct MessageCounter {
    std::map<MessageType, uint64_t> by_type;
    uint64_t total = 0;
    explicit MessageCounter(Simulator& sim) {
        sim.set_send_observer([this](const Message& m) {
            by_type[m.type]++;
            total++;
        });
    }
    uint64_t operator[](MessageType t) const {
        auto it = by_type.find(t);
        return it == by_type.end() ? 0 : it->second;
    }
    void reset() {
        by_type.clear();
        total = 0;
    }
};

inline bool all_committed(const Simulator& sim, Index index) {
    for (int n = 1; n <= sim.size(); n++) {
        const Raft* r = sim.node(NodeId(n));
        if (!r || r->commit_index() < index) return false;
    }
    return true;
}

}  // namespace raftbook::testing
