#include "core/sim/scenario.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace raftbook {

namespace {

// Every parse error is thrown as BadArg and becomes a failed action or "line N: ...".
struct BadArg : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string trim(const std::string& s) {
    const size_t a = s.find_first_not_of(" \t\r");
    if (a == std::string::npos) return "";
    const size_t b = s.find_last_not_of(" \t\r");
    return s.substr(a, b - a + 1);
}

std::vector<std::string> words(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string w;
    while (in >> w) out.push_back(w);
    return out;
}

uint64_t parse_uint(const std::string& s, const std::string& what) {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
        throw BadArg(what + " must be a non-negative whole number, not '" + s + "'");
    return std::stoull(s);
}

double parse_probability(const std::string& s, const std::string& what) {
    char* end = nullptr;
    const double p = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || !(p >= 0 && p <= 1)) throw BadArg(what + " must be a number from 0 to 1, not '" + s + "'");
    return p;
}

TimeMs duration_arg(const std::string& s) {
    std::string num = s;
    double scale = 1;
    if (s.size() > 2 && s.compare(s.size() - 2, 2, "ms") == 0) {
        num = s.substr(0, s.size() - 2);
    } else if (s.size() > 1 && s.back() == 's') {
        num = s.substr(0, s.size() - 1);
        scale = 1000;
    }
    char* end = nullptr;
    const double v = std::strtod(num.c_str(), &end);
    if (num.empty() || *end != '\0' || !(v >= 0) || v * scale > 1e12) throw BadArg("'" + s + "' is not a duration like 500ms or 2s");
    return TimeMs(v * scale);
}

std::pair<int64_t, int64_t> parse_range(const std::string& s, const std::string& what) {
    const size_t dots = s.find("..");
    if (dots == std::string::npos) {
        const int64_t v = int64_t(parse_uint(s, what));
        return {v, v};
    }
    return {int64_t(parse_uint(s.substr(0, dots), what)), int64_t(parse_uint(s.substr(dots + 2), what))};
}

NodeId parse_node(const std::string& s, int nodes) {
    const uint64_t n = parse_uint(s, "a node number");
    if (n < 1 || n > uint64_t(nodes)) throw BadArg("no node " + s + " (nodes are 1.." + std::to_string(nodes) + ")");
    return NodeId(n);
}

std::vector<uint64_t> parse_list(const std::string& s, const std::string& what) {
    std::vector<uint64_t> out;
    std::string item;
    std::istringstream in(s);
    while (std::getline(in, item, ',')) out.push_back(parse_uint(trim(item), what));
    if (out.empty()) throw BadArg(what + " list is empty");
    return out;
}

// Applies "key=value" network settings to `net`.
void parse_network(const std::vector<std::string>& kv, size_t from, NetworkConfig* net) {
    for (size_t i = from; i < kv.size(); i++) {
        const size_t eq = kv[i].find('=');
        if (eq == std::string::npos) throw BadArg("expected key=value, not '" + kv[i] + "'");
        const std::string k = kv[i].substr(0, eq), v = kv[i].substr(eq + 1);
        if (k == "latency") {
            std::tie(net->latency_min_ms, net->latency_max_ms) = parse_range(v, "latency");
        } else if (k == "disk") {
            std::tie(net->disk_min_ms, net->disk_max_ms) = parse_range(v, "disk");
        } else if (k == "disk_slow") {
            const size_t at = v.find('@');
            if (at == std::string::npos) throw BadArg("disk_slow takes FRACTION@MIN..MAX, e.g. disk_slow=0.03@20..80");
            net->disk_slow = parse_probability(v.substr(0, at), "disk_slow");
            std::tie(net->disk_slow_min_ms, net->disk_slow_max_ms) = parse_range(v.substr(at + 1), "disk_slow");
        } else if (k == "drop") {
            net->drop = parse_probability(v, "drop");
        } else if (k == "duplicate") {
            net->duplicate = parse_probability(v, "duplicate");
        } else if (k == "reorder") {
            net->reorder = parse_probability(v, "reorder");
        } else {
            throw BadArg("unknown network setting '" + k + "' (latency, disk, disk_slow, drop, duplicate, reorder)");
        }
    }
}

