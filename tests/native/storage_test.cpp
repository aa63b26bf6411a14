// Durable storage: what a node writes to its data dir it finds again after a restart,
// a crash in the middle of a write costs only that unfinished write, and damage to
// data that was once durable stops the node with an error naming the file and offset
// instead of silently dropping entries. Each test works in its own dir under /tmp.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "native/storage/crc32.h"
#include "native/storage/storage.h"

namespace fs = std::filesystem;
using namespace raftbook;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/raftbook-storage-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() { fs::remove_all(path); }
};

Entry entry(Index index, Term term, std::string data = "") {
    Entry e;
    e.index = index;
    e.term = term;
    e.data = data.empty() ? "set k" + std::to_string(index) + " v" : data;
    e.client_id = 7;
    e.seq = index;
    return e;
}

std::unique_ptr<Storage> open_ok(const std::string& dir, const StorageOptions& options = {}) {
    std::string error;
    auto s = Storage::open(dir, &error, options);
    INFO(error);
    REQUIRE(s);
    return s;
}

std::string open_error(const std::string& dir) {
    std::string error;
    auto s = Storage::open(dir, &error);
    REQUIRE_FALSE(s);
    return error;
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

TEST_CASE("the commit index is written with the next batch of entries", "[storage]") {
    TempDir dir;
    write_log(dir.path, 3);
    {
        auto s = open_ok(dir.path);
        s->save_hard_state({1, 1, 3});  // no new term or vote, no entries: nothing to write
        s->sync();
    }
    {
        auto s = open_ok(dir.path);
        CHECK(s->restored().hard_state == HardState{1, 1, 0});
        s->save_hard_state({1, 1, 3});
        s->append({entry(4, 1)});
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
