// Durable storage: what a node writes to its data dir it finds again after a restart,
// a crash in the middle of a write costs only that unfinished write, and damage to
// data that was once durable stops the node with an error naming the file and offset
// instead of silently dropping entries. Each test works in its own dir under /tmp.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <random>

#include "native/storage/crc32.h"
#include "native/storage/disk_writer.h"
#include "native/storage/identity.h"
#include "native/storage/storage.h"
#include "tests/native/storage_support.h"

namespace fs = std::filesystem;
using namespace raftbook;
using namespace raftbook::test;

namespace {

StorageOptions as_node(NodeId id, std::string cluster_id = "") {
    StorageOptions options;
    options.node_id = id;
    options.cluster_id = std::move(cluster_id);
    return options;
}

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

std::string segment(const std::string& dir, int seq) {
    char name[32];
    std::snprintf(name, sizeof name, "/wal/%08d.seg", seq);
    return dir + name;
}

// Where a segment's records end and its zero fill begins. Holds for the segments
// write_log writes: their last record ends in a non-zero byte (entry data "... v").
size_t records_end(const std::string& path) {
    const std::string bytes = read_bytes(path);
    return bytes.find_last_not_of('\0') + 1;
}

bool all_zeros(const std::string& bytes) {
    return bytes.find_first_not_of('\0') == std::string::npos;
}

// Writes entries 1..n of term 1, one sync each, and returns where the first segment's
// records end after opening (ends[0]) and after each sync (ends[i]): while the log fits
// in one segment, record i spans [ends[i-1], ends[i]).
std::vector<size_t> write_log(const std::string& dir, Index n, const StorageOptions& options = {}) {
    auto s = open_ok(dir, options);
    s->save_hard_state({1, 1, 0});
    std::vector<size_t> ends = {records_end(segment(dir, 1))};
    for (Index i = 1; i <= n; i++) {
        s->append({entry(i, 1)});
        s->sync();
        ends.push_back(records_end(segment(dir, 1)));
    }
    return ends;
}

std::vector<Entry> entries_1_to(Index n, Term term) {
    std::vector<Entry> out;
    for (Index i = 1; i <= n; i++) out.push_back(entry(i, term));
    return out;
}

}  // namespace

TEST_CASE("crc32 matches the IEEE check value and can be continued", "[storage]") {
    const std::string s = "123456789";
    CHECK(crc32(s.data(), s.size()) == 0xCBF43926u);
    CHECK(crc32(s.data() + 4, 5, crc32(s.data(), 4)) == 0xCBF43926u);
    CHECK(crc32(nullptr, 0) == 0u);
}

TEST_CASE("an empty data dir starts with an empty log and zero hard state", "[storage]") {
    TempDir dir;
    const std::string data = dir.path + "/node1";  // created, parents too
    auto s = open_ok(data);
    CHECK(s->restored().entries.empty());
    CHECK(s->restored().first_index == 1);
    CHECK(s->restored().hard_state == HardState{});
    CHECK(s->recovery_note().empty());
    CHECK(fs::exists(data + "/LOCK"));
    CHECK(fs::exists(segment(data, 1)));
}

TEST_CASE("entries and hard state survive close and reopen", "[storage]") {
    TempDir dir;
    std::vector<Entry> log = entries_1_to(5, 2);
    log[0].type = EntryType::NoOp;
    log[0].data.clear();
    log[0].client_id = log[0].seq = 0;
    log[3].data = std::string("\0\xff binary \n", 11);
    {
        auto s = open_ok(dir.path);
        s->save_hard_state({2, 3, 0});
        s->append(log);
        s->save_hard_state({2, 3, 4});
        s->sync();
    }
    auto s = open_ok(dir.path);
    CHECK(s->restored().entries == log);
    CHECK(s->restored().hard_state == HardState{2, 3, 4});
    CHECK(s->recovery_note().empty());
}

// The core emits a hard state only when term or vote change; the commit index comes
// through record_commit() and rides with the next sync, so a restarted node does not
// start from a stale commit.
TEST_CASE("the commit index is recorded with the next sync, with or without new entries",
          "[storage]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path);
        s->save_hard_state({1, 1, 0});
        s->append(entries_1_to(3, 1));
        s->record_commit(2);
        s->sync();
    }
    CHECK(open_ok(dir.path)->restored().hard_state == HardState{1, 1, 2});
    {
        auto s = open_ok(dir.path);
        s->record_commit(3);  // no new entries: a sync with only the commit record
        s->sync();
    }
    CHECK(open_ok(dir.path)->restored().hard_state == HardState{1, 1, 3});
    {
        auto s = open_ok(dir.path);
        s->record_commit(5);  // beyond the last entry: clamped to it
        s->append({entry(4, 1)});
        s->sync();
        s->record_commit(6);
        s->sync();
    }
    auto s = open_ok(dir.path);
    CHECK(s->restored().hard_state == HardState{1, 1, 4});
    CHECK(s->restored().entries == entries_1_to(4, 1));
    s->record_commit(5);
    s->append({entry(5, 1)});
    s.reset();  // never synced: neither the entry nor the commit index is there
    CHECK(open_ok(dir.path)->restored().hard_state == HardState{1, 1, 4});
}

TEST_CASE("save_hard_state records its commit index like record_commit", "[storage]") {
    TempDir dir;
    write_log(dir.path, 3);
    open_ok(dir.path)->save_hard_state({1, 1, 3});  // no new term or vote, no sync
    CHECK(open_ok(dir.path)->restored().hard_state == HardState{1, 1, 0});
    {
        auto s = open_ok(dir.path);
        s->save_hard_state({1, 1, 3});
        s->sync();
    }
    CHECK(open_ok(dir.path)->restored().hard_state == HardState{1, 1, 3});
}

