// `raftbook sim`: the deterministic simulator, headless. It runs a cluster in virtual
// time under a client load and a nemesis (or a scenario script), with the safety
// checker on after every event, and prints what happened: events, messages,
// elections, commits, the checker's verdict and the trace hash that identifies the
// run. The same flags and seed always print the same trace hash. Every run ends with
// a settle phase (Simulator::settle: heal, restart, converge, then the client history
// is checked for linearizability) unless --no-settle; --history writes that history
// for `raftbook lincheck`. `--bench` instead measures the simulator's own speed for
// 3, 5 and 7 nodes and prints a table.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/sim/nemesis.h"
#include "core/sim/sim_history.h"
#include "core/sim/scenario.h"
#include "core/sim/sim_json.h"
#include "native/cli/commands.h"
#include "native/cli/options.h"

namespace raftbook {

namespace {

using Clock = std::chrono::steady_clock;

bool parse_probability(const std::string& s, double* out) {
    char* end = nullptr;
    *out = std::strtod(s.c_str(), &end);
    return !s.empty() && *end == '\0' && *out >= 0 && *out <= 1;
}

struct Progress {
    bool enabled = isatty(2);
    Clock::time_point last = Clock::now();
    void show(const Simulator& sim, TimeMs total) {
        if (!enabled || Clock::now() - last < std::chrono::milliseconds(500)) return;
        last = Clock::now();
        std::fprintf(stderr, "\rsimulated %.1fs of %.1fs, %zu committed, %llu events   ", sim.now() / 1000.0,
                     total / 1000.0, sim.checker().committed().size(),
                     static_cast<unsigned long long>(sim.stats().events));
    }
    void done() {
        if (enabled) std::fprintf(stderr, "\r%60s\r", "");
    }
};

// Runs the load and the nemesis in slices so that a progress line can be shown.
void run_load(Simulator& sim, const NemesisConfig& config, TimeMs duration, uint64_t seed) {
    Progress progress;
    Nemesis nemesis(sim, config, seed);
    for (TimeMs done = 0; done < duration; done += 1000) {
        nemesis.run(std::min<TimeMs>(1000, duration - done));
        progress.show(sim, duration);
    }
    nemesis.finish();
    progress.done();
}

const char* verdict_name(LincheckResult::Verdict v) {
    switch (v) {
        case LincheckResult::Verdict::Linearizable: return "linearizable";
        case LincheckResult::Verdict::NotLinearizable: return "NOT linearizable";
        case LincheckResult::Verdict::Unknown: return "undecided (the search hit its bound)";
        case LincheckResult::Verdict::Malformed: return "malformed";
    }
    return "?";
}

// The membership changes a run asked for, by kind, and the configuration it ended with
// (the leader's; "none" when there is no leader).
nlohmann::json membership_json(const Simulator& sim) {
    nlohmann::json by_op = nlohmann::json::object();
    int done = 0, refused = 0, pending = 0;
    for (const MembershipOp& m : sim.membership_ops()) {
        nlohmann::json& c = by_op[m.op];
        if (c.is_null()) c = {{"asked", 0}, {"done", 0}};
        c["asked"] = c["asked"].get<int>() + 1;
        if (m.complete_ms < 0) {
            pending++;
        } else if (m.ok) {
            done++;
            c["done"] = c["done"].get<int>() + 1;
        } else {
            refused++;
        }
    }
    const std::optional<NodeId> l = sim.leader();
    const Membership none;
    const Membership& m = l ? sim.node(*l)->membership() : none;
    return {{"asked", int(sim.membership_ops().size())}, {"done", done}, {"refused", refused}, {"pending", pending},
            {"by_op", by_op}, {"machines", sim.size()}, {"voters", ids_text(m.voters())},
            {"learners", ids_text(m.learners())}};
}

nlohmann::json settle_json(const SettleResult& r) {
    nlohmann::json j = {{"settled", r.settled}, {"virtual_ms", r.took_ms}, {"history", verdict_name(r.history)}};
    if (!r.stuck.empty()) j["stuck"] = r.stuck;
    return j;
}

struct BenchRow {
    int nodes;
    uint64_t committed, delivered, events;
    double wall_s;
    long peak_kb;
};

// One benchmark row, measured in a child process so that peak memory is its own.
bool bench_row(int nodes, TimeMs duration, double rate, BenchRow* row) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    const pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        SimConfig c;
        c.nodes = nodes;
        c.seed = 42;
        Simulator sim(c);
        sim.set_client_rate(rate);
        const auto t0 = Clock::now();
        sim.advance(duration);
        const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        BenchRow r{nodes, sim.checker().committed().size(), sim.stats().messages_delivered, sim.stats().events, wall,
                   ru.ru_maxrss};
        const bool ok = sim.checker().ok() && write(fds[1], &r, sizeof r) == ssize_t(sizeof r);
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    const bool got = read(fds[0], row, sizeof *row) == ssize_t(sizeof *row);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return got && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int run_bench(TimeMs duration, double rate) {
    std::printf("Simulator throughput, checker on, client load %.0f requests/s (virtual), %.0f s virtual per row\n\n",
                rate, duration / 1000.0);
    std::printf("| nodes | committed entries/s (wall) | delivered messages/s (wall) | events/s (wall) | wall s | peak memory MiB |\n");
    std::printf("|---:|---:|---:|---:|---:|---:|\n");
    for (int nodes : {3, 5, 7}) {
        BenchRow r{};
        if (!bench_row(nodes, duration, rate, &r)) {
            std::fprintf(stderr, "raftbook sim --bench: the %d-node run failed\n", nodes);
            return 1;
        }
        std::printf("| %d | %.0f | %.0f | %.0f | %.2f | %.1f |\n", nodes, r.committed / r.wall_s, r.delivered / r.wall_s,
                    r.events / r.wall_s, r.wall_s, r.peak_kb / 1024.0);
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

int cmd_sim(int argc, char** argv) {
    Options opts("sim", "run a simulated cluster in virtual time and print a summary");
    opts.flag("nodes", "N", "cluster size, 1 to 9", "3");
    opts.flag("browsers", "K", "browser members joining at the start, reached only through a native node "
              "(nodes + browsers at most 9)", "0");
    opts.flag("reload-every", "TIME", "reload a random browser page at this interval: it joins again under a fresh "
              "id, the leader removes the old member as absent", "0");
    opts.flag("remove-absent-browsers-after", "TIME", "the leader removes a browser member silent this long "
              "(0: never)", "3s");
    opts.flag("seed", "N", "random seed: the same seed and flags give the same trace", "1");
    opts.flag("duration", "TIME", "virtual time to run, e.g. 60s or 500ms", "10s");
    opts.flag("script", "FILE", "run a scenario script (see README); its header sets nodes and seed");
    opts.flag("rate", "N", "client requests per virtual second", "50");
    opts.flag("drop", "P", "probability that a message is lost", "0");
    opts.flag("duplicate", "P", "probability that a message is delivered twice", "0");
    opts.flag("reorder", "P", "probability that a message is held back and overtaken", "0");
    opts.flag("partition-every", "TIME", "split the cluster in two at this interval (healed halfway)", "0");
    opts.flag("crash-every", "TIME", "crash a random node at this interval (restarted halfway)", "0");
    opts.flag("membership-every", "TIME", "ask for a random membership change or leadership transfer at this interval "
              "(add, promote, remove, transfer; up to 9 machines, never below 3 voters)", "0");
    opts.flag("disk-slow", "P@MIN..MAX", "the disk's tail: a fraction P of writes takes MIN..MAX ms", "0.03@20..80");
    opts.flag("snapshot-entries", "N", "snapshot after N entries applied since the last (0: never)", "0");
    opts.flag("catchup-entries", "N", "entries kept before a snapshot for followers a little behind", "0");
    opts.flag("fault", "NODE:NAME[,...]", "switch on a test-only rule fault, e.g. 3:skip_prev_log_check");
    opts.flag("settle", "TIME", "end by healing everything: within TIME the cluster must converge and answer "
              "every request (else Liveness); then the history must be linearizable", "10s");
    opts.flag_switch("no-settle", "stop at the end of the load, without the settle phase");
    opts.flag("history", "FILE", "write the client history, one JSON event a line, for `raftbook lincheck`");
    opts.flag_switch("json", "print one JSON object instead of text");
    opts.flag_switch("trace", "print every delivered message (long)");
    opts.flag_switch("bench", "measure the simulator's speed for 3, 5 and 7 nodes and print a table");
    int code = 0;
    if (!opts.parse(argc, argv, &code)) return code;

    uint64_t nodes = 0, seed = 0, rate = 0, snapshot_entries = 0, catchup_entries = 0, browsers = 0;
    if (!opts.get_uint("nodes", 1, 9, &nodes, &code) || !opts.get_uint("seed", 0, UINT64_MAX, &seed, &code) ||
        !opts.get_uint("browsers", 0, 8, &browsers, &code) ||
        !opts.get_uint("rate", 0, 1000000, &rate, &code) ||
        !opts.get_uint("snapshot-entries", 0, UINT64_MAX, &snapshot_entries, &code) ||
        !opts.get_uint("catchup-entries", 0, UINT64_MAX, &catchup_entries, &code)) {
        return code;
    }
    TimeMs duration = 0, partition_every = 0, crash_every = 0, membership_every = 0, settle_limit = 0, reload_every = 0,
           absent_after = 0;
    if (!parse_duration(opts.get("reload-every"), &reload_every))
        return opts.usage_error("--reload-every must look like 2s or 700ms");
    if (!parse_duration(opts.get("remove-absent-browsers-after"), &absent_after))
        return opts.usage_error("--remove-absent-browsers-after must look like 3s (0: never)");
    if (!parse_duration(opts.get("settle"), &settle_limit))
        return opts.usage_error("--settle must look like 10s or 500ms, not '" + opts.get("settle") + "'");
    if (!parse_duration(opts.get("duration"), &duration))
        return opts.usage_error("--duration must look like 60s or 500ms, not '" + opts.get("duration") + "'");
    if (!parse_duration(opts.get("partition-every"), &partition_every))
        return opts.usage_error("--partition-every must look like 5s");
    if (!parse_duration(opts.get("crash-every"), &crash_every)) return opts.usage_error("--crash-every must look like 7s");
    if (!parse_duration(opts.get("membership-every"), &membership_every))
        return opts.usage_error("--membership-every must look like 2s or 700ms");
    if (opts.given("bench")) return run_bench(opts.given("duration") ? duration : 60000, opts.given("rate") ? double(rate) : 1000);

    Scenario scenario;
    if (opts.given("script")) {
        std::ifstream f(opts.get("script"));
        if (!f) return opts.usage_error("cannot read script '" + opts.get("script") + "'");
        std::stringstream ss;
        ss << f.rdbuf();
        std::string error;
        if (!parse_scenario(ss.str(), &scenario, &error)) {
            std::fprintf(stderr, "raftbook sim: %s: %s\n", opts.get("script").c_str(), error.c_str());
            return 2;
        }
        if (opts.given("nodes")) scenario.config.nodes = int(nodes);
        if (opts.given("seed")) scenario.config.seed = seed;
    } else {
        scenario.config.nodes = int(nodes);
        scenario.config.seed = seed;
    }
    if (opts.given("browsers")) scenario.config.browsers = int(browsers);
    if (opts.given("remove-absent-browsers-after")) scenario.config.remove_absent_browsers_after_ms = absent_after;
    if (scenario.config.nodes + scenario.config.browsers > Simulator::kMaxNodes)
        return opts.usage_error("--nodes and --browsers together must be at most " + std::to_string(Simulator::kMaxNodes));
    if (opts.given("snapshot-entries")) scenario.config.snapshot_entries = snapshot_entries;
    if (opts.given("catchup-entries")) scenario.config.catchup_entries = catchup_entries;
    NetworkConfig& net = scenario.config.net;
    for (const auto& [flag, field] : {std::pair<const char*, double*>{"drop", &net.drop}, {"duplicate", &net.duplicate},
                                      {"reorder", &net.reorder}}) {
        if (opts.given(flag) && !parse_probability(opts.get(flag), field))
            return opts.usage_error(std::string("--") + flag + " must be a number from 0 to 1");
    }

    std::string net_error;
    if (opts.given("disk-slow") && !parse_network_settings("disk_slow=" + opts.get("disk-slow"), &net, &net_error))
        return opts.usage_error("--disk-slow: " + net_error);
    std::ofstream history_file;
    if (opts.given("history")) {
        history_file.open(opts.get("history"));
        if (!history_file) return opts.usage_error("cannot write history file '" + opts.get("history") + "'");
    }

    auto sim = make_simulator(scenario);
    if (opts.given("fault")) {
        std::map<int, Faults> faults;
        std::string fault_error;
        if (!parse_node_faults(opts.get("fault"), scenario.config.nodes + scenario.config.browsers, &faults, &fault_error))
            return opts.usage_error(fault_error);
        for (const auto& [node, on] : faults)
            for (const std::string& name : Faults::names())
                if (on.get(name)) sim->set_fault(NodeId(node), name, true);
    }
    if (opts.given("trace")) sim->set_trace([](const std::string& line) { std::printf("%s\n", line.c_str()); });

    const auto t0 = Clock::now();
    bool script_ok = true;
    std::string script_message;
    if (opts.given("script")) {
        for (const ScenarioAction& a : scenario.actions) {
            const ActionResult r = run_action(*sim, a);
            if (a.verb == "say" && !opts.given("json")) std::printf("  %s\n", r.message.c_str());
            if (!r.ok) {
                script_ok = false;
                script_message = "line " + std::to_string(a.line) + " (" + a.text() + "): " + r.message;
                break;
            }
        }
    }
    if (!opts.given("script") || opts.given("duration")) {
        sim->set_client_rate(double(rate));
        run_load(*sim, {partition_every, crash_every, membership_every, reload_every}, duration, scenario.config.seed);
    }
    std::optional<SettleResult> settled;
    if (!opts.given("no-settle")) settled = sim->settle(settle_limit);
    if (history_file.is_open()) {
        for (const HistoryEvent& e : history_of(sim->client_ops())) history_file << history_event_json(e) << "\n";
        history_file.flush();
        if (!history_file) {
            std::fprintf(stderr, "raftbook sim: error writing %s\n", opts.get("history").c_str());
            return 2;
        }
    }
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();

    const SimStats& st = sim->stats();
    const auto& violations = sim->checker().violations();
    const size_t committed = sim->checker().committed().size();
    if (opts.given("json")) {
        nlohmann::json out = {{"seed", scenario.config.seed},
                              {"nodes", scenario.config.nodes},
                              {"virtual_ms", sim->now()},
                              {"events", st.events},
                              {"messages_sent", st.messages_sent},
                              {"messages_delivered", st.messages_delivered},
                              {"messages_dropped", st.messages_dropped},
                              {"elections", st.elections},
                              {"proposals", st.proposals},
                              {"acknowledged", st.acked},
                              {"committed", committed},
                              {"snapshots_taken", st.snapshots_taken},
                              {"snapshots_installed", st.snapshots_installed},
                              {"membership", membership_json(*sim)},
                              {"wall_seconds", wall},
                              {"trace_hash", trace_hash_hex(*sim)},
                              {"violations", violations_json(*sim)}};
        if (!script_ok) out["script_error"] = script_message;
        if (settled) out["settle"] = settle_json(*settled);
        std::printf("%s\n", out.dump(2).c_str());
    } else {
        std::printf("nodes %d, seed %llu, %.1f s virtual in %.2f s wall\n", scenario.config.nodes,
                    static_cast<unsigned long long>(scenario.config.seed), sim->now() / 1000.0, wall);
        std::printf("events      %llu\n", static_cast<unsigned long long>(st.events));
        std::printf("messages    %llu sent, %llu delivered, %llu dropped\n", static_cast<unsigned long long>(st.messages_sent),
                    static_cast<unsigned long long>(st.messages_delivered), static_cast<unsigned long long>(st.messages_dropped));
        std::printf("elections   %llu\n", static_cast<unsigned long long>(st.elections));
        if (st.snapshots_taken + st.snapshots_installed > 0)
            std::printf("snapshots   %llu taken, %llu installed\n", static_cast<unsigned long long>(st.snapshots_taken),
                        static_cast<unsigned long long>(st.snapshots_installed));
        std::printf("committed   %zu entries (%.1f per virtual second), %llu of %llu client requests acknowledged\n",
                    committed, sim->now() > 0 ? committed * 1000.0 / sim->now() : 0.0,
                    static_cast<unsigned long long>(st.acked), static_cast<unsigned long long>(st.proposals));
        if (!sim->membership_ops().empty()) {
            const nlohmann::json m = membership_json(*sim);
            std::printf("membership  %d changes asked, %d done, %d refused; %d machines; voters %s, learners %s\n",
                        m["asked"].get<int>(), m["done"].get<int>(), m["refused"].get<int>(), m["machines"].get<int>(),
                        m["voters"].get<std::string>().c_str(), m["learners"].get<std::string>().c_str());
        }
        if (settled) {
            std::printf("settle      %s in %.1f s virtual; client history %s\n",
                        settled->settled ? "converged" : ("NOT converged (" + settled->stuck + ")").c_str(),
                        settled->took_ms / 1000.0, verdict_name(settled->history));
        }
        if (violations.empty()) {
            std::printf("invariants  safe: Election Safety, Log Matching, Leader Completeness, State Machine Safety, "
                        "no lost ack, Commit Durability, One Change at a Time, Apply Order, State Agreement, Exactly Once%s\n",
                        settled ? ", Linearizability, Liveness" : "");
        } else {
            std::printf("invariants  VIOLATED (%zu)\n", violations.size());
            for (const Violation& v : violations)
                std::printf("  %s at event %llu (%lld ms): %s\n", v.rule.c_str(), static_cast<unsigned long long>(v.event),
                            static_cast<long long>(v.time_ms), v.detail.c_str());
        }
        if (!script_ok) std::printf("script      FAILED at %s\n", script_message.c_str());
        std::printf("trace hash  %s\n", trace_hash_hex(*sim).c_str());
    }
    return violations.empty() && script_ok ? 0 : 1;
}

}  // namespace raftbook
