// Reading JSON settings for the simulator and writing its state as JSON.
//
// Readers are strict: every key must be known and every value in range, and a
// mistake throws std::invalid_argument naming the key, what it holds and what it
// should hold. Writers build one nlohmann::json tree and dump it (but for the messages in
// flight, written straight as text: FlatObject); invalid UTF-8 in a command is replaced
// rather than thrown on, since a view must always be printable.
#include "core/sim/sim_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <type_traits>

#include "core/codec/codec.h"
#include "core/runtime/node_runtime.h"
#include "core/sim/sim_history.h"

namespace raftbook {

using nlohmann::json;

namespace {

constexpr TimeMs kMaxDelayMs = 60000;  // latency and disk delays up to a minute
constexpr int kMaxTicks = 1000;

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

std::string shown(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

json parse(const std::string& text, const std::string& what) {
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        const std::string msg = e.what();
        const size_t end = msg.find("] ");  // drop nlohmann's "[json.exception.parse_error.101] "
        bad(what + " is not valid JSON: " + (end == std::string::npos ? msg : msg.substr(end + 2)));
    }
}

json parse_object(const std::string& text, const std::string& what) {
    json j = parse(text, what);
    if (!j.is_object()) bad(what + " must be a JSON object, not " + shown(j));
    return j;
}

// A number from JavaScript as a person would write it: 7, not 7.0.
std::string number_text(double x) {
    if (std::isnan(x)) return "NaN";
    if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
    return x == std::floor(x) && std::fabs(x) < 1e15 ? std::to_string(int64_t(x)) : json(x).dump();
}

// A whole number in [lo, hi]; JSON integers and integral floats (1e3) are accepted.
uint64_t whole(const json& v, const std::string& key, uint64_t lo, uint64_t hi) {
    const std::string range = " (" + std::to_string(lo) + ".." + std::to_string(hi) + ")";
    if (v.is_number_unsigned()) {
        const uint64_t x = v.get<uint64_t>();
        if (x >= lo && x <= hi) return x;
    } else if (v.is_number_float()) {
        const double x = v.get<double>();
        if (x == std::floor(x) && x >= double(lo) && x <= double(hi) && x < 0x1p64) return uint64_t(x);
    } else if (!v.is_number_integer()) {
        bad(key + " must be a whole number" + range + ", not " + shown(v));
    }
    bad(key + " must be a whole number in" + range + ", not " + shown(v));
}

double probability(const json& v, const std::string& key) {
    if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() <= 1))
        bad(key + " must be a probability from 0 to 1, not " + shown(v));
    return v.get<double>();
}

bool boolean(const json& v, const std::string& key) {
    if (!v.is_boolean()) bad(key + " must be true or false, not " + shown(v));
    return v.get<bool>();
}

// [min, max] in milliseconds, or one number for both.
std::pair<TimeMs, TimeMs> delay_range(const json& v, const std::string& key) {
    if (v.is_array()) {
        if (v.size() != 2) bad(key + " must be [min, max] in ms, not " + shown(v));
        const TimeMs lo = TimeMs(whole(v[0], key + "[0]", 0, kMaxDelayMs));
        const TimeMs hi = TimeMs(whole(v[1], key + "[1]", 0, kMaxDelayMs));
        if (hi < lo) bad(key + " must be [min, max] with min <= max, not " + shown(v));
        return {lo, hi};
    }
    const TimeMs x = TimeMs(whole(v, key, 0, kMaxDelayMs));
    return {x, x};
}

// Applies one network key; false when `key` is not a network setting.
bool apply_network_key(NetworkConfig* net, const std::string& key, const json& v) {
    if (key == "drop") {
        net->drop = probability(v, key);
    } else if (key == "duplicate") {
        net->duplicate = probability(v, key);
    } else if (key == "reorder") {
        net->reorder = probability(v, key);
    } else if (key == "latency_ms") {
        std::tie(net->latency_min_ms, net->latency_max_ms) = delay_range(v, key);
    } else if (key == "disk_ms") {
        std::tie(net->disk_min_ms, net->disk_max_ms) = delay_range(v, key);
    } else if (key == "disk_slow") {
        net->disk_slow = probability(v, key);
    } else if (key == "disk_slow_ms") {
        std::tie(net->disk_slow_min_ms, net->disk_slow_max_ms) = delay_range(v, key);
    } else {
        return false;
    }
    return true;
}

