// The JavaScript face of the simulator: embind glue and nothing else.
//
// rb.Simulation is the core's Simulator itself; rb.BrowserNode is the page's live
// node (core/runtime/browser_node.h) behind a poll-style face (below). Every bound function checks its
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

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/codec/codec.h"
#include "core/kv/kv_store.h"
#include "core/runtime/browser_node.h"
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

// ---------------------------------------------------------------- rb.BrowserNode

constexpr double kMaxTimeMs = 9007199254740991.0;  // 2^53 - 1: any time a page's clock gives
constexpr uint64_t kMaxNodeId = 4294967295;

TimeMs checked_time(double now) { return TimeMs(checked_amount(now, kMaxTimeMs, "now")); }

NodeId id_from_json(const nlohmann::json& j, const std::string& what) {
    if (!j.is_number_unsigned() || j.get<uint64_t>() == 0 || j.get<uint64_t>() > kMaxNodeId)
        throw std::invalid_argument(what + " must be a node id (a whole number from 1), not " + j.dump());
    return j.get<NodeId>();
}

NodeId checked_id(double id, const char* what) {
    if (!(id >= 1 && id <= double(kMaxNodeId)) || std::floor(id) != id)
        throw std::invalid_argument(std::string(what) + " must be a node id (a whole number from 1)");
    return NodeId(id);
}

uint64_t checked_u64_text(const nlohmann::json& j, const std::string& what) {
    const std::string text = j.is_string() ? j.get<std::string>() : "";
    uint64_t v = 0;
    bool ok = !text.empty() && text.size() <= 20;
    for (char c : text) {
        if (c < '0' || c > '9' || v > (UINT64_MAX - uint64_t(c - '0')) / 10) ok = false;
        if (ok) v = v * 10 + uint64_t(c - '0');
    }
    if (!ok)
        throw std::invalid_argument(what + " must be a 64-bit whole number as a string of decimal digits, not " +
                                    j.dump());
    return v;
}

// The members array of a native /status (its other keys, such as "connected", are ignored).
Membership membership_from_status(const nlohmann::json& members, const nlohmann::json& removed) {
    Membership m;
    if (!members.is_array() || members.empty())
        throw std::invalid_argument("members must be the members array of a cluster member's /status");
    for (const nlohmann::json& j : members) {
        if (!j.is_object()) throw std::invalid_argument("members[] must hold objects, not " + j.dump());
        Member x;
        x.id = id_from_json(j.value("id", nlohmann::json()), "members[].id");
        x.voter = j.value("voter", nlohmann::json(true)) == true;
        x.browser = j.value("kind", nlohmann::json("native")) == "browser";
        for (auto [field, out] : {std::pair{"peer", &x.peer}, std::pair{"http", &x.http}}) {
            const nlohmann::json v = j.value(field, nlohmann::json(""));
            if (!v.is_string() || !valid_member_address(v.get<std::string>()))
                throw std::invalid_argument(std::string("members[].") + field + " must be host:port, not " + v.dump());
            *out = v.get<std::string>();
        }
        m.members.push_back(x);
    }
    if (!removed.is_array()) throw std::invalid_argument("removed must be an array of node ids");
    for (const nlohmann::json& id : removed) m.removed.push_back(id_from_json(id, "removed[]"));
    std::sort(m.members.begin(), m.members.end(), [](const Member& a, const Member& b) { return a.id < b.id; });
    std::sort(m.removed.begin(), m.removed.end());
    if (const std::string e = m.validate(); !e.empty()) throw std::invalid_argument("members: " + e);
    return m;
}

