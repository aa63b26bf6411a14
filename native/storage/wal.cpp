// The write-ahead log: record encoding, verified replay with torn-tail recovery, and
// batched writes over a zero-filled tail. The format and the recovery rules are
// described in wal.h.
#include "native/storage/wal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "native/storage/crc32.h"
#include "native/storage/storage_io.h"

namespace raftbook {

namespace {

constexpr char kSegmentMagic[8] = {'R', 'B', 'W', 'A', 'L', 0, 0, 1};
constexpr size_t kHeaderBytes = sizeof kSegmentMagic;
constexpr size_t kRecordHeaderBytes = 8;  // length, crc
constexpr uint8_t kEntryRecord = 1;
constexpr uint8_t kCommitRecord = 2;
constexpr uint8_t kResetRecord = 3;
constexpr size_t kEntryFixedBytes = 1 + 8 + 8 + 1 + 8 + 8;  // payload without data
constexpr size_t kCommitBytes = 1 + 8;
constexpr size_t kResetBytes = 1 + 8 + 8;
constexpr char kLastSegmentMagic[8] = {'R', 'B', 'L', 'S', 'T', 0, 0, 1};
constexpr size_t kLastSegmentBytes = 8 + 8 + 4;
constexpr const char* kLastSegmentFile = "last_segment";

// Appends one record: reserves the header, lets `payload` write the payload, then
// fills in its length and checksum.
template <typename WritePayload>
void put_record(std::string* out, WritePayload payload) {
    const size_t start = out->size();
    out->append(kRecordHeaderBytes, '\0');
    payload(out);
    const uint32_t length = static_cast<uint32_t>(out->size() - start - kRecordHeaderBytes);
    std::string header;
    put_le(&header, length, 4);
    const char* body = out->data() + start + kRecordHeaderBytes;
    put_le(&header, crc32(body, length, crc32(header.data(), 4)), 4);
    out->replace(start, kRecordHeaderBytes, header);
}

struct Record {
    uint8_t kind = 0;
    Entry entry;             // kind == kEntryRecord
    Index commit_index = 0;  // kind == kCommitRecord
    SnapshotMeta reset;      // kind == kResetRecord: the log starts after this entry
};

enum class Parse {
    Ok,
    Bad,         // cut short, impossible length or checksum mismatch: maybe a torn write
    BadPayload,  // checksum fine but content invalid: written that way, never torn
};

// Parses the record at buf[off]; on Ok sets *next to the offset after it, otherwise
// says why in *reason.
Parse parse_record(const std::string& buf, size_t off, Record* rec, size_t* next,
                   std::string* reason) {
    if (buf.size() - off < kRecordHeaderBytes) {
        *reason = "record header cut short";
        return Parse::Bad;
    }
    const char* p = buf.data() + off;
    const uint32_t length = static_cast<uint32_t>(get_le(p, 4));
    // A payload holds at least its type byte, so no record has length 0: that is what
    // makes the zero fill after the last record unambiguous (wal.h).
    if (length == 0 || length > Wal::kMaxRecordBytes) {
        *reason = "impossible record length " + std::to_string(length);
        return Parse::Bad;
    }
    if (buf.size() - off - kRecordHeaderBytes < length) {
        *reason = "record of " + std::to_string(length) + " bytes cut short";
        return Parse::Bad;
    }
    const char* body = p + kRecordHeaderBytes;
    if (crc32(body, length, crc32(p, 4)) != static_cast<uint32_t>(get_le(p + 4, 4))) {
        *reason = "record checksum mismatch";
        return Parse::Bad;
    }
    rec->kind = static_cast<uint8_t>(body[0]);
    if (rec->kind == kEntryRecord) {
        if (length < kEntryFixedBytes) {
            *reason = "entry record of only " + std::to_string(length) + " bytes";
            return Parse::BadPayload;
        }
        const uint8_t type = static_cast<uint8_t>(body[17]);
        if (type != static_cast<uint8_t>(EntryType::Command) && type != static_cast<uint8_t>(EntryType::NoOp) &&
            type != static_cast<uint8_t>(EntryType::Config)) {
            *reason = "unknown entry type " + std::to_string(type);
            return Parse::BadPayload;
        }
        Entry& e = rec->entry;
        e.index = get_le(body + 1, 8);
        e.term = get_le(body + 9, 8);
        e.type = static_cast<EntryType>(type);
        e.client_id = get_le(body + 18, 8);
        e.seq = get_le(body + 26, 8);
        e.data.assign(body + kEntryFixedBytes, length - kEntryFixedBytes);
    } else if (rec->kind == kCommitRecord) {
        if (length != kCommitBytes) {
            *reason = "commit record of " + std::to_string(length) + " bytes";
            return Parse::BadPayload;
        }
        rec->commit_index = get_le(body + 1, 8);
    } else if (rec->kind == kResetRecord) {
        if (length != kResetBytes) {
            *reason = "reset record of " + std::to_string(length) + " bytes";
            return Parse::BadPayload;
        }
        rec->reset.index = get_le(body + 1, 8);
        rec->reset.term = get_le(body + 9, 8);
        if (rec->reset.index == 0 || rec->reset.index == UINT64_MAX || rec->reset.term == 0) {
            *reason = "reset record to entry " + std::to_string(rec->reset.index) + " of term " +
                      std::to_string(rec->reset.term);
            return Parse::BadPayload;
        }
    } else {
        *reason = "unknown record type " + std::to_string(rec->kind) +
                  " (written by a newer raftbook?)";
        return Parse::BadPayload;
    }
    *next = off + kRecordHeaderBytes + length;
    return Parse::Ok;
}

// The offset of the first valid record starting after `off`, or 0 when there is none.
// None starts in the zeros at the end of buf: a record's length is not 0.
size_t find_valid_record(const std::string& buf, size_t off) {
    Record rec;
    size_t next;
    std::string reason;
    const size_t zeros_start = buf.find_last_not_of('\0') + 1;
    for (size_t p = off + 1; p < zeros_start && p + kRecordHeaderBytes <= buf.size(); p++)
        if (parse_record(buf, p, &rec, &next, &reason) == Parse::Ok) return p;
    return 0;
}

StorageError corrupt(const std::string& path, size_t off, const std::string& what) {
    return StorageError("WAL segment " + path + " is corrupt at byte offset " +
                        std::to_string(off) + ": " + what +
                        "; refusing to start rather than lose log entries. Restore the data "
                        "dir from a backup.");
}

// Whether buf holds only zeros from off on: the zero fill after the last record.
bool zeros_from(const std::string& buf, size_t off) {
    return std::all_of(buf.begin() + static_cast<std::ptrdiff_t>(off), buf.end(),
                       [](char c) { return c == 0; });
}

// Where replaying a segment stopped, and what it holds.
struct SegmentEnd {
    size_t records_end = 0;  // after its last valid record (0: not even a valid header)
    bool torn = false;       // the bytes from records_end on are a torn tail to cut off
    bool reset = false;      // it holds a reset record: earlier segments hold nothing of the log
    Index max_index = 0;     // the highest entry index after its last reset record
};

// Replays one segment's records into *log, up to the zero fill or the end of the file.
// Only the last segment may end in a torn tail.
SegmentEnd replay_segment(const std::string& path, const std::string& buf, bool last,
                          WalLog* log) {
    const auto bad = [&](size_t off, const std::string& reason) -> SegmentEnd {
        if (!last)
            throw corrupt(path, off, reason + ", and later segments follow, so this is not a "
                                              "write cut short by a crash");
        if (size_t valid = find_valid_record(buf, off))
            throw corrupt(path, off, reason + ", and a valid record follows at byte offset " +
                                         std::to_string(valid) +
                                         ", so this is not a write cut short by a crash");
        log->torn_tail = "dropped the torn tail of WAL segment " + path + " from byte offset " +
                         std::to_string(off) + " (" + std::to_string(buf.size() - off) +
                         " bytes, " + reason + "), left by a crash in the middle of a write";
        return {off, true};
    };
    if (buf.empty() && last) return {};  // created, then a crash before its header was written
    if (buf.size() < kHeaderBytes || std::memcmp(buf.data(), kSegmentMagic, kHeaderBytes) != 0) {
        if (buf.size() >= kHeaderBytes && std::memcmp(buf.data(), kSegmentMagic, 7) == 0)
            throw StorageError("WAL segment " + path + " has format version " +
                               std::to_string(static_cast<unsigned char>(buf[7])) +
                               ", this raftbook reads version 1; run the raftbook that wrote it");
        return bad(0, "bad segment header");
    }
    size_t off = kHeaderBytes;
    SegmentEnd end;
    while (!zeros_from(buf, off)) {
        Record rec;
        size_t next = 0;
        std::string reason;
        const Parse parsed = parse_record(buf, off, &rec, &next, &reason);
        if (parsed == Parse::BadPayload) throw corrupt(path, off, reason);
        if (parsed == Parse::Bad) {
            const SegmentEnd torn = bad(off, reason);
            end.records_end = torn.records_end;
            end.torn = torn.torn;
            return end;
        }
        std::vector<Entry>& entries = log->entries;
        if (rec.kind == kEntryRecord) {
            const Index i = rec.entry.index;
            if (!log->start_known && i > 0) {  // the first entry after a compacted prefix
                log->first_index = i;
                log->start_known = true;
            }
            if (i > log->last_index() + 1)
                throw corrupt(path, off, "entry " + std::to_string(i) +
                                             " does not follow the last index " +
                                             std::to_string(log->last_index()));
            if (i < log->first_index)
                throw corrupt(path, off, "entry " + std::to_string(i) +
                                             " is before the start of the log at entry " +
                                             std::to_string(log->first_index));
            if (i <= log->commit_index)
                throw corrupt(path, off, "entry " + std::to_string(i) +
                                             " overwrites a committed entry (commit index " +
                                             std::to_string(log->commit_index) + ")");
            entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i - log->first_index),
                          entries.end());
            entries.push_back(std::move(rec.entry));
            end.max_index = std::max(end.max_index, i);
        } else if (rec.kind == kCommitRecord) {
            if (log->start_known && rec.commit_index > log->last_index())
                throw corrupt(path, off, "commit index " + std::to_string(rec.commit_index) +
                                             " is beyond the last index " +
                                             std::to_string(log->last_index()));
            log->commit_index = std::max(log->commit_index, rec.commit_index);
        } else {
            if (rec.reset.index < log->commit_index)
                throw corrupt(path, off, "reset to entry " + std::to_string(rec.reset.index) +
                                             " drops committed entries (commit index " +
                                             std::to_string(log->commit_index) + ")");
            entries.clear();
            log->first_index = rec.reset.index + 1;
            log->prev_term = rec.reset.term;
            log->start_known = true;
            log->commit_index = rec.reset.index;  // a snapshot holds only committed entries
            end.reset = true;
            end.max_index = 0;
        }
        off = next;
    }
    end.records_end = off;
    return end;
}