const char* const kNetworkKeys = "drop, duplicate, reorder, latency_ms, disk_ms, disk_slow, disk_slow_ms";

json network_json(const NetworkConfig& n) {
    return {{"drop", n.drop},
            {"duplicate", n.duplicate},
            {"reorder", n.reorder},
            {"latency_ms", {n.latency_min_ms, n.latency_max_ms}},
            {"disk_ms", {n.disk_min_ms, n.disk_max_ms}},
            {"disk_slow", n.disk_slow},
            {"disk_slow_ms", {n.disk_slow_min_ms, n.disk_slow_max_ms}}};
}

json config_json(const SimConfig& c) {
    json j = {{"nodes", c.nodes},
              {"seed", std::to_string(c.seed)},
              {"tick_ms", c.tick_ms},
              {"election_tick", c.election_tick},
              {"heartbeat_tick", c.heartbeat_tick},
              {"pre_vote", c.pre_vote},
              {"check_quorum", c.check_quorum},
              {"max_append_bytes", c.max_append_bytes},
              {"snapshot_entries", c.snapshot_entries},
              {"catchup_entries", c.catchup_entries},
              {"snapshot_chunk_bytes", c.snapshot_chunk_bytes},
              {"browsers", c.browsers},
              {"remove_absent_browsers_after_ms", c.remove_absent_browsers_after_ms},
              {"min_voters", c.min_voters},
              {"check", c.check}};
    j.update(network_json(c.net));
    return j;
}

uint64_t seed_value(const json& v) {
    if (v.is_string()) {
        const std::string s = v.get<std::string>();
        if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos)
            bad("seed must be a whole number or a string of decimal digits, not " + shown(v));
        try {
            return std::stoull(s);
        } catch (const std::out_of_range&) {
            bad("seed " + s + " does not fit in 64 bits");
        }
    }
    return whole(v, "seed", 0, UINT64_MAX);
}

// A configuration: {"voters": [ids], "learners": [ids], "removed": [ids]}.
json membership_json(const Membership& m) {
    return {{"voters", m.voters()}, {"learners", m.learners()}, {"removed", m.removed}};
}

// What a Config entry changed, in a log cell's few characters: "+4 learner" (added),
// "4 voter" (promoted), "−2" (removed); "same" when nothing did.
std::string change_label(const Membership& before, const Membership& after) {
    std::string out;
    const auto add = [&](const std::string& s) { out += (out.empty() ? "" : ", ") + s; };
    for (const Member& m : after.members) {
        const Member* was = before.find(m.id);
        if (!was) add("+" + std::to_string(m.id) + (m.voter ? " voter" : " learner"));
        else if (m.voter != was->voter) add(std::to_string(m.id) + (m.voter ? " voter" : " learner"));
    }
    for (const Member& m : before.members)
        if (!after.is_member(m.id)) add("\u2212" + std::to_string(m.id));
    return out.empty() ? "same" : out;
}

// An entry; a Config entry also carries its configuration, decoded ("configuration"),
// and what it changed from `before`, the configuration in force just below it ("change").
json entry_json(const Entry& e, const Membership* before = nullptr) {
    json j = {{"index", e.index},
              {"term", e.term},
              {"type", e.type == EntryType::NoOp ? "NoOp" : e.type == EntryType::Config ? "Config" : "Command"},
              {"command", e.data}};
    if (e.type == EntryType::Config) {
        Membership m;
        const std::string error = Membership::decode(e.data, &m);
        if (!error.empty()) {
            j["config_error"] = error;
        } else {
            j["configuration"] = membership_json(m);
            // A node that had no configuration below it (one that just joined) cannot
            // tell what changed: state_json takes the label from a node that can.
            if (before && !before->empty()) j["change"] = change_label(*before, m);
        }
    }
    return j;
}

// The configuration a node without any Config entry or snapshot starts from: the
// simulator's bootstrap voters, or nothing for a machine added later.
Membership bootstrap_membership(const Simulator& sim, NodeId id) {
    std::vector<NodeId> ids;
    if (int(id) <= sim.config().nodes)
        for (int i = 1; i <= sim.config().nodes; i++) ids.push_back(NodeId(i));
    return Membership::of_voters(ids);
}

