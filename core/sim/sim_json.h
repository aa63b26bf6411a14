// The simulator as JSON: what the playground (through the wasm bindings) and native
// tools send in and get back.
//
// In: a cluster configuration, network settings, partition groups and state-view
// options, each as JSON text. Every reader checks its input completely — types,
// ranges, unknown keys — and throws std::invalid_argument with a message that says
// what was wrong and what is allowed, so the Simulator only ever sees valid values
// and a host can turn any mistake into an error for its caller.
//
// Out: state_json() is one snapshot of the whole simulated world — time, every node
// (role, term, vote, commit/applied/persisted indexes, election timer, log, key-value
// map and each key's revision, its configuration and where it stands in it; for a
// crashed node, what its disk holds; "kind": "native" or "browser", and for a browser its
// "via" (null when unlinked) and whether it is "closed"), the cluster's configuration (the leader's) and where
// each node stands in it, Config entries decoded and labelled with what they changed, the
// messages in flight with a per-type summary, the checker's violations, recent client
// requests and membership changes, statistics and the trace hash. Logs can be thousands of
// entries long, so the view can be limited to an index window; every node still
// reports its first and last log index. Numbers that may pass 2^53 (trace hash,
// seed) are strings, because JavaScript numbers cannot hold them.
//
// The keys are documented for JavaScript callers in wasm/README.md.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/sim/scenario.h"
#include "core/sim/simulator.h"

namespace raftbook {

// {"nodes": 5, "seed": 42, "drop": 0.1, "latency_ms": [10, 30], "tick_ms": 50, "browsers": 2, ...}
// Missing keys keep SimConfig's defaults.
SimConfig sim_config_from_json(const std::string& text);

// {"drop": 0.1, "duplicate": 0, "reorder": 0, "latency_ms": [10, 30], "disk_ms": [1, 3],
//  "disk_slow": 0.03, "disk_slow_ms": [20, 80]}   (the disk's tail: that fraction is slow)
// Keys that are missing keep their value in `base`. A range may also be one number.
NetworkConfig network_from_json(const std::string& text, const NetworkConfig& base);

// [[1, 2], [3, 4, 5]]: node ids of a cluster of `nodes`, each in at most one group.
std::vector<std::vector<NodeId>> groups_from_json(const std::string& text, int nodes);

// A node id given as a JavaScript number: a whole number in 1..nodes.
NodeId checked_node(double id, int nodes);

// A non-negative, finite number no larger than `max` (durations, rates).
double checked_amount(double value, double max, const char* what);

struct StateView {
    Index log_from = 1;          // entries below are left out
    Index log_to = UINT64_MAX;   // entries above are left out
    size_t requests = 20;        // the most recent client requests shown
};
// {"log_from": 100, "log_to": 160, "requests": 5}; "" or "{}" gives the defaults.
StateView state_view_from_json(const std::string& text);

std::string state_json(const Simulator& sim, const StateView& view = StateView{});

// The trace hash as 16 hex digits (the "trace_hash" of state_json).
std::string trace_hash_hex(const Simulator& sim);

// A membership change or transfer as asked for: {"id", "op", "node", "invoke_ms",
// "complete_ms" (-1 while pending), "outcome" ("pending", "ok" or "refused"), "error"
// (why refused), "index" (the Config entry's), "tries"}.
nlohmann::json membership_op_json(const MembershipOp& op);

// The checker's violations: rule, detail, nodes, index, event, time_ms each.
nlohmann::json violations_json(const Simulator& sim);

// One message in flight with every field and entry (codec's view plus the network's
// id, sent_ms and arrives_ms), or "null" when it is no longer in flight.
std::string message_json(const Simulator& sim, uint64_t id);

// What a watch on `node` for keys starting with `prefix` ("" for all) would have
// streamed: {"node", "up", "floor", "changes": [{"revision", "key", "value"
// (unless deleted), "deleted"}]}, in revision order (Simulator::changes).
std::string watch_json(const Simulator& sim, NodeId node, const std::string& prefix);

// {"title", "config": {...as sim_config_from_json reads it}, "preloads": [...],
//  "actions": [{"line", "verb", "args", "text"}]}
std::string scenario_json(const Scenario& s);

// ["skip_prev_log_check", ...]: the names Simulator::set_fault accepts.
std::string fault_names_json();

// {"ok": true, "message": "..."}
std::string action_result_json(const ActionResult& r);

}  // namespace raftbook
