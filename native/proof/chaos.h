// The fault runner behind `raftbook chaos`: a real cluster of `raftbook serve` processes
// on loopback, attacked while clients use it, then checked for lost or impossible
// results.
//
// Peer traffic goes through relays (relay_proxy.h), one per directed pair of nodes:
// node A's --cluster names the relay "A dials B" in place of B's address. Clients write
// unique values to a few keys, compare-and-swap them (by value, `?prev_value=`, or by
// the revision they last saw, `?prev_revision=`) and read them back through random
// nodes, over HTTP, recording a Jepsen-style history (lincheck.h): an invoke before
// each operation, and after it an ok, a fail (the operation certainly had no effect: a
// read that got no answer, a write the node refused or never received, a cas answered
// 412) or an info (a write whose effect is still unknown). Every write carries an
// Idempotency-Key: when its outcome is unknown (a timeout, a dropped connection, a 503)
// the client sends it again, same key, to a random node, and the retry's answer settles
// the one operation (the node applies it at most once). A cas by revision is recorded
// as a cas of the value the client saw at that revision: values are unique, so the
// two conditions agree.
//
// Watchers (one per node to start with) follow every key through GET /watch/?prefix=k,
// and when a stream ends (its node killed) resume on the next node with Last-Event-ID;
// told `compacted`, they re-list and watch on from the listing. The last one starts at
// half time from revision 1, past what the nodes hold (--watch-history), so it re-lists. Each must have seen
// every committed change exactly once, in revision order (watch_problems below).
//
// The nodes snapshot often (--snapshot-entries, --catchup-entries), so that kills and
// power losses land around snapshot writes and InstallSnapshot. Meanwhile a nemesis, on
// a schedule drawn from the seed, does one or two of these at a time, half of the time to
// the current leader:
//
//   kill       kill -9 a node, restart it from its data dir a few seconds later (with
//              --power-loss, first cut its files back to what it had fsynced)
//   pause      SIGSTOP a node, SIGCONT it later (a long GC pause, a stalled VM)
//   partition  split the nodes in two; the relays between the sides either hold
//              the bytes (TCP waiting through a partition) or sever the connections
//   one-way    hold the bytes from one node to another, but not back
//   power-off  (with --power-loss only) every node loses power at once
//   membership (with --membership only) in turn, each when the bounds allow it:
//              add      a new node under a fresh id (its own ports and data dir) starts
//                       with `serve --join` through a voter; it joins as a learner and
//                       is promoted once caught up;
//              replace  a dead node (one that is down, or killed for it) is removed and
//                       a new node added under a new id;
//              transfer the leader hands leadership to another member (POST
//                       /transfer-leader);
//              remove   DELETE /members/N: half of the time the leader itself, or a
//                       node that is down; once removed it is stopped for good.
//              Adds and removes keep between 3 and 5 voters (nodes still joining
//              count). Every id a node may get has its ports and relays from the start
//              (joined nodes dial and are dialled through them: serve --test-dial), so
//              network faults reach joined nodes too.
//
// Clients, watchers and the nemesis pick their nodes among the nodes in play: the
// founders and the nodes added since, less those removed.
//
// With --power-loss, a kill is a power loss: before the restart the node's files are
// cut back to what it had fsynced (power_loss.h); --slow-disk makes every fsync wait
// first, as a slow disk would. With --fault, the named nodes run with a test-only rule
// fault (faults.h), and the run should fail: that is how chaos shows it catches one.
//
// At the end everything is healed and the run is judged, over the members at the end.
// It passes only if:
//   - the cluster recovers: one leader, and every node at the same commit and applied
//     index and the same last log index (with --membership: one configuration, whose
//     voters are the nodes in play, with no learner left);
//   - the history, with a final read of every key through every node, is linearizable;
//   - every node's log, read from its data dir after a clean stop (its snapshot, then
//     its entries), holds the same committed entries where the nodes' logs overlap,
//     builds the same state, keeps every acknowledged write (final_state_problems
//     below) at the revision its client was told, and applies no write twice;
//   - every watcher saw every change (watch_problems);
//   - every two members were connected through their relays (a joined node's too), so
//     the network faults could reach every link;
//   - no node exited that the nemesis did not kill.
// A run that does not converge still compares what each node committed (its own commit
// index) against the others and against the acknowledged writes, so a broken node shows
// up as a lost write or a diverged log, not only as "did not converge".
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/lincheck/lincheck.h"
#include "core/raft/entry.h"
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
    bool membership = false;  // membership changes among the faults: add, remove, replace, transfer
    std::map<int, Faults> faults;  // test-only rule faults by node (serve --test-fault)
    uint64_t snapshot_entries = 200;  // serve --snapshot-entries (0: the serve default)
    uint64_t catchup_entries = 50;    // serve --catchup-entries
    int watchers = 3;               // the last of two or more starts at half time (see chaos.cpp)
    uint64_t watch_history = 500;   // serve --watch-history: changes a node holds for watchers
};

struct ChaosReport {
    uint64_t writes_ok = 0, writes_failed = 0, writes_unknown = 0;
    uint64_t cas_ok = 0, cas_failed = 0;  // of the writes: swapped, compared and refused (412)
    uint64_t retries = 0, retries_settled = 0;  // resent with the same Idempotency-Key; settled so
    uint64_t reads_ok = 0, reads_failed = 0;
    uint64_t watch_events = 0, watch_resumes = 0, watch_relists = 0, watch_stale = 0;
    uint64_t final_reads = 0;
    std::map<std::string, uint64_t> faults;  // by kind: "kill -9", "pause", ...
    LincheckResult lincheck;
    uint64_t commit_index = 0;               // every node's, once converged
    std::vector<int> members;                // the nodes in play at the end, which the checks cover
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
// A cas counts as a write of its new value when ok (or info), and as nothing when it
// failed.
std::vector<std::string> final_state_problems(const std::vector<HistoryEvent>& history,
                                              const std::map<std::string, std::string>& state);

// One change to a key, as a watcher or an acknowledgement tells it.
struct SeenChange {
    std::string key;
    std::optional<std::string> value;  // nullopt: deleted
    bool operator==(const SeenChange& o) const { return key == o.key && value == o.value; }
};

// What one watcher saw, in arrival order: change events, and re-listings after a
// `compacted` (the state at the listing's revision; a watcher may miss changes up to it).
struct WatchLog {
    struct Item {
        Index revision = 0;
        SeenChange change;                              // an event
        std::optional<std::map<std::string, std::string>> relist;  // or a re-listing
    };
    std::vector<Item> items;
};

// Every write's value is unique, so a value that changed its key at two revisions (in
// the changes known: acknowledged, or seen by watchers) was applied twice — a retry
// with the same Idempotency-Key that took effect again. One sentence per such write.
std::vector<std::string> writes_applied_twice(const std::map<Index, SeenChange>& changes);

// Judges one watcher (named `who`) against `truth` (every committed change known, by
// revision: acknowledged writes and what any watcher saw) and the final state of the
// keys it watched, up to revision `last` (the last change). Names each change seen
// twice, out of order, missed, or seen with another value, and a final view that is not
// the final state.
std::vector<std::string> watch_problems(const std::string& who, const WatchLog& log,
                                        const std::map<Index, SeenChange>& truth,
                                        const std::map<std::string, std::string>& final_state, Index last);

}  // namespace raftbook