// The part of a log holding indexes first..last that the view asks for: lo..hi.
std::pair<Index, Index> window(const StateView& view, Index first, Index last) {
    return {std::max(view.log_from, first), std::min(view.log_to, last)};
}

// A node's newest snapshot: {index, term, bytes}, all 0 when it has none.
json snapshot_json(const Snapshot* s) {
    return {{"index", s ? s->meta.index : 0}, {"term", s ? s->meta.term : 0}, {"bytes", s ? s->size() : 0}};
}

// Where a node stands in a configuration: "voter", "learner", "removed", or "joining"
// (a machine started by add_node that no configuration names yet).
const char* standing(const Membership& m, NodeId id) {
    if (m.is_voter(id)) return "voter";
    if (m.is_member(id)) return "learner";
    return m.was_removed(id) ? "removed" : "joining";
}

// A node's own configuration: "membership", its Config entry ("membership_index"; 0: from
// the snapshot or the bootstrap), and where the node stands in it ("member").
void own_membership(json& j, const Membership& m, Index index, NodeId id) {
    j["member"] = standing(m, id);
    j["membership"] = membership_json(m);
    j["membership_index"] = index;
}

// A crashed node: only what its disk holds.
json down_node_json(const Simulator& sim, NodeId id, const StateView& view) {
    const HardState& hs = sim.durable_hard_state(id);
    const std::optional<Snapshot>& snap = sim.durable_snapshot(id);
    const std::vector<Entry>& log = sim.durable_log(id);  // index i at [i - base - 1]
    const Index base = snap ? snap->meta.index : 0;
    // The configuration in force below each entry (for its Config entries' labels) and,
    // after the last, the one this node restarts with.
    const auto [lo, hi] = window(view, base + 1, base + log.size());
    Membership config = snap && !snap->meta.membership.empty() ? snap->meta.membership : bootstrap_membership(sim, id);
    Index config_index = 0;
    json entries = json::array();
    for (Index i = base + 1; i <= base + log.size(); i++) {
        const Entry& e = log[i - base - 1];
        if (i >= lo && i <= hi) entries.push_back(entry_json(e, &config));
        Membership m;
        if (e.type == EntryType::Config && Membership::decode(e.data, &m).empty()) {
            config = std::move(m);
            config_index = i;
        }
    }
    json j = {{"id", id},
              {"up", false},
              {"term", hs.current_term},
              {"voted_for", hs.voted_for},
              {"log_first_index", base + 1},
              {"log_last_index", base + log.size()},
              {"log", std::move(entries)},
              {"snapshot", snapshot_json(snap ? &*snap : nullptr)}};
    own_membership(j, config, config_index, id);
    return j;
}

// A (pre-)candidate's tally: the votes it has counted, its own included, and how many
// it needs.
json votes_json(const Raft& r) {
    return {{"granted", r.votes_granted().size()}, {"needed", r.membership().quorum()}};
}

json node_json(const Simulator& sim, NodeId id, const StateView& view) {
    const Raft* r = sim.node(id);
    if (!r) return down_node_json(sim, id, view);
    const RaftLog& log = r->log();
    json j = {{"id", id},
              {"up", true},
              {"role", role_name(r->role())},
              {"term", r->current_term()},
              {"voted_for", r->voted_for()},
              {"leader", r->leader_id()},
              {"commit_index", r->commit_index()},
              {"applied_index", r->last_applied()},
              {"persisted_index", log.persisted_index()},
              {"election_elapsed", r->election_elapsed()},
              {"election_timeout", r->randomized_election_timeout()},
              {"log_first_index", log.first_index()},
              {"log_last_index", log.last_index()}};
    json entries = json::array();
    for (auto [i, hi] = window(view, log.first_index(), log.last_index()); i <= hi; i++) {
        const Entry& e = log.at(i);
        if (e.type != EntryType::Config) {
            entries.push_back(entry_json(e));
        } else {
            const Membership before = r->membership_at(i - 1);
            entries.push_back(entry_json(e, &before));
        }
    }
    j["log"] = std::move(entries);
    j["snapshot"] = snapshot_json(r->snapshot().get());
    const KvStore& kv = *sim.kv(id);
    const std::map<std::string, std::string> sorted = kv.sorted();
    json revisions = json::object();
    for (const auto& item : sorted) revisions[item.first] = kv.revision(item.first);
    j["kv"] = sorted;
    j["kv_revisions"] = std::move(revisions);
    json faults = json::array();
    for (const std::string& name : Faults::names())
        if (r->faults.get(name)) faults.push_back(name);
    j["faults"] = std::move(faults);
    if (r->role() == Role::Leader) {
        json progress = json::array();
        for (const Member& member : r->membership().members) {
            const NodeId peer = member.id;
            const Progress* p = r->progress(peer);
            if (peer == id || !p) continue;
            progress.push_back({{"peer", peer},
                                {"match_index", p->match_index},
                                {"next_index", p->next_index},
                                {"state", p->state == Progress::State::Probe       ? "probe"
                                          : p->state == Progress::State::Replicate ? "replicate"
                                                                                   : "snapshot"}});
        }
        j["progress"] = std::move(progress);
    }
    if (r->role() == Role::Candidate || r->role() == Role::PreCandidate) j["votes"] = votes_json(*r);
    own_membership(j, r->membership(), r->membership_index(), id);
    if (r->transfer_target() != kNoNode) j["transfer_target"] = r->transfer_target();
    return j;
}