TEST_CASE("appends that were never synced are lost, as in a crash", "[storage]") {
    TempDir dir;
    write_log(dir.path, 2);
    open_ok(dir.path)->append({entry(3, 1)});
    CHECK(open_ok(dir.path)->restored().entries == entries_1_to(2, 1));
}

TEST_CASE("a leader's overwrite of a conflicting suffix survives reopen (§5.3)", "[storage]") {
    TempDir dir;
    StorageOptions small;
    small.segment_bytes = 200;  // the overwrite reaches back into an earlier segment
    write_log(dir.path, 6, small);
    {
        auto s = open_ok(dir.path, small);
        s->save_hard_state({2, 0, 2});
        s->append({entry(3, 2, "new 3"), entry(4, 2, "new 4")});
        s->sync();
    }
    CHECK(fs::exists(segment(dir.path, 2)));
    auto s = open_ok(dir.path, small);
    const std::vector<Entry> want = {entry(1, 1), entry(2, 1), entry(3, 2, "new 3"),
                                     entry(4, 2, "new 4")};
    CHECK(s->restored().entries == want);
    CHECK(s->restored().hard_state == HardState{2, 0, 2});
}

TEST_CASE("the WAL rolls over to a new segment and replays across segments", "[storage]") {
    TempDir dir;
    StorageOptions small;
    small.segment_bytes = 1024;
    std::vector<Entry> log;
    for (int round = 0; round < 2; round++) {  // the second round continues after a reopen
        auto s = open_ok(dir.path, small);
        CHECK(s->restored().entries == log);
        s->save_hard_state({1, 1, 0});
        for (int batch = 0; batch < 10; batch++) {
            std::vector<Entry> entries;
            for (int k = 0; k < 5; k++)
                entries.push_back(entry(log.size() + entries.size() + 1, 1, std::string(100, 'x')));
            s->append(entries);
            s->sync();
            log.insert(log.end(), entries.begin(), entries.end());
        }
    }
    int segments = 0;
    for (const auto& f : fs::directory_iterator(dir.path + "/wal")) {
        segments++;
        CHECK(fs::file_size(f.path()) <= 2 * small.segment_bytes);  // at most one batch over
    }
    CHECK(segments >= 10);
    CHECK(open_ok(dir.path, small)->restored().entries == log);
}

// Also when the cut is followed by the zero fill that the WAL keeps ahead of its records.
TEST_CASE("a WAL cut anywhere inside its last record recovers the entries before it",
          "[storage]") {
    TempDir dir;
    const std::vector<size_t> ends = write_log(dir.path, 5);
    const std::string seg = read_bytes(segment(dir.path, 1));
    const std::string hardstate = read_bytes(dir.path + "/hardstate");
    REQUIRE(seg.size() > ends[5]);
    for (size_t cut = ends[4]; cut < ends[5]; cut++) {
        // What a crash leaves: record 5 written up to `cut`, then the file's end or the
        // zeros that were there before the write.
        for (const std::string& torn :
             {seg.substr(0, cut), seg.substr(0, cut) + std::string(seg.size() - cut, '\0')}) {
            CAPTURE(cut, torn.size());
            TempDir copy;
            fs::create_directory(copy.path + "/wal");
            write_bytes(copy.path + "/hardstate", hardstate);
            write_bytes(segment(copy.path, 1), torn);
            {
                auto s = open_ok(copy.path);
                CHECK(s->restored().entries == entries_1_to(4, 1));
                CHECK((cut == ends[4]) == s->recovery_note().empty());
                if (cut > ends[4])
                    CHECK(s->recovery_note().find("from byte offset " +
                                                  std::to_string(ends[4])) != std::string::npos);
                // A torn tail is cut off, zero fill and all; a clean end keeps its zeros.
                CHECK(fs::file_size(segment(copy.path, 1)) ==
                      (cut == ends[4] ? torn.size() : ends[4]));
                s->append({entry(5, 1)});  // the node carries on after the torn tail
                s->sync();
            }
            auto s = open_ok(copy.path);
            CHECK(s->restored().entries == entries_1_to(5, 1));
            CHECK(s->recovery_note().empty());
        }
    }
}

TEST_CASE("the WAL keeps its segment zero-filled ahead of its records", "[storage]") {
    TempDir dir;
    SECTION("a MiB ahead, so that only about one sync in a MiB changes the file's size") {
        auto s = open_ok(dir.path);
        s->save_hard_state({1, 1, 0});
        const std::string path = segment(dir.path, 1);
        size_t size = fs::file_size(path);
        int syncs = 0, size_changes = 0;
        Index next = 1;
        while (records_end(path) <= 2 * Wal::kZeroFillBytes) {
            std::vector<Entry> batch;  // about 64 KiB
            for (int k = 0; k < 16; k++) batch.push_back(entry(next++, 1, std::string(4000, 'x')));
            s->append(batch);
            s->sync();
            syncs++;
            const std::string bytes = read_bytes(path);
            const size_t end = records_end(path);
            CHECK(all_zeros(bytes.substr(end)));
            if (bytes.size() != size) {
                CHECK(end > size);  // only when the records passed the zero fill
                CHECK(bytes.size() == end + Wal::kZeroFillBytes);
                size = bytes.size();
                size_changes++;
            }
        }
        CHECK(syncs > 32);
        CHECK(size_changes == 2);  // the first sync, and the one that passed the first MiB
        s.reset();
        CHECK(open_ok(dir.path)->restored().entries.size() == next - 1);
    }
    SECTION("never past the segment size by more than a batch needs") {
        StorageOptions small;
        small.segment_bytes = 4096;
        write_log(dir.path, 200, small);  // about 50 bytes a record: several segments
        REQUIRE(fs::exists(segment(dir.path, 3)));
        for (int seq = 1; fs::exists(segment(dir.path, seq)); seq++) {
            CAPTURE(seq);
            CHECK(fs::file_size(segment(dir.path, seq)) == small.segment_bytes);
            CHECK(records_end(segment(dir.path, seq)) < small.segment_bytes);
        }
        // Earlier segments are read up to their zero fill, like the last one.
        auto s = open_ok(dir.path, small);
        CHECK(s->restored().entries == entries_1_to(200, 1));
        CHECK(s->recovery_note().empty());
    }
}

