// Tests of the linearizability checker (core/lincheck/lincheck.h) and of `raftbook lincheck`.
//
// Small histories are written out by hand, operation by operation, so each test reads
// as the timeline it checks. Large ones come from a simulated register that is correct
// by construction: every operation takes effect at one instant inside its interval,
// some processes crash (info) with the write done or not, some requests fail. The
// histories in tests/histories/ are run through the binary, as a user would.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/sim/rng.h"
#include "core/lincheck/lincheck.h"

using namespace raftbook;
using Type = HistoryEvent::Type;
using Fn = HistoryEvent::Fn;
using Verdict = LincheckResult::Verdict;

namespace {

// A history written operation by operation: each call adds the invoke and the
// completion of one operation by `process` over [start, end].
class Timeline {
public:
    Timeline& write(int64_t process, const std::string& key, const std::string& value,
                    int64_t start, int64_t end, Type outcome = Type::Ok) {
        return op(process, Fn::Write, key, value, value, start, end, outcome);
    }
    Timeline& read(int64_t process, const std::string& key, std::optional<std::string> seen,
                   int64_t start, int64_t end) {
        return op(process, Fn::Read, key, std::nullopt, seen, start, end, Type::Ok);
    }
    Timeline& del(int64_t process, const std::string& key, int64_t start, int64_t end) {
        return op(process, Fn::Delete, key, std::nullopt, std::nullopt, start, end, Type::Ok);
    }
    // A compare-and-swap of `expected` (nullopt: absent) for `replacement`: ok = it
    // swapped, fail = it found another value, info = unknown.
    Timeline& cas(int64_t process, const std::string& key, std::optional<std::string> expected,
                  const std::string& replacement, int64_t start, int64_t end,
                  Type outcome = Type::Ok) {
        HistoryEvent call{process, Type::Invoke, Fn::Cas, key, replacement, start, 0, expected};
        events_.push_back(call);
        call.type = outcome;
        call.time = end;
        events_.push_back(call);
        return *this;
    }
    // An invoke that never completes (the history ends first).
    Timeline& pending_write(int64_t process, const std::string& key, const std::string& value,
                            int64_t start) {
        events_.push_back({process, Type::Invoke, Fn::Write, key, value, start, 0});
        return *this;
    }

