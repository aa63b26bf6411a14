// Prometheus text rendering of the node's counters; see metrics.h.
#include "native/node/metrics.h"

#include <cstdio>

namespace raftbook {

namespace {

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

void counter(std::string* out, const char* name, const char* help, uint64_t value) {
    *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
            std::to_string(value) + "\n";
}

void per_peer(std::string* out, const char* name, const char* help, const std::map<NodeId, uint64_t>& values) {
    *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [peer, v] : values)
        *out += std::string(name) + "{peer=\"" + std::to_string(peer) + "\"} " + std::to_string(v) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::observe(double value) {
    size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) i++;
    counts_[i]++;
    sum_ += value;
    count_++;
}

void Histogram::render(const std::string& name, std::string* out) const {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); i++) {
        cumulative += counts_[i];
        const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
        *out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    *out += name + "_sum " + number(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
}

std::string Metrics::render(const RuntimeStats& runtime,
                            const std::vector<std::pair<std::string, double>>& gauges) const {
    std::string out;
    counter(&out, "raftbook_proposals_total", "Client commands appended to the log by this node as leader.",
            runtime.proposals);
    counter(&out, "raftbook_entries_applied_total", "Committed log entries applied to the key-value store.",
            runtime.entries_applied);
    counter(&out, "raftbook_reads_served_total", "Linearizable reads answered through ReadIndex by this node as leader.",
            runtime.reads_served);
    counter(&out, "raftbook_requests_forwarded_total", "Client requests this node sent on to the leader.",
            runtime.forwarded);
    counter(&out, "raftbook_request_timeouts_total", "Client requests that failed for want of an answer in time.",
            runtime.timeouts);
    counter(&out, "raftbook_elections_total", "Times this node started an election (became candidate).",
            runtime.elections);
    counter(&out, "raftbook_leader_changes_total", "Times the leader known to this node changed.",
            runtime.leader_changes);
    counter(&out, "raftbook_fsyncs_total", "fdatasync calls on the write-ahead log.", fsyncs);
    counter(&out, "raftbook_entries_persisted_total", "Log entries made durable (divide by fsyncs: batch size).",
            entries_persisted);
    counter(&out, "raftbook_http_requests_total", "Client HTTP requests received.", http_requests);
    counter(&out, "raftbook_peer_frames_rejected_total",
            "Peer connections closed for a bad frame (undecodable, oversized, wrong cluster, ...).",
            peer_frames_rejected);
    out += "# HELP raftbook_fsync_seconds Time of one group-commit write and fdatasync.\n"
           "# TYPE raftbook_fsync_seconds histogram\n";
    fsync_seconds.render("raftbook_fsync_seconds", &out);
    counter(&out, "raftbook_snapshots_taken_total", "Snapshots this node took of its state machine, durable.",
            runtime.snapshots_taken);
    counter(&out, "raftbook_snapshots_sent_total", "InstallSnapshot transfers sent whole to followers (as leader).",
            runtime.snapshots_sent);
    counter(&out, "raftbook_snapshot_sent_bytes_total", "Snapshot chunk bytes sent to followers.",
            runtime.snapshot_bytes_sent);
    counter(&out, "raftbook_snapshots_installed_total", "Snapshots installed from a leader.",
            runtime.snapshots_installed);
    counter(&out, "raftbook_snapshots_refused_total", "Snapshots from a leader refused: their data did not decode.",
            runtime.snapshots_refused);
    counter(&out, "raftbook_snapshot_writes_total",
            "Snapshot files written to the data dir (taken by this node or installed from the leader).",
            snapshot_writes);
    counter(&out, "raftbook_snapshot_written_bytes_total", "Snapshot data written to the data dir.",
            snapshot_bytes_written);
    out += "# HELP raftbook_snapshot_write_seconds Time to write one batch's snapshot file durably.\n"
           "# TYPE raftbook_snapshot_write_seconds histogram\n";
    snapshot_write_seconds.render("raftbook_snapshot_write_seconds", &out);
    out += "# HELP raftbook_snapshot_encode_seconds Time the disk thread took to encode one of this node's own snapshots.\n"
           "# TYPE raftbook_snapshot_encode_seconds histogram\n";
    snapshot_encode_seconds.render("raftbook_snapshot_encode_seconds", &out);
    out += "# HELP raftbook_snapshot_take_seconds Event-loop time of the Ready pass that took one of this node's own "
           "snapshots (it freezes the state; the disk thread encodes it).\n"
           "# TYPE raftbook_snapshot_take_seconds histogram\n";
    snapshot_take_seconds.render("raftbook_snapshot_take_seconds", &out);
    counter(&out, "raftbook_wal_segments_deleted_total", "WAL segments deleted by log compaction.",
            wal_segments_deleted);
    per_peer(&out, "raftbook_peer_sent_bytes_total", "Frame bytes sent to each peer.", bytes_sent);
    per_peer(&out, "raftbook_peer_received_bytes_total", "Frame bytes received from each peer.", bytes_received);
    for (const auto& [name, v] : gauges) out += "# TYPE " + name + " gauge\n" + name + " " + number(v) + "\n";
    return out;
}

}  // namespace raftbook
