// A node's data dir (`--data DIR`): what a Raft node must find again after a crash.
//
//   DIR/LOCK        flock()ed while a process uses the dir; holds that process's pid
//   DIR/identity    the node id and cluster id the dir belongs to (identity.h)
//   DIR/hardstate   current_term and voted_for, replaced atomically (write a temp file,
//                   fsync it, rename it over the old one, fsync the directory)
//   DIR/wal/        the log, as checksummed records in segment files (wal.h)
//
// Raft's rule is "respond to RPCs only after updating stable storage" (§5), and the
// core says when: the host persists a Ready, and only then sends its
// messages_after_persist and calls persisted(). Per Ready, on the disk thread:
//
//     if (rd.hard_state) storage->save_hard_state(*rd.hard_state);
//     storage->append(rd.entries);
//     storage->record_commit(commit_index);
//     ... more Readys ...
//     storage->sync();   // one fdatasync for the whole batch (group commit)
//
// save_hard_state() is durable when it returns, and it rewrites the file only when
// current_term or voted_for changed (a vote must be on disk before it is sent; that
// happens once per election). The commit index is only a restart hint (entry.h): it is
// recorded in the WAL with the next sync — with the entries of a busy node, or alone
// when the node runtime sends a write that carries only a moved commit index (an idle
// cluster's last commit) — and on open restored().hard_state.commit_index is the last
// one recorded. Because the
// hard state is saved before append(), no entry of a term ever becomes durable before
// that term does, so a restarted node never finds entries from a term later than its
// current_term.
//
// Identity. open() with options.node_id refuses a dir that records another node id, or
// (when options.cluster_id is given) another cluster id. A new dir records the node id
// at open, with the cluster id when it is given; when it is not (a node that will learn
// it from a peer), set_cluster_id() records it later. A dir from before identity files
// (a hard state or WAL but no identity) records the ids it is opened with and says so
// in recovery_note(). With node_id 0 (tools that only read or write the log) a recorded
// identity is still checked (for damage, and against options.cluster_id when given),
// but nothing is recorded.
//
// Creating the dir fsyncs each new directory's parent (DIR's own, DIR, DIR/wal), so a
// crash right after the first start cannot lose the names.
//
// Thread-compatible: one thread at a time may use a Storage (the host's disk thread).
// Failures of the disk after open() throw StorageError; the files are then in an
// unknown state and the node must stop (restarting recovers from the disk). Every later
// call throws StorageError too, naming the first failure: a retried fsync can report
// success for pages the kernel already dropped after the failed one. Misuse by the
// caller (a gap in the log, an entry from an unsaved term) throws std::logic_error and
// leaves the Storage usable.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/raft/raft.h"
#include "native/storage/identity.h"
#include "native/storage/storage_io.h"
#include "native/storage/wal.h"

namespace raftbook {

struct StorageOptions {
    size_t segment_bytes = Wal::kDefaultSegmentBytes;  // start a new WAL segment after this
    NodeId node_id = kNoNode;  // this node; kNoNode: neither compare nor record the identity
    std::string cluster_id;    // "" while not known (then set_cluster_id() records it)
};

class Storage {
public:
    // Creates DIR if missing, locks it, checks and records its identity, reads the hard
    // state and replays the WAL. On failure returns null with a one-line, actionable
    // *error (the dir is locked by another process, belongs to another node or cluster,
    // a file is damaged or missing, ...).
    static std::unique_ptr<Storage> open(const std::string& dir, std::string* error,
                                         const StorageOptions& options = {});

    // What the Raft node starts from: hard state (commit_index: the last one recorded),
    // entries from index 1.
    const Restored& restored() const { return restored_; }
    // The same, moved out (the node hands it to Raft rather than hold the log twice).
    Restored take_restored() { return std::move(restored_); }
    // "" or sentences for the log: a torn tail the recovery dropped, an identity recorded
    // in a dir from before identity files.
    const std::string& recovery_note() const { return recovery_note_; }

    // The identity recorded in the dir (kNoNode and "" when none is).
    NodeId node_id() const { return identity_.node_id; }
    const std::string& cluster_id() const { return identity_.cluster_id; }
    // Records the cluster id once the node learns it (from a peer), durably on return.
    // The same id again does nothing. Throws std::invalid_argument for an id that cannot
    // be one (identity.h), std::logic_error when the dir records another cluster id or
    // no node id (opened with node_id 0), StorageError when the disk fails.
    void set_cluster_id(const std::string& cluster_id);

    // Durable on return when current_term or voted_for changed; records commit_index
    // like record_commit().
    void save_hard_state(const HardState& hs);
    // Buffers entries; an entry whose index is at or below the last one replaces that
    // entry and all after it. Every entry's term must be <= the saved current_term.
    void append(const std::vector<Entry>& entries);
    // Remembers the commit index for the next sync(), which records it after the entries
    // it writes, clamped to the last entry appended: no fsync of its own. Lower values
    // than one already remembered are ignored.
    void record_commit(Index commit_index);
    // Writes and fdatasyncs everything appended so far and the commit index if it grew
    // (also with no new entries); on return it is durable. Appends not yet synced when
    // the Storage is destroyed are lost, as in a crash.
    void sync();

private:
    Storage() = default;
    void write_hard_state(const HardState& hs);
    // Runs a write, refusing when an earlier one failed and remembering a failure.
    template <typename Write>
    void guarded(Write write);

    std::string dir_;
    UniqueFd lock_;
    Identity identity_;
    HardState saved_;  // current_term and voted_for as on disk
    std::unique_ptr<Wal> wal_;
    Restored restored_;
    std::string recovery_note_;
    std::string failure_;       // the first StorageError after open, "" while none
    int failure_errno_ = 0;     // its error_number()
};

}  // namespace raftbook
