// Scenario scripts: a lesson, a regression test or a failing seed as one small text
// file, read by the Catch2 tests, the playground's guided scenarios and `raftbook sim`.
//
// One action a line; `#` starts a comment. A header of settings comes first, then
// actions, which run in order against one Simulator:
//
//   title Follower behind                 a name for the playground's menu
//   nodes 5                               settings: cluster size (1..9)
//   seed 42                                          random seed
//   network latency=10..30 drop=0.1 duplicate=0 reorder=0 disk=1..3 disk_slow=0.03@20..80
//                                         disk_slow=P@MIN..MAX: a fraction P of disk
//                                         writes takes MIN..MAX ms (the tail; 0 = none)
//   preload 3 terms 1,1,1,2,2             node 3 starts with this log (entry terms)
//   term 3 5                              ...and with current term 5
//   max_append_bytes 1                    cap AppendEntries (1: one entry each)
//   snapshot_entries 20                   snapshot after 20 entries applied (0: never)
//   catchup_entries 5                     ...keeping 5 entries before the snapshot
//   snapshot_chunk_bytes 64               InstallSnapshot chunk size (default 64 KiB)
//   browsers 2                            browser members joining at the start, after
//                                         the `nodes` native ones (Simulator's top)
//   remove_absent_browsers_after 3s       the leader removes a browser member silent
//                                         this long (0: never; RuntimeConfig)
//   min_voters 3                          ...never leaving fewer voters than this
//
//   say Watch node 3 catch up.            narration, shown by the playground
//   advance 500ms                         run virtual time (ms or s)
//   step [N]                              run exactly N events (default 1)
//   rate 20                               random client requests per second (0: off)
//   wait leader [within 5s]               run until some node leads
//   wait leader 2 [within 5s]             run until node 2 leads
//   wait commit N >= I [within 5s]        run until node N's commit index reaches I
//   wait match L F >= I [within 5s]       run until leader L knows follower F holds I
//   wait changes [within 5s]              run until every add/promote/remove/transfer
//                                         is answered; one refused fails the action
//   campaign N                            node N starts an election now
//   snapshot N                            node N snapshots its applied state now
//   propose set x 5                       a client request to the current leader (any
//                                         node if none), retried until answered
//   propose 1 set x 5                     a request to node 1 only (a follower forwards it)
//   propose if-rev 3 set x 6              a conditional write (kv_store.h): also if-value
//   read x / read 2 x                     a linearizable read, to the leader / to node 2
//   add 4 [learner]                       start machine 4 (the next slot, up to 9) with an
//                                         empty disk and ask the leader to add it as a
//                                         learner; it asks to be promoted once caught up,
//                                         unless `learner` (membership.h, Simulator::add_node)
//   add 4 browser [learner]               the same, machine 4 a browser node: linked
//                                         through a native node, never dialled
//   reload 4                              browser 4's page reloads: its memory is lost and
//                                         it joins again under a fresh id (the next slot)
//   close 4                               browser 4's tab closes for good
//   promote 4 / remove 2                  ask the leader for that membership change
//   transfer 3                            ask the leader to hand leadership to node 3
//                                         (each retried on an error; `promote 4 once`:
//                                         one try only)
//   crash 2 / restart 2                   (a native node; a browser reloads or closes)
//   partition 1,2 | 3,4,5                 groups that can't reach each other
//   cut 1->2 / cut 1-2                    one-way / both ways; restore likewise
//   heal                                  every link back
//   net drop=0.2                          change the network (same keys as above)
//   fault 3 skip_prev_log_check [on|off]  a test-only rule switch (faults.h)
//   expect leader 1 | expect leader any | expect leader none
//   expect role 2 follower / expect role 2 not leader
//   expect term 2 >= 3
//   expect log 3 = 1..10                  node 3's log holds exactly indexes 1..10
//   expect log 3 terms 1,1,1,2,2          ...with exactly these terms
//   expect commit 1 >= 4                  also <=, =, >, <
//   expect snapshot 2 >= 30               node 2's newest snapshot's index
//   expect kv 1 x = 5 / expect kv 1 x missing
//   expect safe                           the checker found no violation
//   expect violation Log Matching         the checker found this one
//   expect same logs                      every up node's log is identical
//   expect members = 1,2,3                the leader's configuration has these voters
//   expect members 4 = 1,2,3              ...node 4's configuration does
//   expect learners = 4 / = none          likewise its learners
//   expect via 4 = 1 / = none             browser 4 is linked through node 1 / no node
//   settle [within 10s]                   heal all, restart all, stop the workload, run
//                                         until the cluster converges and every request
//                                         is answered (else the violation Liveness),
//                                         then check the client history (Linearizability);
//                                         follow it with expect safe / expect violation
//
// Node numbers are 1..nodes, and up to the highest machine `add` started. Every error
// names the line.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/sim/simulator.h"

namespace raftbook {

struct ScenarioAction {
    int line = 0;           // 1-based line in the script
    std::string verb;       // first word: "propose", "expect", ...
    std::string args;       // the rest of the line, trimmed
    std::string text() const { return args.empty() ? verb : verb + " " + args; }
};

struct Scenario {
    std::string title;
    SimConfig config;
    struct Preload {
        NodeId node;
        std::vector<Term> terms;
        Term term;
    };
    std::vector<Preload> preloads;
    std::vector<ScenarioAction> actions;
};

// Parses a whole script. Returns false with "line N: what is wrong" in *error.
bool parse_scenario(const std::string& text, Scenario* out, std::string* error);
// Parses one action line (for a playground console); false with *error when invalid.
bool parse_action(const std::string& line, ScenarioAction* out, std::string* error);

// Network settings as the `network` line takes them ("drop=0.1 disk_slow=0.03@20..80"),
// applied to *net; false with *error when one is malformed (then *net is unchanged).
bool parse_network_settings(const std::string& text, NetworkConfig* net, std::string* error);

// "500ms", "2s", "1.5s" or a bare number of milliseconds; false when malformed.
bool parse_duration(const std::string& text, TimeMs* out);

// A simulator set up as the scenario's header says (size, seed, network, preloads).
std::unique_ptr<Simulator> make_simulator(const Scenario& s);

struct ActionResult {
    bool ok = true;
    std::string message;  // for `say`, the narration; for a failure, what went wrong
};
// Runs one action. `expect` that does not hold, or a bad argument, gives ok = false.
ActionResult run_action(Simulator& sim, const ScenarioAction& a);

struct ScenarioResult {
    bool ok = true;
    int failed_line = 0;
    std::string message;
};
// Runs every action in order, stopping at the first that fails.
ScenarioResult run_scenario(Simulator& sim, const Scenario& s);

}  // namespace raftbook
