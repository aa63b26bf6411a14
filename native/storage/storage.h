// A node's data dir (`--data DIR`): what a Raft node must find again after a crash.
//
//   DIR/LOCK        flock()ed while a process uses the dir; holds that process's pid
//   DIR/identity    the node id and cluster id the dir belongs to (identity.h)
//   DIR/hardstate   current_term and voted_for, replaced atomically (write a temp file,
//                   fsync it, rename it over the old one, fsync the directory)
//   DIR/wal/        the log, as checksummed records in segment files (wal.h)
//   DIR/snap-TERM-INDEX  the newest snapshot and the one before it (snapshot_file.h)
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
// Snapshots and compaction (Raft §7). The disk thread does, per DiskWrite, in this
// order: save_hard_state, save_snapshot, append, record_commit; then sync(); then
// compact(). save_snapshot() writes the snapshot file atomically and durably, then
// deletes all but it and the one before it (and any temp file a crash left). With
// resets_log (a snapshot from the leader that replaces a log which did not hold its last
// entry) a WAL reset record follows, synced: the stored log now starts right after the
// snapshot. compact(i) deletes the WAL segments holding no entry above i — never above
// the newest durable snapshot, whatever i says.
//
// open() restores the newest snapshot and the WAL entries after it:
// Restored{snapshot, first_index = index + 1, prev_term = term, entries after it,
// commit index at least the snapshot's}. WAL entries at or below the snapshot's index
// are dropped (they wait for compaction). Then, in order:
//   - a WAL that starts after index + 1 (entries missing between the snapshot and the
//     log: a lost segment or snapshot) refuses to start, naming the snapshot file and
//     the oldest segment;
//   - a WAL that does not continue the snapshot (it does not reach the snapshot's last
//     entry, or holds it with another term: a crash between writing a leader's snapshot
//     and its reset record, or a WAL compacted down to nothing) gets its reset record
//     now, and the entries after the snapshot that belonged to the replaced log are
//     dropped (they were never committed), saying so in recovery_note();
//   - a damaged newest snapshot (cut short, bad checksum, wrong header: the file is
//     written atomically, so never by a crash) refuses to start, naming the file and what
//     is wrong — unless the WAL still holds every entry from just after the next older
//     valid snapshot (or from entry 1) up to the damaged one's last entry, with its term:
//     then that older state plus the WAL is exactly the state the damaged file held, so
//     the node starts from it, renames the damaged file to NAME.damaged and says so in
//     recovery_note(). Never a wrong state, never a silent loss.
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
#include "native/storage/snapshot_file.h"
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

    // Writes the snapshot atomically and durably (both on return), then deletes older
    // snapshot files but the one before it. With resets_log, every stored entry is
    // dropped: the log continues at snap.meta.index + 1 (a WAL reset record, synced).
    // Throws std::logic_error for a snapshot older than the newest saved one, or of a
    // term above the saved current_term.
    void save_snapshot(const Snapshot& snap, bool resets_log);
    // Deletes the WAL segments whose entries are all at or below compact_to, clamped to
    // the newest durable snapshot's index; never the current segment. Returns how many
    // it deleted.
    size_t compact(Index compact_to);
    // The newest durable snapshot's index and term ({0, 0}: none).
    SnapshotMeta snapshot_meta() const { return snapshot_; }

private:
    Storage() = default;
    void write_hard_state(const HardState& hs);
    // Fills restored_ from the newest valid snapshot among `files` and the WAL (the
    // rules above). Returns whether the WAL must be reset to start after the snapshot.
    bool restore_log(const std::vector<SnapshotFile>& files, WalLog* log);
    // Runs a write, refusing when an earlier one failed and remembering a failure.
    template <typename Write>
    void guarded(Write write);

    std::string dir_;
    UniqueFd lock_;
    Identity identity_;
    HardState saved_;  // current_term and voted_for as on disk
    SnapshotMeta snapshot_;  // of the newest durable snapshot file
    std::unique_ptr<Wal> wal_;
    Restored restored_;
    std::string recovery_note_;
    std::string failure_;       // the first StorageError after open, "" while none
    int failure_errno_ = 0;     // its error_number()
};

}  // namespace raftbook