    // The events in time order, numbered as lines.
    std::vector<HistoryEvent> history() const {
        std::vector<HistoryEvent> h = events_;
        std::stable_sort(h.begin(), h.end(), [](const HistoryEvent& a, const HistoryEvent& b) {
            return a.time < b.time;
        });
        for (size_t i = 0; i < h.size(); ++i) h[i].line = i + 1;
        return h;
    }

private:
    Timeline& op(int64_t process, Fn f, const std::string& key, std::optional<std::string> argument,
                 std::optional<std::string> result, int64_t start, int64_t end, Type outcome) {
        events_.push_back({process, Type::Invoke, f, key, argument, start, 0});
        events_.push_back({process, outcome, f, key, result, end, 0});
        return *this;
    }
    std::vector<HistoryEvent> events_;
};

// Operations of a simulated register that is linearizable by construction.
struct RegisterSimulation {
    int processes = 10;
    int keys = 10;
    int operations = 10000;
    double crash = 0.03;      // the client crashes mid-operation: info, done or not
    double fail = 0.02;       // the request is refused: fail, not done
    int distinct_values = 0;  // 0: every write a fresh value; else values from a small set
    double cas = 0;           // the fraction of operations that are compare-and-swaps
    uint64_t seed = 1;
};

std::vector<HistoryEvent> simulate_register(const RegisterSimulation& sim) {
    Rng rng(sim.seed);
    struct Op {
        int64_t process;
        Fn f;
        std::string key;
        std::optional<std::string> value;
        int64_t invoke, takes_effect, complete;  // takes_effect < 0: never
        Type outcome;
        std::optional<std::string> expected;  // a cas's
    };
    std::vector<Op> ops;
    std::vector<int64_t> clock(sim.processes, 0), process_id(sim.processes);
    for (int p = 0; p < sim.processes; ++p) process_id[p] = p;
    int64_t next_process = sim.processes;
    for (int i = 0; i < sim.operations; ++i) {
        const int p = int(std::min_element(clock.begin(), clock.end()) - clock.begin());
        Op op;
        op.process = process_id[p];
        const int64_t kind = rng.range(0, 9);
        op.f = rng.chance(sim.cas) ? Fn::Cas : kind < 5 ? Fn::Read : kind < 9 ? Fn::Write : Fn::Delete;
        op.key = "k" + std::to_string(rng.range(0, sim.keys - 1));
        if (op.f == Fn::Write || op.f == Fn::Cas)
            op.value = std::to_string(sim.distinct_values ? rng.range(1, sim.distinct_values) : i);
        if (op.f == Fn::Cas)  // a value written before, maybe
            op.expected = std::to_string(sim.distinct_values ? rng.range(1, sim.distinct_values)
                                                             : rng.range(std::max(0, i - 20), i));
        op.invoke = clock[p] + rng.range(1, 50);
        op.takes_effect = op.invoke + rng.range(1, 100);
        op.complete = op.takes_effect + rng.range(1, 100);
        op.outcome = Type::Ok;
        if (rng.chance(sim.fail)) {
            op.outcome = op.f == Fn::Cas ? Type::Info : Type::Fail;  // a failed cas compared
            op.takes_effect = -1;
        } else if (rng.chance(sim.crash)) {
            // The client gives up; the request may still be applied, even much later.
            op.outcome = Type::Info;
            op.takes_effect = rng.chance(0.5) ? op.invoke + rng.range(1, 5000) : -1;
            process_id[p] = next_process++;
        }
        clock[p] = op.complete;
        ops.push_back(op);
    }

    // Apply the operations in the order they took effect; reads see that state.
    std::vector<Op*> order;
    for (Op& op : ops)
        if (op.takes_effect >= 0) order.push_back(&op);
    std::stable_sort(order.begin(), order.end(),
                     [](const Op* a, const Op* b) { return a->takes_effect < b->takes_effect; });
    std::map<std::string, std::string> store;
    for (Op* op : order) {
        auto it = store.find(op->key);
        if (op->f == Fn::Cas) {
            const bool swaps = it != store.end() && it->second == op->expected;
            if (swaps) store[op->key] = *op->value;
            if (op->outcome == Type::Ok && !swaps) op->outcome = Type::Fail;
        } else if (op->f == Fn::Write)
            store[op->key] = *op->value;
        else if (op->f == Fn::Delete && it != store.end())
            store.erase(it);
        else if (op->f == Fn::Read && op->outcome == Type::Ok)
            op->value = it == store.end() ? std::nullopt : std::optional<std::string>(it->second);
    }

    std::vector<HistoryEvent> h;
    for (const Op& op : ops) {
        h.push_back({op.process, Type::Invoke, op.f, op.key,
                     op.f == Fn::Write || op.f == Fn::Cas ? op.value : std::nullopt, op.invoke, 0,
                     op.expected});
        h.push_back({op.process, op.outcome, op.f, op.key,
                     op.f == Fn::Read && op.outcome != Type::Ok ? std::nullopt : op.value,
                     op.complete, 0, op.expected});
    }
    std::stable_sort(h.begin(), h.end(),
                     [](const HistoryEvent& a, const HistoryEvent& b) { return a.time < b.time; });
    for (size_t i = 0; i < h.size(); ++i) h[i].line = i + 1;
    return h;
}

// Linearizability by its definition, for a handful of operations on one key: is there
// an order of all ok operations and some of the info ones, respecting real time (a
// before b when a completed before b was invoked), in which the register explains
// every read? Tries every such order.
bool linearizable_by_brute_force(const std::vector<HistoryEvent>& h) {
    struct Op {
        Fn f;
        std::optional<std::string> value;
        int64_t invoke, complete;
        bool required;  // ok (or a failed cas): must be placed; info: may be
        std::optional<std::string> expected;  // a cas's
        bool failed;                          // a cas that found another value
    };
    std::vector<Op> ops;
    for (size_t i = 0; i + 1 < h.size(); ++i) {
        if (h[i].type != Type::Invoke) continue;
        const HistoryEvent& done = h[i + 1];  // random_small_history completes at once
        const bool failed = done.type == Type::Fail;
        if (failed && h[i].f != Fn::Cas) continue;
        const bool ok = done.type != Type::Info;
        if (!ok && h[i].f == Fn::Read) continue;
        ops.push_back({h[i].f, h[i].f == Fn::Read ? done.value : h[i].value, h[i].time,
                       ok ? done.time : INT64_MAX, ok, h[i].expected, failed});
    }
    // Whether op may go when the register holds `state`, and what it leaves.
    auto apply = [](const Op& op, const std::optional<std::string>& state,
                    std::optional<std::string>* after) {
        *after = state;
        if (op.f == Fn::Read) return op.value == state;
        if (op.f != Fn::Cas) {
            *after = op.value;
            return true;
        }
        if (op.failed) return op.expected != state;
        if (op.expected == state) *after = op.value;
        return op.expected == state || !op.required;  // an unknown cas may find another value
    };
    std::vector<bool> placed(ops.size());
    std::function<bool(const std::optional<std::string>&)> extend =
        [&](const std::optional<std::string>& state) {
            bool all_required = true;
            for (size_t i = 0; i < ops.size(); ++i) all_required &= placed[i] || !ops[i].required;
            if (all_required) return true;
            for (size_t i = 0; i < ops.size(); ++i) {
                if (placed[i]) continue;
                bool ready = true;  // nothing unplaced had to come before it
                for (size_t j = 0; j < ops.size(); ++j)
                    ready = ready && (placed[j] || j == i || ops[j].complete >= ops[i].invoke);
                std::optional<std::string> after;
                if (!ready || !apply(ops[i], state, &after)) continue;
                placed[i] = true;
                const bool found = extend(after);
                placed[i] = false;
                if (found) return true;
            }
            return false;
        };
    return extend(std::nullopt);
}

// A random history of up to 8 operations by as many processes on one key, often not
// linearizable: intervals overlap at random, reads return 1, 2, 3 or absent at random.
// Each invoke is directly followed by its completion (times, not lines, give the order).
// With `cas`, a third of the operations are compare-and-swaps of 1, 2, 3 or absent for
// 1, 2 or 3.
std::vector<HistoryEvent> random_small_history(Rng& rng, bool cas = false) {
    std::vector<HistoryEvent> h;
    const int64_t n = rng.range(1, 8);
    for (int64_t p = 0; p < n; ++p) {
        const int64_t start = rng.range(0, 20), end = start + rng.range(0, rng.range(0, 30));
        const Fn f = cas && rng.chance(0.35) ? Fn::Cas
                     : rng.chance(0.5)       ? Fn::Read
                     : rng.chance(0.8)       ? Fn::Write
                                             : Fn::Delete;
        const int64_t pick = rng.range(0, 3);
        std::optional<std::string> argument, result, expected;
        if (f == Fn::Write || f == Fn::Cas) argument = result = std::to_string(std::max<int64_t>(pick, 1));
        if (f == Fn::Cas && rng.chance(0.8)) expected = std::to_string(rng.range(1, 3));
        const Type outcome = rng.chance(0.7) ? Type::Ok : rng.chance(0.7) ? Type::Info : Type::Fail;
        if (f == Fn::Read && outcome == Type::Ok && pick) result = std::to_string(pick);
        h.push_back({p, Type::Invoke, f, "x", argument, start, 0, expected});
        h.push_back({p, outcome, f, "x", f == Fn::Cas ? argument : result, end, 0, expected});
    }
    return h;
}

bool contains(const std::vector<HistoryEvent>& events, Type type, Fn f,
              const std::optional<std::string>& value) {
    return std::any_of(events.begin(), events.end(), [&](const HistoryEvent& e) {
        return e.type == type && e.f == f && e.value == value;
    });
}

// Parses `text` as a history file; returns the error (line 0 when it is well-formed).
HistoryError history_error(const std::string& text) {
    std::istringstream in(text);
    std::vector<HistoryEvent> h;
    HistoryError error;
    if (read_history(in, &h, &error)) error = check_linearizable(h).error;
    return error;
}

const std::string kWriteX1 =
    R"({"process": 0, "type": "invoke", "f": "write", "key": "x", "value": "1", "time": 0})";
const std::string kOkX1 =
    R"({"process": 0, "type": "ok", "f": "write", "key": "x", "value": "1", "time": 10})";

struct Run {
    int status;
    std::string output;  // stdout and stderr together
};

Run run_lincheck(const std::string& args) {
    const std::string command = std::string(RAFTBOOK_BINARY) + " lincheck " + args + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe);
    Run run;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) run.output.append(buf, n);
    const int status = pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