std::string request_text(const ClientRequest& r) {
    if (is_membership_request(r)) return r.op + " " + std::to_string(r.node);
    return r.op == "get" ? "get " + r.key : write_command(r);
}

std::string reply_text(const ClientReply& r) {
    if (!r.ok) return "error: " + r.error;
    if (r.found) return r.value;
    return "ok";
}

const char* kind_name(ClientOp::Kind k) {
    switch (k) {
        case ClientOp::Kind::Write: return "set";
        case ClientOp::Kind::Delete: return "del";
        case ClientOp::Kind::Read: return "get";
    }
    return "?";
}

// A flat JSON object written straight as text. A busy cluster has hundreds of messages
// in flight and the page asks for all of them every frame: building each as a tree of
// nodes and then printing it was about a third of state()'s time (issue 14, Speed).
class FlatObject {
public:
    template <typename T>
    FlatObject& operator()(const char* key, const T& value) {
        text_ += text_.empty() ? "{\"" : ",\"";
        text_ += key;
        text_ += "\":";
        if constexpr (std::is_same_v<T, bool>) text_ += value ? "true" : "false";
        else if constexpr (std::is_integral_v<T>) text_ += std::to_string(value);
        else text_ += json(value).dump(-1, ' ', false, json::error_handler_t::replace);
        return *this;
    }
    std::string text() const { return text_ + "}"; }

private:
    std::string text_;
};