BrowserNodeConfig browser_node_config_from_json(const std::string& text) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) throw std::invalid_argument("config is not valid JSON");
    if (!j.is_object()) throw std::invalid_argument("config must be a JSON object");
    static const std::vector<std::string> keys = {"id",      "cluster_id",   "token",         "random",
                                                  "members", "removed",      "promote_self",  "election_tick",
                                                  "heartbeat_tick", "remove_absent_browsers_after_ms", "min_voters"};
    for (const auto& item : j.items()) {
        if (std::find(keys.begin(), keys.end(), item.key()) == keys.end())
            throw std::invalid_argument("unknown config key '" + item.key() +
                                        "' (id, cluster_id, token, random, members, removed, promote_self, "
                                        "election_tick, heartbeat_tick, remove_absent_browsers_after_ms, min_voters)");
    }
    BrowserNodeConfig c;
    c.id = id_from_json(j.value("id", nlohmann::json()), "id");
    for (auto [field, out] : {std::pair{"cluster_id", &c.cluster_id}, std::pair{"token", &c.token}}) {
        const nlohmann::json v = j.value(field, nlohmann::json(""));
        if (!v.is_string() || v.get<std::string>().size() > 1024 || !is_utf8(v.get<std::string>()))
            throw std::invalid_argument(std::string(field) + " must be a string (at most 1024 bytes)");
        *out = v.get<std::string>();
    }
    if (c.cluster_id.empty()) throw std::invalid_argument("cluster_id must be the cluster_id of a member's /status");
    const nlohmann::json random = j.value("random", nlohmann::json());
    if (!random.is_array() || random.size() != 2)
        throw std::invalid_argument("random must be two 64-bit numbers as decimal strings (crypto.getRandomValues)");
    c.random_hi = checked_u64_text(random[0], "random[0]");
    c.random_lo = checked_u64_text(random[1], "random[1]");
    c.membership =
        membership_from_status(j.value("members", nlohmann::json()), j.value("removed", nlohmann::json::array()));
    if (c.membership.is_member(c.id) || c.membership.was_removed(c.id))
        throw std::invalid_argument("id " + std::to_string(c.id) + " is used in this cluster already: pick a fresh one");
    const nlohmann::json promote = j.value("promote_self", nlohmann::json(false));
    if (!promote.is_boolean()) throw std::invalid_argument("promote_self must be true or false");
    c.runtime.promote_self = promote.get<bool>();
    for (auto [field, out] : {std::pair{"election_tick", &c.runtime.raft.election_tick},
                              std::pair{"heartbeat_tick", &c.runtime.raft.heartbeat_tick}}) {
        const nlohmann::json v = j.value(field, nlohmann::json(*out));
        if (!v.is_number_unsigned() || v.get<uint64_t>() < 1 || v.get<uint64_t>() > 1000)
            throw std::invalid_argument(std::string(field) + " must be a whole number in (1..1000)");
        *out = v.get<int>();
    }
    if (c.runtime.raft.heartbeat_tick >= c.runtime.raft.election_tick)
        throw std::invalid_argument("heartbeat_tick must be below election_tick");
    // The cluster's absent-browser rule (a member's /status), which this node applies when it leads.
    const nlohmann::json absent = j.value("remove_absent_browsers_after_ms", nlohmann::json(uint64_t(60000)));
    const nlohmann::json min_voters = j.value("min_voters", nlohmann::json(uint64_t(3)));
    if (!absent.is_number_unsigned() || absent.get<uint64_t>() > 86400000ull * 365)
        throw std::invalid_argument("remove_absent_browsers_after_ms must be a whole number of ms (0: never)");
    if (!min_voters.is_number_unsigned() || min_voters.get<uint64_t>() < 1 || min_voters.get<uint64_t>() > 1000)
        throw std::invalid_argument("min_voters must be a whole number in (1..1000)");
    c.runtime.remove_absent_browsers_after_ms = TimeMs(absent.get<uint64_t>());
    c.runtime.min_voters = min_voters.get<size_t>();
    // As a native node has them (native/node/node_host.h), at one tick per 50 ms.
    c.runtime.no_leader_retry_ms = 50;
    c.runtime.snapshot_entries = 10000;
    c.runtime.catchup_entries = 5000;
    return c;
}

// A client request in the codec's JSON field names ("op", "key", "value", ...), checked
// by the codec's own decoder exactly as a frame from a peer is.
ClientRequest request_from_json(const std::string& text) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) throw std::invalid_argument("request is not valid JSON");
    if (!j.is_object())
        throw std::invalid_argument("request must be a JSON object like {\"op\": \"get\", \"key\": \"x\"}");
    j["v"] = kCodecVersion;
    j["cluster"] = "";
    j["type"] = "ClientRequest";
    Frame f;
    std::string error;
    if (!decode_frame(j.dump(), WireFormat::Json, &f, &error)) throw std::invalid_argument("request: " + error);
    return f.request;
}

