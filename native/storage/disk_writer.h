// Group commit on a thread of its own: fdatasync blocks, the event loop must not.
//
// The io thread pushes one Job per Ready (hard state, entries, the commit index), each
// with an id of its choosing, increasing. The disk thread takes everything queued since
// its last round, writes it, and makes it durable with one fdatasync — so while one
// fsync runs, the next batch gathers, and a busy node pays one fsync for many Readys.
// It then hands a Done back through `on_done` (the host posts it to the io thread),
// naming the last job of the batch. Jobs finish in the order they were pushed, so a
// Done promises that every job up to last_id is durable, as the messages the host holds
// back until then (messages_after_persist) require.
//
// The commit index goes to Storage::record_commit: it is written with the batch when
// the batch writes anything, and otherwise waits for the next one (no fsync of its own).
//
// Snapshots are written here too, never on the io thread, and the node's own are
// encoded here as well (encode_snapshot: the state machine frozen when the io thread took
// the snapshot; encoding it is a pass over every key). A job's snapshot goes to
// Storage::save_snapshot after its hard state and before its entries (durable on
// return), and once the batch is synced the WAL is compacted to the highest compact_to
// of the batch (Storage::compact: only what a durable snapshot covers). The order within
// a job is the DiskWrite's (core/runtime/node_runtime.h).
//
// Only the disk thread touches the Storage once the writer is running. A disk error
// (StorageError) ends the thread after `on_error`; the node must then stop.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/raft/entry.h"
#include "native/storage/storage.h"

namespace raftbook {

class DiskWriter {
public:
    struct Job {  // one Ready's share of the disk
        uint64_t id = 0;  // the host's, increasing; Done::last_id names it
        std::optional<HardState> hard_state;
        std::optional<Snapshot> snapshot;
        // Instead of `snapshot`: makes it (encodes the node's own; called on the disk thread).
        std::function<Snapshot()> encode_snapshot;
        bool snapshot_resets_log = false;
        std::vector<Entry> entries;
        Index commit_index = 0;  // for Storage::record_commit
        Index compact_to = 0;    // for Storage::compact, after the sync (0: nothing)
    };
    struct Done {  // one batch of jobs, durable
        uint64_t last_id = 0;  // of the batch's last job: it and all before it are durable
        Index last_index = 0;  // of the last entry written (0: no entries)
        Term last_term = 0;
        size_t entries = 0;
        bool synced = false;   // anything was written (else the batch only kept order)
        double seconds = 0;    // write + fdatasync
        size_t snapshots = 0;          // snapshot files written
        uint64_t snapshot_bytes = 0;   // their data
        double snapshot_seconds = 0;   // writing them (included in seconds)
        size_t snapshots_encoded = 0;  // of them, encoded here (encode_snapshot)
        double encode_seconds = 0;     // encoding those (not included in seconds)
        SnapshotMeta snapshot;         // the newest written ({0, 0}: none)
        size_t segments_deleted = 0;   // WAL segments compaction deleted
    };
    // `on_done` and `on_error` run on the disk thread; they must hand over to the io
    // thread (`on_error` gets the StorageError, or whatever else was thrown).
    DiskWriter(Storage* storage, std::function<void(Done)> on_done,
               std::function<void(const std::exception&)> on_error);
    ~DiskWriter();
    void push(Job job);
    // Writes what is queued, then ends the thread.
    void stop();

private:
    void run();

    Storage* storage_;
    std::function<void(Done)> on_done_;
    std::function<void(const std::exception&)> on_error_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Job> queue_;
    bool stopping_ = false;
    Index recorded_commit_ = 0;  // disk thread only
    std::thread thread_;
};

}  // namespace raftbook