// The fields a reader of a message wants first, flat, plus a one-line summary.
std::string in_flight_json(const InFlight& f) {
    const Message& m = f.msg;
    FlatObject j;
    j("id", f.id)("from", m.from)("to", m.to)("type", message_type_name(m.type))("term", m.term)("sent_ms", f.sent_ms)(
        "arrives_ms", f.arrives_ms);
    if (f.lost) j("lost", true);
    std::string s;
    const auto num = [](uint64_t x) { return std::to_string(x); };
    switch (m.type) {
        case MessageType::Vote:
        case MessageType::PreVote:
            if (m.context == kTransferCampaign) j("transfer", true);
            j("last_index", m.index);
            j("last_term", m.log_term);
            s = std::string(m.type == MessageType::PreVote ? "pre-vote" : "vote") + " request for term " +
                num(m.term) + ", last log (" + num(m.index) + ", " + num(m.log_term) + ")";
            break;
        case MessageType::VoteResp:
        case MessageType::PreVoteResp:
            j("granted", !m.reject);
            s = std::string(m.type == MessageType::PreVoteResp ? "pre-vote " : "vote ") +
                (m.reject ? "rejected" : "granted") + " in term " + num(m.term);
            break;
        case MessageType::Append:
            j("prev_index", m.index);
            j("prev_term", m.log_term);
            j("entries", m.entries.size());
            j("commit", m.commit);
            s = "prev (" + num(m.index) + ", " + num(m.log_term) + "), " +
                (m.entries.empty() ? std::string("no entries")
                                   : "entries " + num(m.entries.front().index) + ".." + num(m.entries.back().index)) +
                ", commit " + num(m.commit);
            break;
        case MessageType::AppendResp:
            j("success", !m.reject);
            j("index", m.index);
            if (m.reject) {
                j("hint_index", m.hint_index);
                j("hint_term", m.hint_term);
                s = "rejects prev index " + num(m.index) + ", hint (" + num(m.hint_index) + ", " + num(m.hint_term) + ")";
            } else {
                s = "matches up to " + num(m.index);
            }
            break;
        case MessageType::Heartbeat:
            j("commit", m.commit);
            s = "heartbeat, commit " + num(m.commit);
            break;
        case MessageType::HeartbeatResp:
            s = "heartbeat answered";
            break;
        case MessageType::Snapshot: {
            const SnapshotChunk& c = m.chunk();
            j("snapshot_index", m.index);
            j("snapshot_term", m.log_term);
            j("offset", c.offset);
            j("bytes", c.data.size());
            j("total", c.total);
            j("done", c.done);
            s = "snapshot (" + num(m.index) + ", " + num(m.log_term) + ") bytes " + num(c.offset) + ".." +
                num(c.offset + c.data.size()) + " of " + num(c.total) + (c.done ? ", last chunk" : "");
            break;
        }
        case MessageType::SnapshotResp:
            j("snapshot_index", m.index);
            j("offset", m.chunk().offset);
            s = "snapshot (" + num(m.index) + ", " + num(m.log_term) + "): expects offset " + num(m.chunk().offset);
            break;
        case MessageType::TimeoutNow:
            s = "leadership transfer: campaign now, in term " + num(m.term + 1);
            break;
        case MessageType::ClientRequest:
            j("client_id", f.request.client_id);
            j("seq", f.request.seq);
            s = "forwarded " + request_text(f.request) + " (client " + num(f.request.client_id) + ", seq " +
                num(f.request.seq) + ")";
            break;
        case MessageType::ClientReply:
            j("client_id", f.reply.client_id);
            j("seq", f.reply.seq);
            j("ok", f.reply.ok);
            s = "answer to client " + num(f.reply.client_id) + ", seq " + num(f.reply.seq) + ": " + reply_text(f.reply);
            break;
        default:
            break;
    }
    j("summary", s);
    return j.text();
}

json stats_json(const Simulator& sim) {
    const SimStats& s = sim.stats();
    json by_type = json::object();
    for (size_t t = 0; t < std::size(s.sent_by_type); t++)
        if (s.sent_by_type[t] > 0) by_type[message_type_name(MessageType(t))] = s.sent_by_type[t];
    return {{"events", s.events},
            {"messages_sent", s.messages_sent},
            {"messages_delivered", s.messages_delivered},
            {"messages_dropped", s.messages_dropped},
            {"elections", s.elections},
            {"proposals", s.proposals},
            {"acked", s.acked},
            {"committed", sim.checker().committed().size()},
            {"snapshots_taken", s.snapshots_taken},
            {"snapshots_installed", s.snapshots_installed},
            {"sent_by_type", std::move(by_type)}};
}

}  // namespace

