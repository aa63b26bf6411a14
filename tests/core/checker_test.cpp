// The checker's newer properties, each shown catching its violation and staying
// silent otherwise: Commit Durability, Apply Order, State Agreement, Exactly Once,
// Linearizability (of the clients' history) and Liveness (the settle phase).
#include <fstream>
#include <iterator>
#include <map>

#include "core/sim/nemesis.h"
#include "core/sim/sim_history.h"
#include "sim_support.h"

using namespace raftbook;
using namespace raftbook::testing;

namespace {

Entry command(Index i, const std::string& data, uint64_t client = 0, uint64_t seq = 0) {
    return Entry{i, 1, EntryType::Command, data, client, seq};
}

// A node restored from disk with these entries, all committed: fed to on_commit, it
// makes them the checker's committed log.
Raft committed_node(NodeId id, const std::vector<Entry>& entries) {
    RaftConfig rc;
    rc.id = id;
    rc.peers = {1, 2, 3};
    Restored r;
    r.entries = entries;
    r.hard_state = {1, kNoNode, entries.size()};
    return Raft(rc, r);
}

// Node n's state machine applies e and the checker hears of it.
void apply(Checker& c, NodeId n, KvStore& kv, const Entry& e, bool deduplicate = true) {
    const bool effect = kv.apply(e, deduplicate);
    c.on_apply(n, e, effect, kv.fingerprint());
}

std::vector<std::string> rules(const Checker& c) {
    std::vector<std::string> out;
    for (const Violation& v : c.violations()) out.push_back(v.rule);
    return out;
}

// A client op as a test writes it: kind, key, value, [invoke, complete] ms, outcome.
struct OpSpec {
    ClientOp::Kind kind;
    std::string key;
    std::optional<std::string> value;  // written, or read
    TimeMs invoke, complete;
    ClientOp::Outcome outcome = ClientOp::Outcome::Ok;
};

std::vector<ClientOp> client_ops(const std::vector<OpSpec>& specs) {
    std::vector<ClientOp> ops;
    for (const OpSpec& s : specs) {
        ClientOp op;
        op.id = ops.size() + 1;
        op.process = op.id;
        op.client_id = op.id;
        op.seq = 1;
        op.kind = s.kind;
        op.key = s.key;
        if (s.kind == ClientOp::Kind::Read) {
            op.result = s.value;
        } else if (s.value) {
            op.value = *s.value;
        }
        op.invoke_ms = s.invoke;
        op.complete_ms = s.outcome == ClientOp::Outcome::Pending ? -1 : s.complete;
        op.outcome = s.outcome;
        ops.push_back(op);
    }
    return ops;
}

constexpr auto W = ClientOp::Kind::Write;
constexpr auto R = ClientOp::Kind::Read;

}  // namespace

// ---------------------------------------------------------------- Commit Durability

TEST_CASE("commit durability: an entry committed while on fewer than a majority of disks is caught") {
    const std::vector<Entry> log = {command(1, "set x 1")};
    std::map<NodeId, bool> on_disk = {{1, true}, {2, false}, {3, false}};
    Checker c;
    c.set_durable_view(3, [&](NodeId n, Index i) -> std::optional<Term> {
        return i == 1 && on_disk[n] ? std::optional<Term>(1) : std::nullopt;
    });
    c.on_commit(committed_node(1, log));
    REQUIRE(rules(c) == std::vector<std::string>{"Commit Durability"});
    CHECK(c.violations().front().detail.find("only 1 of 3 disks") != std::string::npos);

    Checker quiet;
    on_disk[2] = true;  // two of three: a majority
    quiet.set_durable_view(3, [&](NodeId n, Index i) -> std::optional<Term> {
        return i == 1 && on_disk[n] ? std::optional<Term>(1) : std::nullopt;
    });
    quiet.on_commit(committed_node(1, log));
    CHECK(quiet.ok());
}

