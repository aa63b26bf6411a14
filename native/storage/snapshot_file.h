// Snapshot files: the state machine at a log index, on disk (core/raft/snapshot.h).
//
// A snapshot lives in the data dir as DIR/snap-TTTTTTTTTTTTTTTT-IIIIIIIIIIIIIIII, the
// term and index of the last entry it covers in 16 hex digits each (so that a listing
// sorts them in log order), holding
//     8 bytes "RBSNP", two zero bytes and the format version (1)
//     u64 index | u64 term | u64 length          (little-endian)
//     length bytes of data                       (the encoded state machine, opaque here)
//     u32 crc32 of everything before it
// It is written whole to NAME.tmp, fsynced, renamed over NAME and the directory fsynced
// (replace_file): a crash leaves the snapshot whole or not at all, and maybe a stale
// .tmp, which is not a snapshot (only names of exactly the form above are). A file whose
// size, magic, fields or checksum are wrong is damage to a file that was once durable;
// read_snapshot_file says what is wrong, and Storage decides what that means (storage.h).
#pragma once

#include <string>
#include <vector>

#include "core/raft/snapshot.h"

namespace raftbook {

struct SnapshotFile {
    std::string path;
    SnapshotMeta meta;  // as its name says
};

// "snap-TTTTTTTTTTTTTTTT-IIIIIIIIIIIIIIII"
std::string snapshot_file_name(const SnapshotMeta& meta);
// The snapshot files in dir, newest (highest index) first. Throws StorageError when the
// dir cannot be listed.
std::vector<SnapshotFile> list_snapshot_files(const std::string& dir);
// Writes snap atomically and durably as dir/snapshot_file_name(snap.meta). Throws StorageError.
void write_snapshot_file(const std::string& dir, const Snapshot& snap);
// Reads and verifies a snapshot file. Returns "" with *out set, or what is wrong with it
// ("cut short: 100 bytes, ...", "checksum mismatch", ...). Throws StorageError when it
// cannot be read at all.
std::string read_snapshot_file(const SnapshotFile& file, Snapshot* out);
// Deletes all but the newest `keep` snapshot files, and the temp files a crash in the
// middle of writing one left. Call it only once the newest is durable. Throws StorageError.
void prune_snapshot_files(const std::string& dir, size_t keep);

}  // namespace raftbook
