// `raftbook soak`: the simulator over many seeds, in parallel, for a wall-clock budget.
//
// Each seed is one `raftbook sim` run: the seed picks its own mix of trouble (message
// drops, duplicates and reordering; a nemesis that partitions the cluster and crashes
// nodes; a client load), the run ends with every link healed and every node restarted,
// and the safety checker watches every event. Then the seed must settle
// (Simulator::settle): within kSettleWithin of virtual time the cluster converges and
// answers every pending request, and the client history is linearizable. A seed that
// breaks a rule, does not settle or crashes the worker is
// reported with everything needed to look at it again: the exact `raftbook sim`
// command (which settles the same way and prints the same trace hash) and a playground link —
// the URL hash web/js/url_state.js reads, holding the nodes, the seed and the run as
// scenario lines, with the cursor on the violation.
//
// Workers are forked processes (a seed that crashes takes only its worker down); worker
// w of J runs seeds S+w, S+w+J, ... and reports each on a pipe, one JSON line.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/raft/faults.h"
#include "core/sim/nemesis.h"
#include "core/sim/scenario.h"
#include "native/cli/commands.h"
#include "native/cli/options.h"

namespace raftbook {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr TimeMs kSettleWithin = 20000;
constexpr size_t kReportedFailures = 10;

// What the command line fixes for every seed.
struct SoakKnobs {
    int nodes = 0;                  // 0: each seed picks 3 or 5
    TimeMs duration = 0;
    std::string fault;              // a rule switch on every node, "" for none
    uint64_t snapshot_entries = 0;  // snapshot threshold (0: no snapshots)
    TimeMs membership_every = 0;    // random membership changes (0: none)
    int browsers = 0;               // browser members, each page reloaded now and then
};

// A page reloads about this often when a run has browser members (Nemesis::reload_every).
constexpr TimeMs kReloadEvery = 2000;

// One seed's mix of trouble, drawn from the seed itself. Probabilities are kept as the
// text the replay command and the playground link carry, so all three agree exactly.
struct SeedPlan {
    uint64_t seed = 0;
    int nodes = 3;
    std::string drop, duplicate, reorder;
    TimeMs partition_every = 0, crash_every = 0;
    int rate = 0;
    TimeMs duration = 0;
    std::string fault;  // a rule switch on every node, "" for none
    uint64_t snapshot_entries = 0;  // snapshot threshold (0: no snapshots)
    TimeMs membership_every = 0;    // random membership changes (0: none)
    int browsers = 0;               // browser members (reloaded every kReloadEvery)
};

SeedPlan plan_for(uint64_t seed, const SoakKnobs& k) {
    static const char* const kDrop[] = {"0", "0.01", "0.05", "0.1"};
    static const char* const kDuplicate[] = {"0", "0.02", "0.05"};
    static const char* const kReorder[] = {"0", "0.05", "0.1"};
    static const TimeMs kPartitionEvery[] = {0, 2000, 3000, 5000};
    static const TimeMs kCrashEvery[] = {0, 3000, 5000, 7000};
    Rng rng(seed ^ 0x736F616B706C616EULL);
    SeedPlan p;
    p.seed = seed;
    p.nodes = k.nodes > 0 ? k.nodes : (rng.range(0, 1) ? 5 : 3);
    p.drop = kDrop[rng.range(0, 3)];
    p.duplicate = kDuplicate[rng.range(0, 2)];
    p.reorder = kReorder[rng.range(0, 2)];
    p.partition_every = kPartitionEvery[rng.range(0, 3)];
    p.crash_every = kCrashEvery[rng.range(0, 3)];
    if (p.partition_every == 0 && p.crash_every == 0) p.crash_every = 4000;  // every seed meets a nemesis
    p.rate = int(rng.range(20, 200));
    p.duration = k.duration;
    p.fault = k.fault;
    p.snapshot_entries = k.snapshot_entries;
    p.membership_every = k.membership_every;
    p.browsers = k.browsers;
    return p;
}

std::string ms_text(TimeMs ms) { return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms"; }

std::string hex(uint64_t x) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(x));
    return buf;
}