// The sequence numbers of the segment files in dir, ascending.
std::vector<uint64_t> list_segments(const std::string& dir) {
    std::vector<uint64_t> seqs;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = f.path().filename().string();
        const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
        if (name.size() != 12 || name.compare(8, 4, ".seg") != 0 ||
            !std::all_of(name.begin(), name.begin() + 8, is_digit))
            continue;
        seqs.push_back(std::stoull(name.substr(0, 8)));
    }
    if (ec) throw StorageError("cannot list directory " + dir + ": " + ec.message());
    std::sort(seqs.begin(), seqs.end());
    return seqs;
}

// The sequence number of the newest segment as recorded in last_segment; 0 when there
// is no such file (a new WAL, or one from before the file).
uint64_t read_last_segment(const std::string& dir) {
    const std::string path = join_path(dir, kLastSegmentFile);
    if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return 0;
    const std::string buf = read_file(path);
    const size_t body = kLastSegmentBytes - 4;
    const char* what =
        buf.size() != kLastSegmentBytes                      ? "wrong size"
        : std::memcmp(buf.data(), kLastSegmentMagic, 8) != 0 ? "not a raftbook last_segment file"
        : crc32(buf.data(), body) != get_le(buf.data() + body, 4) ? "checksum mismatch"
        : get_le(buf.data() + 8, 8) == 0                          ? "segment 0"
                                                                  : nullptr;
    if (what)
        throw StorageError("WAL file " + path + " is damaged (" + what +
                           "); it names the newest segment, so that a lost one is noticed. If "
                           "no segment file is missing, delete it and start the node again.");
    return get_le(buf.data() + 8, 8);
}