std::string histories_dir() {
    return (std::filesystem::path(__FILE__).parent_path().parent_path() / "histories").string();
}

std::string write_temp_history(const std::vector<HistoryEvent>& h, const std::string& name) {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("lincheck-" + std::to_string(getpid()) + "-" + name + ".jsonl"))
                                 .string();
    std::ofstream out(path);
    for (const HistoryEvent& e : h) out << history_event_json(e) << "\n";
    return path;
}

}  // namespace

TEST_CASE("sequential operations are linearizable when each read sees the latest write",
          "[lincheck]") {
    Timeline t;
    t.read(0, "x", std::nullopt, 0, 10)
        .write(0, "x", "1", 20, 30)
        .read(1, "x", "1", 40, 50)
        .write(1, "x", "2", 60, 70)
        .read(0, "x", "2", 80, 90)
        .del(0, "x", 100, 110)
        .read(1, "x", std::nullopt, 120, 130);
    LincheckResult r = check_linearizable(t.history());
    CHECK(r.verdict == Verdict::Linearizable);
    CHECK(r.operations == 7);
    CHECK(r.keys == 1);
}

TEST_CASE("a read overlapping two concurrent writes may see either value", "[lincheck]") {
    for (const char* seen : {"1", "2"}) {
        Timeline t;
        t.write(0, "x", "1", 0, 100).write(1, "x", "2", 10, 110).read(2, "x", seen, 20, 120);
        CHECK(check_linearizable(t.history()).verdict == Verdict::Linearizable);
    }
    Timeline both_orders;
    both_orders.write(0, "x", "1", 0, 100)
        .write(1, "x", "2", 10, 110)
        .read(2, "x", std::nullopt, 20, 30)
        .read(3, "x", "2", 40, 50)
        .read(2, "x", "1", 60, 70)
        .read(3, "x", "1", 120, 130);
    CHECK(check_linearizable(both_orders.history()).verdict == Verdict::Linearizable);
}

TEST_CASE("operations that end and begin at the same instant count as concurrent", "[lincheck]") {
    Timeline t;
    t.write(0, "x", "1", 0, 10).read(1, "x", std::nullopt, 10, 20);
    CHECK(check_linearizable(t.history()).verdict == Verdict::Linearizable);
}

TEST_CASE("an info write may take effect at any time after its invoke, or never", "[lincheck]") {
    SECTION("it took effect, after a later read still saw the old value") {
        Timeline t;
        t.write(0, "x", "1", 0, 10)
            .write(1, "x", "2", 20, 30, Type::Info)
            .read(2, "x", "1", 40, 50)
            .read(2, "x", "2", 60, 70);
        CHECK(check_linearizable(t.history()).verdict == Verdict::Linearizable);
    }
    SECTION("it never took effect") {
        Timeline t;
        t.write(0, "x", "1", 0, 10)
            .write(1, "x", "2", 20, 30, Type::Info)
            .read(2, "x", "1", 40, 50);
        CHECK(check_linearizable(t.history()).verdict == Verdict::Linearizable);
    }
    SECTION("an invoke with no completion is unknown too") {
        Timeline t;
        t.pending_write(1, "x", "2", 0).read(2, "x", "2", 40, 50);
        LincheckResult r = check_linearizable(t.history());
        CHECK(r.verdict == Verdict::Linearizable);
        CHECK(r.operations == 2);
    }
    SECTION("but not before its invoke") {
        Timeline t;
        t.read(2, "x", "2", 0, 10).write(1, "x", "2", 20, 30, Type::Info);
        CHECK(check_linearizable(t.history()).verdict == Verdict::NotLinearizable);
    }
    SECTION("and once seen, it stays until overwritten") {
        Timeline t;
        t.write(0, "x", "1", 0, 10)
            .write(1, "x", "2", 20, 30, Type::Info)
            .read(2, "x", "2", 40, 50)
            .read(2, "x", "1", 60, 70);
        CHECK(check_linearizable(t.history()).verdict == Verdict::NotLinearizable);
    }
}

TEST_CASE("two writes of one value may take effect in either order", "[lincheck]") {
    // The write invoked second must go first: the write of u needs a write of 1 before it.
    Timeline first;
    first.write(0, "x", "1", 0, 100)
        .write(1, "x", "1", 1, 5)
        .write(2, "x", "u", 6, 7)
        .read(3, "x", "1", 50, 60);
    CHECK(check_linearizable(first.history()).verdict == Verdict::Linearizable);
    // The first read of 1 comes before both writes complete; the one completing first
    // must serve it, the other the read after u.
    Timeline both;
    both.write(0, "x", "1", 0, 100)
        .write(1, "x", "1", 1, 70)
        .read(2, "x", "1", 50, 60)
        .write(2, "x", "u", 71, 75)
        .read(2, "x", "1", 80, 90);
    CHECK(check_linearizable(both.history()).verdict == Verdict::Linearizable);
}

TEST_CASE("an info read constrains nothing", "[lincheck]") {
    Timeline t;
    t.write(0, "x", "1", 0, 10);
    std::vector<HistoryEvent> h = t.history();
    h.push_back({1, Type::Invoke, Fn::Read, "x", std::nullopt, 20, 3});
    h.push_back({1, Type::Info, Fn::Read, "x", "7", 30, 4});
    LincheckResult r = check_linearizable(h);
    CHECK(r.verdict == Verdict::Linearizable);
    CHECK(r.operations == 2);
}