std::string replay_command(const SeedPlan& p) {
    std::string cmd = "raftbook sim --seed " + std::to_string(p.seed) + " --nodes " + std::to_string(p.nodes) +
                      " --duration " + ms_text(p.duration) + " --rate " + std::to_string(p.rate) + " --drop " + p.drop +
                      " --duplicate " + p.duplicate + " --reorder " + p.reorder + " --settle " + ms_text(kSettleWithin);
    if (p.partition_every) cmd += " --partition-every " + ms_text(p.partition_every);
    if (p.crash_every) cmd += " --crash-every " + ms_text(p.crash_every);
    if (p.snapshot_entries) cmd += " --snapshot-entries " + std::to_string(p.snapshot_entries);
    if (p.membership_every) cmd += " --membership-every " + ms_text(p.membership_every);
    if (p.browsers)
        cmd += " --browsers " + std::to_string(p.browsers) + " --reload-every " + ms_text(kReloadEvery);
    if (!p.fault.empty()) {
        cmd += " --fault ";
        for (int n = 1; n <= p.nodes + p.browsers; n++) cmd += (n > 1 ? "," : "") + std::to_string(n) + ":" + p.fault;
    }
    return cmd;
}

// One line as url_state.js's encodeLine writes it: encodeURIComponent, spaces as '+'.
std::string encode_line(const std::string& line) {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : line) {
        if (std::isalnum(c) || std::strchr("-_.!~*'()", c)) {
            out += char(c);
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

// The playground timeline of a run: each line with the virtual time it starts at.
struct Timeline {
    std::vector<std::pair<TimeMs, std::string>> lines;
    TimeMs last = 0;
    void at(TimeMs t, const std::string& line) {
        if (t > last) lines.emplace_back(last, "advance " + std::to_string(t - last) + "ms");
        last = std::max(last, t);
        lines.emplace_back(t, line);
    }
    // "#nodes=3&seed=7&do=...&at=N&t=MS": the cursor after the line running at `cursor_ms`.
    std::string hash(const SeedPlan& p, TimeMs cursor_ms) const {
        std::string h = "#nodes=" + std::to_string(p.nodes) + "&seed=" + std::to_string(p.seed) + "&do=";
        size_t begun = 0;
        for (size_t i = 0; i < lines.size(); i++) {
            h += (i ? ";" : "") + encode_line(lines[i].second);
            if (lines[i].first <= cursor_ms) begun = i + 1;
        }
        return h + "&at=" + std::to_string(begun) + "&t=" + std::to_string(cursor_ms);
    }
};

// Runs one seed; the JSON line a worker reports for it.
json run_seed(const SeedPlan& p) {
    Scenario sc;
    sc.config.nodes = p.nodes;
    sc.config.seed = p.seed;
    sc.config.net.drop = std::stod(p.drop);
    sc.config.net.duplicate = std::stod(p.duplicate);
    sc.config.net.reorder = std::stod(p.reorder);
    sc.config.snapshot_entries = p.snapshot_entries;
    sc.config.browsers = p.browsers;
    auto sim = make_simulator(sc);
    Timeline timeline;
    if (!p.fault.empty()) {
        for (int n = 1; n <= p.nodes + p.browsers; n++) {
            sim->set_fault(NodeId(n), p.fault, true);
            timeline.at(0, "fault " + std::to_string(n) + " " + p.fault);
        }
    }
    timeline.at(0, "net drop=" + p.drop + " duplicate=" + p.duplicate + " reorder=" + p.reorder);
    timeline.at(0, "rate " + std::to_string(p.rate));
    sim->set_client_rate(p.rate);

    Nemesis nemesis(*sim, {p.partition_every, p.crash_every, p.membership_every, p.browsers ? kReloadEvery : 0}, p.seed);
    nemesis.set_observer([&](const std::string& line) { timeline.at(sim->now(), line); });
    nemesis.run(p.duration);
    nemesis.finish();
    const TimeMs healed_ms = sim->now();

    timeline.at(sim->now(), "settle within " + ms_text(kSettleWithin));
    sim->settle(kSettleWithin);
    timeline.at(sim->now(), "expect safe");

    json r = {{"seed", p.seed}, {"events", sim->stats().events}, {"ok", sim->checker().ok()}};
    if (r["ok"]) return r;
    const Violation& v = sim->checker().violations().front();
    const TimeMs cursor = v.time_ms;
    r["problem"] = v.rule + " at " + std::to_string(v.time_ms) + " ms (event " + std::to_string(v.event) +
                   "): " + v.detail;
    if (v.time_ms > healed_ms) r["note"] = "found in the settle phase, after every link was healed and every node restarted";
    r["replay"] = replay_command(p);
    r["trace_hash"] = hex(sim->trace_hash());
    // (The page's URL holds no browser members: such a run is replayed with `raftbook sim`.)
    if (p.browsers == 0) r["playground"] = timeline.hash(p, cursor);
    return r;
}

struct Worker {
    pid_t pid = -1;
    int fd = -1;
    std::string buffer;
    uint64_t next_seed = 0;     // the next seed of its stride
    bool running_seed = false;  // it reported "start" for next_seed and no result yet
};

// The worker loop: seeds first, first + stride, ... until the deadline. Never returns.
[[noreturn]] void worker_main(int fd, uint64_t first, uint64_t stride, Clock::time_point deadline,
                              const SoakKnobs& knobs) {
    for (uint64_t seed = first; Clock::now() < deadline; seed += stride) {
        const std::string start = json{{"start", seed}}.dump() + "\n";
        if (write(fd, start.data(), start.size()) < 0) _exit(3);
        json r;
        try {
            r = run_seed(plan_for(seed, knobs));
        } catch (const std::exception& e) {
            const SeedPlan p = plan_for(seed, knobs);
            r = {{"seed", seed}, {"events", 0}, {"ok", false},
                 {"problem", std::string("the simulator threw: ") + e.what()}, {"replay", replay_command(p)}};
        }
        const std::string line = r.dump() + "\n";
        if (write(fd, line.data(), line.size()) < 0) _exit(3);
    }
    _exit(0);
}

bool spawn(Worker* w, uint64_t stride, Clock::time_point deadline, const SoakKnobs& knobs) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        close(fds[0]);
        worker_main(fds[1], w->next_seed, stride, deadline, knobs);
    }
    close(fds[1]);
    w->pid = pid;
    w->fd = fds[0];
    w->buffer.clear();
    w->running_seed = false;
    return true;
}