SimConfig sim_config_from_json(const std::string& text) {
    const json j = parse_object(text, "the simulation config");
    SimConfig c;
    for (const auto& [key, v] : j.items()) {
        if (apply_network_key(&c.net, key, v)) continue;
        if (key == "nodes") {
            c.nodes = int(whole(v, key, 1, 9));
        } else if (key == "seed") {
            c.seed = seed_value(v);
        } else if (key == "tick_ms") {
            c.tick_ms = TimeMs(whole(v, key, 1, kMaxDelayMs));
        } else if (key == "election_tick") {
            c.election_tick = int(whole(v, key, 2, kMaxTicks));
        } else if (key == "heartbeat_tick") {
            c.heartbeat_tick = int(whole(v, key, 1, kMaxTicks));
        } else if (key == "pre_vote") {
            c.pre_vote = boolean(v, key);
        } else if (key == "check_quorum") {
            c.check_quorum = boolean(v, key);
        } else if (key == "max_append_bytes") {
            c.max_append_bytes = size_t(whole(v, key, 1, 64 * 1024 * 1024));
        } else if (key == "check") {
            c.check = boolean(v, key);
        } else if (key == "snapshot_entries") {
            c.snapshot_entries = whole(v, key, 0, 1000000000);
        } else if (key == "catchup_entries") {
            c.catchup_entries = whole(v, key, 0, 1000000000);
        } else if (key == "snapshot_chunk_bytes") {
            c.snapshot_chunk_bytes = size_t(whole(v, key, 1, 64 * 1024 * 1024));
        } else if (key == "browsers") {
            c.browsers = int(whole(v, key, 0, Simulator::kMaxNodes - 1));
        } else if (key == "remove_absent_browsers_after_ms") {
            c.remove_absent_browsers_after_ms = TimeMs(whole(v, key, 0, kMaxDelayMs));
        } else if (key == "min_voters") {
            c.min_voters = size_t(whole(v, key, 1, Simulator::kMaxNodes));
        } else {
            bad("unknown config key '" + key + "' (nodes, seed, tick_ms, election_tick, heartbeat_tick, pre_vote, " +
                "check_quorum, max_append_bytes, check, snapshot_entries, catchup_entries, snapshot_chunk_bytes, " +
                "browsers, remove_absent_browsers_after_ms, min_voters, " +
                kNetworkKeys + ")");
        }
    }
    if (c.nodes + c.browsers > Simulator::kMaxNodes)
        bad("nodes (" + std::to_string(c.nodes) + ") and browsers (" + std::to_string(c.browsers) +
            ") together must be at most " + std::to_string(Simulator::kMaxNodes));
    if (c.heartbeat_tick >= c.election_tick)
        bad("heartbeat_tick (" + std::to_string(c.heartbeat_tick) + ") must be below election_tick (" +
            std::to_string(c.election_tick) + ")");
    return c;
}

NetworkConfig network_from_json(const std::string& text, const NetworkConfig& base) {
    const json j = parse_object(text, "the network settings");
    NetworkConfig net = base;
    for (const auto& [key, v] : j.items())
        if (!apply_network_key(&net, key, v)) bad("unknown network setting '" + key + "' (" + kNetworkKeys + ")");
    return net;
}

std::vector<std::vector<NodeId>> groups_from_json(const std::string& text, int nodes) {
    const json j = parse(text, "the partition");
    const std::string usage = "the partition must be a list of groups of node ids, like [[1, 2], [3, 4, 5]]";
    if (!j.is_array()) bad(usage + ", not " + shown(j));
    std::vector<std::vector<NodeId>> groups;
    std::vector<bool> placed(size_t(nodes) + 1, false);
    for (const json& g : j) {
        if (!g.is_array()) bad(usage + "; " + shown(g) + " is not a list");
        groups.emplace_back();
        for (const json& n : g) {
            const NodeId id = whole(n, "a node id", 1, uint64_t(nodes));
            if (placed[id]) bad("node " + std::to_string(id) + " is in two groups of the partition");
            placed[id] = true;
            groups.back().push_back(id);
        }
    }
    return groups;
}

NodeId checked_node(double id, int nodes) {
    if (!(id >= 1 && id <= nodes && id == std::floor(id)))
        bad("no node " + number_text(id) + ": nodes are numbered 1.." + std::to_string(nodes));
    return NodeId(id);
}

double checked_amount(double value, double max, const char* what) {
    if (!(value >= 0 && value <= max))
        bad(std::string(what) + " must be a number from 0 to " + number_text(max) + ", not " + number_text(value));
    return value;
}

StateView state_view_from_json(const std::string& text) {
    StateView view;
    if (text.empty()) return view;
    const json j = parse_object(text, "the state options");
    for (const auto& [key, v] : j.items()) {
        if (key == "log_from") {
            view.log_from = whole(v, key, 0, UINT64_MAX);
        } else if (key == "log_to") {
            view.log_to = whole(v, key, 0, UINT64_MAX);
        } else if (key == "requests") {
            view.requests = size_t(whole(v, key, 0, 1000000));
        } else {
            bad("unknown state option '" + key + "' (log_from, log_to, requests)");
        }
    }
    return view;
}

