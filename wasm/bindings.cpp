// The JavaScript face of the simulator: embind glue and nothing else.
//
// rb.Simulation is the core's Simulator itself. Every bound function checks its
// arguments with core/sim/sim_json.h (so a bad node id never reaches the simulator)
// and runs inside reported(): a C++ exception is caught there and its message kept for
// takeError(), and the function returns normally with an empty value. throw_errors.js
// (linked in as --post-js) calls takeError() after every call and throws a JavaScript
// Error with that message. Throwing the JavaScript error from inside wasm instead
// would leave the wasm frames below it unfinished: their destructors skipped and
// their shadow-stack space never given back, so that enough mistakes would overflow
// the stack. Structured values cross as JSON text in both directions. The API is
// documented in wasm/README.md.
#include <emscripten/bind.h>

#include <cmath>
#include <memory>
#include <string>

#include "core/kv/kv_store.h"
#include "core/raft/raft.h"
#include "core/sim/scenario.h"
#include "core/sim/sim_json.h"
#include "core/sim/simulator.h"

using namespace raftbook;

namespace {

std::string& pending_error() {
    static std::string message;
    return message;
}

// Runs f(); when it throws, keeps the message for takeError() and returns an empty value.
template <class F>
auto reported(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const std::exception& e) {
        pending_error() = e.what();
    } catch (...) {
        pending_error() = "unexpected C++ exception";
    }
    return decltype(f())();
}

std::string take_error() {
    std::string message;
    message.swap(pending_error());
    return message;
}

constexpr double kMaxAdvanceMs = 1e9;      // one call runs at most ~11 days of virtual time
constexpr double kMaxClientRate = 1000;    // client requests per second

Simulator* new_simulation(const std::string& config) {
    return reported([&] { return new Simulator(sim_config_from_json(config)); });
}

Simulator* from_scenario(const std::string& text) {
    return reported([&] {
        Scenario s;
        std::string error;
        if (!parse_scenario(text, &s, &error)) throw std::invalid_argument(error);
        return make_simulator(s).release();
    });
}

// A checkpoint (Simulator::clone): a new rb.Simulation, to be deleted like any other.
Simulator* clone_simulation(Simulator& sim) {
    return reported([&] { return sim.clone().release(); });
}

std::string parse_scenario_json(const std::string& text) {
    return reported([&] {
        Scenario s;
        std::string error;
        if (!parse_scenario(text, &s, &error)) throw std::invalid_argument(error);
        return scenario_json(s);
    });
}

std::string fault_names() {
    return reported([] { return fault_names_json(); });
}

void advance(Simulator& sim, double ms) {
    reported([&] { sim.advance(TimeMs(checked_amount(ms, kMaxAdvanceMs, "advance(ms)"))); });
}

void advance_to(Simulator& sim, double time_ms) {
    reported([&] {
        const TimeMs t = TimeMs(checked_amount(time_ms, double(sim.now()) + kMaxAdvanceMs, "advanceTo(time_ms)"));
        if (t > sim.now()) sim.advance(t - sim.now());
    });
}

bool step(Simulator& sim) {
    return reported([&] { return sim.step(); });
}

double propose(Simulator& sim, const std::string& command) {
    return reported([&] {
        Command c;
        std::string error;
        if (!parse_command(command, &c, &error)) throw std::invalid_argument(error);
        return double(sim.propose(command));
    });
}

double read(Simulator& sim, const std::string& key) {
    return reported([&] { return double(sim.read(key)); });
}

bool campaign(Simulator& sim, double n) {
    return reported([&] { return sim.campaign(checked_node(n, sim.size())); });
}

void crash(Simulator& sim, double n) {
    reported([&] { sim.crash(checked_node(n, sim.size())); });
}

void restart(Simulator& sim, double n) {
    reported([&] { sim.restart(checked_node(n, sim.size())); });
}

void partition(Simulator& sim, const std::string& groups) {
    reported([&] { sim.partition(groups_from_json(groups, sim.size())); });
}

void heal(Simulator& sim) {
    reported([&] { sim.heal(); });
}

void cut(Simulator& sim, double from, double to) {
    reported([&] { sim.cut(checked_node(from, sim.size()), checked_node(to, sim.size())); });
}

void restore(Simulator& sim, double from, double to) {
    reported([&] { sim.restore(checked_node(from, sim.size()), checked_node(to, sim.size())); });
}

void set_network(Simulator& sim, const std::string& settings) {
    reported([&] { sim.set_network(network_from_json(settings, sim.network())); });
}

void set_fault(Simulator& sim, double n, const std::string& name, bool on) {
    reported([&] {
        const NodeId id = checked_node(n, sim.size());
        if (!sim.set_fault(id, name, on))
            throw std::invalid_argument("unknown fault '" + name + "' (one of " + fault_names_json() + ")");
    });
}

void set_client_rate(Simulator& sim, double per_second) {
    reported([&] { sim.set_client_rate(checked_amount(per_second, kMaxClientRate, "setClientRate(perSecond)")); });
}