TEST_CASE("commit durability: ack_before_persist is caught the moment the leader commits, without a crash") {
    // Every write takes 500 ms. Followers that acknowledge on receipt let the leader
    // commit once its own disk is done, while theirs are still writing.
    const std::string script =
        "nodes 3\nseed 3\nwait leader\nnet disk=500 disk_slow=0@0..0\n"
        "fault 1 ack_before_persist\nfault 2 ack_before_persist\nfault 3 ack_before_persist\n"
        "propose set x 1\nadvance 2s\n";
    auto sim = run_script(script);
    REQUIRE(!sim->checker().ok());
    const Violation& v = sim->checker().violations().front();
    CHECK(v.rule == "Commit Durability");
    CHECK(v.detail.find("only 1 of 3 disks") != std::string::npos);

    // The same run with the rule kept: silent.
    std::string correct = script;
    for (const char* n : {"1", "2", "3"}) {
        const std::string line = std::string("fault ") + n + " ack_before_persist\n";
        correct.erase(correct.find(line), line.size());
    }
    auto fine = run_script(correct + "expect kv 1 x = 1\nexpect safe\n");
    CHECK(fine->checker().ok());
}

TEST_CASE("commit durability: with the disk's latency tail, ack_before_persist is caught in most seeds, no crash") {
    int caught = 0;
    const int seeds = 100;
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        SimConfig c;
        c.nodes = seed % 2 ? 5 : 3;
        c.seed = seed;
        Simulator sim(c);
        for (int n = 1; n <= c.nodes; n++) sim.set_fault(NodeId(n), "ack_before_persist", true);
        sim.set_client_rate(50);
        sim.advance(20000);  // measured: 81 of these 100 seeds (10 s: 65)
        caught += !sim.checker().ok() && sim.checker().violations().front().rule == "Commit Durability";
    }
    INFO(caught << " of " << seeds << " seeds caught");
    CHECK(caught > seeds / 2);
}

TEST_CASE("disk latency tail: the network line's disk_slow sets the fraction and the range") {
    Scenario s = parse_or_fail("network disk_slow=0.05@20..80\n");
    CHECK(s.config.net.disk_slow == 0.05);
    CHECK(s.config.net.disk_slow_min_ms == 20);
    CHECK(s.config.net.disk_slow_max_ms == 80);
    std::string error;
    CHECK_FALSE(parse_scenario("network disk_slow=0.05\n", &s, &error));
    CHECK(error.find("FRACTION@MIN..MAX") != std::string::npos);
    CHECK_FALSE(parse_scenario("network disk_slow=2@1..2\n", &s, &error));
}

// ---------------------------------------------------------------- Apply Order, State Agreement, Exactly Once

TEST_CASE("apply order: a node that skips or repeats an index is caught, in order it is silent") {
    const std::vector<Entry> log = {command(1, "set x 1"), command(2, "set y 2"), command(3, "set z 3")};
    Checker c;
    c.on_commit(committed_node(1, log));
    KvStore kv;
    for (const Entry& e : log) apply(c, 1, kv, e);
    CHECK(c.ok());

    KvStore gap;
    apply(c, 2, gap, log[0]);
    apply(c, 2, gap, log[2]);
    REQUIRE(!c.ok());
    CHECK(c.violations().front().rule == "Apply Order");  // (and its state then differs)
    CHECK(c.violations().front().detail.find("skipped 1") != std::string::npos);

    Checker again;
    again.on_commit(committed_node(1, log));
    KvStore kv2;
    apply(again, 3, kv2, log[0]);
    again.on_apply(3, log[0], false, kv2.fingerprint());
    REQUIRE(rules(again) == std::vector<std::string>{"Apply Order"});
    CHECK(again.violations().back().detail.find("repeated") != std::string::npos);
}

TEST_CASE("apply order: a restarted node starts again from its restored position") {
    const std::vector<Entry> log = {command(1, "set x 1"), command(2, "set y 2")};
    Checker c;
    const Raft node = committed_node(1, log);
    c.on_commit(node);
    KvStore before, after;
    for (const Entry& e : log) apply(c, 1, before, e);
    c.on_restart(node);  // restored with applied index 0: applies from 1 again
    for (const Entry& e : log) apply(c, 1, after, e);
    CHECK(c.ok());
}