TEST_CASE("a failed write never happened", "[lincheck]") {
    Timeline t;
    t.write(0, "x", "1", 0, 10, Type::Fail).read(1, "x", "1", 20, 30);
    LincheckResult r = check_linearizable(t.history());
    CHECK(r.verdict == Verdict::NotLinearizable);
    CHECK(r.operations == 1);
}

TEST_CASE(
    "a stale read is not linearizable, the sub-history holds it and the write it "
    "missed",
    "[lincheck]") {
    Timeline t;
    t.write(0, "x", "1", 0, 10)
        .read(1, "y", std::nullopt, 5, 15)
        .write(0, "x", "2", 20, 30)
        .read(1, "x", "2", 25, 35)
        .write(2, "y", "9", 28, 38)
        .read(1, "x", "1", 40, 50)  // starts after the write of 2 completed
        .read(2, "y", "9", 45, 55);
    LincheckResult r = check_linearizable(t.history());
    REQUIRE(r.verdict == Verdict::NotLinearizable);
    CHECK(r.failing_keys == std::vector<std::string>{"x"});
    CHECK(r.key_operations == 4);
    CHECK(r.shrink_complete);
    CHECK(r.violation_operations == 3);
    CHECK(r.violation.size() == 6);
    CHECK(contains(r.violation, Type::Ok, Fn::Read, "1"));
    CHECK(contains(r.violation, Type::Invoke, Fn::Write, "2"));
    CHECK(contains(r.violation, Type::Invoke, Fn::Write, "1"));
    CHECK_FALSE(contains(r.violation, Type::Ok, Fn::Read, "2"));
    // Lines are those of the history, in order.
    const std::vector<HistoryEvent> h = t.history();
    for (const HistoryEvent& e : r.violation) {
        REQUIRE(e.line >= 1);
        CHECK(history_event_json(h[e.line - 1]) == history_event_json(e));
    }
    CHECK(std::is_sorted(
        r.violation.begin(), r.violation.end(),
        [](const HistoryEvent& a, const HistoryEvent& b) { return a.line < b.line; }));
}

TEST_CASE("after a delete a read sees absent, and after a write it does not", "[lincheck]") {
    Timeline t;
    t.write(0, "x", "1", 0, 10).del(0, "x", 20, 30).read(1, "x", "1", 40, 50);
    CHECK(check_linearizable(t.history()).verdict == Verdict::NotLinearizable);
    Timeline absent;
    absent.write(0, "x", "1", 0, 10).read(1, "x", std::nullopt, 20, 30);
    LincheckResult r = check_linearizable(absent.history());
    REQUIRE(r.verdict == Verdict::NotLinearizable);
    CHECK(r.violation_operations == 2);
}

TEST_CASE("a read of a value never written is not linearizable, and alone shows it", "[lincheck]") {
    Timeline t;
    t.write(0, "x", "1", 0, 10).read(1, "x", "7", 20, 30);
    LincheckResult r = check_linearizable(t.history());
    REQUIRE(r.verdict == Verdict::NotLinearizable);
    CHECK(r.violation_operations == 1);
    CHECK(contains(r.violation, Type::Ok, Fn::Read, "7"));
}

TEST_CASE("two sequential reads seeing the writes in the wrong order are not linearizable",
          "[lincheck]") {
    Timeline t;
    t.write(0, "x", "1", 0, 10)
        .write(1, "x", "2", 20, 100)
        .read(2, "x", "2", 30, 40)
        .read(2, "x", "1", 50, 60);
    LincheckResult r = check_linearizable(t.history());
    REQUIRE(r.verdict == Verdict::NotLinearizable);
    CHECK(r.violation_operations == 4);

    // Had the writes overlapped, 2 then 1 would have been a valid order.
    Timeline overlapping;
    overlapping.write(0, "x", "1", 0, 100)
        .write(1, "x", "2", 20, 100)
        .read(2, "x", "2", 30, 40)
        .read(2, "x", "1", 50, 60);
    CHECK(check_linearizable(overlapping.history()).verdict == Verdict::Linearizable);
}

TEST_CASE("keys are checked independently and every failing key is named", "[lincheck]") {
    Timeline t;
    t.write(0, "b", "1", 0, 10)
        .read(1, "b", "7", 20, 30)
        .write(0, "a", "1", 40, 50)
        .read(1, "a", "8", 60, 70)
        .write(0, "c", "1", 80, 90)
        .read(1, "c", "1", 100, 110);
    LincheckResult r = check_linearizable(t.history());
    REQUIRE(r.verdict == Verdict::NotLinearizable);
    CHECK(r.keys == 3);
    CHECK(r.failing_keys == std::vector<std::string>{"a", "b"});
    CHECK(contains(r.violation, Type::Ok, Fn::Read, "8"));
}