void write_last_segment(const std::string& dir, uint64_t seq) {
    std::string buf(kLastSegmentMagic, sizeof kLastSegmentMagic);
    put_le(&buf, seq, 8);
    put_le(&buf, crc32(buf.data(), buf.size()), 4);
    replace_file(dir, kLastSegmentFile, buf);
}

StorageError missing_segment(const std::string& path, const std::string& why) {
    return StorageError("WAL segment " + path + " is missing (" + why +
                        "); refusing to start rather than lose log entries. Restore the data "
                        "dir from a backup.");
}

}  // namespace

std::unique_ptr<Wal> Wal::open(const std::string& dir, size_t segment_bytes, WalLog* log,
                               bool must_exist) {
    make_dirs(dir);
    std::unique_ptr<Wal> wal(new Wal(dir, segment_bytes));
    const std::vector<uint64_t> seqs = list_segments(dir);
    const uint64_t recorded = read_last_segment(dir);
    // Every segment from the oldest one kept to the newest recorded one must be there
    // (wal.h): only a prefix may be missing, deleted by compaction.
    for (size_t i = 1; i < seqs.size(); i++)
        if (seqs[i] != seqs[0] + i)
            throw missing_segment(wal->segment_path(seqs[0] + i),
                                  "found " + wal->segment_path(seqs[i]) + " after it");
    if ((seqs.empty() ? 0 : seqs.back()) < recorded)
        throw missing_segment(wal->segment_path(recorded),
                              join_path(dir, kLastSegmentFile) + " records it as the newest");
    if (seqs.empty() && must_exist)
        throw missing_segment(wal->segment_path(1),
                              "the data dir has a hard state or identity file, so its WAL was "
                              "started, but the WAL has no segment");
    log->start_known = seqs.empty() || seqs[0] == 1;
    log->first_segment = wal->segment_path(seqs.empty() ? 1 : seqs[0]);
    for (size_t i = 0; i < seqs.size(); i++) {
        const std::string path = wal->segment_path(seqs[i]);
        const std::string buf = read_file(path);
        const bool last = i + 1 == seqs.size();
        const SegmentEnd end = replay_segment(path, buf, last, log);
        if (end.reset)
            for (auto& closed : wal->closed_) closed.second = 0;
        if (last) {
            wal->continue_segment(seqs[i], end.records_end, buf.size(), end.torn);
            wal->segment_max_ = end.max_index;
        } else {
            wal->closed_.emplace_back(seqs[i], end.max_index);
        }
    }
    if (seqs.empty()) {
        wal->start_segment(1);
        log->created = true;
    } else if (recorded != seqs.back()) {
        write_last_segment(dir, seqs.back());  // a WAL from before last_segment, or a crash
    }
    sync_dir(dir);
    wal->last_index_ = log->start_known ? log->last_index() : 0;
    wal->commit_wanted_ = wal->commit_written_ = log->commit_index;
    return wal;
}