TEST_CASE("state agreement and exactly once: a retried command that takes effect twice is caught") {
    // Client 7's request is in the log twice (a retry after a lost answer).
    const std::vector<Entry> log = {command(1, "set x 1", 7, 1), command(2, "set x 2", 8, 1),
                                    command(3, "set x 1", 7, 1)};
    Checker c;
    c.on_commit(committed_node(1, log));
    KvStore once, twice;
    for (const Entry& e : log) {
        apply(c, 1, once, e);
        apply(c, 2, twice, e, /*deduplicate=*/false);
    }
    CHECK(*once.get("x") == "2");
    CHECK(*twice.get("x") == "1");
    // Node 2's state took the retry: Exactly Once on node 2, and its state differs
    // from node 1's at index 3.
    REQUIRE(rules(c) == std::vector<std::string>{"Exactly Once", "State Agreement"});
    CHECK(c.violations()[0].nodes == std::vector<NodeId>{2});
    CHECK(c.violations()[0].detail.find("at index 1") != std::string::npos);
    CHECK(c.violations()[1].index == 3);
}

TEST_CASE("exactly once: the apply_duplicates fault is caught in a run with retries and leader changes") {
    std::string found;
    uint64_t seed = 1;
    for (; seed <= 20 && found.empty(); seed++) {
        SimConfig c;
        c.nodes = 3;
        c.seed = seed;
        c.net.drop = 0.1;
        Simulator sim(c);
        for (NodeId n = 1; n <= 3; n++) sim.set_fault(n, "apply_duplicates", true);
        sim.set_client_rate(50);
        run_with_nemesis(sim, {2000, 3000}, 15000, seed);
        if (!sim.checker().ok()) found = sim.checker().violations().front().rule;
    }
    INFO("after " << seed - 1 << " seeds");
    CHECK(found == "Exactly Once");
}

// ---------------------------------------------------------------- Linearizability

TEST_CASE("history_of: ops become lincheck events: pending and unknown are info, a failed write fail") {
    const auto ops = client_ops({{W, "x", "1", 0, 10},
                                 {W, "x", "2", 5, 20, ClientOp::Outcome::Unknown},
                                 {W, "y", "3", 5, 15, ClientOp::Outcome::Fail},
                                 {R, "x", "1", 12, 30},
                                 {W, "y", "4", 25, 0, ClientOp::Outcome::Pending}});
    std::vector<uint64_t> op_of;
    const std::vector<HistoryEvent> h = history_of(ops, &op_of);
    REQUIRE(h.size() == 10);
    using T = HistoryEvent::Type;
    std::vector<std::pair<uint64_t, T>> got;
    for (size_t i = 0; i < h.size(); i++) got.push_back({op_of[i], h[i].type});
    const std::vector<std::pair<uint64_t, T>> want = {{1, T::Invoke}, {2, T::Invoke}, {3, T::Invoke}, {1, T::Ok},
                                                      {4, T::Invoke}, {3, T::Fail},   {2, T::Info},   {5, T::Invoke},
                                                      {4, T::Ok},     {5, T::Info}};
    CHECK(got == want);
    CHECK(h[8].value == std::optional<std::string>("1"));  // the read's result
    CHECK(h[8].f == HistoryEvent::Fn::Read);
    CHECK(h[0].time == 0);
    CHECK(h[3].time == 10 * 1000000);  // ms as nanoseconds
    CHECK(h[9].time >= h[8].time);     // a pending op completes (as info) at the end
    CHECK(check_linearizable(h).verdict == LincheckResult::Verdict::Linearizable);
}

TEST_CASE("history_of: a conditional write that was refused is a read of the value it found") {
    auto ops = client_ops({{W, "x", "1", 0, 10}, {W, "x", "2", 20, 30}, {W, "x", "3", 40, 50}});
    ops[1].condition = "revision";  // x = 2 applied only if ...
    ops[2].condition = "value";     // x = 3 was refused: x held "2"
    ops[2].condition_failed = true;
    ops[2].current = "2";
    const std::vector<HistoryEvent> h = history_of(ops);
    REQUIRE(h.size() == 6);
    CHECK(h[2].f == HistoryEvent::Fn::Write);  // applied: a write of 2
    CHECK(h[2].value == std::optional<std::string>("2"));
    CHECK(h[4].f == HistoryEvent::Fn::Read);   // refused: a read...
    CHECK(h[5].f == HistoryEvent::Fn::Read);
    CHECK(h[5].value == std::optional<std::string>("2"));  // ...of what it found
    Checker c;
    CHECK(c.check_history(ops) == LincheckResult::Verdict::Linearizable);
    ops[2].current = "1";  // a refusal that saw an overwritten value is stale
    CHECK(c.check_history(ops) == LincheckResult::Verdict::NotLinearizable);
}

