// The simulator's JSON face (core/sim/sim_json.h), natively: strict readers that
// refuse what they cannot use with a message, and the state view the playground draws.
#include <functional>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/sim/sim_json.h"

using namespace raftbook;
using nlohmann::json;

namespace {

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("sim_json: a config reads every key and keeps defaults for the rest") {
    const SimConfig d = sim_config_from_json("{}");
    CHECK(d.nodes == SimConfig{}.nodes);
    CHECK(d.net.latency_max_ms == NetworkConfig{}.latency_max_ms);

    const SimConfig c = sim_config_from_json(
        R"({"nodes": 7, "seed": "18446744073709551615", "tick_ms": 20, "election_tick": 12, "heartbeat_tick": 3,
            "pre_vote": false, "check_quorum": false, "check": false, "max_append_bytes": 1,
            "drop": 0.1, "duplicate": 0.2, "reorder": 0.3, "latency_ms": [5, 9], "disk_ms": 4})");
    CHECK(c.nodes == 7);
    CHECK(c.seed == UINT64_MAX);
    CHECK(c.tick_ms == 20);
    CHECK(c.election_tick == 12);
    CHECK(c.heartbeat_tick == 3);
    CHECK_FALSE(c.pre_vote);
    CHECK_FALSE(c.check_quorum);
    CHECK_FALSE(c.check);
    CHECK(c.max_append_bytes == 1);
    CHECK(c.net.drop == 0.1);
    CHECK(c.net.duplicate == 0.2);
    CHECK(c.net.reorder == 0.3);
    CHECK(c.net.latency_min_ms == 5);
    CHECK(c.net.latency_max_ms == 9);
    CHECK(c.net.disk_min_ms == 4);
    CHECK(c.net.disk_max_ms == 4);
    CHECK(sim_config_from_json(R"({"seed": 1e3})").seed == 1000);
}

TEST_CASE("sim_json: bad input is refused with what was wrong") {
    CHECK(error_of([] { sim_config_from_json("{"); }).find("not valid JSON") != std::string::npos);
    CHECK(error_of([] { sim_config_from_json("3"); }) == "the simulation config must be a JSON object, not 3");
    CHECK(error_of([] { sim_config_from_json(R"({"nodes": 12})"); }) ==
          "nodes must be a whole number in (1..9), not 12");
    CHECK(error_of([] { sim_config_from_json(R"({"nodes": -1})"); }) ==
          "nodes must be a whole number in (1..9), not -1");
    CHECK(error_of([] { sim_config_from_json(R"({"nodes": true})"); }) ==
          "nodes must be a whole number (1..9), not true");
    CHECK(error_of([] { sim_config_from_json(R"({"drop": "a lot"})"); }) ==
          "drop must be a probability from 0 to 1, not \"a lot\"");
    CHECK(error_of([] { sim_config_from_json(R"({"colour": 1})"); }).find("unknown config key 'colour'") == 0);
    CHECK(error_of([] { sim_config_from_json(R"({"election_tick": 4, "heartbeat_tick": 4})"); }) ==
          "heartbeat_tick (4) must be below election_tick (4)");
    CHECK(error_of([] { network_from_json(R"({"disk_ms": [3, 1]})", NetworkConfig{}); }) ==
          "disk_ms must be [min, max] with min <= max, not [3,1]");
    CHECK(error_of([] { groups_from_json("[[1], [1]]", 3); }) == "node 1 is in two groups of the partition");
    CHECK(error_of([] { groups_from_json("[[4]]", 3); }) == "a node id must be a whole number in (1..3), not 4");
    CHECK(error_of([] { checked_node(0, 3); }) == "no node 0: nodes are numbered 1..3");
    CHECK(error_of([] { checked_node(2.5, 3); }) == "no node 2.5: nodes are numbered 1..3");
    CHECK(error_of([] { checked_amount(-1, 10, "rate"); }) == "rate must be a number from 0 to 10, not -1");
    CHECK(error_of([] { state_view_from_json(R"({"log_form": 1})"); }).find("unknown state option 'log_form'") == 0);
}

TEST_CASE("sim_json: network settings change only the keys given, groups read as given") {
    NetworkConfig base;
    base.drop = 0.5;
    const NetworkConfig n = network_from_json(R"({"latency_ms": [1, 2]})", base);
    CHECK(n.drop == 0.5);
    CHECK(n.latency_min_ms == 1);
    CHECK(n.latency_max_ms == 2);
    const NetworkConfig slow = network_from_json(R"({"disk_slow": 0.1, "disk_slow_ms": [40, 90]})", base);
    CHECK(slow.disk_slow == 0.1);
    CHECK(slow.disk_slow_min_ms == 40);
    CHECK(slow.disk_slow_max_ms == 90);
    CHECK_THROWS_AS(network_from_json(R"({"disk_slow": 1.5})", base), std::invalid_argument);
    CHECK(groups_from_json("[[1, 2], [3, 4, 5]]", 5) == std::vector<std::vector<NodeId>>{{1, 2}, {3, 4, 5}});
    CHECK(checked_node(3, 3) == 3);
}