TEST_CASE("a restarted node writes its next record at the end of its records, over the "
          "zero fill",
          "[storage]") {
    TempDir dir;
    const std::vector<size_t> ends = write_log(dir.path, 5);
    const std::string path = segment(dir.path, 1);
    const size_t file_size = fs::file_size(path);
    REQUIRE(file_size > ends[5]);
    {
        auto s = open_ok(dir.path);
        CHECK(s->restored().entries == entries_1_to(5, 1));
        CHECK(s->recovery_note().empty());
        CHECK(fs::file_size(path) == file_size);  // nothing cut off
        s->append({entry(6, 1)});
        s->sync();
    }
    // Record 6 has record 5's length and follows it directly; the file did not grow.
    CHECK(records_end(path) == ends[5] + (ends[5] - ends[4]));
    CHECK(fs::file_size(path) == file_size);
    auto s = open_ok(dir.path);
    CHECK(s->restored().entries == entries_1_to(6, 1));
    CHECK(s->recovery_note().empty());
}

TEST_CASE("a zero tail of any length after the last record is the clean end", "[storage]") {
    TempDir dir;
    const std::vector<size_t> ends = write_log(dir.path, 3);
    const std::string path = segment(dir.path, 1);
    const std::string records = read_bytes(path).substr(0, ends[3]);
    for (const size_t zeros : {0, 1, 3, 7, 8, 9, 100}) {  // also shorter than a record header
        CAPTURE(zeros);
        write_bytes(path, records + std::string(zeros, '\0'));
        {
            auto s = open_ok(dir.path);
            CHECK(s->restored().entries == entries_1_to(3, 1));
            CHECK(s->recovery_note().empty());
            CHECK(fs::file_size(path) == ends[3] + zeros);
            s->append({entry(4, 1)});
            s->sync();
        }
        CHECK(open_ok(dir.path)->restored().entries == entries_1_to(4, 1));
    }
}

// A non-zero byte after the last record, in the zero fill, is read as a torn
// tail (cut off and reported), not as damage: the bytes there were never acknowledged,
// and a crash can leave a later page of the last write on disk without the earlier one
// that held its record header. Junk that parses as a valid record is still refused.
TEST_CASE("a non-zero byte in the zero fill after the last record is a torn tail", "[storage]") {
    TempDir dir;
    const std::vector<size_t> ends = write_log(dir.path, 3);
    const std::string path = segment(dir.path, 1);
    const std::string seg = read_bytes(path);
    for (const size_t at : {ends[3], ends[3] + 1, ends[3] + 8, ends[3] + 4000, seg.size() - 1}) {
        CAPTURE(at);
        std::string damaged = seg;
        damaged[at] = 'x';
        write_bytes(path, damaged);
        {
            auto s = open_ok(dir.path);
            CHECK(s->restored().entries == entries_1_to(3, 1));
            CHECK(s->recovery_note().find("from byte offset " + std::to_string(ends[3])) !=
                  std::string::npos);
            CHECK(fs::file_size(path) == ends[3]);
            s->append({entry(4, 1)});
            s->sync();
        }
        auto s = open_ok(dir.path);
        CHECK(s->restored().entries == entries_1_to(4, 1));
        CHECK(s->recovery_note().empty());
        s.reset();
        write_bytes(path, seg);
    }
    // A copy of record 3 in the zero fill, 100 bytes after the records' end.
    std::string damaged = seg;
    damaged.replace(ends[3] + 100, ends[3] - ends[2], seg, ends[2], ends[3] - ends[2]);
    write_bytes(path, damaged);
    const std::string error = open_error(dir.path);
    CHECK(error.find(path + " is corrupt at byte offset " + std::to_string(ends[3])) !=
          std::string::npos);
    CHECK(error.find("a valid record follows at byte offset " + std::to_string(ends[3] + 100)) !=
          std::string::npos);
}