bool compare(uint64_t a, const std::string& op, uint64_t b) {
    if (op == ">=") return a >= b;
    if (op == "<=") return a <= b;
    if (op == "=" || op == "==") return a == b;
    if (op == ">") return a > b;
    if (op == "<") return a < b;
    throw BadArg("unknown comparison '" + op + "' (use >=, <=, =, >, <)");
}

const Raft& up_node(const Simulator& sim, NodeId n) {
    const Raft* r = sim.node(n);
    if (!r) throw BadArg("node " + std::to_string(n) + " is down");
    return *r;
}

std::string log_terms(const Raft& r) {
    std::string s;
    for (Index i = r.log().first_index(); i <= r.log().last_index(); i++) s += (s.empty() ? "" : ",") + std::to_string(*r.log().term(i));
    return s.empty() ? "(empty)" : s;
}

// Two logs are the same when they end at the same index and agree on the terms of
// every index both still hold (either may be compacted further than the other).
bool same_log(const Raft& a, const Raft& b) {
    if (a.log().last_index() != b.log().last_index()) return false;
    for (Index i = std::max(a.log().prev_index(), b.log().prev_index()); i <= a.log().last_index(); i++)
        if (a.log().term(i) != b.log().term(i)) return false;
    return true;
}

// Optional trailing "within 5s".
TimeMs within(const std::vector<std::string>& w, size_t at, TimeMs dflt) {
    if (w.size() == at) return dflt;
    if (w.size() == at + 2 && w[at] == "within") return duration_arg(w[at + 1]);
    throw BadArg("unexpected '" + w[at] + "' (expected 'within DURATION' or nothing)");
}

ActionResult fail(const std::string& msg) { return {false, msg}; }