// A reply in the codec's JSON field names ("ok", "found", "value", "error", "leader", ...).
nlohmann::json reply_json(const ClientReply& reply) {
    Frame f;
    f.type = MessageType::ClientReply;
    f.reply = reply;
    nlohmann::json j = nlohmann::json::parse(encode_frame(f, WireFormat::Json));
    for (const char* k : {"v", "cluster", "type"}) j.erase(k);
    j["ok"] = reply.ok;  // the codec leaves false out
    return j;
}

// rb.BrowserNode: a BrowserNode whose requests are numbered (handles) and whose answers
// and outgoing frames wait in queues, so the page polls (takeReplies, takeOutbox) after
// its calls instead of passing callbacks into wasm.
class WasmBrowserNode {
public:
    WasmBrowserNode(BrowserNodeConfig config, TimeMs now) : node_(std::move(config), now) {}

    void link_up(double via, double now) {
        reported([&] { node_.link_up(checked_id(via, "linkUp(viaId)"), checked_time(now)); });
    }
    void link_down(double now) {
        reported([&] { node_.link_down(checked_time(now)); });
    }
    void link_closed(double code, double now) {
        reported([&] { node_.link_down(checked_time(now), int(checked_amount(code, 4999, "linkClosed(code)"))); });
    }
    std::string receive(const std::string& bytes, bool is_text, double now) {
        return reported([&] { return node_.receive(bytes, is_text, checked_time(now)); });
    }
    std::string take_outbox() {
        return reported([&] { return nlohmann::json(node_.take_outbox()).dump(); });
    }
    void tick(double now) {
        reported([&] { node_.tick(checked_time(now)); });
    }
    double submit(const std::string& request, double now) {
        return reported([&] {
            ClientRequest r = request_from_json(request);
            r.client_id = 0;  // the runtime's sessions number the page's requests
            r.seq = 0;
            const double h = next_handle_++;
            node_.submit(std::move(r), answer(h), checked_time(now));
            return h;
        });
    }
    double promote(double now) {
        return reported([&] {
            const double h = next_handle_++;
            node_.promote(answer(h), checked_time(now));
            return h;
        });
    }
    double leave(double now) {
        return reported([&] {
            const double h = next_handle_++;
            node_.leave(answer(h), checked_time(now));
            return h;
        });
    }
    std::string take_replies() {
        return reported([&] {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& [handle, reply] : replies_) out.push_back({{"handle", handle}, {"reply", reply_json(reply)}});
            replies_.clear();
            return out.dump();
        });
    }
    std::string status() {
        return reported([&] { return node_.status().dump(); });
    }

private:
    ReplyFn answer(double handle) {
        return [this, handle](const ClientReply& r) { replies_.emplace_back(handle, r); };
    }
    BrowserNode node_;
    double next_handle_ = 1;
    std::vector<std::pair<double, ClientReply>> replies_;
};

WasmBrowserNode* new_browser_node(const std::string& config, double now) {
    return reported([&] { return new WasmBrowserNode(browser_node_config_from_json(config), checked_time(now)); });
}

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
    emscripten::class_<WasmBrowserNode>("BrowserNode")
        .constructor(&new_browser_node, allow_raw_pointers())
        .function("linkUp", &WasmBrowserNode::link_up)
        .function("linkDown", &WasmBrowserNode::link_down)
        .function("linkClosed", &WasmBrowserNode::link_closed)
        .function("receive", &WasmBrowserNode::receive)
        .function("takeOutbox", &WasmBrowserNode::take_outbox)
        .function("tick", &WasmBrowserNode::tick)
        .function("submit", &WasmBrowserNode::submit)
        .function("promote", &WasmBrowserNode::promote)
        .function("leave", &WasmBrowserNode::leave)
        .function("takeReplies", &WasmBrowserNode::take_replies)
        .function("status", &WasmBrowserNode::status);
}