TEST_CASE("many restarts, appends, overwrites and rollovers in a row keep the log exact",
          "[storage]") {
    TempDir dir;
    StorageOptions small;
    small.segment_bytes = 2048;
    std::mt19937 rng(42);
    const auto uniform = [&](size_t lo, size_t hi) {
        return std::uniform_int_distribution<size_t>(lo, hi)(rng);
    };
    std::vector<Entry> log;
    HardState hs{1, 1, 0};
    open_ok(dir.path, small)->save_hard_state(hs);
    for (int round = 0; round < 60; round++) {
        CAPTURE(round);
        auto s = open_ok(dir.path, small);
        REQUIRE(s->restored().entries == log);
        REQUIRE(s->restored().hard_state == hs);
        REQUIRE(s->recovery_note().empty());
        for (int batch = uniform(0, 3); batch > 0; batch--) {
            Index first = log.size() + 1;
            if (hs.commit_index < log.size() && uniform(0, 3) == 0) {  // a new leader's suffix
                hs = {hs.current_term + 1, 0, hs.commit_index};
                first = uniform(hs.commit_index + 1, log.size());
            }
            log.resize(first - 1);
            std::vector<Entry> entries;
            for (size_t k = uniform(1, 4); k > 0; k--)
                entries.push_back(entry(first + entries.size(), hs.current_term,
                                        std::string(uniform(1, 300), 'a' + round % 26)));
            log.insert(log.end(), entries.begin(), entries.end());
            hs.commit_index = uniform(hs.commit_index, log.size());
            s->save_hard_state(hs);
            s->append(entries);
            s->sync();
        }
    }
    CHECK(fs::exists(segment(dir.path, 5)));
    CHECK(log.size() > 100);
}

TEST_CASE("a segment whose header was torn at creation is started again", "[storage]") {
    TempDir dir;
    StorageOptions small;
    small.segment_bytes = 100;  // one entry a segment
    write_log(dir.path, 2, small);
    for (const std::string torn_header : {"", "RBW"}) {
        CAPTURE(torn_header);
        write_bytes(segment(dir.path, 2), torn_header);
        {
            auto s = open_ok(dir.path, small);
            CHECK(s->restored().entries == entries_1_to(1, 1));
            CHECK(s->recovery_note().empty() == torn_header.empty());
            s->append({entry(2, 1)});
            s->sync();
        }
        auto s = open_ok(dir.path, small);
        CHECK(s->restored().entries == entries_1_to(2, 1));
        CHECK(s->recovery_note().empty());
    }
}

TEST_CASE("a flipped byte in the last record is a torn write", "[storage]") {
    TempDir dir;
    const std::vector<size_t> ends = write_log(dir.path, 4);
    const std::string seg = read_bytes(segment(dir.path, 1));
    for (size_t at = ends[3]; at < ends[4]; at++) {
        CAPTURE(at);
        std::string damaged = seg;
        damaged[at] ^= 0x10;
        write_bytes(segment(dir.path, 1), damaged);
        auto s = open_ok(dir.path);
        CHECK(s->restored().entries == entries_1_to(3, 1));
        CHECK(s->recovery_note().find("byte offset " + std::to_string(ends[3])) !=
              std::string::npos);
    }
}

TEST_CASE("a flipped byte in the middle of the log refuses to start, naming file and offset",
          "[storage]") {
    TempDir dir;
    const std::vector<size_t> ends = write_log(dir.path, 5);
    const std::string path = segment(dir.path, 1);
    const std::string seg = read_bytes(path);
    REQUIRE(seg.size() > ends[5]);  // the zero fill follows record 5
    for (size_t at = ends[2]; at < ends[3]; at++) {  // every byte of record 3
        CAPTURE(at);
        std::string damaged = seg;
        damaged[at] ^= 0x01;
        write_bytes(path, damaged);
        const std::string error = open_error(dir.path);
        CAPTURE(error);
        CHECK(error.find(path + " is corrupt at byte offset " + std::to_string(ends[2])) !=
              std::string::npos);
        CHECK(error.find("Restore the data dir from a backup") != std::string::npos);
        CHECK(read_bytes(path) == damaged);  // nothing was truncated
    }
}

TEST_CASE("a log with a record missing in the middle refuses to start", "[storage]") {
    TempDir dir;
    const std::vector<size_t> ends = write_log(dir.path, 3);
    const std::string path = segment(dir.path, 1);
    const std::string seg = read_bytes(path);
    write_bytes(path, seg.substr(0, ends[1]) + seg.substr(ends[2]));  // without entry 2
    const std::string error = open_error(dir.path);
    CHECK(error.find(path + " is corrupt at byte offset " + std::to_string(ends[1]) +
                     ": entry 3 does not follow the last index 1") != std::string::npos);
}

TEST_CASE("a damaged record in a segment that is not the last is corruption", "[storage]") {
    TempDir dir;
    StorageOptions small;
    small.segment_bytes = 100;  // one entry a segment
    write_log(dir.path, 3, small);
    const std::string first = segment(dir.path, 1);
    REQUIRE(fs::exists(segment(dir.path, 2)));
    std::string bytes = read_bytes(first);
    const size_t end = records_end(first);
    REQUIRE(bytes.size() == small.segment_bytes);  // its record, then zeros
    REQUIRE(end < bytes.size());
    SECTION("a flipped byte in its last record") {
        bytes[end - 1] ^= 0x01;
        write_bytes(first, bytes);
        const std::string error = open_error(dir.path);
        CHECK(error.find(first + " is corrupt at byte offset 8") != std::string::npos);
        CHECK(error.find("later segments follow") != std::string::npos);
    }
    SECTION("a non-zero byte in its zero fill") {
        bytes[bytes.size() - 1] = 'x';
        write_bytes(first, bytes);
        const std::string error = open_error(dir.path);
        CHECK(error.find(first + " is corrupt at byte offset " + std::to_string(end) +
                         ": impossible record length 0") != std::string::npos);
        CHECK(error.find("later segments follow") != std::string::npos);
    }
}

TEST_CASE("a missing segment refuses to start, naming it", "[storage]") {
    TempDir dir;
    StorageOptions small;
    small.segment_bytes = 100;  // one entry a segment
    write_log(dir.path, 3, small);
    fs::remove(segment(dir.path, 2));
    CHECK(open_error(dir.path).find(segment(dir.path, 2) + " is missing") != std::string::npos);
}