TEST_CASE("sim_json: the state view holds nodes, logs in a window, messages, requests and the hash") {
    Simulator sim(sim_config_from_json(R"({"nodes": 3, "seed": 4})"));
    REQUIRE(sim.run_until([&] { return sim.leader().has_value(); }, 5000));
    for (int i = 0; i < 5; i++) sim.propose("set k" + std::to_string(i) + " v");
    sim.advance(1000);
    sim.crash(3);
    sim.cut(1, 2);
    sim.propose("set late 1");

    const json s = json::parse(state_json(sim, state_view_from_json(R"({"log_from": 2, "log_to": 3, "requests": 2})")));
    CHECK(s["time_ms"] == sim.now());
    CHECK(s["tick_ms"] == 50);
    CHECK(s["trace_hash"] == trace_hash_hex(sim));
    CHECK(s["trace_hash"].get<std::string>().size() == 16);
    REQUIRE(s["nodes"].size() == 3);
    const json& down = s["nodes"][2];  // crashed: what its disk holds
    CHECK(down["up"] == false);
    CHECK_FALSE(down.contains("role"));
    CHECK(down["term"] == sim.durable_hard_state(3).current_term);
    CHECK(down["log_last_index"] == sim.durable_log(3).size());
    REQUIRE(down["log"].size() == 2);
    CHECK(down["log"][1]["index"] == 3);
    const json& n1 = s["nodes"][0];
    CHECK(n1["up"] == true);
    CHECK(n1["log_first_index"] == 1);
    CHECK(n1["log_last_index"] >= 6);
    REQUIRE(n1["log"].size() == 2);
    CHECK(n1["log"][0]["index"] == 2);
    CHECK(n1["log"][1]["index"] == 3);
    CHECK(n1["log"][0]["type"] == "Command");
    CHECK(n1["kv"]["k0"] == "v");
    CHECK(s["links_down"] == json::parse("[[1, 2]]"));
    REQUIRE(s["requests"].size() == 2);
    CHECK(s["requests"][1]["command"] == "set late 1");
    CHECK(s["requests"][0]["outcome"] == "ok");
    CHECK(s["violations"].empty());
    CHECK(s["stats"]["events"] == sim.stats().events);
    CHECK(s["stats"]["committed"] == sim.checker().committed().size());
    for (const json& m : s["messages"]) {
        CHECK(m.contains("summary"));
        CHECK(json::parse(message_json(sim, m["id"])).at("type") == m["type"]);
    }
    CHECK(message_json(sim, 0) == "null");
}

TEST_CASE("sim_json: the state's messages in flight are the simulator's, field for field") {
    Simulator sim(sim_config_from_json(R"({"nodes": 3, "seed": 4})"));
    REQUIRE(sim.run_until([&] { return sim.leader().has_value(); }, 5000));
    sim.propose("set \"quoted\" v");
    sim.advance(5);
    sim.cut(1, 2);

    const json s = json::parse(state_json(sim));
    REQUIRE(s["messages"].size() == sim.in_flight().size());
    REQUIRE_FALSE(s["messages"].empty());
    for (size_t i = 0; i < sim.in_flight().size(); i++) {
        const InFlight& f = sim.in_flight()[i];
        const json& m = s["messages"][i];
        CHECK(m["id"] == f.id);
        CHECK(m["from"] == f.msg.from);
        CHECK(m["to"] == f.msg.to);
        CHECK(m["term"] == f.msg.term);
        CHECK(m["sent_ms"] == f.sent_ms);
        CHECK(m["arrives_ms"] == f.arrives_ms);
        CHECK(json::parse(message_json(sim, f.id)).at("type") == m["type"]);
        CHECK_FALSE(m["summary"].get<std::string>().empty());
    }
    CHECK(s["dropped"].size() == sim.recent_drops().size());

    Simulator alone(sim_config_from_json(R"({"nodes": 1, "seed": 4})"));  // nothing to send
    const json quiet = json::parse(state_json(alone));
    CHECK(quiet["messages"] == json::array());
    CHECK(quiet["dropped"] == json::array());
}

TEST_CASE("sim_json: a scenario's JSON holds its header, preloads and actions") {
    Scenario sc;
    std::string error;
    REQUIRE(parse_scenario("title T\nnodes 4\npreload 2 terms 1,2\ncampaign 2\n", &sc, &error));
    const json j = json::parse(scenario_json(sc));
    CHECK(j["title"] == "T");
    CHECK(j["config"]["nodes"] == 4);
    CHECK(j["config"]["seed"] == "1");
    CHECK(j["preloads"] == json::parse(R"([{"node": 2, "terms": [1, 2], "term": 0}])"));
    CHECK(j["actions"] == json::parse(R"([{"line": 4, "verb": "campaign", "args": "2", "text": "campaign 2"}])"));
    CHECK(sim_config_from_json(j["config"].dump()).nodes == 4);
    CHECK(json::parse(action_result_json({false, "no"})) == json::parse(R"({"ok": false, "message": "no"})"));
    CHECK(json::parse(fault_names_json()).size() == Faults::names().size());
}
