// `raftbook chaos`: the command-line face of the fault runner (chaos.h). It turns the
// flags into a ChaosConfig, runs it, and prints the report: operations by outcome,
// faults by kind, the linearizability verdict, the log and state comparison, and the
// verdict with every problem found. Exit 0 only when nothing was lost and the history
// is linearizable; 1 otherwise; 2 on bad usage.
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/sim/scenario.h"
#include "native/proof/chaos.h"
#include "native/cli/commands.h"
#include "native/cli/options.h"

namespace raftbook {

namespace {

unsigned long long ull(uint64_t x) { return static_cast<unsigned long long>(x); }

void print_report(const ChaosConfig& cfg, const ChaosReport& r) {
    const uint64_t writes = r.writes_ok + r.writes_failed + r.writes_unknown;
    const uint64_t reads = r.reads_ok + r.reads_failed;
    const std::string slow_disk =
        cfg.slow_disk_ms > 0 ? ", fsyncs wait up to " + std::to_string(cfg.slow_disk_ms) + " ms" : "";
    std::printf("chaos: %d nodes, %lld s of faults, seed %llu, %d clients on %d keys%s%s%s\n", cfg.nodes,
                static_cast<long long>(cfg.duration.count() / 1000), ull(cfg.seed), cfg.clients, cfg.keys,
                cfg.power_loss ? ", kills lose unsynced writes" : "", slow_disk.c_str(),
                cfg.membership ? ", membership changes" : "");
    for (const auto& [node, faults] : cfg.faults)
        for (const std::string& name : Faults::names())
            if (faults.get(name)) std::printf("rule fault  node %d runs with %s (test only)\n", node, name.c_str());
    std::printf("operations  %llu: writes %llu ok, %llu failed, %llu unknown (timeout or 503); reads %llu ok, %llu "
                "failed (%llu final reads included)\n",
                ull(writes + reads), ull(r.writes_ok), ull(r.writes_failed), ull(r.writes_unknown), ull(r.reads_ok),
                ull(r.reads_failed), ull(r.final_reads));
    std::printf("            of the writes, cas %llu swapped, %llu refused (412); %llu retries with the same "
                "Idempotency-Key settled %llu\n",
                ull(r.cas_ok), ull(r.cas_failed), ull(r.retries), ull(r.retries_settled));
    if (cfg.watchers > 0 && r.commit_index == 0)
        std::printf("watchers    %d, not checked: the cluster did not converge\n", cfg.watchers);
    else if (cfg.watchers > 0)
        std::printf("watchers    %d saw %llu events: %llu resumed on another node (Last-Event-ID), %llu re-listed "
                    "after compacted, %llu stale notices\n",
                    cfg.watchers, ull(r.watch_events), ull(r.watch_resumes), ull(r.watch_relists), ull(r.watch_stale));
    uint64_t faults = 0;
    std::string kinds;
    for (const auto& [kind, n] : r.faults) {
        faults += n;
        kinds += (kinds.empty() ? "" : ", ") + kind + " " + std::to_string(n);
    }
    std::printf("faults      %llu%s%s\n", ull(faults), kinds.empty() ? "" : ": ", kinds.c_str());
    const LincheckResult& l = r.lincheck;
    if (l.verdict == LincheckResult::Verdict::Linearizable && l.operations > 0)
        std::printf("history     linearizable: %zu operations on %zu keys checked\n", l.operations, l.keys);
    if (r.commit_index > 0)
        std::printf("logs        commit index %llu on every node after healing\n", ull(r.commit_index));
    if (cfg.membership) {
        std::string ids;
        for (int id : r.members) ids += (ids.empty() ? "" : ",") + std::to_string(id);
        std::printf("members     %s at the end (the nodes checked)\n", ids.c_str());
    }
    if (r.passed()) {
        std::printf("verdict     PASS: every node holds the same committed log, no acknowledged write was lost "
                    "or applied twice, the history is linearizable, and every watcher saw every change once, "
                    "in order\n");
    } else {
        std::printf("verdict     FAIL (%zu problem%s)\n", r.problems.size(), r.problems.size() == 1 ? "" : "s");
        for (const std::string& p : r.problems) std::printf("  - %s\n", p.c_str());
    }
    if (!r.dir.empty()) std::printf("data        %s (the nodes' data dirs and logs, nodeN.log)\n", r.dir.c_str());
    if (!cfg.history_path.empty()) std::printf("history in  %s\n", cfg.history_path.c_str());
}

}  // namespace

int cmd_chaos(int argc, char** argv) {
    Options opts("chaos",
                 "Start a cluster of `raftbook serve` processes on loopback, with every peer link\n"
                 "through a relay; run clients that write, compare-and-swap (by value and by\n"
                 "revision) and read a few keys, retrying a write of unknown outcome with the same\n"
                 "Idempotency-Key, and watchers that follow every key (resuming on another node\n"
                 "with Last-Event-ID), while a nemesis kill -9s, pauses and restarts nodes,\n"
                 "isolates leaders one after another, and\n"
                 "partitions the network (both ways or one way); the nodes snapshot often. Then\n"
                 "heal, and check that the history is linearizable, that every node holds the same\n"
                 "committed log, that no acknowledged write was lost or applied twice, and that\n"
                 "every watcher saw every change once, in revision order.\n"
                 "Exit 0 when all holds, 1 when not.");
    opts.flag("nodes", "N", "cluster size, 3 to 7", "3");
    opts.flag("duration", "TIME", "how long the nemesis attacks, e.g. 60s; healing and checks follow", "60s");
    opts.flag("seed", "N", "seed of the nemesis's schedule and the clients' choices", "1");
    opts.flag("history", "FILE", "write the history as JSON lines (raftbook lincheck reads it)");
    opts.flag("clients", "N", "concurrent clients", "5");
    opts.flag("keys", "N", "keys the clients use", "5");
    opts.flag("dir", "DIR", "keep the nodes' data and logs here (default: a temp dir, removed when the run passes)");
    opts.flag_switch("quiet", "no progress lines on stderr");
    opts.flag_switch("power-loss",
                     "each kill -9 also loses what the node had not fsynced (its files are cut back to their "
                     "last fsync before it restarts; the nodes run with serve --test-durability-log), and a "
                     "third of the faults are a power-off of every node at once");
    opts.flag_switch("membership",
                     "membership changes among the faults: new nodes join (serve --join) and are promoted, "
                     "members are removed (the leader itself, a node that is down), dead nodes are replaced "
                     "under new ids, leadership is transferred; between 3 and 5 voters throughout, and the "
                     "checks run over the members at the end");
    opts.flag("slow-disk", "MS",
              "every fsync of every node first waits up to MS, at random (a slow, uneven disk: more of what a node wrote is "
              "not yet durable when --power-loss strikes; serve --test-slow-disk). Default: 10 with --power-loss (an "
              "fsync here takes about 1 ms, a loaded disk's several), else 0");
    opts.flag("fault", "NODE:NAME[,...]",
              "TEST ONLY, breaks Raft: start these nodes with a rule fault on (as raftbook sim --fault), "
              "e.g. 1:ack_before_persist,2:ack_before_persist; chaos should then fail");
    opts.flag("watchers", "N",
              "watch streams following every key, started on nodes 1, 2, ... in turn; the last (of two or "
              "more) starts at half time from revision 1 and must re-list",
              "3");
    opts.flag("watch-history", "N", "changes each node holds for watchers (serve --watch-history)", "500");
    opts.flag("snapshot-entries", "N",
              "the nodes snapshot every N entries (serve --snapshot-entries; small, so that faults land "
              "around snapshots and InstallSnapshot; 0: serve's default)",
              "200");
    opts.flag("catchup-entries", "N", "entries kept before a snapshot (serve --catchup-entries)", "50");
    int code = 0;
    if (!opts.parse(argc, argv, &code)) return code;

    ChaosConfig cfg;
    uint64_t nodes = 0, seed = 0, clients = 0, keys = 0;
    if (!opts.get_uint("nodes", 3, 7, &nodes, &code) || !opts.get_uint("seed", 0, UINT64_MAX, &seed, &code) ||
        !opts.get_uint("clients", 1, 64, &clients, &code) || !opts.get_uint("keys", 1, 1000, &keys, &code)) {
        return code;
    }
    TimeMs duration = 0;
    if (!parse_duration(opts.get("duration"), &duration) || duration < 1000)
        return opts.usage_error("--duration must be at least 1s, like 60s or 1500ms, not '" + opts.get("duration") + "'");
    cfg.nodes = int(nodes);
    cfg.seed = seed;
    cfg.clients = int(clients);
    cfg.keys = int(keys);
    cfg.duration = std::chrono::milliseconds(duration);
    cfg.history_path = opts.get("history");
    cfg.dir = opts.get("dir");
    std::error_code ec;
    if (!cfg.dir.empty() && std::filesystem::exists(cfg.dir, ec) && !std::filesystem::is_empty(cfg.dir, ec))
        return opts.usage_error("--dir " + cfg.dir + " is not empty; the nodes must start from nothing (choose a new directory)");
    cfg.verbose = !opts.given("quiet");
    cfg.power_loss = opts.given("power-loss");
    cfg.membership = opts.given("membership");
    uint64_t watchers = 0;
    if (!opts.get_uint("watchers", 0, 64, &watchers, &code) ||
        !opts.get_uint("snapshot-entries", 0, 1000000, &cfg.snapshot_entries, &code) ||
        !opts.get_uint("catchup-entries", 0, 1000000, &cfg.catchup_entries, &code) ||
        !opts.get_uint("watch-history", 1, 100000000, &cfg.watch_history, &code))
        return code;
    cfg.watchers = int(watchers);
    uint64_t slow_disk = cfg.power_loss ? 10 : 0;
    if (opts.given("slow-disk") && !opts.get_uint("slow-disk", 0, 1000, &slow_disk, &code)) return code;
    cfg.slow_disk_ms = int(slow_disk);
    std::string fault_error;
    if (opts.given("fault") && !parse_node_faults(opts.get("fault"), cfg.nodes, &cfg.faults, &fault_error))
        return opts.usage_error(fault_error);

    const ChaosReport report = run_chaos(cfg);
    print_report(cfg, report);
    return report.passed() ? 0 : 1;
}

}  // namespace raftbook