TEST_CASE("a damaged hard state file gives a clear error, a leftover temp file is ignored",
          "[storage]") {
    TempDir dir;
    write_log(dir.path, 2);
    const std::string path = dir.path + "/hardstate";
    const std::string good = read_bytes(path);

    SECTION("truncated") {
        write_bytes(path, good.substr(0, 10));
        const std::string error = open_error(dir.path);
        CHECK(error.find("hard state file " + path + " is damaged (10 bytes") != std::string::npos);
    }
    SECTION("garbage") {
        write_bytes(path, std::string(good.size(), '?'));
        CHECK(open_error(dir.path).find("not a raftbook hard state file") != std::string::npos);
    }
    SECTION("flipped byte") {
        std::string damaged = good;
        damaged[12] ^= 0x04;
        write_bytes(path, damaged);
        CHECK(open_error(dir.path).find("checksum mismatch") != std::string::npos);
    }
    SECTION("missing while the WAL has entries of a later term") {
        fs::remove(path);
        CHECK(open_error(dir.path).find("inconsistent") != std::string::npos);
    }
    SECTION("a temp file left by a crash before the rename") {
        write_bytes(dir.path + "/hardstate.tmp", "half");
        {
            auto s = open_ok(dir.path);
            CHECK(s->restored().hard_state == HardState{1, 1, 0});
            s->save_hard_state({5, 2, 0});
        }
        CHECK(open_ok(dir.path)->restored().hard_state == HardState{5, 2, 0});
    }
}

TEST_CASE("a locked data dir refuses a second open with the holder's pid", "[storage]") {
    TempDir dir;
    auto first = open_ok(dir.path);
    const std::string error = open_error(dir.path);
    CHECK(error == "data dir " + dir.path + " is locked by pid " + std::to_string(::getpid()) +
                       "; stop that node or pass another --data");
    first.reset();
    CHECK(open_ok(dir.path));
}

TEST_CASE("appends that would break the log are refused whole", "[storage]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path);
        s->save_hard_state({1, 1, 0});
        s->append(entries_1_to(3, 1));
        CHECK_THROWS_AS(s->append({entry(4, 1), entry(6, 1)}), std::logic_error);  // a gap
        CHECK_THROWS_AS(s->append({entry(4, 2)}), std::logic_error);  // term 2 not saved yet
        s->sync();
    }
    auto s = open_ok(dir.path);
    CHECK(s->restored().entries == entries_1_to(3, 1));
    s->save_hard_state({2, 0, 2});
    s->append({entry(4, 2)});
    s->sync();
    CHECK_THROWS_AS(s->append({entry(2, 2)}), std::logic_error);  // overwrites committed 2
}

TEST_CASE("a new data dir records its node and cluster ids, and opens again with them",
          "[storage][identity]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path, as_node(2, "7f3a9c01d2e4b5a6"));
        CHECK(s->node_id() == 2);
        CHECK(s->cluster_id() == "7f3a9c01d2e4b5a6");
        CHECK(s->recovery_note().empty());
    }
    const std::string text = read_bytes(dir.path + "/identity");
    CHECK(text.rfind("raftbook data dir identity, format 1\nnode 2\ncluster 7f3a9c01d2e4b5a6\n"
                     "crc32 ",
                     0) == 0);
    CHECK(open_ok(dir.path, as_node(2, "7f3a9c01d2e4b5a6"))->recovery_note().empty());
    auto s = open_ok(dir.path, as_node(2));  // a node that does not know its cluster yet
    CHECK(s->cluster_id() == "7f3a9c01d2e4b5a6");
    s.reset();
    s = open_ok(dir.path);  // a tool: reads the identity, records nothing
    CHECK(s->node_id() == 2);
    s.reset();
    CHECK(read_bytes(dir.path + "/identity") == text);
}

TEST_CASE("a data dir of another node or another cluster is refused, naming both",
          "[storage][identity]") {
    TempDir dir;
    open_ok(dir.path, as_node(2, "7f3a9c01d2e4b5a6"))->save_hard_state({3, 2, 0});
    CHECK(open_error(dir.path, as_node(3, "7f3a9c01d2e4b5a6")) ==
          "data dir " + dir.path +
              " belongs to node 2 of cluster 7f3a9c01d2e4b5a6; this is node 3: "
              "pass --id 2, or another --data");
    CHECK(open_error(dir.path, as_node(3)).find("belongs to node 2 of cluster") !=
          std::string::npos);
    CHECK(open_error(dir.path, as_node(2, "0123456789abcdef")) ==
          "data dir " + dir.path +
              " belongs to node 2 of cluster 7f3a9c01d2e4b5a6; this node is "
              "of cluster 0123456789abcdef: pass --cluster-id 7f3a9c01d2e4b5a6, or another --data");
    CHECK(open_error(dir.path, as_node(2, "bad\nid")).find("control characters") !=
          std::string::npos);
    // Nothing was changed by the refusals.
    auto s = open_ok(dir.path, as_node(2, "7f3a9c01d2e4b5a6"));
    CHECK(s->restored().hard_state == HardState{3, 2, 0});
}