ActionResult run_expect(Simulator& sim, const std::vector<std::string>& w) {
    const int nodes = sim.size();
    if (w.empty()) throw BadArg("expect what? (leader, role, term, log, commit, kv, safe, violation, same logs, members, learners)");
    const std::string& what = w[0];
    if (what == "safe") {
        if (sim.checker().ok()) return {true, "safe"};
        const Violation& v = sim.checker().violations().front();
        return fail("expected no violation, found " + v.rule + ": " + v.detail);
    }
    if (what == "violation") {
        std::string rule;
        for (size_t i = 1; i < w.size(); i++) rule += (i > 1 ? " " : "") + w[i];
        for (const Violation& v : sim.checker().violations())
            if (rule.empty() || v.rule == rule) return {true, v.rule + ": " + v.detail};
        return fail("expected a " + (rule.empty() ? std::string("violation") : rule + " violation") + ", the checker found none");
    }
    if (what == "leader") {
        if (w.size() != 2) throw BadArg("expect leader N | any | none");
        const auto l = sim.leader();
        if (w[1] == "any") return l ? ActionResult{true, "leader is node " + std::to_string(*l)} : fail("expected a leader, there is none");
        if (w[1] == "none") return l ? fail("expected no leader, node " + std::to_string(*l) + " leads") : ActionResult{true, "no leader"};
        const NodeId n = parse_node(w[1], nodes);
        if (l && *l == n) return {true, "node " + w[1] + " leads"};
        return fail("expected node " + w[1] + " to lead, " + (l ? "node " + std::to_string(*l) + " does" : std::string("no node does")));
    }
    if (what == "via") {
        // expect via 4 = 1 | expect via 4 = none: the native node browser 4 is linked to.
        if (w.size() != 4 || w[2] != "=") throw BadArg("expect via N = M | expect via N = none");
        const NodeId b = parse_node(w[1], nodes);
        if (!sim.is_browser(b)) throw BadArg("node " + w[1] + " is not a browser node");
        const NodeId want = w[3] == "none" ? kNoNode : parse_node(w[3], nodes);
        const NodeId got = sim.via(b);
        if (got == want) return {true, "node " + w[1] + " is linked through " + w[3]};
        return fail("expected node " + w[1] + " linked through " + w[3] + ", it is " +
                    (got == kNoNode ? std::string("linked to none") : "linked through node " + std::to_string(got)));
    }
    if (what == "members" || what == "learners") {
        // expect members = 1,2,3: the voters of the leader's configuration;
        // expect members 4 = 1,2,3: node 4's own. learners likewise ("none": no one).
        if (w.size() != 3 && w.size() != 4) throw BadArg("expect " + what + " [N] = ID,ID,... | none");
        if (w[w.size() - 2] != "=") throw BadArg("expect " + what + " [N] = ID,ID,... | none");
        const Raft* r = nullptr;
        std::string whose;
        if (w.size() == 4) {
            r = &up_node(sim, parse_node(w[1], nodes));
            whose = "node " + w[1] + "'s";
        } else {
            const auto l = sim.leader();
            if (!l) return fail("expected " + what + " " + w[2] + ", but no node leads");
            r = sim.node(*l);
            whose = "leader " + std::to_string(*l) + "'s";
        }
        std::vector<NodeId> want;
        if (w.back() != "none")
            for (uint64_t id : parse_list(w.back(), "node id")) want.push_back(NodeId(id));
        std::sort(want.begin(), want.end());
        const std::vector<NodeId> got = what == "members" ? r->membership().voters() : r->membership().learners();
        const std::string kind = what == "members" ? "voters" : "learners";
        if (got == want) return {true, whose + " " + kind + ": " + ids_text(got)};
        return fail("expected " + whose + " configuration to have " + kind + " " + ids_text(want) + ", it has " +
                    ids_text(got));
    }
    if (what == "same" && w.size() == 2 && w[1] == "logs") {
        const Raft* first = nullptr;
        for (int n = 1; n <= nodes; n++) {
            const Raft* r = sim.node(NodeId(n));
            if (!r) continue;
            if (!first) {
                first = r;
            } else if (!same_log(*r, *first)) {
                return fail("node " + std::to_string(n) + "'s log (terms " + log_terms(*r) + ") differs from node " +
                            std::to_string(first->id()) + "'s (terms " + log_terms(*first) + ")");
            }
        }
        return {true, "all logs are the same"};
    }
    if (w.size() < 2) throw BadArg("expect " + what + " needs a node");
    const NodeId n = parse_node(w[1], nodes);
    const Raft& r = up_node(sim, n);
    if (what == "role") {
        const bool negate = w.size() == 4 && w[2] == "not";
        if (w.size() != 3 && !negate) throw BadArg("expect role N ROLE | expect role N not ROLE");
        const std::string& want = w.back();
        if ((want == role_name(r.role())) != negate) return {true, "node " + w[1] + " is " + role_name(r.role())};
        return fail("expected node " + w[1] + " to be " + (negate ? "anything but " : "") + want + ", it is " +
                    role_name(r.role()));
    }
    if (what == "term" || what == "commit" || what == "applied" || what == "snapshot") {
        if (w.size() != 4) throw BadArg("expect " + what + " N OP VALUE");
        const uint64_t actual = what == "term"     ? r.current_term()
                                : what == "commit" ? r.commit_index()
                                : what == "applied" ? r.last_applied()
                                                    : (r.snapshot() ? r.snapshot()->meta.index : 0);
        const uint64_t want = parse_uint(w[3], what);
        if (compare(actual, w[2], want)) return {true, what + " of node " + w[1] + " is " + std::to_string(actual)};
        return fail("expected " + what + " of node " + w[1] + " " + w[2] + " " + w[3] + ", it is " + std::to_string(actual));
    }
    if (what == "log") {
        if (w.size() != 4) throw BadArg("expect log N = FROM..TO | expect log N terms T,T,...");
        if (w[2] == "=") {
            const auto [from, to] = parse_range(w[3], "log range");
            const Index first = r.log().first_index(), last = r.log().last_index();
            const bool empty_ok = to < from && last < first;
            if (empty_ok || (first == Index(from) && last == Index(to))) return {true, "node " + w[1] + " holds " + w[3]};
            return fail("expected node " + w[1] + " to hold entries " + w[3] + ", it holds " + std::to_string(first) + ".." +
                        std::to_string(last));
        }
        if (w[2] == "terms") {
            std::string want;
            for (uint64_t t : parse_list(w[3], "term")) want += (want.empty() ? "" : ",") + std::to_string(t);
            if (log_terms(r) == want) return {true, "node " + w[1] + " holds terms " + want};
            return fail("expected node " + w[1] + "'s log terms " + want + ", it holds " + log_terms(r));
        }
        throw BadArg("expect log N = FROM..TO | expect log N terms T,T,...");
    }
    if (what == "kv") {
        if (w.size() < 4) throw BadArg("expect kv N KEY = VALUE | expect kv N KEY missing");
        const KvStore& kv = *sim.kv(n);
        const std::string* v = kv.get(w[2]);
        if (w[3] == "missing") return v ? fail("expected key " + w[2] + " missing on node " + w[1] + ", it is " + *v) : ActionResult{true, w[2] + " missing"};
        if (w[3] != "=" || w.size() < 5) throw BadArg("expect kv N KEY = VALUE");
        std::string want;
        for (size_t i = 4; i < w.size(); i++) want += (i > 4 ? " " : "") + w[i];
        if (v && *v == want) return {true, w[2] + " = " + want + " on node " + w[1]};
        return fail("expected " + w[2] + " = " + want + " on node " + w[1] + ", it is " + (v ? *v : std::string("missing")));
    }
    throw BadArg("unknown expectation '" + what + "'");
}