std::string state_json(const Simulator& sim, const StateView& view) {
    const int n = sim.size();
    json j = {{"time_ms", sim.now()},
              {"tick_ms", sim.config().tick_ms},
              {"config", config_json(sim.config())},
              {"network", network_json(sim.network())}};
    const std::optional<NodeId> leader = sim.leader();
    j["leader"] = leader ? json(*leader) : json(nullptr);

    json nodes = json::array();
    for (int i = 1; i <= n; i++) {
        nodes.push_back(node_json(sim, NodeId(i), view));
        // A browser node: the native node it is linked through (null: none right now),
        // and whether its tab is closed for good (simulator.h, browser members).
        json& node = nodes.back();
        node["kind"] = sim.is_browser(NodeId(i)) ? "browser" : "native";
        if (sim.is_browser(NodeId(i))) {
            node["via"] = sim.via(NodeId(i)) == kNoNode ? json(nullptr) : json(sim.via(NodeId(i)));
            node["closed"] = sim.is_closed(NodeId(i));
        }
    }
    // The cluster's configuration as the page draws it: the leader's, else the newest an
    // up node holds (a crashed node's when none is up); "cluster_member" is where each
    // node stands in that one (as "member" is in its own).
    const auto rank = [](const json& node) {
        return std::make_pair(node["up"].get<bool>(), node["membership_index"].get<Index>());
    };
    const json* shown = nullptr;
    for (const json& node : nodes) {
        if (leader && node["id"] == *leader) {
            shown = &node;
            break;
        }
        if (!shown || rank(node) > rank(*shown)) shown = &node;
    }
    json membership = (*shown)["membership"];  // a cluster has at least one node
    membership["index"] = (*shown)["membership_index"];
    membership["from"] = (*shown)["id"];
    for (json& node : nodes) {
        const auto in = [&](const char* list) {
            const json& ids = membership[list];
            return std::find(ids.begin(), ids.end(), node["id"]) != ids.end();
        };
        node["cluster_member"] = in("voters") ? "voter" : in("learners") ? "learner" : in("removed") ? "removed" : "joining";
    }
    j["membership"] = std::move(membership);
    // Logs agree on an entry with the same index and term (Log Matching), so a Config
    // entry's change label, where a node could not tell it, is the one another node gave.
    std::map<std::pair<Index, Term>, json> labels;
    for (const json& node : nodes)
        for (const json& e : node["log"])
            if (e.contains("change")) labels.emplace(std::make_pair(e["index"].get<Index>(), e["term"].get<Term>()), e["change"]);
    for (json& node : nodes)
        for (json& e : node["log"])
            if (e.contains("configuration") && !e.contains("change")) {
                const auto it = labels.find({e["index"].get<Index>(), e["term"].get<Term>()});
                if (it != labels.end()) e["change"] = it->second;
            }
    j["nodes"] = std::move(nodes);

    json links = json::array();
    for (int a = 1; a <= n; a++)
        for (int b = 1; b <= n; b++)
            if (a != b && !sim.link_up(NodeId(a), NodeId(b))) links.push_back({a, b});
    j["links_down"] = std::move(links);


    j["violations"] = violations_json(sim);

    json requests = json::array();
    const std::vector<ClientOp>& ops = sim.client_ops();
    for (size_t i = ops.size() - std::min(ops.size(), view.requests); i < ops.size(); i++) {
        const ClientOp& op = ops[i];
        json r = {{"id", op.id},
                  {"process", op.process},
                  {"client_id", op.client_id},
                  {"seq", op.seq},
                  {"kind", kind_name(op.kind)},
                  {"key", op.key},
                  {"command", op.command},
                  {"outcome", outcome_name(op.outcome)},
                  {"index", op.index},
                  {"node", op.node},
                  {"leader", op.leader},
                  {"tries", op.tries},
                  {"invoke_ms", op.invoke_ms},
                  {"complete_ms", op.complete_ms}};
        if (op.kind == ClientOp::Kind::Read && op.outcome == ClientOp::Outcome::Ok)
            r["result"] = op.result ? json(*op.result) : json(nullptr);
        if (!op.condition.empty()) {
            r["condition"] = op.condition;
            if (op.condition == "revision") r["prev_revision"] = op.prev_revision;
            else r["prev_value"] = op.prev_value;
        }
        if (op.kind != ClientOp::Kind::Read && op.outcome == ClientOp::Outcome::Ok) {
            r["revision"] = op.revision;
            r["condition_failed"] = op.condition_failed;
            if (op.condition_failed) r["current"] = op.current ? json(*op.current) : json(nullptr);
        }
        requests.push_back(std::move(r));
    }
    j["requests"] = std::move(requests);
    json changes = json::array();
    const std::vector<MembershipOp>& mops = sim.membership_ops();
    for (size_t i = mops.size() - std::min(mops.size(), view.requests); i < mops.size(); i++)
        changes.push_back(membership_op_json(mops[i]));
    j["membership_changes"] = std::move(changes);
    j["stats"] = stats_json(sim);
    j["trace_hash"] = trace_hash_hex(sim);
    // The messages go on the end as text (FlatObject, above): '}' closes the dump.
    std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
    text.pop_back();
    const auto list = [&](const char* key, const auto& flights) {
        text += std::string(",\"") + key + "\":[";
        for (const InFlight& f : flights) text += in_flight_json(f) + ",";
        if (!flights.empty()) text.pop_back();
        text += "]";
    };
    list("messages", sim.in_flight());
    list("dropped", sim.recent_drops());
    return text + "}";
}

