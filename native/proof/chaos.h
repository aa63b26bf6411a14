// The fault runner behind `raftbook chaos`: a real cluster of `raftbook serve` processes
// on loopback, attacked while clients use it, then checked for lost or impossible
// results.
//
// Peer traffic goes through relays (relay_proxy.h), one per directed pair of nodes:
// node A's --cluster names the relay "A dials B" in place of B's address. Clients write
// unique values to a few keys and read them back through random nodes, over HTTP,
// recording a Jepsen-style history (lincheck.h): an invoke before each request, and
// after it an ok, a fail (the request certainly had no effect: a read that got no
// answer, a write the node refused or never received) or an info (a write whose effect
// is unknown: a timeout, a dropped connection, a 503). Meanwhile a nemesis, on a
// schedule drawn from the seed, does one or two of these at a time, half of the time to
// the current leader:
//
//   kill       kill -9 a node, restart it from its data dir a few seconds later (with
//              --power-loss, first cut its files back to what it had fsynced)
//   pause      SIGSTOP a node, SIGCONT it later (a long GC pause, a stalled VM)
//   partition  split the nodes in two; the relays between the sides either hold
//              the bytes (TCP waiting through a partition) or sever the connections
//   one-way    hold the bytes from one node to another, but not back
//   power-off  (with --power-loss only) every node loses power at once
//
// With --power-loss, a kill is a power loss: before the restart the node's files are
// cut back to what it had fsynced (power_loss.h); --slow-disk makes every fsync wait
// first, as a slow disk would. With --fault, the named nodes run with a test-only rule
// fault (faults.h), and the run should fail: that is how chaos shows it catches one.
//
// At the end everything is healed and the run is judged. It passes only if:
//   - the cluster recovers: one leader, and every node at the same commit and applied
//     index and the same last log index;
//   - the history, with a final read of every key through every node, is linearizable;
//   - every node's log, read from its data dir after a clean stop, holds the same
//     committed entries, and the key-value state they build keeps every acknowledged
//     write (final_state_problems below);
//   - no node exited that the nemesis did not kill.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/lincheck/lincheck.h"
#include "core/raft/faults.h"

namespace raftbook {

struct ChaosConfig {
    int nodes = 3;
    std::chrono::milliseconds duration{60000};  // of the attack; healing and checks follow
    uint64_t seed = 1;
    int clients = 5;
    int keys = 5;
    std::string history_path;  // write the history here (JSON lines), "" for none
    std::string dir;           // nodes' data and logs; "" = a temp dir, removed when the run passes
    bool verbose = true;       // a line on stderr per fault and every few seconds
    // Each kill -9 also loses what the node had not fsynced (power_loss.h): the nodes
    // run with serve --test-durability-log.
    bool power_loss = false;
    int slow_disk_ms = 0;  // every fsync waits up to this long first (serve --test-slow-disk)
    std::map<int, Faults> faults;  // test-only rule faults by node (serve --test-fault)
};

struct ChaosReport {
    uint64_t writes_ok = 0, writes_failed = 0, writes_unknown = 0;
    uint64_t reads_ok = 0, reads_failed = 0;
    uint64_t final_reads = 0;
    std::map<std::string, uint64_t> faults;  // by kind: "kill -9", "pause", ...
    LincheckResult lincheck;
    uint64_t commit_index = 0;               // every node's, once converged
    std::string dir;                         // where the nodes' data and logs are (if kept)
    std::vector<std::string> problems;       // each one fails the run
    bool passed() const { return problems.empty(); }
};

// Runs the whole thing. Must run in the `raftbook` binary: the nodes are this same
// executable (/proc/self/exe serve ...).
ChaosReport run_chaos(const ChaosConfig& config);

// What a node's final key-value state says about the history: for each key, the value
// must be that of a write that did not certainly fail and after whose completion no
// acknowledged write began (any such write would be ordered after it, so a later value
// would have to win); absent is allowed only while no write to the key was
// acknowledged. One sentence per key that breaks this, naming the lost write.
std::vector<std::string> final_state_problems(const std::vector<HistoryEvent>& history,
                                              const std::map<std::string, std::string>& state);

}  // namespace raftbook