TEST_CASE("a node that does not know its cluster id records it durably once it learns it",
          "[storage][identity]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path, as_node(3));
        CHECK(s->node_id() == 3);
        CHECK(s->cluster_id().empty());
        CHECK_THROWS_AS(s->set_cluster_id(""), std::invalid_argument);
        CHECK_THROWS_AS(s->set_cluster_id(std::string(257, 'x')), std::invalid_argument);
        s->set_cluster_id("7f3a9c01d2e4b5a6");
        CHECK(s->cluster_id() == "7f3a9c01d2e4b5a6");
        s->set_cluster_id("7f3a9c01d2e4b5a6");  // the same again: nothing to do
        CHECK_THROWS_AS(s->set_cluster_id("0123456789abcdef"), std::logic_error);
        CHECK(s->cluster_id() == "7f3a9c01d2e4b5a6");
    }
    CHECK(open_ok(dir.path, as_node(3))->cluster_id() == "7f3a9c01d2e4b5a6");
    CHECK(open_error(dir.path, as_node(3, "0123456789abcdef"))
              .find("belongs to node 3 of cluster 7f3a9c01d2e4b5a6") != std::string::npos);
    SECTION("or is told it at a later start") {
        TempDir other;
        open_ok(other.path, as_node(3));
        CHECK(open_ok(other.path, as_node(3, "abc"))->cluster_id() == "abc");
        CHECK(open_ok(other.path, as_node(3))->cluster_id() == "abc");
        CHECK_FALSE(open_error(other.path, as_node(3, "abd")).empty());
    }
    SECTION("a dir opened by a tool records no identity") {
        TempDir other;
        auto s = open_ok(other.path);
        CHECK(s->node_id() == kNoNode);
        CHECK_THROWS_AS(s->set_cluster_id("abc"), std::logic_error);
        CHECK_FALSE(fs::exists(other.path + "/identity"));
    }
}

TEST_CASE("a damaged identity file gives a clear error naming it, never a fresh start",
          "[storage][identity]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path, as_node(2, "c1"));
        s->save_hard_state({1, 1, 0});
        s->append(entries_1_to(2, 1));
        s->sync();
    }
    const std::string path = dir.path + "/identity";
    const std::string good = read_bytes(path);
    const auto with_crc = [](std::string body) {
        char crc[16];
        std::snprintf(crc, sizeof crc, "%08x",
                      static_cast<unsigned>(crc32(body.data(), body.size())));
        return body + "crc32 " + crc + "\n";
    };
    REQUIRE(with_crc("raftbook data dir identity, format 1\nnode 2\ncluster c1\n") == good);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "its last line is cut short"},
        {good.substr(0, good.size() - 1), "its last line is cut short"},
        {good.substr(0, 30) + "\n", "no 'crc32 XXXXXXXX' last line"},
        {std::string(good).replace(good.find("node 2"), 6, "node 3"), "checksum mismatch"},
        {std::string(good.size(), '?') + "\n", "no 'crc32 XXXXXXXX' last line"},
        {std::string(5000, '\n'), "5000 bytes, more than an identity holds"},
        // Well-formed checksums over wrong contents.
        {with_crc("raftbook data dir identity, format 2\nnode 2\ncluster c1\n"),
         "not a raftbook identity file"},
        {with_crc("raftbook data dir identity, format 1\nnode 0\ncluster c1\n"),
         "no 'node N' line"},
        {with_crc("raftbook data dir identity, format 1\nnode 02\ncluster c1\n"),
         "no 'node N' line"},
        {with_crc("raftbook data dir identity, format 1\nnode 99999999999999999999\ncluster c1\n"),
         "no 'node N' line"},
        {with_crc("raftbook data dir identity, format 1\nnode 2\ncluster\tc1\n"),
         "no 'cluster' line"},
        {with_crc("raftbook data dir identity, format 1\nnode 2\ncluster c\x01\n"),
         "a cluster id may not hold control characters"},
        {with_crc("raftbook data dir identity, format 1\nnode 2\n"),
         "not a raftbook identity file"},
    };
    for (const auto& [bytes, reason] : cases) {
        CAPTURE(bytes);
        write_bytes(path, bytes);
        for (const StorageOptions& options : {as_node(2, "c1"), as_node(2), StorageOptions{}}) {
            const std::string error = open_error(dir.path, options);
            CHECK(error.find("identity file " + path + " is damaged (" + reason) !=
                  std::string::npos);
            CHECK(error.find("delete the file") != std::string::npos);
        }
        CHECK(read_bytes(path) == bytes);  // left as it was, not rewritten
    }
    fs::remove(path);  // what the error advises, when the operator knows the dir is this node's
    auto s = open_ok(dir.path, as_node(2, "c1"));
    CHECK(s->restored().entries == entries_1_to(2, 1));
    CHECK(read_bytes(path) == good);
}

TEST_CASE("a data dir from before identity files records the ids it is opened with and says so",
          "[storage][identity]") {
    TempDir dir;
    write_log(dir.path, 2);  // opened with no node id: no identity recorded
    REQUIRE_FALSE(fs::exists(dir.path + "/identity"));
    {
        auto s = open_ok(dir.path, as_node(4, "c9"));
        CHECK(s->restored().entries == entries_1_to(2, 1));
        CHECK(s->recovery_note() == "data dir " + dir.path +
                                        " had no identity file (it is from before raftbook "
                                        "recorded one): recorded it as node 4 of cluster c9");
    }
    CHECK(open_ok(dir.path, as_node(4, "c9"))->recovery_note().empty());
    CHECK_FALSE(open_error(dir.path, as_node(5, "c9")).empty());
    SECTION("a WAL alone, with no hard state, is an existing dir too") {
        TempDir wal_only;
        open_ok(wal_only.path);
        CHECK_FALSE(open_ok(wal_only.path, as_node(1))->recovery_note().empty());
    }
    SECTION("a new dir records quietly") {
        TempDir fresh;
        CHECK(open_ok(fresh.path, as_node(1))->recovery_note().empty());
    }
}