json membership_op_json(const MembershipOp& op) {
    return {{"id", op.id},
            {"op", op.op},
            {"node", op.node},
            {"invoke_ms", op.invoke_ms},
            {"complete_ms", op.complete_ms},
            {"outcome", op.complete_ms < 0 ? "pending" : op.ok ? "ok" : "refused"},
            {"error", op.error},
            {"index", op.index},
            {"tries", op.tries}};
}

json violations_json(const Simulator& sim) {
    json violations = json::array();
    for (const Violation& v : sim.checker().violations())
        violations.push_back({{"rule", v.rule},
                              {"detail", v.detail},
                              {"nodes", v.nodes},
                              {"index", v.index},
                              {"event", v.event},
                              {"time_ms", v.time_ms}});
    return violations;
}

std::string trace_hash_hex(const Simulator& sim) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(sim.trace_hash()));
    return buf;
}

std::string message_json(const Simulator& sim, uint64_t id) {
    for (const InFlight& f : sim.in_flight()) {
        if (f.id != id) continue;
        json j = to_json(f.msg);
        if (f.msg.type == MessageType::ClientRequest) {
            const ClientRequest& r = f.request;
            j["request"] = {{"client_id", r.client_id}, {"seq", r.seq}, {"op", r.op}, {"key", r.key}, {"value", r.value}};
            if (!r.condition.empty())
                j["request"].update({{"condition", r.condition}, {"prev_revision", r.prev_revision}, {"prev_value", r.prev_value}});
        }
        if (f.msg.type == MessageType::ClientReply) {
            const ClientReply& r = f.reply;
            j["reply"] = {{"client_id", r.client_id}, {"seq", r.seq}, {"ok", r.ok}, {"found", r.found},
                          {"value", r.value}, {"error", r.error}, {"leader_hint", r.leader_hint},
                          {"revision", r.revision}, {"condition_failed", r.condition_failed}};
        }
        j["id"] = f.id;
        j["sent_ms"] = f.sent_ms;
        j["arrives_ms"] = f.arrives_ms;
        return j.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    return "null";
}

std::string scenario_json(const Scenario& s) {
    json preloads = json::array();
    for (const Scenario::Preload& p : s.preloads) preloads.push_back({{"node", p.node}, {"terms", p.terms}, {"term", p.term}});
    json actions = json::array();
    for (const ScenarioAction& a : s.actions)
        actions.push_back({{"line", a.line}, {"verb", a.verb}, {"args", a.args}, {"text", a.text()}});
    const json j = {{"title", s.title},
                    {"config", config_json(s.config)},
                    {"preloads", std::move(preloads)},
                    {"actions", std::move(actions)}};
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string watch_json(const Simulator& sim, NodeId node, const std::string& prefix) {
    json changes = json::array();
    for (const KeyChange& c : sim.changes(node)) {
        if (c.key.compare(0, prefix.size(), prefix) != 0) continue;
        json j = {{"revision", c.revision}, {"key", c.key}, {"deleted", c.deleted}};
        if (!c.deleted) j["value"] = c.value;
        changes.push_back(std::move(j));
    }
    const json j = {{"node", node}, {"up", sim.is_up(node)}, {"floor", sim.changes_floor(node)},
                    {"changes", std::move(changes)}};
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string fault_names_json() { return json(Faults::names()).dump(); }

std::string action_result_json(const ActionResult& r) {
    return json{{"ok", r.ok}, {"message", r.message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace raftbook