std::string Wal::segment_path(uint64_t seq) const {
    char name[32];
    std::snprintf(name, sizeof name, "%08llu.seg", static_cast<unsigned long long>(seq));
    return join_path(dir_, name);
}

void Wal::start_segment(uint64_t seq) {
    const std::string path = segment_path(seq);
    fd_ = open_file(path, O_WRONLY | O_CREAT | O_EXCL);
    // Its name durable before last_segment names it: a crash in between must not leave
    // a recorded segment that never existed.
    sync_dir(dir_);
    write_last_segment(dir_, seq);
    write_all_at(fd_.get(), kSegmentMagic, kHeaderBytes, 0, path);
    segment_seq_ = seq;
    segment_size_ = file_size_ = kHeaderBytes;
}

void Wal::continue_segment(uint64_t seq, size_t records_end, size_t file_bytes, bool torn) {
    const std::string path = segment_path(seq);
    fd_ = open_file(path, O_WRONLY);
    segment_seq_ = seq;
    segment_size_ = records_end;
    file_size_ = file_bytes;  // the zero fill after records_end is reused
    if (torn || records_end == 0) {
        // Cut off a torn tail; when not even the header is valid, start the segment again.
        truncate_file(fd_.get(), records_end, path);
        file_size_ = records_end;
        if (records_end == 0) {
            write_all_at(fd_.get(), kSegmentMagic, kHeaderBytes, 0, path);
            segment_size_ = file_size_ = kHeaderBytes;
        }
    }
    // A process that crashed may have left written but unsynced records in the page
    // cache; they are part of the log from now on, so make them durable first.
    sync_data(fd_.get(), path);
}

