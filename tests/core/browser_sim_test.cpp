// Browser members in the simulator (simulator.h, "Browser members") and the leader's
// removal of absent ones (node_runtime.h, "Absent browsers").
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>

#include "core/sim/nemesis.h"
#include "tests/core/sim_support.h"

using namespace raftbook;
using namespace raftbook::testing;

namespace {

std::string first_violation(const Simulator& sim) {
    if (sim.checker().ok()) return "";
    const Violation& v = sim.checker().violations().front();
    return v.rule + ": " + v.detail;
}

// The script without its fault switches and expected violations, and `expect safe` at the end.
std::string without_faults(const std::string& text) {
    std::istringstream in(text);
    std::string line, out;
    while (std::getline(in, line))
        if (line.rfind("fault ", 0) != 0 && line.rfind("expect violation", 0) != 0) out += line + "\n";
    return out + "expect safe\n";
}

}  // namespace

TEST_CASE("browser reload keeps id: a browser voter that voted, reloads and votes again breaks Election Safety") {
    const std::string text = read_scenario_file("browser_reload_keeps_id.txt");
    auto sim = run_script(text);
    REQUIRE(!sim->checker().ok());
    CHECK(sim->checker().violations().front().rule == "Election Safety");
}

TEST_CASE("browser reload keeps id: the same script with the fault off (a fresh id) stays safe") {
    auto sim = run_script(without_faults(read_scenario_file("browser_reload_keeps_id.txt")));
    CHECK(sim->checker().ok());
    CHECK(sim->is_closed(3));
    CHECK(sim->size() == 4);  // the page came back as node 4
}
