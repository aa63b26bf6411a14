// The write-ahead log: the node's Raft log on disk, as an append-only sequence of
// checksummed records in segment files DIR/wal/00000001.seg, 00000002.seg, ...
//
// Why append-only: a batch of entries becomes one sequential write and one fdatasync,
// the cheapest durable write a disk offers, and many proposals share it (group commit:
// append() only buffers, sync() writes the whole batch and syncs once). Why segments:
// compaction deletes whole files (below), and a damaged file is named in the error. A
// new one is started once the current one passes about 8 MiB: small enough that the
// WAL a snapshot leaves behind stays near what the snapshot interval needs (serve's
// default of 10,000 entries is ~1.3 MB of 64-byte writes; with 64 MiB segments the data
// dir of a node under a steady load swung by 64 MiB and a restart replayed up to 500,000
// entries only to drop them), large enough that a rollover (three fsyncs) comes once in
// some 60,000 such writes.
//
// Why each segment is zero-filled ahead of its records: a write that grows a file makes
// fdatasync commit the filesystem's journal as well. On ext4 on a virtual disk, a 2 KiB
// write + fdatasync costs p50 155-180 us when it appends, ~115 us when it overwrites
// blocks already written (fallocate() does not help: its unwritten extents need a
// journal commit on their first write too). So records are written in place over zeros,
// and a sync whose records would run past the zeros first extends the file with
// kZeroFillBytes more (in the same write and fdatasync; never further past the segment
// size than the batch needs): one sync in a MiB pays for a size change.
//
// A segment starts with 8 bytes, "RBWAL", two zero bytes and the format version (1).
// Then records, each
//     u32 length | u32 crc32 (of the length bytes and the payload) | payload
// with integers little-endian, and the payload one of
//     1 entry:  u64 index | u64 term | u8 type (0 command, 1 no-op, 2 config) | u64 client_id | u64 seq | data
//     2 commit: u64 commit_index
//     3 reset:  u64 index | u64 term
// There is no "truncate" record: as in etcd's WAL, an entry whose index is at or below
// the last one replaces that entry and everything after it, which is exactly what a
// follower does when the leader overwrites a conflicting suffix (§5.3). Replaying the
// records in order therefore reproduces the log exactly.
//
// A reset record says "the log starts after entry (index, term)": replay drops every
// entry before it, and the next entry must be index + 1. It is written when a snapshot
// from the leader replaces a log that did not hold the snapshot's last entry
// (Storage::save_snapshot with resets_log), after the snapshot file is durable. Its
// index is committed (a snapshot holds only committed entries), so replay takes it as
// the commit index too; a reset below a recorded commit index is corruption.
//
// The commit index rides along at the end of the next sync's records rather than having
// its own fsync: it is only a restart hint (entry.h), and written after the entries it
// covers, it is durable only if they are. A sync with no new entries still writes a new
// commit index (a record of its own).
//
// Which segment is the newest is recorded too, in DIR/wal/last_segment (8 bytes "RBLST",
// two zero bytes and the format version 1, then the u64 sequence number and the crc32 of
// the 16 bytes before it), replaced atomically (replace_file) each time a segment is
// started and before any record goes into it: once per segment, two more fsyncs. Without it a
// deleted newest segment would look like a shorter log. On open, segments must be
// numbered with no gap, up to at least the recorded one (one more is a crash between
// creating a segment and recording it; it holds no record yet), and entry indexes must
// follow each other across segments; a WAL from before this file (none recorded) gets
// one.
//
// Compaction. Once a snapshot covers the start of the log, compact(i) deletes the
// segments, oldest first, whose entries are all at or below i (a segment before a reset
// record holds nothing of the log at all); never the current one. Each deletion is made
// durable (fsync of the directory) before the next, so a crash can leave only a prefix
// missing, never a gap. So the first segment number is not recorded but inferred: the
// oldest segment present. When it is not 1, the log starts at the first entry it holds
// (or after its first reset record), and the term before that is not known here — it is
// the snapshot's: Storage checks that a snapshot covers every entry before the WAL's
// first one, and refuses to start, naming the files, when none does (a segment lost
// rather than compacted shows up that way).
//
// On open every record is verified, in order, up to the clean end of the written data:
// a record boundary where the rest of the file is zeros (possibly none), in any segment
// (a segment left behind by a rollover keeps its zero tail). A record is never all
// zeros, since its length is at least 1 (the payload's type byte), so the zeros are
// unambiguous; the node writes its next record there, over them. A bad record is one
// cut short (short header or payload), with an impossible length (0 included), or whose
// checksum does not match. A crash in the middle of a write leaves such a record after
// the last valid one of the last segment, with nothing valid after it (zeros, junk or
// nothing): that torn tail is truncated away, zero fill included, and reported. A bad
// record followed by anything that is still a valid record, or a bad record in a
// segment that is not the last (a segment is complete and synced before the next one
// starts), is damage to data that was once durable: open refuses, naming the file and
// byte offset, rather than drop entries. (Should a crash leave a later page of the last
// write on disk but not an earlier one, that too is refused: a false alarm, never a
// silent loss.)
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/raft/entry.h"
#include "core/raft/snapshot.h"
#include "native/storage/storage_io.h"