TEST_CASE("malformed lines are reported with their line number", "[lincheck]") {
    struct Case {
        std::string text;
        size_t line;
        std::string says;
    };
    const std::vector<Case> cases = {
        {kWriteX1 + "\n{\"process\": 0,", 2, "not valid JSON"},
        {"[1, 2]", 1, "expected a JSON object, got array"},
        {kWriteX1 + "\n\n" + R"({"process": 0, "type": "ok", "f": "write", "key": "x"})", 3,
         "missing field \"time\""},
        {R"({"process": "0", "type": "invoke", "f": "read", "key": "x", "time": 0})", 1,
         "\"process\" must be an integer, got string"},
        {R"({"process": 0, "type": "invoke", "f": "read", "key": "x", "time": 1.5})", 1,
         "\"time\" must be an integer, got 1.5"},
        {R"({"process": 9223372036854775808, "type": "invoke", "f": "read", "key": "x",)"
         R"( "time": 0})",
         1, "\"process\" is out of range: 9223372036854775808 is above 2^63 - 1"},
        {R"({"process": 0, "type": "done", "f": "read", "key": "x", "time": 0})", 1,
         "\"type\" must be one of invoke, ok, fail, info"},
        {R"({"process": 0, "type": "invoke", "f": "append", "key": "x", "time": 0})", 1,
         "\"f\" must be one of read, write, delete, cas"},
        {R"({"process": 0, "type": "invoke", "f": "cas", "key": "x", "time": 0})", 1,
         "a cas's invoke carries [expected, new]"},
        {R"({"process": 0, "type": "invoke", "f": "cas", "key": "x", "value": "1", "time": 0})", 1,
         "a cas's \"value\" must be [expected, new]"},
        {R"({"process": 0, "type": "invoke", "f": "cas", "key": "x", "value": ["1", null], "time": 0})",
         1, "two strings (expected may be null, for absent)"},
        {R"({"process": 0, "type": "invoke", "f": "cas", "key": "x", "value": ["1", "2"], "time": 0})"
         "\n"
         R"({"process": 0, "type": "ok", "f": "cas", "key": "x", "value": ["1", "3"], "time": 1})",
         2, "this ok reports the cas"},
        {R"({"process": 0, "type": "invoke", "f": "read", "key": 5, "time": 0})", 1,
         "\"key\" must be a string"},
        {R"({"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 5, "time": 0})", 1,
         "\"value\" must be a string or null"},
        {R"({"process": 0, "type": "invoke", "f": "write", "key": "x", "time": 0})", 1,
         "a write's invoke carries the value written"},
        {R"({"process": 0, "type": "invoke", "f": "write", "key": "x", "value": null, "time": 0})",
         1, "a write's invoke needs a string \"value\""},
        {R"({"process": 0, "type": "invoke", "f": "read", "key": "x", "value": "1", "time": 0})", 1,
         "a read's invoke has no value"},
        {R"({"process": 0, "type": "invoke", "f": "read", "key": "x", "time": 0})"
         "\n"
         R"({"process": 0, "type": "ok", "f": "read", "key": "x", "time": 1})",
         2, "a read's ok carries the value read"},
        {kWriteX1 + "\n" + kOkX1 + "\n" + kOkX1, 3, "this ok has no pending invoke on process 0"},
        {kWriteX1 + "\n" + kWriteX1, 2,
         "process 0 invokes again while its invoke on line 1 is still pending"},
        {kWriteX1 + "\n" +
             R"({"process": 0, "type": "ok", "f": "read", "key": "x", "value": "1", "time": 10})",
         2, "this ok is for a read but the pending invoke of process 0 on line 1 is a write"},
        {kWriteX1 + "\n" +
             R"({"process": 0, "type": "info", "f": "write", "key": "y", "time": 10})",
         2, "this info is for key \"y\""},
        {kWriteX1 + "\n" +
             R"({"process": 0, "type": "ok", "f": "write", "key": "x", "value": "2", "time": 10})",
         2, "this ok reports writing \"2\" but its invoke on line 1 writes \"1\""},
        {kWriteX1 + "\n" +
             R"({"process": 0, "type": "ok", "f": "write", "key": "x", "value": "1", "time": -5})",
         2, "completes at time -5, before its invoke on line 1 at time 0"},
    };
    for (const Case& c : cases) {
        INFO(c.text);
        HistoryError error = history_error(c.text);
        CHECK(error.line == c.line);
        CHECK_THAT(error.message, Catch::Contains(c.says));
    }
    // A well-formed history for contrast: no error.
    CHECK(history_error(kWriteX1 + "\n" + kOkX1 + "\n").line == 0);
}

TEST_CASE("a history in memory without line numbers is numbered by position", "[lincheck]") {
    std::vector<HistoryEvent> h = Timeline().write(0, "x", "1", 0, 10).history();
    for (HistoryEvent& e : h) e.line = 0;
    h.push_back(h.back());
    LincheckResult r = check_linearizable(h);
    CHECK(r.verdict == Verdict::Malformed);
    CHECK(r.error.line == 3);
}

TEST_CASE("an event survives printing and parsing", "[lincheck]") {
    HistoryEvent e{7, Type::Info, Fn::Write, "k \"q\"", "a\nb", -3, 0};
    HistoryEvent back;
    std::string error;
    REQUIRE(parse_history_event(history_event_json(e), &back, &error));
    CHECK(back.process == 7);
    CHECK(back.type == Type::Info);
    CHECK(back.f == Fn::Write);
    CHECK(back.key == e.key);
    CHECK(back.value == e.value);
    CHECK(back.time == -3);
}

TEST_CASE("a cas event survives printing and parsing (expected absent included)", "[lincheck]") {
    for (std::optional<std::string> expected : {std::optional<std::string>("3"), std::optional<std::string>()}) {
        HistoryEvent e{2, Type::Invoke, Fn::Cas, "r", "0", 5, 0, expected};
        const std::string line = history_event_json(e);
        CHECK_THAT(line, Catch::Contains(expected ? R"("value":["3","0"])" : R"("value":[null,"0"])"));
        HistoryEvent back;
        std::string error;
        REQUIRE(parse_history_event(line, &back, &error));
        CHECK(back.f == Fn::Cas);
        CHECK(back.expected == expected);
        CHECK(back.value == "0");
    }
}

TEST_CASE("a cas that swapped found the expected value and others see the new one", "[lincheck]") {
    Timeline t;
    t.write(0, "r", "3", 0, 10).cas(1, "r", "3", "0", 20, 30).read(2, "r", "0", 40, 50);
    CHECK(check_linearizable(t.history()).verdict == Verdict::Linearizable);
    SECTION("it cannot have swapped a value that was not there") {
        Timeline bad;
        bad.write(0, "r", "1", 0, 10).cas(1, "r", "3", "0", 20, 30);
        CHECK(check_linearizable(bad.history()).verdict == Verdict::NotLinearizable);
    }
    SECTION("a later read of the old value is stale") {
        t.read(2, "r", "3", 60, 70);
        const LincheckResult r = check_linearizable(t.history());
        REQUIRE(r.verdict == Verdict::NotLinearizable);
        CHECK(contains(r.violation, Type::Ok, Fn::Read, "3"));
    }
    SECTION("an expected value of null swaps only an absent key") {
        Timeline absent;
        absent.cas(0, "r", std::nullopt, "1", 0, 10).read(1, "r", "1", 20, 30);
        CHECK(check_linearizable(absent.history()).verdict == Verdict::Linearizable);
        absent.cas(2, "r", std::nullopt, "2", 40, 50);
        CHECK(check_linearizable(absent.history()).verdict == Verdict::NotLinearizable);
    }
}