void Wal::append(const std::vector<Entry>& entries) {
    Index last = last_index_;
    for (const Entry& e : entries) {
        if (e.index == 0 || e.index > last + 1)
            throw std::logic_error("WAL append: entry " + std::to_string(e.index) +
                                   " does not follow the last index " + std::to_string(last));
        if (e.index <= commit_written_)
            throw std::logic_error("WAL append: entry " + std::to_string(e.index) +
                                   " would overwrite a committed entry (commit index " +
                                   std::to_string(commit_written_) + ")");
        if (e.data.size() > kMaxRecordBytes - kEntryFixedBytes)
            throw std::length_error("WAL append: entry " + std::to_string(e.index) + " has " +
                                    std::to_string(e.data.size()) +
                                    " bytes of data, more than a WAL record holds");
        last = e.index;
    }
    for (const Entry& e : entries) {
        put_record(&pending_, [&](std::string* out) {
            out->push_back(static_cast<char>(kEntryRecord));
            put_le(out, e.index, 8);
            put_le(out, e.term, 8);
            out->push_back(static_cast<char>(e.type));
            put_le(out, e.client_id, 8);
            put_le(out, e.seq, 8);
            out->append(e.data);
        });
        last_index_ = e.index;
        pending_max_ = std::max(pending_max_, e.index);
    }
}

void Wal::reset(Index index, Term term) {
    if (index == 0 || term == 0 || index < commit_written_)
        throw std::logic_error("WAL reset: the log cannot start after entry " +
                               std::to_string(index) + " of term " + std::to_string(term) +
                               " (commit index " + std::to_string(commit_written_) + ")");
    put_record(&pending_, [&](std::string* out) {
        out->push_back(static_cast<char>(kResetRecord));
        put_le(out, index, 8);
        put_le(out, term, 8);
    });
    // What the segments hold before this record is no longer part of the log.
    for (auto& closed : closed_) closed.second = 0;
    segment_max_ = pending_max_ = 0;
    last_index_ = index;
    commit_written_ = std::max(commit_written_, index);  // replay reads the same from the record
    commit_wanted_ = std::max(commit_wanted_, index);
}

size_t Wal::compact(Index compact_to) {
    size_t deleted = 0;
    // Oldest first, each deletion durable before the next: a crash leaves a prefix
    // missing, never a gap.
    while (!closed_.empty() && closed_.front().second <= compact_to) {
        remove_file(segment_path(closed_.front().first));
        sync_dir(dir_);
        closed_.pop_front();
        deleted++;
    }
    return deleted;
}

void Wal::set_commit(Index commit_index) {
    commit_wanted_ = std::max(commit_wanted_, commit_index);
}

void Wal::sync() {
    const Index commit = std::min(commit_wanted_, last_index_);
    if (commit > commit_written_)
        put_record(&pending_, [&](std::string* out) {
            out->push_back(static_cast<char>(kCommitRecord));
            put_le(out, commit, 8);
        });
    if (pending_.empty()) return;
    if (segment_size_ > kHeaderBytes && segment_size_ + pending_.size() > segment_bytes_) {
        closed_.emplace_back(segment_seq_, segment_max_);
        segment_max_ = 0;
        start_segment(segment_seq_ + 1);
    }
    const std::string path = segment_path(segment_seq_);
    const size_t records_end = segment_size_ + pending_.size();
    if (records_end > file_size_) {
        // The zero fill runs out: extend it, so that the next MiB of syncs overwrite
        // blocks already written and leave the file's size (and the journal) alone.
        const size_t fill_to =
            std::max(records_end, std::min(records_end + kZeroFillBytes, segment_bytes_));
        write_zeros_at(fd_.get(), records_end, fill_to - records_end, path);
        file_size_ = fill_to;
    }
    write_all_at(fd_.get(), pending_.data(), pending_.size(), segment_size_, path);
    sync_data(fd_.get(), path);
    segment_size_ = records_end;
    pending_.clear();
    segment_max_ = std::max(segment_max_, pending_max_);
    pending_max_ = 0;
    commit_written_ = std::max(commit_written_, commit);
}

}  // namespace raftbook