namespace raftbook {

// What the WAL replays to.
struct WalLog {
    std::vector<Entry> entries;  // the log, from first_index
    Index first_index = 1;       // of entries[0] (of the next entry when there is none)
    Term prev_term = 0;          // of entry first_index - 1 when a reset record said so, else 0
    // false: the oldest segments were compacted away and no entry or reset record shows
    // where the log starts (then entries is empty and first_index means nothing).
    bool start_known = true;
    std::string first_segment;   // the oldest segment's path, for messages
    Index commit_index = 0;      // the last commit index recorded, <= last_index()
    std::string torn_tail;       // "" or a sentence saying what torn tail was dropped
    bool created = false;        // there was no WAL: open started one
    Index last_index() const { return first_index + entries.size() - 1; }
};

// Thread-compatible: one thread at a time may call its methods.
class Wal {
public:
    static constexpr size_t kDefaultSegmentBytes = 8 << 20;
    static constexpr size_t kMaxRecordBytes = 64 << 20;
    // How far past a sync's records a segment is zero-filled when they reach its end.
    // The sync that extends pays for writing the zeros (~1.3 ms for 1 MiB on the disk
    // above): less would pay more often, more would stall that one sync longer.
    static constexpr size_t kZeroFillBytes = 1 << 20;

    // Opens the WAL in `dir` (creating it if missing), verifies and replays every
    // record into *log, and truncates a torn tail. Throws StorageError when the log is
    // corrupt, a segment is missing, or the files cannot be read or written. With
    // `must_exist` (the data dir shows the WAL was started before) a WAL with no segment
    // at all is a missing segment 1, not a new WAL.
    static std::unique_ptr<Wal> open(const std::string& dir, size_t segment_bytes, WalLog* log,
                                     bool must_exist = false);

    // Buffers entries in memory. The first may have an index at or below last_index()
    // (it then replaces that suffix); the rest must follow it one by one. Throws
    // std::logic_error on a gap or on overwriting a recorded commit index, and
    // std::length_error on an entry larger than kMaxRecordBytes; then nothing is appended.
    void append(const std::vector<Entry>& entries);
    // Remembers the commit index; the next sync() writes it, after the entries, clamped
    // to the last index. A lower one than already remembered is ignored.
    void set_commit(Index commit_index);
    // Buffers a reset record: the log now starts after entry (index, term), every entry
    // before is dropped and the next appended must be index + 1. Throws
    // std::logic_error for index or term 0, or an index below the recorded commit index.
    void reset(Index index, Term term);
    // Writes everything appended since the last sync, and the commit index if it grew,
    // and fdatasyncs it: on return it is durable. Does nothing when there is nothing to
    // write. Throws StorageError.
    void sync();

    // Deletes the segments, oldest first, holding no entry of the log above compact_to
    // (wal.h); never the current one. Returns how many. Throws StorageError.
    size_t compact(Index compact_to);

    // Of the log including pending entries; 0 when not known (WalLog::start_known).
    Index last_index() const { return last_index_; }

private:
    Wal(std::string dir, size_t segment_bytes)
        : dir_(std::move(dir)), segment_bytes_(segment_bytes) {}
    std::string segment_path(uint64_t seq) const;
    // Creates it, writes its header, records it in last_segment, makes it current.
    void start_segment(uint64_t seq);
    // Opens the last segment for writing at records_end, the end of its last valid
    // record (0 when not even its header is valid), first cutting off a torn tail.
    void continue_segment(uint64_t seq, size_t records_end, size_t file_bytes, bool torn);

    std::string dir_;
    size_t segment_bytes_;
    UniqueFd fd_;               // the current (last) segment, open for writing
    uint64_t segment_seq_ = 0;
    Index segment_max_ = 0;     // the highest entry index in the current segment (after resets)
    Index pending_max_ = 0;     // ...among the pending entries
    // The segments before the current one, oldest first, each with its highest entry
    // index (0 when a later reset record dropped what it holds).
    std::deque<std::pair<uint64_t, Index>> closed_;
    size_t segment_size_ = 0;   // the current segment's header and records: the next goes here
    size_t file_size_ = 0;      // its size: segment_size_ and the zero fill after it
    std::string pending_;       // encoded records not yet written
    Index last_index_ = 0;      // of the log including pending entries
    Index commit_wanted_ = 0;   // from set_commit()
    Index commit_written_ = 0;  // the last commit record in the file
};

}  // namespace raftbook