TEST_CASE("a failed cas found another value than it expected", "[lincheck]") {
    Timeline t;
    t.write(0, "r", "3", 0, 10).cas(1, "r", "3", "0", 20, 30, Type::Fail);
    CHECK(check_linearizable(t.history()).verdict == Verdict::NotLinearizable);
    Timeline concurrent;  // a write of 4 may have gone first
    concurrent.write(0, "r", "3", 0, 10)
        .write(2, "r", "4", 15, 40)
        .cas(1, "r", "3", "0", 20, 30, Type::Fail)
        .read(0, "r", "4", 50, 60);
    CHECK(check_linearizable(concurrent.history()).verdict == Verdict::Linearizable);
}

TEST_CASE("an info cas may have swapped or not at any time after its invoke", "[lincheck]") {
    for (const char* seen : {"3", "0"}) {
        Timeline t;
        t.write(0, "r", "3", 0, 10).cas(1, "r", "3", "0", 20, 30, Type::Info).read(2, "r", seen, 40, 50);
        INFO("read " << seen);
        CHECK(check_linearizable(t.history()).verdict == Verdict::Linearizable);
    }
    Timeline late;  // it swapped after a write of 3 that followed it
    late.write(0, "r", "1", 0, 10)
        .cas(1, "r", "3", "0", 20, 30, Type::Info)
        .write(0, "r", "3", 40, 50)
        .read(2, "r", "0", 60, 70);
    CHECK(check_linearizable(late.history()).verdict == Verdict::Linearizable);
    Timeline never;  // but it cannot swap a value it did not expect
    never.write(0, "r", "1", 0, 10).cas(1, "r", "3", "0", 20, 30, Type::Info).read(2, "r", "0", 60, 70);
    CHECK(check_linearizable(never.history()).verdict == Verdict::NotLinearizable);
}

TEST_CASE("with cas the search agrees with brute force on thousands of small random histories",
          "[lincheck]") {
    Rng rng(7);
    int linearizable = 0, not_linearizable = 0;
    for (int i = 0; i < 10000; ++i) {
        const std::vector<HistoryEvent> h = random_small_history(rng, true);
        const bool expected = linearizable_by_brute_force(h);
        const LincheckResult r = check_linearizable(h);
        std::string text;
        for (const HistoryEvent& e : h) text += history_event_json(e) + "\n";
        INFO("history " << i << ":\n" << text);
        REQUIRE((r.verdict == Verdict::Linearizable) == expected);
        ++(expected ? linearizable : not_linearizable);
        if (!expected) REQUIRE_FALSE(linearizable_by_brute_force(r.violation));
    }
    CHECK(linearizable > 2500);
    CHECK(not_linearizable > 2500);
}

TEST_CASE("the search agrees with brute force on thousands of small random histories",
          "[lincheck]") {
    Rng rng(42);
    int linearizable = 0, not_linearizable = 0;
    for (int i = 0; i < 10000; ++i) {
        const std::vector<HistoryEvent> h = random_small_history(rng);
        const bool expected = linearizable_by_brute_force(h);
        const LincheckResult r = check_linearizable(h);
        std::string text;
        for (const HistoryEvent& e : h) text += history_event_json(e) + "\n";
        INFO("history " << i << ":\n" << text);
        REQUIRE((r.verdict == Verdict::Linearizable) == expected);
        ++(expected ? linearizable : not_linearizable);
        // The shrunk sub-history is itself a violation.
        if (!expected) REQUIRE_FALSE(linearizable_by_brute_force(r.violation));
    }
    // Both verdicts were exercised, often.
    CHECK(linearizable > 2500);
    CHECK(not_linearizable > 2500);
}

TEST_CASE("a simulated register's 10,000-operation history is linearizable", "[lincheck]") {
    RegisterSimulation sim;
    for (uint64_t seed : {1, 2, 3}) {
        sim.seed = seed;
        sim.processes = int(5 + seed * 5);  // 10, 15, 20 concurrent clients
        std::vector<HistoryEvent> h = simulate_register(sim);
        LincheckResult r = check_linearizable(h);
        INFO("seed " << seed);
        CHECK(r.verdict == Verdict::Linearizable);
        CHECK(r.keys == 10);
        CHECK(r.operations > 9500);
        CHECK(r.operations < 10000);  // some failed
    }
}

TEST_CASE("a simulated cas register like Jepsen's etcd test (5 values and many crashed cas) is linearizable",
          "[lincheck]") {
    RegisterSimulation sim;
    sim.processes = 5;
    sim.keys = 1;
    sim.distinct_values = 5;
    sim.cas = 0.4;
    sim.crash = 0.1;
    sim.operations = 2000;
    for (uint64_t seed : {1, 2, 3}) {
        sim.seed = seed;
        const std::vector<HistoryEvent> h = simulate_register(sim);
        const LincheckResult r = check_linearizable(h);
        INFO("seed " << seed);
        CHECK(r.verdict == Verdict::Linearizable);
        CHECK(std::count_if(h.begin(), h.end(), [](const HistoryEvent& e) {
                  return e.f == Fn::Cas && e.type == Type::Info;
              }) > 50);
    }
}

TEST_CASE("simulated histories with few distinct values are linearizable", "[lincheck]") {
    RegisterSimulation sim;
    sim.operations = 3000;
    sim.keys = 3;
    sim.processes = 8;
    sim.distinct_values = 3;
    sim.crash = 0.05;
    for (uint64_t seed = 1; seed <= 5; ++seed) {
        sim.seed = seed;
        INFO("seed " << seed);
        CHECK(check_linearizable(simulate_register(sim)).verdict == Verdict::Linearizable);
    }
}

TEST_CASE("a search past its memory bound says Unknown instead of guessing", "[lincheck]") {
    LincheckOptions options;
    options.memo_bytes = 0;  // full after its first 512 entries
    LincheckResult r = check_linearizable(simulate_register(RegisterSimulation()), options);
    CHECK(r.verdict == Verdict::Unknown);
    CHECK(r.gave_up == LincheckResult::Limit::Memory);
    CHECK(r.undecided_keys.size() == 10);
    CHECK(r.failing_keys.empty());
}