ActionResult run(Simulator& sim, const ScenarioAction& a) {
    const std::vector<std::string> w = words(a.args);
    const int nodes = sim.size();
    const std::string& v = a.verb;
    auto need = [&](size_t n, const char* usage) {
        if (w.size() != n) throw BadArg(std::string("usage: ") + usage);
    };
    if (v == "say") return {true, a.args};
    if (v == "step") {
        if (w.size() > 1) throw BadArg("usage: step [EVENTS]");
        const uint64_t n = w.empty() ? 1 : parse_uint(w[0], "events");
        for (uint64_t i = 0; i < n && sim.step(); i++) {
        }
        return {true, ""};
    }
    if (v == "rate") {
        need(1, "rate REQUESTS_PER_SECOND");
        sim.set_client_rate(double(parse_uint(w[0], "rate")));
        return {true, ""};
    }
    if (v == "advance") {
        need(1, "advance DURATION");
        sim.advance(duration_arg(w[0]));
        return {true, ""};
    }
    if (v == "wait") {
        if (w.size() >= 2 && w[0] == "leader" && w[1] != "within") {
            const NodeId n = parse_node(w[1], nodes);
            const TimeMs limit = within(w, 2, 10000);
            if (sim.run_until([&] { return sim.node(n) && sim.node(n)->role() == Role::Leader; }, limit))
                return {true, "node " + w[1] + " leads"};
            return fail("node " + w[1] + " did not become leader within " + std::to_string(limit) + "ms");
        }
        if (!w.empty() && w[0] == "leader") {
            const TimeMs limit = within(w, 1, 10000);
            if (sim.run_until([&] { return sim.leader().has_value(); }, limit))
                return {true, "node " + std::to_string(*sim.leader()) + " leads"};
            return fail("no leader within " + std::to_string(limit) + "ms");
        }
        if (!w.empty() && w[0] == "changes") {
            // Until every membership change and transfer asked for is answered; a
            // refused one fails the action.
            const TimeMs limit = within(w, 1, 10000);
            const auto& ops = sim.membership_ops();
            const bool done = sim.run_until(
                [&] { return std::all_of(ops.begin(), ops.end(), [](const MembershipOp& m) { return m.complete_ms >= 0; }); },
                limit);
            if (!done) return fail("membership changes still unanswered after " + std::to_string(limit) + "ms");
            for (const MembershipOp& m : ops)
                if (!m.ok) return fail(m.op + " " + std::to_string(m.node) + " was refused: " + m.error);
            return {true, ""};
        }
        if (w.size() >= 4 && w[0] == "commit") {
            const NodeId n = parse_node(w[1], nodes);
            const uint64_t want = parse_uint(w[3], "commit index");
            const TimeMs limit = within(w, 4, 10000);
            auto holds = [&] {
                const Raft* r = sim.node(n);
                return r && compare(r->commit_index(), w[2], want);
            };
            if (sim.run_until(holds, limit)) return {true, ""};
            return fail("node " + w[1] + "'s commit index did not reach " + w[2] + " " + w[3] + " within " +
                        std::to_string(limit) + "ms");
        }
        if (w.size() >= 5 && w[0] == "match") {
            // wait match LEADER FOLLOWER OP INDEX: the leader's match_index for a follower.
            const NodeId l = parse_node(w[1], nodes), f = parse_node(w[2], nodes);
            const uint64_t want = parse_uint(w[4], "match index");
            const TimeMs limit = within(w, 5, 10000);
            auto holds = [&] {
                const Raft* r = sim.node(l);
                const Progress* p = r ? r->progress(f) : nullptr;
                return p && compare(p->match_index, w[3], want);
            };
            if (sim.run_until(holds, limit)) return {true, ""};
            return fail("node " + w[1] + " did not see node " + w[2] + "'s log match " + w[3] + " " + w[4] + " within " +
                        std::to_string(limit) + "ms");
        }
        throw BadArg("usage: wait leader [N] [within D] | wait commit N OP INDEX [within D] | "
                     "wait match L F OP INDEX [within D] | wait changes [within D]");
    }
    if (v == "snapshot") {
        need(1, "snapshot N");
        const NodeId n = parse_node(w[0], nodes);
        if (!sim.is_up(n)) return fail("node " + w[0] + " is down");
        if (!sim.take_snapshot(n)) return fail("node " + w[0] + " took no snapshot: it is writing one, or applied nothing since its last");
        return {true, ""};
    }
    if (v == "campaign") {
        need(1, "campaign N");
        const NodeId n = parse_node(w[0], nodes);
        if (!sim.campaign(n)) return fail("node " + w[0] + " is down");
        return {true, ""};
    }
    if (v == "propose") {
        if (w.empty()) throw BadArg("usage: propose [N] COMMAND");
        Command c;
        std::string error;
        if (w[0].find_first_not_of("0123456789") == std::string::npos) {
            const NodeId n = parse_node(w[0], nodes);
            const std::string cmd = trim(a.args.substr(w[0].size()));
            if (!parse_command(cmd, &c, &error)) throw BadArg(error);
            if (sim.propose_at(n, cmd) == 0) return fail("node " + w[0] + " is down");
            return {true, ""};
        }
        if (!parse_command(a.args, &c, &error)) throw BadArg(error);
        sim.propose(a.args);
        return {true, ""};
    }
    if (v == "read") {
        if (w.empty() || w.size() > 2) throw BadArg("usage: read [N] KEY");
        const std::string& key = w.back();
        const std::string error = check_key(key);
        if (!error.empty()) throw BadArg(error);
        if (w.size() == 1) {
            sim.read(key);
        } else if (sim.read_at(parse_node(w[0], nodes), key) == 0) {
            return fail("node " + w[0] + " is down");
        }
        return {true, ""};
    }
    if (v == "add") {
        // add N [browser] [learner]
        bool browser = false, learner = false;
        for (size_t i = 1; i < w.size(); i++) {
            if (w[i] == "browser" && !browser && !learner) browser = true;
            else if (w[i] == "learner" && !learner) learner = true;
            else throw BadArg("usage: add N [browser] [learner]");
        }
        if (w.empty()) throw BadArg("usage: add N [browser] [learner]");
        const NodeId n = NodeId(parse_uint(w[0], "a node number"));
        if (sim.size() >= Simulator::kMaxNodes)
            throw BadArg("the simulator has room for " + std::to_string(Simulator::kMaxNodes) + " machines, all in use");
        if (n != NodeId(sim.size() + 1))
            throw BadArg("the next machine is node " + std::to_string(sim.size() + 1) + ", not " + w[0]);
        sim.add_node(n, learner, browser);
        return {true, ""};
    }
    if (v == "reload" || v == "close") {
        need(1, "reload N | close N (N a browser node)");
        const NodeId n = parse_node(w[0], nodes);
        if (!sim.is_browser(n)) throw BadArg("node " + w[0] + " is not a browser node (add N browser makes one)");
        if (sim.is_closed(n)) return fail("node " + w[0] + "'s tab is closed already");
        if (v == "close") {
            sim.close(n);
            return {true, ""};
        }
        const NodeId fresh = sim.reload(n);
        if (fresh == 0)
            return fail("no free slot for the reloaded page: the simulator has room for " +
                        std::to_string(Simulator::kMaxNodes) + " machines");
        return {true, fresh == n ? "node " + w[0] + " reloaded under its old id, its memory gone"
                                 : "node " + w[0] + "'s tab reloaded: it joins again as node " + std::to_string(fresh)};
    }
    if (v == "promote" || v == "remove" || v == "transfer") {
        if (w.empty() || w.size() > 2 || (w.size() == 2 && w[1] != "once"))
            throw BadArg("usage: " + v + " N [once]");
        const NodeId n = parse_node(w[0], nodes);
        const bool once = w.size() == 2;
        v == "promote" ? sim.promote(n, once) : v == "remove" ? sim.remove_node(n, once) : sim.transfer_leader(n, once);
        return {true, ""};
    }
    if (v == "crash" || v == "restart") {
        need(1, "crash N | restart N");
        const NodeId n = parse_node(w[0], nodes);
        if (sim.is_browser(n))
            throw BadArg("node " + w[0] + " is a browser: its memory is its only disk, so it does not crash and "
                         "restart; reload or close it");
        v == "crash" ? sim.crash(n) : sim.restart(n);
        return {true, ""};
    }
    if (v == "partition") {
        std::vector<std::vector<NodeId>> groups;
        std::istringstream in(a.args);
        std::string group;
        while (std::getline(in, group, '|')) {
            std::vector<NodeId> g;
            for (uint64_t n : parse_list(trim(group), "node")) g.push_back(parse_node(std::to_string(n), nodes));
            groups.push_back(g);
        }
        try {
            sim.partition(groups);
        } catch (const std::invalid_argument& e) {
            throw BadArg(e.what());
        }
        return {true, ""};
    }
    if (v == "cut" || v == "restore") {
        need(1, "cut A->B | cut A-B (both ways); restore likewise");
        const bool one_way = w[0].find("->") != std::string::npos;
        const size_t sep = w[0].find(one_way ? "->" : "-");
        if (sep == std::string::npos) throw BadArg("usage: " + v + " A->B | " + v + " A-B");
        const NodeId from = parse_node(w[0].substr(0, sep), nodes);
        const NodeId to = parse_node(w[0].substr(sep + (one_way ? 2 : 1)), nodes);
        for (int dir = 0; dir < (one_way ? 1 : 2); dir++) {
            const NodeId x = dir ? to : from, y = dir ? from : to;
            v == "cut" ? sim.cut(x, y) : sim.restore(x, y);
        }
        return {true, ""};
    }
    if (v == "heal") {
        need(0, "heal");
        sim.heal();
        return {true, ""};
    }
    if (v == "net") {
        NetworkConfig net = sim.network();
        parse_network(w, 0, &net);
        try {
            sim.set_network(net);
        } catch (const std::invalid_argument& e) {
            throw BadArg(e.what());
        }
        return {true, ""};
    }
    if (v == "fault") {
        if (w.size() != 2 && w.size() != 3) throw BadArg("usage: fault N NAME [on|off]");
        const NodeId n = parse_node(w[0], nodes);
        const bool on = w.size() == 2 || w[2] == "on";
        if (w.size() == 3 && w[2] != "on" && w[2] != "off") throw BadArg("fault switch must be 'on' or 'off'");
        if (!sim.set_fault(n, w[1], on)) throw BadArg("unknown fault '" + w[1] + "'");
        return {true, ""};
    }
    if (v == "settle") {
        if (!w.empty() && w[0] != "within") throw BadArg("usage: settle [within DURATION]");
        const TimeMs limit = within(w, 0, 10000);
        // What it finds is the checker's (Liveness, Linearizability): `expect safe` or
        // `expect violation Liveness` after it says whether that was wanted.
        const SettleResult r = sim.settle(limit);
        if (!r.settled) return {true, "not settled within " + std::to_string(limit) + "ms: " + r.stuck};
        return {true, "settled in " + std::to_string(r.took_ms) + "ms" + (r.stuck.empty() ? "" : "; " + r.stuck)};
    }
    if (v == "expect") return run_expect(sim, w);
    throw BadArg("unknown action '" + v + "'");
}