TEST_CASE("linearizability: a stale read is caught, naming the key and the ops") {
    // x = 1, then x = 2 (both acknowledged), then a read returns 1.
    const auto ops = client_ops({{W, "x", "1", 0, 10}, {W, "x", "2", 20, 30}, {R, "x", "1", 40, 50},
                                 {W, "y", "9", 0, 50}});
    Checker c;
    CHECK(c.check_history(ops) == LincheckResult::Verdict::NotLinearizable);
    REQUIRE(rules(c) == std::vector<std::string>{"Linearizability"});
    const std::string& d = c.violations().front().detail;
    CHECK(d.find("key x") != std::string::npos);
    CHECK(d.find("op 2 (") != std::string::npos);
    CHECK(d.find("op 3 (") != std::string::npos);
    CHECK(d.find("op 4") == std::string::npos);  // key y is fine and not named
}

TEST_CASE("linearizability: correct concurrent histories pass") {
    Checker c;
    // A read overlapping a write may see either value; an unknown write may take
    // effect late; a failed write never does.
    CHECK(c.check_history(client_ops({{W, "x", "1", 0, 100},
                                      {R, "x", std::nullopt, 10, 20},
                                      {R, "x", "1", 30, 40},
                                      {W, "y", "5", 0, 10, ClientOp::Outcome::Unknown},
                                      {R, "y", std::nullopt, 20, 30},
                                      {R, "y", "5", 40, 50},
                                      {W, "z", "7", 0, 10, ClientOp::Outcome::Fail},
                                      {R, "z", std::nullopt, 20, 30}})) == LincheckResult::Verdict::Linearizable);
    CHECK(c.ok());
    // ...but a read of a failed write's value is not.
    CHECK(c.check_history(client_ops({{W, "z", "7", 0, 10, ClientOp::Outcome::Fail}, {R, "z", "7", 20, 30}})) ==
          LincheckResult::Verdict::NotLinearizable);
}

// ---------------------------------------------------------------- Liveness (settle)

TEST_CASE("settle: a healthy run settles, answers every request and its history is linearizable") {
    SimConfig c;
    c.nodes = 5;
    c.seed = 9;
    c.net.drop = 0.05;
    Simulator sim(c);
    sim.set_client_rate(50);
    run_with_nemesis(sim, {2000, 3000}, 10000, 9);
    const SettleResult r = sim.settle(10000);
    INFO(r.stuck);
    CHECK(r.settled);
    CHECK(r.history == LincheckResult::Verdict::Linearizable);
    CHECK(sim.checker().ok());
    for (const ClientOp& op : sim.client_ops()) CHECK(op.outcome != ClientOp::Outcome::Pending);
    const uint64_t fingerprint = sim.kv(1)->fingerprint();
    for (NodeId n = 2; n <= 5; n++) CHECK(sim.kv(n)->fingerprint() == fingerprint);
}

TEST_CASE("settle: a network that never delivers inside the settle phase is a Liveness violation") {
    auto sim = run_script(
        "nodes 3\nseed 5\nwait leader\npropose set x 1\nadvance 1s\nexpect safe\n"
        "net drop=1\npropose set x 2\nsettle within 3s\nexpect violation Liveness\n");
    const Violation& v = sim->checker().violations().front();
    CHECK(v.rule == "Liveness");
    CHECK(v.detail.find("not settled 3000 ms") != std::string::npos);
    // Healthy, the same script settles silently.
    run_script("nodes 3\nseed 5\nwait leader\npropose set x 1\nadvance 1s\npropose set x 2\nsettle within 3s\n"
               "expect safe\nexpect kv 3 x = 2\n");
}

TEST_CASE("settle: it heals partitions and restarts crashed nodes first") {
    auto sim = run_script("nodes 5\nseed 8\nwait leader\npartition 1,2 | 3,4,5\ncrash 4\nrate 40\nadvance 3s\n"
                          "settle\nexpect safe\nexpect same logs\n");
    for (NodeId n = 1; n <= 5; n++) CHECK(sim->node(n) != nullptr);
}

TEST_CASE("settle: a request whose client ran out of tries during the faults is retried, not blamed on the healed cluster") {
    std::ifstream f(std::string(RAFTBOOK_REGRESSION_DIR) + "/settle_client_retries.txt");
    REQUIRE(f.good());
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto sim = run_script(text);  // ends with `settle within 20s` and `expect safe`
    CHECK(sim->checker().ok());
}
