// The node's counters, exported at GET /metrics in the Prometheus text format.
//
// What an operator of a consensus service watches: how many client proposals the
// leader accepted, how many log entries were committed and applied, how often
// elections started (those come from the node runtime's RuntimeStats), how long
// fdatasync takes (a histogram: the disk is what bounds
// write latency), how many entries one fsync made durable (group commit at work), and
// the bytes sent to and received from each peer; snapshot files written (count, bytes,
// time: writing a large one must not stall the disk thread for long), the time to encode
// the node's own (disk thread) and the event loop's share of taking one, and WAL segments
// deleted by compaction. Only the io thread touches a Metrics
// (the disk thread reports its timings back through the io thread), so no locks.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/raft/entry.h"
#include "core/runtime/node_runtime.h"

namespace raftbook {

// A cumulative histogram with fixed upper bounds, as Prometheus expects.
class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double value);
    // Appends NAME_bucket{le=...}, NAME_sum and NAME_count lines.
    void render(const std::string& name, std::string* out) const;

private:
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;  // counts_[i]: observations <= bounds_[i]; last: +Inf
    double sum_ = 0;
    uint64_t count_ = 0;
};

// The host's own counters; the runtime keeps the rest (RuntimeStats).
struct Metrics {
    uint64_t fsyncs = 0;
    uint64_t entries_persisted = 0;  // entries made durable (entries_persisted / fsyncs = batch size)
    uint64_t http_requests = 0;
    uint64_t peer_frames_rejected = 0;
    Histogram fsync_seconds{{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}};
    uint64_t snapshot_writes = 0;         // snapshot files written (taken here or installed)
    uint64_t snapshot_bytes_written = 0;  // their data
    Histogram snapshot_write_seconds{{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
    // Taking a snapshot of its own: the disk thread encodes it (a pass over every key);
    // the event loop only freezes the state, in the Ready pass that took it.
    Histogram snapshot_encode_seconds{{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
    Histogram snapshot_take_seconds{{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}};
    uint64_t wal_segments_deleted = 0;    // by compaction
    std::map<NodeId, uint64_t> bytes_sent;      // per peer id
    std::map<NodeId, uint64_t> bytes_received;  // per peer id

    // Renders the runtime's counters, everything above, and `gauges` (name -> value,
    // e.g. the current term).
    std::string render(const RuntimeStats& runtime, const std::vector<std::pair<std::string, double>>& gauges) const;
};

}  // namespace raftbook