bool is_setting(const std::string& verb) {
    return verb == "title" || verb == "nodes" || verb == "seed" || verb == "network" || verb == "preload" ||
           verb == "term" || verb == "max_append_bytes" || verb == "snapshot_entries" || verb == "catchup_entries" ||
           verb == "snapshot_chunk_bytes" || verb == "browsers" || verb == "remove_absent_browsers_after" ||
           verb == "min_voters";
}

}  // namespace

bool parse_network_settings(const std::string& text, NetworkConfig* net, std::string* error) {
    NetworkConfig changed = *net;
    try {
        parse_network(words(text), 0, &changed);
    } catch (const BadArg& e) {
        *error = e.what();
        return false;
    }
    *net = changed;
    return true;
}

bool parse_duration(const std::string& text, TimeMs* out) {
    try {
        *out = duration_arg(text);
        return true;
    } catch (const BadArg&) {
        return false;
    }
}

bool parse_action(const std::string& line, ScenarioAction* out, std::string* error) {
    const std::string t = trim(line.substr(0, line.find('#')));
    if (t.empty()) {
        *error = "empty line";
        return false;
    }
    const size_t sp = t.find(' ');
    out->verb = t.substr(0, sp);
    out->args = sp == std::string::npos ? "" : trim(t.substr(sp + 1));
    if (is_setting(out->verb)) {
        *error = "'" + out->verb + "' is a setting for the top of a script, not an action";
        return false;
    }
    return true;
}