struct Totals {
    uint64_t seeds = 0, events = 0;
    uint64_t lowest = UINT64_MAX, highest = 0;
    std::map<uint64_t, json> failures;  // by seed
    void add(const json& r) {
        const uint64_t seed = r["seed"];
        seeds++;
        events += r["events"].get<uint64_t>();
        lowest = std::min(lowest, seed);
        highest = std::max(highest, seed);
        if (!r["ok"].get<bool>()) failures[seed] = r;
    }
};

// Handles the complete lines a worker has written so far.
void take_lines(Worker* w, uint64_t stride, Totals* totals) {
    size_t nl;
    while ((nl = w->buffer.find('\n')) != std::string::npos) {
        const json j = json::parse(w->buffer.substr(0, nl), nullptr, false);
        w->buffer.erase(0, nl + 1);
        if (j.contains("start")) {
            w->running_seed = true;
        } else if (j.is_object()) {
            totals->add(j);
            w->running_seed = false;
            w->next_seed += stride;
        }
    }
}

std::string describe_exit(int status) {
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
    return "exited with status " + std::to_string(WEXITSTATUS(status));
}

void print_failure(const json& r) {
    std::printf("\nseed %llu: %s\n", static_cast<unsigned long long>(r["seed"].get<uint64_t>()),
                r["problem"].get<std::string>().c_str());
    if (r.contains("note")) std::printf("  note:       %s\n", r["note"].get<std::string>().c_str());
    std::printf("  replay:     %s\n", r["replay"].get<std::string>().c_str());
    if (r.contains("trace_hash"))
        std::printf("  trace hash  %s after the settle phase (the replay prints the same)\n", r["trace_hash"].get<std::string>().c_str());
    if (r.contains("playground"))
        std::printf("  playground: open the page (raftbook demo, or any node's --http address) with this hash:\n"
                    "              %s\n",
                    r["playground"].get<std::string>().c_str());
}

}  // namespace