TEST_CASE("a search past its step bound says Unknown, the same on every run", "[lincheck]") {
    LincheckOptions options;
    options.search_steps = 100;  // shared by all keys: the first key uses them up
    const LincheckResult r = check_linearizable(simulate_register(RegisterSimulation()), options);
    CHECK(r.verdict == Verdict::Unknown);
    CHECK(r.gave_up == LincheckResult::Limit::Steps);
    CHECK(r.undecided_keys.size() == 10);
    options.search_steps = uint64_t(1) << 30;
    CHECK(check_linearizable(simulate_register(RegisterSimulation()), options).verdict == Verdict::Linearizable);
}

TEST_CASE("the host's out_of_time stops the search: the core reads no clock", "[lincheck]") {
    LincheckOptions options;
    int asked = 0;
    options.out_of_time = [&asked] { return ++asked > 1; };
    const LincheckResult r = check_linearizable(simulate_register(RegisterSimulation()), options);
    CHECK(asked >= 2);
    CHECK(r.verdict == Verdict::Unknown);
    CHECK(r.gave_up == LincheckResult::Limit::Time);
}

TEST_CASE("one stale read among 10,000 operations is found and shrunk to three", "[lincheck]") {
    RegisterSimulation sim;
    sim.processes = 15;
    std::vector<HistoryEvent> h = simulate_register(sim);
    // After everything, a new client reads k3 and gets the first value ever written
    // to it, long overwritten.
    const auto first_write = std::find_if(h.begin(), h.end(), [](const HistoryEvent& e) {
        return e.key == "k3" && e.f == Fn::Write && e.type == Type::Ok;
    });
    REQUIRE(first_write != h.end());
    const std::string stale = *first_write->value;
    const int64_t end = h.back().time;
    h.push_back({999, Type::Invoke, Fn::Read, "k3", std::nullopt, end + 10, h.size() + 1});
    h.push_back({999, Type::Ok, Fn::Read, "k3", stale, end + 20, h.size() + 1});

    LincheckResult r = check_linearizable(h);
    REQUIRE(r.verdict == Verdict::NotLinearizable);
    CHECK(r.failing_keys == std::vector<std::string>{"k3"});
    CHECK(r.shrink_complete);
    CHECK(r.violation_operations == 3);
    CHECK(r.violation.back().line == h.size());
    CHECK(contains(r.violation, Type::Invoke, Fn::Write, stale));
}

TEST_CASE("raftbook lincheck on the histories in tests/histories", "[lincheck][binary]") {
    struct Case {
        const char* file;
        int status;
        std::string says;
    };
    const std::vector<Case> cases = {
        {"linearizable-sequential.jsonl", 0, "linearizable: 7 operations on 1 key checked"},
        {"linearizable-concurrent-writes.jsonl", 0, "linearizable: 6 operations on 1 key checked"},
        {"linearizable-info-writes.jsonl", 0, "linearizable: 6 operations on 2 keys checked"},
        {"not-linearizable-stale-read.jsonl", 1,
         "NOT linearizable: key x: no order of its 4 operations behaves like a register\n"
         "minimal violating sub-history, 3 of those operations"},
        {"not-linearizable-never-written.jsonl", 1,
         "  line 6: {\"process\":0,\"type\":\"ok\","
         "\"f\":\"read\",\"key\":\"x\",\"value\":\"7\""},
        {"not-linearizable-reads-out-of-order.jsonl", 1, "4 of those operations"},
        {"malformed-ok-without-invoke.jsonl", 2,
         "malformed-ok-without-invoke.jsonl:3: this ok has no pending invoke on process 1"},
        {"malformed-bad-json.jsonl", 2, "malformed-bad-json.jsonl:4: not valid JSON"},
    };
    size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(histories_dir()))
        files += entry.path().extension() == ".jsonl";
    CHECK(files == cases.size());  // every history here is checked below
    for (const Case& c : cases) {
        INFO(c.file);
        Run run = run_lincheck(histories_dir() + "/" + c.file);
        CHECK(run.status == c.status);
        CHECK_THAT(run.output, Catch::Contains(c.says));
    }
    Run stale = run_lincheck(histories_dir() + "/not-linearizable-stale-read.jsonl");
    CHECK_THAT(stale.output, Catch::Contains("  line 11: {\"process\":1,\"type\":\"invoke\","
                                             "\"f\":\"read\",\"key\":\"x\",\"value\":null,"
                                             "\"time\":40}\n"));
}

TEST_CASE("raftbook lincheck --json prints the verdict and the violation", "[lincheck][binary]") {
    Run run = run_lincheck("--json " + histories_dir() + "/not-linearizable-stale-read.jsonl");
    CHECK(run.status == 1);
    nlohmann::json j = nlohmann::json::parse(run.output);
    CHECK(j["linearizable"] == false);
    CHECK(j["operations"] == 7);
    CHECK(j["keys"] == 2);
    CHECK(j["key"] == "x");
    CHECK(j["violation_operations"] == 3);
    REQUIRE(j["violation"].size() == 6);
    CHECK(j["violation"][5]["line"] == 13);
    CHECK(j["violation"][5]["event"]["value"] == "1");

    Run ok = run_lincheck("--json " + histories_dir() + "/linearizable-sequential.jsonl");
    CHECK(ok.status == 0);
    CHECK(nlohmann::json::parse(ok.output) ==
          nlohmann::json{{"linearizable", true}, {"operations", 7}, {"keys", 1}});
}

TEST_CASE("raftbook lincheck usage", "[lincheck][binary]") {
    Run help = run_lincheck("--help");
    CHECK(help.status == 0);
    CHECK_THAT(help.output, Catch::Contains("usage: raftbook lincheck"));
    CHECK(run_lincheck("--frobnicate x.jsonl").status == 2);
    CHECK(run_lincheck("").status == 2);
    CHECK(run_lincheck("a.jsonl b.jsonl").status == 2);
    CHECK(run_lincheck("--shrink-time soon x.jsonl").status == 2);
    Run missing = run_lincheck("/nonexistent/history.jsonl");
    CHECK(missing.status == 2);
    CHECK_THAT(missing.output, Catch::Contains("cannot open /nonexistent/history.jsonl"));
    Run from_stdin = run_lincheck("- < " + histories_dir() + "/linearizable-sequential.jsonl");
    CHECK(from_stdin.status == 0);
    CHECK_THAT(from_stdin.output, Catch::StartsWith("linearizable: 7 operations"));
    Run malformed_json =
        run_lincheck("--json " + histories_dir() + "/malformed-ok-without-invoke.jsonl");
    CHECK(malformed_json.status == 2);
    CHECK_THAT(malformed_json.output, Catch::Contains("\"line\":3"));
}