bool parse_scenario(const std::string& text, Scenario* out, std::string* error) {
    *out = Scenario{};
    std::istringstream in(text);
    std::string raw;
    int line = 0;
    bool in_actions = false;
    try {
        while (std::getline(in, raw)) {
            line++;
            // `say` keeps '#' in its narration; elsewhere '#' starts a comment.
            std::string t = trim(raw);
            if (t.rfind("say ", 0) != 0) t = trim(t.substr(0, t.find('#')));
            if (t.empty()) continue;
            const size_t sp = t.find(' ');
            const std::string verb = t.substr(0, sp);
            const std::string args = sp == std::string::npos ? "" : trim(t.substr(sp + 1));
            const std::vector<std::string> w = words(args);
            try {
                if (!is_setting(verb)) {
                    in_actions = true;
                    out->actions.push_back({line, verb, args});
                    continue;
                }
                if (in_actions) throw BadArg("'" + verb + "' is a setting: put it before the first action");
                if (verb == "title") {
                    out->title = args;
                } else if (verb == "nodes") {
                    if (w.size() != 1) throw BadArg("usage: nodes N");
                    const uint64_t n = parse_uint(w[0], "nodes");
                    if (n < 1 || n > 9) throw BadArg("nodes must be from 1 to 9");
                    out->config.nodes = int(n);
                } else if (verb == "seed") {
                    if (w.size() != 1) throw BadArg("usage: seed N");
                    out->config.seed = parse_uint(w[0], "seed");
                } else if (verb == "max_append_bytes") {
                    if (w.size() != 1) throw BadArg("usage: max_append_bytes N");
                    out->config.max_append_bytes = size_t(std::max<uint64_t>(1, parse_uint(w[0], "max_append_bytes")));
                } else if (verb == "snapshot_entries" || verb == "catchup_entries") {
                    if (w.size() != 1) throw BadArg("usage: " + verb + " N");
                    (verb == "snapshot_entries" ? out->config.snapshot_entries : out->config.catchup_entries) =
                        parse_uint(w[0], verb);
                } else if (verb == "snapshot_chunk_bytes") {
                    if (w.size() != 1) throw BadArg("usage: snapshot_chunk_bytes N");
                    out->config.snapshot_chunk_bytes = size_t(std::max<uint64_t>(1, parse_uint(w[0], verb)));
                } else if (verb == "browsers") {
                    if (w.size() != 1) throw BadArg("usage: browsers K");
                    const uint64_t k = parse_uint(w[0], "browsers");
                    if (out->config.nodes + k > uint64_t(Simulator::kMaxNodes))
                        throw BadArg("nodes and browsers together must be at most " +
                                     std::to_string(Simulator::kMaxNodes));
                    out->config.browsers = int(k);
                } else if (verb == "remove_absent_browsers_after") {
                    if (w.size() != 1) throw BadArg("usage: remove_absent_browsers_after DURATION (0: never)");
                    out->config.remove_absent_browsers_after_ms = duration_arg(w[0]);
                } else if (verb == "min_voters") {
                    if (w.size() != 1) throw BadArg("usage: min_voters N");
                    out->config.min_voters = size_t(parse_uint(w[0], "min_voters"));
                } else if (verb == "network") {
                    parse_network(w, 0, &out->config.net);
                } else if (verb == "preload") {
                    if (w.size() != 3 || w[1] != "terms") throw BadArg("usage: preload N terms T,T,...");
                    std::vector<Term> terms;
                    for (uint64_t x : parse_list(w[2], "term")) terms.push_back(x);
                    out->preloads.push_back({parse_node(w[0], out->config.nodes), terms, 0});
                } else if (verb == "term") {
                    if (w.size() != 2) throw BadArg("usage: term N T");
                    const NodeId n = parse_node(w[0], out->config.nodes);
                    const Term t2 = parse_uint(w[1], "term");
                    bool found = false;
                    for (auto& p : out->preloads)
                        if (p.node == n) p.term = t2, found = true;
                    if (!found) out->preloads.push_back({n, {}, t2});
                }
            } catch (const BadArg& e) {
                *error = "line " + std::to_string(line) + ": " + e.what();
                return false;
            }
        }
    } catch (const std::exception& e) {
        *error = "line " + std::to_string(line) + ": " + e.what();
        return false;
    }
    return true;
}

std::unique_ptr<Simulator> make_simulator(const Scenario& s) {
    auto sim = std::make_unique<Simulator>(s.config);
    for (const auto& p : s.preloads) sim->preload_log(p.node, p.terms, p.term);
    return sim;
}

ActionResult run_action(Simulator& sim, const ScenarioAction& a) {
    try {
        return run(sim, a);
    } catch (const std::exception& e) {
        return {false, e.what()};
    }
}

ScenarioResult run_scenario(Simulator& sim, const Scenario& s) {
    for (const ScenarioAction& a : s.actions) {
        const ActionResult r = run_action(sim, a);
        if (!r.ok) return {false, a.line, "line " + std::to_string(a.line) + " (" + a.text() + "): " + r.message};
    }
    return {};
}

}  // namespace raftbook