int cmd_soak(int argc, char** argv) {
    Options opts("soak", "Run the simulator over many seeds in parallel for a wall-clock budget, each seed\n"
                         "with its own mix of drops, duplicates, reordering, partitions and crashes, then\n"
                         "healed and settled (converge, answer every request, linearizable history). Exit 1 when any seed fails; each failing seed is\n"
                         "printed with the `raftbook sim` command and the playground link that replay it.");
    opts.flag("seconds", "N", "wall-clock budget", "60");
    opts.flag("jobs", "N", "worker processes (default: one per CPU)");
    opts.flag("nodes", "N", "cluster size, 3 or 5 (default: each seed picks one)");
    opts.flag("from-seed", "S", "first seed", "1");
    opts.flag("duration", "TIME", "virtual time per seed before the heal", "20s");
    opts.flag("snapshot-entries", "N", "each node snapshots after N entries applied (0: never)", "0");
    opts.flag("membership-every", "TIME", "ask for a random membership change or leadership transfer at this "
              "interval (up to 9 machines, never below 3 voters)", "0");
    opts.flag("browsers", "K", "K browser members join each run (reached through native nodes), and a page "
              "reloads every " + ms_text(kReloadEvery) + " (joining again under a fresh id)", "0");
    opts.flag("fault", "NAME", "test-only: switch on this rule fault (faults.h) on every node, to see soak catch it");
    int code = 0;
    if (!opts.parse(argc, argv, &code)) return code;

    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t seconds = 0, jobs = uint64_t(cpus > 0 ? cpus : 1), nodes = 0, from = 0, snapshot_entries = 0, browsers = 0;
    if (!opts.get_uint("seconds", 1, 7 * 24 * 3600, &seconds, &code) ||
        !opts.get_uint("browsers", 0, 4, &browsers, &code) ||
        !opts.get_uint("snapshot-entries", 0, UINT64_MAX, &snapshot_entries, &code) ||
        (opts.given("jobs") && !opts.get_uint("jobs", 1, 256, &jobs, &code)) ||
        (opts.given("nodes") && !opts.get_uint("nodes", 3, 5, &nodes, &code)) ||
        !opts.get_uint("from-seed", 0, UINT64_MAX / 2, &from, &code)) {
        return code;
    }
    if (nodes == 4) return opts.usage_error("--nodes must be 3 or 5");
    TimeMs duration = 0, membership_every = 0;
    if (!parse_duration(opts.get("duration"), &duration) || duration <= 0 || duration > 3600 * 1000)
        return opts.usage_error("--duration must look like 20s or 500ms (at most an hour)");
    if (!parse_duration(opts.get("membership-every"), &membership_every))
        return opts.usage_error("--membership-every must look like 2s or 700ms");
    const std::string fault = opts.get("fault");
    if (!fault.empty() && !Faults().set(fault, true)) {
        std::string names;
        for (const auto& f : Faults::names()) names += " " + f;
        return opts.usage_error("--fault '" + fault + "' is not a rule fault; choose among:" + names);
    }

    const SoakKnobs knobs{int(nodes), duration, fault, snapshot_entries, membership_every, int(browsers)};
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::seconds(seconds);
    std::vector<Worker> workers(jobs);
    for (uint64_t w = 0; w < jobs; w++) {
        workers[w].next_seed = from + w;
        if (!spawn(&workers[w], jobs, deadline, knobs)) {
            std::fprintf(stderr, "raftbook soak: cannot start worker processes: %s\n", std::strerror(errno));
            for (Worker& x : workers)
                if (x.pid > 0) kill(x.pid, SIGKILL);
            return 1;
        }
    }

    Totals totals;
    const bool tty = isatty(2);
    auto last_progress = Clock::now();
    size_t alive = workers.size();
    while (alive > 0) {
        std::vector<pollfd> fds;
        std::vector<Worker*> polled;
        for (Worker& w : workers) {
            if (w.fd < 0) continue;
            fds.push_back({w.fd, POLLIN, 0});
            polled.push_back(&w);
        }
        poll(fds.data(), fds.size(), 500);
        for (size_t i = 0; i < fds.size(); i++) {
            if (!fds[i].revents) continue;
            Worker& w = *polled[i];
            char buf[65536];
            const ssize_t n = read(w.fd, buf, sizeof buf);
            if (n > 0) {
                w.buffer.append(buf, size_t(n));
                take_lines(&w, jobs, &totals);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            close(w.fd);
            w.fd = -1;
            int status = 0;
            waitpid(w.pid, &status, 0);
            const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (clean && !w.running_seed) {
                alive--;
                continue;
            }
            // The worker died in the middle of a seed: that seed fails; a new worker
            // carries on with the rest of the stride.
            const SeedPlan p = plan_for(w.next_seed, knobs);
            totals.add({{"seed", w.next_seed}, {"events", 0}, {"ok", false},
                        {"problem", "the worker running it " + describe_exit(status)}, {"replay", replay_command(p)}});
            w.next_seed += jobs;
            if (Clock::now() >= deadline || !spawn(&w, jobs, deadline, knobs)) alive--;
        }
        if (tty && Clock::now() - last_progress > std::chrono::milliseconds(500)) {
            last_progress = Clock::now();
            const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
            std::fprintf(stderr, "\rsoak: %.0f of %llu s, %llu seeds, %.1f M events, %zu failing   ", elapsed,
                         static_cast<unsigned long long>(seconds), static_cast<unsigned long long>(totals.seeds),
                         totals.events / 1e6, totals.failures.size());
        }
    }
    if (tty) std::fprintf(stderr, "\r%70s\r", "");

    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("soak: %llu seeds", static_cast<unsigned long long>(totals.seeds));
    if (totals.seeds)
        std::printf(" (%llu..%llu)", static_cast<unsigned long long>(totals.lowest),
                    static_cast<unsigned long long>(totals.highest));
    std::printf(" in %.1f s with %llu workers, %s nodes, %s virtual each, then healed\n", wall,
                static_cast<unsigned long long>(jobs), nodes ? std::to_string(nodes).c_str() : "3 and 5",
                ms_text(duration).c_str());
    std::printf("events      %llu (%.0f per second)\n", static_cast<unsigned long long>(totals.events),
                wall > 0 ? totals.events / wall : 0.0);
    std::printf("faults      per seed: drop 0-0.1, duplicate 0-0.05, reorder 0-0.1, partitions every 2-5 s,\n"
                "            crashes every 3-7 s, 20-200 client requests/s%s%s\n",
                membership_every ? (", a membership change every " + ms_text(membership_every)).c_str() : "",
                fault.empty() ? "" : (", rule fault " + fault + " on every node").c_str());
    if (totals.failures.empty()) {
        std::printf("verdict     every seed safe, and every seed settled after the heal\n");
        return totals.seeds > 0 ? 0 : 1;
    }
    std::printf("verdict     %zu of %llu seeds FAILED\n", totals.failures.size(),
                static_cast<unsigned long long>(totals.seeds));
    size_t shown = 0;
    for (const auto& [seed, r] : totals.failures) {
        if (shown++ == kReportedFailures) {
            std::printf("\n... and %zu more failing seeds\n", totals.failures.size() - kReportedFailures);
            break;
        }
        print_failure(r);
    }
    return 1;
}

}  // namespace raftbook