TEST_CASE("raftbook lincheck reads a generated 10,000-operation history", "[lincheck][binary]") {
    const std::string path = write_temp_history(simulate_register(RegisterSimulation()), "10k");
    Run run = run_lincheck(path);
    std::filesystem::remove(path);
    CHECK(run.status == 0);
    CHECK_THAT(run.output, Catch::StartsWith("linearizable: ") &&
                               Catch::Contains("operations on 10 keys checked"));
}

TEST_CASE("raftbook sim --history writes a history raftbook lincheck accepts", "[lincheck][binary]") {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("sim-history-" + std::to_string(getpid()) + ".jsonl")).string();
    const std::string command = std::string(RAFTBOOK_BINARY) +
                                " sim --seed 3 --nodes 3 --duration 5s --drop 0.05 --crash-every 2s --history " +
                                path + " > /dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    std::ifstream in(path);
    std::vector<HistoryEvent> history;
    HistoryError error;
    REQUIRE(read_history(in, &history, &error));
    CHECK(history.size() > 200);
    Run run = run_lincheck(path);
    std::filesystem::remove(path);
    CHECK(run.status == 0);
    CHECK_THAT(run.output, Catch::StartsWith("linearizable: "));
}

namespace {

std::string jepsen_dir() {
    return (std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "jepsen").string();
}

// Porcupine's verdicts on these files (its porcupine_test.go, checkJepsen).
const std::map<std::string, bool> kPorcupineExpects = {
    {"etcd_000.log", false}, {"etcd_001.log", false}, {"etcd_002.log", true}, {"etcd_005.log", true},
    {"etcd_007.log", true},  {"etcd_018.log", true},  {"etcd_049.log", true},  {"etcd_070.log", false},
    {"etcd_100.log", true}};

}  // namespace

TEST_CASE("Jepsen's etcd histories are decided as Porcupine decides them", "[lincheck][jepsen]") {
    size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(jepsen_dir()))
        files += entry.path().extension() == ".log";
    CHECK(files == kPorcupineExpects.size());  // every file is checked
    for (const auto& [file, linearizable] : kPorcupineExpects) {
        INFO(file);
        std::ifstream in(jepsen_dir() + "/" + file);
        std::vector<HistoryEvent> h;
        HistoryError error;
        REQUIRE(read_any_history(in, &h, &error));
        CHECK(h.size() > 150);
        const LincheckResult r = check_linearizable(h);
        CHECK(r.verdict == (linearizable ? Verdict::Linearizable : Verdict::NotLinearizable));
        CHECK(r.keys == 1);
    }
}

TEST_CASE("Jepsen's log lines are read as one register", "[lincheck][jepsen]") {
    const std::string log =
        "INFO  jepsen.util - 3\t:invoke\t:cas\t[4 0]\n"
        "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
        "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n"
        "INFO  jepsen.util - 1\t:ok\t:read\tnil\n"
        "INFO  jepsen.util - 3\t:fail\t:cas\t[4 0]\n"
        "INFO  jepsen.util - 2\t:invoke\t:read\tnil\n"
        "INFO  jepsen.util - 2\t:fail\t:read\t:timed-out\n"
        "INFO  jepsen.util - 0\t:invoke\t:write\t4\n"
        "INFO  jepsen.util - 0\t:info\t:write\t:timed-out\n";
    std::istringstream in(log);
    std::vector<HistoryEvent> h;
    HistoryError error;
    REQUIRE(read_any_history(in, &h, &error));
    REQUIRE(h.size() == 8);  // the nemesis's line skipped
    CHECK(h[0].f == Fn::Cas);
    CHECK(h[0].expected == "4");
    CHECK(h[0].value == "0");
    CHECK(h[0].key == "r");
    CHECK(h[0].time == 1);
    CHECK(h[2].type == Type::Ok);
    CHECK(h[2].value == std::nullopt);
    CHECK(h[3].type == Type::Fail);
    CHECK(h[5].type == Type::Fail);
    CHECK(h[6].value == "4");
    CHECK(h[7].type == Type::Info);
    CHECK(h[7].line == 9);
    CHECK(check_linearizable(h).verdict == Verdict::Linearizable);

    for (const auto& [text, says] : std::vector<std::pair<std::string, std::string>>{
             {"INFO  jepsen.util - 3\t:invoke\t:cas\t4 0", "a cas's value must be [EXPECTED NEW]"},
             {"INFO  jepsen.util - x\t:invoke\t:read\tnil", "the process \"x\" is not an integer"},
             {"INFO  jepsen.util - 3\t:invoke\t:append\t1", "the operation \":append\" is not"},
             {"INFO  jepsen.util - 3\t:done\t:read\t1", "the type \":done\" is not"},
             {"hello", "no \"jepsen.util - \" in this line"}}) {
        std::istringstream bad("INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\n" + text + "\n");
        std::vector<HistoryEvent> ignored;
        HistoryError e;
        INFO(text);
        REQUIRE_FALSE(read_any_history(bad, &ignored, &e));
        CHECK(e.line == 3);
        CHECK_THAT(e.message, Catch::Contains(says));
    }
}

TEST_CASE("raftbook lincheck decides Jepsen's etcd logs", "[lincheck][jepsen][binary]") {
    for (const auto& [file, linearizable] : kPorcupineExpects) {
        INFO(file);
        Run run = run_lincheck(jepsen_dir() + "/" + file);
        CHECK(run.status == (linearizable ? 0 : 1));
        CHECK_THAT(run.output, Catch::Contains(linearizable ? "linearizable: " : "NOT linearizable: key r"));
    }
}