TEST_CASE("random_cluster_id gives 16 hex digits, different each time", "[storage][identity]") {
    const std::string a = random_cluster_id(), b = random_cluster_id();
    CHECK(a.size() == 16);
    CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(a != b);
    CHECK(cluster_id_problem(a).empty());
}

TEST_CASE("a missing newest segment refuses to start, naming it", "[storage]") {
    TempDir dir;
    StorageOptions small;
    small.segment_bytes = 100;  // one entry a segment
    write_log(dir.path, 3, small);
    REQUIRE(fs::exists(segment(dir.path, 3)));
    REQUIRE_FALSE(fs::exists(segment(dir.path, 4)));
    fs::remove(segment(dir.path, 3));
    CHECK(open_error(dir.path, small) ==
          "WAL segment " + segment(dir.path, 3) + " is missing (" + dir.path +
              "/wal/last_segment records it as the newest); refusing to start rather than lose "
              "log entries. Restore the data dir from a backup.");
    SECTION("all of them") {
        for (int seq = 1; seq <= 2; seq++) fs::remove(segment(dir.path, seq));
        CHECK(open_error(dir.path, small).find(segment(dir.path, 3) + " is missing") !=
              std::string::npos);
        fs::remove(dir.path + "/wal/last_segment");  // and the file that names the newest
        CHECK(open_error(dir.path, small).find(segment(dir.path, 1) + " is missing (the data dir "
                                               "has a hard state or identity file") !=
              std::string::npos);
        fs::remove_all(dir.path + "/wal");
        CHECK(open_error(dir.path, small).find(segment(dir.path, 1) + " is missing") !=
              std::string::npos);
        CHECK_FALSE(fs::exists(segment(dir.path, 1)));  // the refusals created nothing
    }
}

// A crash after a segment is created and before last_segment names it leaves one more
// segment than recorded, with no record in it yet.
TEST_CASE("a segment newer than the recorded one is taken, and recorded", "[storage]") {
    TempDir dir;
    StorageOptions small;
    small.segment_bytes = 100;
    write_log(dir.path, 2, small);
    const std::string recorded = read_bytes(dir.path + "/wal/last_segment");
    write_bytes(segment(dir.path, 3), "");
    {
        auto s = open_ok(dir.path, small);
        CHECK(s->restored().entries == entries_1_to(2, 1));
        CHECK(s->recovery_note().empty());
        CHECK(read_bytes(dir.path + "/wal/last_segment") != recorded);
    }
    fs::remove(segment(dir.path, 3));  // now it is recorded, so its loss is noticed
    CHECK(open_error(dir.path, small).find(segment(dir.path, 3) + " is missing") !=
          std::string::npos);
}

TEST_CASE("a WAL from before last_segment gets one, and a damaged one is refused", "[storage]") {
    TempDir dir;
    StorageOptions small;
    small.segment_bytes = 100;
    write_log(dir.path, 3, small);
    const std::string path = dir.path + "/wal/last_segment";
    const std::string good = read_bytes(path);
    REQUIRE(good.size() == 20);
    fs::remove(path);
    CHECK(open_ok(dir.path, small)->restored().entries == entries_1_to(3, 1));
    CHECK(read_bytes(path) == good);
    std::string damaged = good;
    damaged[8] ^= 0x01;
    write_bytes(path, damaged);
    CHECK(open_error(dir.path, small) ==
          "WAL file " + path + " is damaged (checksum mismatch); it names the newest segment, "
          "so that a lost one is noticed. If no segment file is missing, delete it and start "
          "the node again.");
    write_bytes(path, good.substr(0, 19));
    CHECK(open_error(dir.path, small).find("(wrong size)") != std::string::npos);
}

// Segments renamed to close the gap a lost one left: the names are contiguous, the
// indexes are not.
TEST_CASE("entry indexes must follow each other across segments", "[storage]") {
    TempDir dir;
    StorageOptions small;
    small.segment_bytes = 100;
    write_log(dir.path, 4, small);
    REQUIRE_FALSE(fs::exists(segment(dir.path, 5)));
    fs::remove(segment(dir.path, 2));
    fs::rename(segment(dir.path, 3), segment(dir.path, 2));
    fs::rename(segment(dir.path, 4), segment(dir.path, 3));
    fs::remove(dir.path + "/wal/last_segment");
    CHECK(open_error(dir.path, small).find(segment(dir.path, 2) +
                                           " is corrupt at byte offset 8: entry 3 does not "
                                           "follow the last index 1") != std::string::npos);
}

// A power loss cannot be simulated here: this shows the path that creates and fsyncs
// the new directories (each one's parent) works for a nested and a relative path.
TEST_CASE("a data dir is created with its missing parents", "[storage]") {
    TempDir dir;
    const std::string nested = dir.path + "/a/b/c/";
    open_ok(nested, as_node(1))->save_hard_state({1, 1, 0});
    CHECK(fs::is_directory(dir.path + "/a/b/c/wal"));
    CHECK(open_ok(nested, as_node(1))->restored().hard_state == HardState{1, 1, 0});
    {
        struct InDir {  // back to the old working directory even when a REQUIRE fails
            fs::path old = fs::current_path();
            explicit InDir(const std::string& dir) { fs::current_path(dir); }
            ~InDir() { fs::current_path(old); }
        } in_dir(dir.path);
        CHECK(open_ok("d/e", as_node(1))->node_id() == 1);
    }
    CHECK(fs::exists(dir.path + "/d/e/identity"));
    write_bytes(dir.path + "/file", "x");
    CHECK(open_error(dir.path + "/file/data").find("cannot create directory " + dir.path +
                                                   "/file/data: Not a directory") !=
          std::string::npos);
    CHECK(open_error(dir.path + "/file") ==
          "cannot use " + dir.path + "/file as a directory: it is not one");
}

