// A node's data dir (`--data DIR`): what a Raft node must find again after a crash.
//
//   DIR/LOCK        flock()ed while a process uses the dir; holds that process's pid
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
//     ... more Readys ...
//     storage->sync();   // one fdatasync for the whole batch (group commit)
//
// save_hard_state() is durable when it returns, and it rewrites the file only when
// current_term or voted_for changed (a vote must be on disk before it is sent; that
// happens once per election). The commit index is not worth an fsync of its own: it
// is only a restart hint (entry.h), so it is recorded in the WAL with the next batch of
// entries. Because the hard state is saved before append(), no entry of a term ever
// becomes durable before that term does, so a restarted node never finds entries from
// a term later than its current_term.
//
// Thread-compatible: one thread at a time may use a Storage (the host's disk thread).
// Failures of the disk after open() throw StorageError; the files are then in an
// unknown state and the node must stop (restarting recovers from the disk). Misuse by
// the caller (a gap in the log, an entry from an unsaved term) throws std::logic_error.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/raft/raft.h"
#include "native/storage/storage_io.h"
#include "native/storage/wal.h"

namespace raftbook {

struct StorageOptions {
    size_t segment_bytes = Wal::kDefaultSegmentBytes;  // start a new WAL segment after this
};

class Storage {
public:
    // Creates DIR if missing, locks it, reads the hard state and replays the WAL. On
    // failure returns null with a one-line, actionable *error (the dir is locked by
    // another process, a file is damaged, ...).
    static std::unique_ptr<Storage> open(const std::string& dir, std::string* error,
                                         const StorageOptions& options = {});

    // What the Raft node starts from: hard state, entries from index 1.
    const Restored& restored() const { return restored_; }
    // The same, moved out (the node hands it to Raft rather than hold the log twice).
    Restored take_restored() { return std::move(restored_); }
    // "" or a sentence for the log: a torn tail the recovery dropped.
    const std::string& recovery_note() const { return recovery_note_; }

    // Durable on return when current_term or voted_for changed; records commit_index
    // for the next sync().
    void save_hard_state(const HardState& hs);
    // Buffers entries; an entry whose index is at or below the last one replaces that
    // entry and all after it. Every entry's term must be <= the saved current_term.
    void append(const std::vector<Entry>& entries);
    // Writes and fdatasyncs everything appended so far; on return it is durable.
    // Appends not yet synced when the Storage is destroyed are lost, as in a crash.
    void sync();

private:
    Storage() = default;
    void write_hard_state(const HardState& hs);

    std::string dir_;
    UniqueFd lock_;
    HardState saved_;  // current_term and voted_for as on disk
    std::unique_ptr<Wal> wal_;
    Restored restored_;
    std::string recovery_note_;
};

}  // namespace raftbook
