// Test-only switches that break one Raft rule each, so that tests and the
// playground can show the checker catching the breakage. All are off in normal
// operation; a host never turns one on except by explicit request (`--fault`).
//
//   skip_prev_log_check      a follower accepts AppendEntries without checking that
//                            its entry at prevLogIndex has prevLogTerm (§5.3).
//   commit_old_term_by_count a leader commits any entry a majority holds, even one
//                            from an earlier term (the Figure 8 mistake, §5.4.2).
//   vote_without_log_check   a voter grants its vote without the "candidate's log is
//                            at least as up-to-date" check (§5.4.1).
//   ack_before_persist       a node sends votes and append acknowledgements before its
//                            term, vote and entries are durable (§5, Figure 2); as
//                            leader it counts its own log toward a majority, and
//                            applies (answers clients), before that log is durable.
//   apply_duplicates         the state machine applies a retried client request again
//                            instead of once (§8); read by the host, not by Raft.
//   no_catch_up_on_heartbeat a leader does not re-send to a follower that heartbeats
//                            show behind, so an AppendEntries lost while the cluster
//                            is idle is never re-sent (a liveness rule, not safety:
//                            see Raft::handle_heartbeat_response).
//   serve_reads_locally      any node answers a client's read from its own state
//                            machine at once, skipping ReadIndex (thesis §6.4): a
//                            follower or a deposed leader serves stale values. Read by
//                            the node runtime, not by Raft.
//   install_stale_snapshot   a follower installs a snapshot at or below its commit
//                            index instead of ignoring it, discarding the newer
//                            entries it held (§7: such a snapshot holds nothing new).
//   config_change_before_commit_in_term  a new leader appends a configuration change
//                            before it has committed an entry of its own term (the
//                            single-server-change bug Ongaro reported in 2015: two
//                            changes across a leader change can form disjoint majorities).
//   browser_reload_keeps_id  a browser node that reloads comes back under its old id
//                            with its memory (term, vote, log) gone, instead of joining
//                            as a new member under a fresh id: it may vote twice in one
//                            term, or forget entries it acknowledged. Read by the
//                            simulator's reload (Simulator::reload), not by Raft.
#pragma once

#include <string>
#include <vector>

namespace raftbook {

struct Faults {
    bool skip_prev_log_check = false;
    bool commit_old_term_by_count = false;
    bool vote_without_log_check = false;
    bool ack_before_persist = false;
    bool apply_duplicates = false;
    bool no_catch_up_on_heartbeat = false;
    bool serve_reads_locally = false;
    bool install_stale_snapshot = false;
    bool config_change_before_commit_in_term = false;
    bool browser_reload_keeps_id = false;

    // Sets the switch called `name`; returns false when there is no such switch.
    bool set(const std::string& name, bool on) {
        if (bool* f = find(name)) { *f = on; return true; }
        return false;
    }
    bool get(const std::string& name) const {
        const bool* f = const_cast<Faults*>(this)->find(name);
        return f && *f;
    }
    static const std::vector<std::string>& names() {
        static const std::vector<std::string> n = {"skip_prev_log_check", "commit_old_term_by_count",
                                                   "vote_without_log_check", "ack_before_persist",
                                                   "apply_duplicates",
                                                   "no_catch_up_on_heartbeat", "serve_reads_locally",
                                                   "install_stale_snapshot",
                                                   "config_change_before_commit_in_term",
                                                   "browser_reload_keeps_id"};
        return n;
    }

private:
    bool* find(const std::string& name) {
        if (name == "skip_prev_log_check") return &skip_prev_log_check;
        if (name == "commit_old_term_by_count") return &commit_old_term_by_count;
        if (name == "vote_without_log_check") return &vote_without_log_check;
        if (name == "ack_before_persist") return &ack_before_persist;
        if (name == "apply_duplicates") return &apply_duplicates;
        if (name == "no_catch_up_on_heartbeat") return &no_catch_up_on_heartbeat;
        if (name == "serve_reads_locally") return &serve_reads_locally;
        if (name == "install_stale_snapshot") return &install_stale_snapshot;
        if (name == "config_change_before_commit_in_term") return &config_change_before_commit_in_term;
        if (name == "browser_reload_keeps_id") return &browser_reload_keeps_id;
        return nullptr;
    }
};

}  // namespace raftbook