// Membership (thesis ch. 4). add_node takes only the next free machine slot; each
// returns the op id (state()'s membership_ops), or throws saying why it cannot be asked.
double add_node(Simulator& sim, double n, bool learner) {
    return reported([&] {
        const int next = sim.size() + 1;
        if (next > Simulator::kMaxNodes)
            throw std::invalid_argument("the simulator holds at most " + std::to_string(Simulator::kMaxNodes) + " nodes");
        const NodeId id = checked_node(n, Simulator::kMaxNodes);
        if (int(id) != next)
            throw std::invalid_argument("the next node to add is " + std::to_string(next) + ", not " + std::to_string(id));
        return double(sim.add_node(id, learner));
    });
}

// promote, remove_node and transfer_leader, which differ only in what they ask.
template <uint64_t (Simulator::*ask)(NodeId, bool)>
double membership_change(Simulator& sim, double n) {
    return reported([&] {
        const uint64_t id = (sim.*ask)(checked_node(n, sim.size()), false);
        if (!id) throw std::invalid_argument("node " + std::to_string(NodeId(n)) + " cannot be asked for that now");
        return double(id);
    });
}

std::string membership_ops(Simulator& sim) {
    return reported([&] {
        nlohmann::json ops = nlohmann::json::array();
        for (const MembershipOp& op : sim.membership_ops()) ops.push_back(membership_op_json(op));
        return ops.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    });
}

std::string run_action_json(Simulator& sim, const std::string& line) {
    return reported([&] {
        ScenarioAction a;
        std::string error;
        if (!parse_action(line, &a, &error)) throw std::invalid_argument(error);
        return action_result_json(run_action(sim, a));
    });
}

std::string state(Simulator& sim) {
    return reported([&] { return state_json(sim); });
}

std::string state_with(Simulator& sim, const std::string& view) {
    return reported([&] { return state_json(sim, state_view_from_json(view)); });
}

std::string message(Simulator& sim, double id) {
    return reported([&] {
        if (!(id >= 0 && id == std::floor(id))) throw std::invalid_argument("a message id is a whole number");
        return message_json(sim, uint64_t(id));
    });
}

void lose(Simulator& sim, double id) {
    reported([&] {
        if (!(id >= 1 && id == std::floor(id))) throw std::invalid_argument("a message id is a whole number from 1");
        if (!sim.lose(uint64_t(id)))
            throw std::invalid_argument("message " + std::to_string(uint64_t(id)) + " is not in flight (delivered or lost already)");
    });
}

// What node n's newest snapshot holds, decoded: its index, term and size, and the
// key-value map it restores (its up copy, or the one on a crashed node's disk).
std::string snapshot_contents(Simulator& sim, double n) {
    return reported([&] {
        const NodeId id = checked_node(n, sim.size());
        const Raft* r = sim.node(id);
        const Snapshot* s = r ? r->snapshot().get() : sim.durable_snapshot(id) ? &*sim.durable_snapshot(id) : nullptr;
        nlohmann::json j = {{"index", s ? s->meta.index : 0}, {"term", s ? s->meta.term : 0}, {"bytes", s ? s->size() : 0}};
        KvStore kv;
        std::string error;
        if (s && s->data && !KvStore::decode(*s->data, &kv, &error))
            throw std::runtime_error("node " + std::to_string(id) + "'s snapshot does not decode: " + error);
        j["kv"] = kv.sorted();
        return j.dump();
    });
}

std::string watch(Simulator& sim, double n, const std::string& prefix) {
    return reported([&] {
        if (prefix.size() > kMaxKeyBytes)
            throw std::invalid_argument("a watch prefix is at most " + std::to_string(kMaxKeyBytes) + " bytes");
        return watch_json(sim, checked_node(n, sim.size()), prefix);
    });
}

std::string trace_hash(Simulator& sim) {
    return reported([&] { return trace_hash_hex(sim); });
}

double time_ms(Simulator& sim) { return double(sim.now()); }

}  // namespace

EMSCRIPTEN_BINDINGS(raftbook) {
    using emscripten::allow_raw_pointers;
    emscripten::function("takeError", &take_error);
    emscripten::function("parseScenario", &parse_scenario_json);
    emscripten::function("faultNames", &fault_names);
    emscripten::class_<Simulator>("Simulation")
        .constructor(&new_simulation, allow_raw_pointers())
        .class_function("fromScenario", &from_scenario, allow_raw_pointers())
        .function("clone", &clone_simulation, allow_raw_pointers())
        .function("advance", &advance)
        .function("advanceTo", &advance_to)
        .function("step", &step)
        .function("time", &time_ms)
        .function("propose", &propose)
        .function("read", &read)
        .function("campaign", &campaign)
        .function("crash", &crash)
        .function("restart", &restart)
        .function("partition", &partition)
        .function("heal", &heal)
        .function("cut", &cut)
        .function("restore", &restore)
        .function("setNetwork", &set_network)
        .function("setFault", &set_fault)
        .function("setClientRate", &set_client_rate)
        .function("addNode", &add_node)
        .function("promote", &membership_change<&Simulator::promote>)
        .function("removeNode", &membership_change<&Simulator::remove_node>)
        .function("transferLeader", &membership_change<&Simulator::transfer_leader>)
        .function("membershipOps", &membership_ops)
        .function("runAction", &run_action_json)
        .function("state", &state)
        .function("state", &state_with)
        .function("message", &message)
        .function("lose", &lose)
        .function("snapshotContents", &snapshot_contents)
        .function("watch", &watch)
        .function("traceHash", &trace_hash);
}