// A failed write or fsync leaves the files in an unknown state; a retry could report
// success for pages the kernel dropped. The failure here is a real one, a write past
// the process's file size limit (EFBIG): an fdatasync error cannot be provoked without
// a faulty device, and the rule is the same for any failure inside sync().
TEST_CASE("after a failed sync the storage refuses every later write", "[storage]") {
    TempDir dir;
    auto s = open_ok(dir.path);
    s->save_hard_state({1, 1, 0});
    s->append({entry(1, 1)});
    rlimit old_limit;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    rlimit small = old_limit;
    small.rlim_cur = 4096;  // the first sync zero-fills a MiB past it
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::string first;
    try {
        s->sync();
    } catch (const StorageError& e) {
        first = e.what();
        CHECK(e.error_number() == EFBIG);
    }
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    std::signal(SIGXFSZ, old_handler);
    CHECK(first.find("cannot write " + segment(dir.path, 1)) == 0);
    // The disk would take the same write now; the storage still refuses it.
    const auto refused = [&](auto call) {
        try {
            call();
        } catch (const StorageError& e) {
            CHECK(std::string(e.what()) ==
                  "data dir " + dir.path + " failed earlier (" + first +
                      "); its files are in an unknown state: stop the node and restart it, which "
                      "recovers from what is durable");
            CHECK(e.error_number() == EFBIG);
            return true;
        }
        return false;
    };
    CHECK(refused([&] { s->sync(); }));
    CHECK(refused([&] { s->append({entry(2, 1)}); }));
    CHECK(refused([&] { s->record_commit(1); }));
    CHECK(refused([&] { s->save_hard_state({2, 0, 0}); }));
    s.reset();
    auto again = open_ok(dir.path);  // a restart recovers from what is durable
    CHECK(again->restored().hard_state == HardState{1, 1, 0});
    again->append({entry(1, 1)});
    again->sync();
    again.reset();
    CHECK(open_ok(dir.path)->restored().entries == entries_1_to(1, 1));
}

TEST_CASE("the disk writer reports the last durable job and records the commit index",
          "[storage]") {
    TempDir dir;
    auto storage = open_ok(dir.path);
    std::mutex mu;
    std::condition_variable done_cv;
    std::vector<DiskWriter::Done> dones;
    DiskWriter writer(
        storage.get(),
        [&](DiskWriter::Done d) {
            std::lock_guard<std::mutex> lock(mu);
            dones.push_back(d);
            done_cv.notify_all();
        },
        [](const std::exception& e) { FAIL(e.what()); });
    const auto job = [](uint64_t id, std::optional<HardState> hs, std::vector<Entry> entries,
                        Index commit) {
        DiskWriter::Job j;
        j.id = id;
        j.hard_state = hs;
        j.entries = std::move(entries);
        j.commit_index = commit;
        return j;
    };
    writer.push(job(1, HardState{1, 1, 0}, entries_1_to(3, 1), 0));
    writer.push(job(2, std::nullopt, {}, 2));  // only a commit index: written with a write
    writer.push(job(3, std::nullopt, {entry(4, 1)}, 3));
    {
        std::unique_lock<std::mutex> lock(mu);
        done_cv.wait(lock, [&] { return !dones.empty() && dones.back().last_id == 3; });
    }
    writer.push(job(4, std::nullopt, {}, 4));  // a moved commit index alone: synced on its own
    writer.stop();
    CHECK(dones.back().last_id == 4);
    CHECK(dones.back().synced);
    size_t entries = 0;
    for (size_t i = 0; i < dones.size(); i++) {
        if (i > 0) CHECK(dones[i].last_id > dones[i - 1].last_id);
        entries += dones[i].entries;
        if (dones[i].last_index != 0) CHECK(dones[i].synced);
    }
    CHECK(entries == 4);
    storage.reset();
    auto s = open_ok(dir.path);
    CHECK(s->restored().entries == entries_1_to(4, 1));
    CHECK(s->restored().hard_state == HardState{1, 1, 4});
}

// Not an assertion on speed: prints what group commit buys on this disk. Run with
// `native_tests "[bench]"`.
TEST_CASE("group commit: one fdatasync for a batch", "[.][bench]") {
    TempDir dir;
    auto s = open_ok(dir.path);
    s->save_hard_state({1, 1, 0});
    const std::string data(64, 'v');
    Index next = 1;
    const auto per_entry_us = [&](int batch, int rounds) {
        const auto start = std::chrono::steady_clock::now();
        for (int r = 0; r < rounds; r++) {
            std::vector<Entry> entries;
            for (int k = 0; k < batch; k++) entries.push_back(entry(next++, 1, data));
            s->append(entries);
            s->sync();
        }
        const std::chrono::duration<double, std::micro> took =
            std::chrono::steady_clock::now() - start;
        return took.count() / (batch * rounds);
    };
    const double single = per_entry_us(1, 200);
    const double grouped = per_entry_us(64, 200);
    std::printf("append+sync of a 64-byte entry: %.1f us alone, %.2f us each in batches of 64 "
                "(%.0fx)\n",
                single, grouped, single / grouped);
    s.reset();
    CHECK(open_ok(dir.path)->restored().entries.size() == next - 1);
}
