// Snapshots on disk (Raft §7): a node restarts from its newest snapshot and the WAL
// entries after it; a snapshot from the leader that replaces the log drops the old
// entries for good; compaction deletes exactly the WAL segments a durable snapshot
// covers; and a crash or damage never gives a wrong state — the previous state, or an
// error naming the file. Each test works in its own dir under /tmp.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

#include "core/runtime/node_runtime.h"
#include "native/storage/crc32.h"
#include "native/storage/disk_writer.h"
#include "native/storage/snapshot_file.h"
#include "native/storage/storage.h"
#include "native/storage/storage_io.h"
#include "tests/native/storage_support.h"

namespace fs = std::filesystem;
using namespace raftbook;
using namespace raftbook::test;

namespace {

std::vector<Entry> entries(Index from, Index to, Term term) {
    std::vector<Entry> out;
    for (Index i = from; i <= to; i++) out.push_back(entry(i, term));
    return out;
}

Snapshot snapshot(Index index, Term term, const std::string& data = "") {
    Snapshot s;
    s.meta = {index, term, {}};
    s.data = std::make_shared<const std::string>(data.empty() ? "state at " + std::to_string(index) : data);
    return s;
}

StorageOptions small_segments() {
    StorageOptions o;
    o.segment_bytes = 100;  // one entry a segment
    return o;
}

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

std::string snap_path(const std::string& dir, Index index, Term term) {
    return dir + "/" + snapshot_file_name({index, term, {}});
}

// Entries 1..n of term `term`, one sync each (with small_segments, one segment each).
void write_log(Storage* s, Index n, Term term) {
    s->save_hard_state({term, 1, 0});
    for (Index i = 1; i <= n; i++) {
        s->append({entry(i, term)});
        s->sync();
    }
}

// The WAL segments in dir, by sequence number, each with the highest entry index it
// holds (found by the entries' data in its bytes).
std::map<int, Index> segments(const std::string& dir) {
    std::map<int, Index> out;
    for (const auto& f : fs::directory_iterator(dir + "/wal")) {
        const std::string name = f.path().filename().string();
        if (name.size() != 12 || name.substr(8) != ".seg") continue;
        const std::string bytes = read_bytes(f.path().string());
        Index max = 0;
        for (Index i = 1; i <= 1000; i++)
            if (bytes.find("set k" + std::to_string(i) + " v") != std::string::npos) max = i;
        out[std::stoi(name.substr(0, 8))] = max;
    }
    return out;
}

std::vector<std::string> snapshot_names(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& f : fs::directory_iterator(dir))
        if (f.path().filename().string().rfind("snap-", 0) == 0) out.push_back(f.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("a snapshot and the WAL entries after it survive reopen", "[storage][snapshot]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path);
        write_log(s.get(), 10, 1);
        s->record_commit(8);
        s->save_snapshot(snapshot(6, 1, "the state machine at 6"), false);
        s->append(entries(11, 12, 1));
        s->sync();
        CHECK(s->snapshot_meta() == SnapshotMeta{6, 1, {}});
    }
    CHECK(snapshot_names(dir.path) == std::vector<std::string>{"snap-0000000000000001-0000000000000006"});
    auto s = open_ok(dir.path);
    const Restored& r = s->restored();
    REQUIRE(r.snapshot);
    CHECK(r.snapshot->meta == SnapshotMeta{6, 1, {}});
    CHECK(*r.snapshot->data == "the state machine at 6");
    // The entries the snapshot covers are dropped; the log continues right after it.
    CHECK(r.first_index == 7);
    CHECK(r.prev_term == 1);
    CHECK(r.entries == entries(7, 12, 1));
    CHECK(r.hard_state.commit_index == 8);
    CHECK(s->snapshot_meta() == SnapshotMeta{6, 1, {}});
    CHECK(s->recovery_note().empty());
}

TEST_CASE("a snapshot's index is committed: the restored commit index is at least it", "[storage][snapshot]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path);
        write_log(s.get(), 5, 1);
        s->save_snapshot(snapshot(5, 1), false);  // no commit recorded in the WAL
    }
    auto s = open_ok(dir.path);
    CHECK(s->restored().hard_state.commit_index == 5);
    CHECK(s->restored().entries.empty());
    CHECK(s->restored().first_index == 6);
}

TEST_CASE("a snapshot that resets the log drops every stored entry, across reopen", "[storage][snapshot]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path);
        write_log(s.get(), 5, 1);  // entries 1..5 of term 1, uncommitted
        s->save_hard_state({3, 2, 0});
        s->save_snapshot(snapshot(20, 2), true);  // from the leader: the log did not hold entry 20
        // The next entry is 21; the old ones are gone.
        CHECK_THROWS_AS(s->append({entry(6, 3)}), std::logic_error);
        s->append({entry(21, 3)});
        s->sync();
    }
    for (int reopen = 0; reopen < 2; reopen++) {
        auto s = open_ok(dir.path);
        const Restored& r = s->restored();
        REQUIRE(r.snapshot);
        CHECK(r.snapshot->meta == SnapshotMeta{20, 2, {}});
        CHECK(r.first_index == 21);
        CHECK(r.prev_term == 2);
        CHECK(r.entries == std::vector<Entry>{entry(21, 3)});
        CHECK(r.hard_state.commit_index == 20);
        CHECK(s->recovery_note().empty());
    }
}

TEST_CASE("a snapshot that resets the log is durable on return, without another sync", "[storage][snapshot]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path);
        write_log(s.get(), 5, 1);
        s->save_hard_state({3, 2, 0});
        s->save_snapshot(snapshot(20, 2), true);
        s->append({entry(21, 3)});  // never synced: lost, as in a crash
    }
    auto s = open_ok(dir.path);
    CHECK(s->restored().first_index == 21);
    CHECK(s->restored().entries.empty());
    CHECK(s->recovery_note().empty());
}

TEST_CASE("compaction deletes exactly the WAL segments a durable snapshot covers", "[storage][snapshot]") {
    TempDir dir;
    const StorageOptions small = small_segments();
    auto s = open_ok(dir.path, small);
    write_log(s.get(), 30, 1);
    s->record_commit(30);
    s->sync();
    const std::map<int, Index> before = segments(dir.path);
    REQUIRE(before.size() >= 20);
    const int current = before.rbegin()->first;

    // Nothing without a snapshot: compaction never deletes what no snapshot covers.
    CHECK(s->compact(15) == 0);
    CHECK(segments(dir.path) == before);

    s->save_snapshot(snapshot(20, 1), false);
    const size_t deleted = s->compact(15);
    std::map<int, Index> want;
    for (const auto& [seq, max] : before)
        if (max > 15) want[seq] = max;
    CHECK(deleted == before.size() - want.size());
    CHECK(segments(dir.path) == want);
    CHECK(deleted > 0);

    // compact_to beyond the snapshot is clamped to it; the current segment always stays.
    CHECK(s->compact(1000) > 0);
    for (const auto& [seq, max] : segments(dir.path)) CHECK((max > 20 || seq == current));
    CHECK(segments(dir.path).count(current) == 1);
    s.reset();

    // The WAL with its prefix gone opens, and the log goes on.
    s = open_ok(dir.path, small);
    CHECK(s->restored().first_index == 21);
    CHECK(s->restored().entries == entries(21, 30, 1));
    CHECK(s->recovery_note().empty());
    s->append(entries(31, 40, 1));
    s->record_commit(40);
    s->sync();
    s->save_snapshot(snapshot(38, 1), false);
    CHECK(s->compact(38) > 0);
    for (const auto& [seq, max] : segments(dir.path)) CHECK(max > 38);
    s.reset();
    s = open_ok(dir.path, small);
    CHECK(s->restored().snapshot->meta == SnapshotMeta{38, 1, {}});
    CHECK(s->restored().entries == entries(39, 40, 1));
}

TEST_CASE("segments before a reset record are deleted by the next compaction", "[storage][snapshot]") {
    TempDir dir;
    const StorageOptions small = small_segments();
    auto s = open_ok(dir.path, small);
    write_log(s.get(), 10, 1);  // uncommitted entries 1..10, one segment each
    s->save_hard_state({2, 2, 0});
    s->save_snapshot(snapshot(5, 2), true);  // the leader's: entries 1..10 are not part of its log
    s->append(entries(6, 8, 2));
    s->sync();
    s->compact(5);
    // Every segment written before the reset held only entries the reset dropped.
    for (const auto& [seq, max] : segments(dir.path)) CHECK(max >= 6);
    s.reset();
    s = open_ok(dir.path, small);
    CHECK(s->restored().entries == entries(6, 8, 2));
}

TEST_CASE("older snapshots are deleted once a newer one is durable, and the one before it is kept",
          "[storage][snapshot]") {
    TempDir dir;
    auto s = open_ok(dir.path);
    write_log(s.get(), 10, 1);
    s->save_snapshot(snapshot(3, 1), false);
    s->save_snapshot(snapshot(6, 1), false);
    CHECK(snapshot_names(dir.path).size() == 2);
    s->save_snapshot(snapshot(9, 1), false);
    CHECK(snapshot_names(dir.path) == std::vector<std::string>{"snap-0000000000000001-0000000000000006",
                                                               "snap-0000000000000001-0000000000000009"});
    // A snapshot older than the newest is a caller's mistake, refused; nothing changes.
    CHECK_THROWS_AS(s->save_snapshot(snapshot(8, 1), false), std::logic_error);
    CHECK_THROWS_AS(s->save_snapshot(snapshot(10, 2), false), std::logic_error);  // term 2 never saved
    CHECK(s->snapshot_meta() == SnapshotMeta{9, 1, {}});
    s->append({entry(11, 1)});
    s->sync();
}

TEST_CASE("a crash in the middle of writing a snapshot leaves the previous state", "[storage][snapshot]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path);
        write_log(s.get(), 10, 1);
        s->save_snapshot(snapshot(4, 1), false);
    }
    // What a crash before the rename leaves: the next snapshot's temp file, whole or cut short.
    const std::string temp = snap_path(dir.path, 8, 1) + ".tmp";
    write_bytes(temp, "RBSNP");
    {
        auto s = open_ok(dir.path);
        CHECK(s->restored().snapshot->meta == SnapshotMeta{4, 1, {}});
        CHECK(s->restored().entries == entries(5, 10, 1));
        CHECK(s->recovery_note().empty());
        s->save_snapshot(snapshot(8, 1), false);  // the next one cleans the leftover up
        CHECK_FALSE(fs::exists(temp));
    }
    CHECK(open_ok(dir.path)->restored().snapshot->meta == SnapshotMeta{8, 1, {}});
}

// A snapshot from the leader is written, then the WAL's reset record: a crash in between
// leaves the snapshot and the old log, whose entries after it are not the leader's.
TEST_CASE("a crash between a leader's snapshot and its reset record drops the replaced log's entries",
          "[storage][snapshot]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path);
        write_log(s.get(), 12, 1);  // uncommitted entries of term 1
        s->save_hard_state({2, 2, 0});
        s->save_snapshot(snapshot(10, 2), false);  // the file alone, as the crash leaves it
    }
    {
        auto s = open_ok(dir.path);
        const Restored& r = s->restored();
        CHECK(r.snapshot->meta == SnapshotMeta{10, 2, {}});
        CHECK(r.first_index == 11);
        CHECK(r.entries.empty());  // 11 and 12 of term 1 continued another entry 10
        CHECK(s->recovery_note().find("dropped entries 11 to 12 from the WAL") != std::string::npos);
        s->append({entry(11, 2)});  // the log goes on after the snapshot
        s->sync();
    }
    auto s = open_ok(dir.path);
    CHECK(s->restored().entries == std::vector<Entry>{entry(11, 2)});
    CHECK(s->recovery_note().empty());
}

TEST_CASE("a damaged newest snapshot gives an error naming the file once the WAL no longer holds it",
          "[storage][snapshot]") {
    TempDir dir;
    const StorageOptions small = small_segments();
    {
        auto s = open_ok(dir.path, small);
        write_log(s.get(), 20, 1);
        s->record_commit(20);
        s->sync();
        s->save_snapshot(snapshot(8, 1), false);
        s->save_snapshot(snapshot(16, 1), false);
        REQUIRE(s->compact(16) > 0);  // entries up to 16 are now only in the snapshot
    }
    const std::string newest = snap_path(dir.path, 16, 1);
    const std::string good = read_bytes(newest);
    std::string damaged = good;
    std::string what;
    SECTION("a flipped byte in its data") {
        damaged[40] ^= 0x01;
        what = "checksum mismatch";
    }
    SECTION("cut short") {
        damaged.resize(good.size() - 3);
        what = "its 11 bytes of data (as its header says) and its configuration do not fill the file (cut short or "
               "grown)";
    }
    SECTION("cut to nothing") {
        damaged.clear();
        what = "cut short: 0 bytes, not even a header";
    }
    SECTION("another file's contents") {
        damaged = read_bytes(snap_path(dir.path, 8, 1));
        what = "it holds entry 8 of term 1, not what its name says";
    }
    write_bytes(newest, damaged);
    CHECK(open_error(dir.path, small) ==
          "snapshot file " + newest + " is damaged (" + what +
              "), and the WAL no longer holds the entries it covers (after the snapshot " +
              snap_path(dir.path, 8, 1) +
              "); refusing to start rather than lose them or start from an older state. Restore the data dir "
              "from a backup.");
    CHECK(read_bytes(newest) == damaged);  // left as it was
    write_bytes(newest, good);
    CHECK(open_ok(dir.path, small)->restored().snapshot->meta == SnapshotMeta{16, 1, {}});
}

TEST_CASE("a damaged newest snapshot is passed over only when the WAL holds everything it covered",
          "[storage][snapshot]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path);
        write_log(s.get(), 20, 1);
        s->record_commit(20);
        s->sync();
        s->save_snapshot(snapshot(8, 1), false);
        s->save_snapshot(snapshot(16, 1), false);  // not compacted: the WAL holds 1..20
    }
    const std::string newest = snap_path(dir.path, 16, 1);
    std::string bytes = read_bytes(newest);
    bytes[40] ^= 0x01;
    write_bytes(newest, bytes);
    {
        auto s = open_ok(dir.path);
        const Restored& r = s->restored();
        // The older snapshot and the WAL after it: the same state the damaged file held.
        CHECK(r.snapshot->meta == SnapshotMeta{8, 1, {}});
        CHECK(r.entries == entries(9, 20, 1));
        CHECK(r.hard_state.commit_index == 20);
        CHECK(s->recovery_note().find("snapshot file " + newest + " is damaged (checksum mismatch); renamed it to " +
                                      newest + ".damaged") != std::string::npos);
    }
    CHECK(fs::exists(newest + ".damaged"));
    CHECK(open_ok(dir.path)->recovery_note().empty());
}

TEST_CASE("entries missing between the snapshot and the WAL refuse to start, naming the files",
          "[storage][snapshot]") {
    TempDir dir;
    const StorageOptions small = small_segments();
    {
        auto s = open_ok(dir.path, small);
        write_log(s.get(), 20, 1);
        s->record_commit(20);
        s->sync();
        s->save_snapshot(snapshot(8, 1), false);
        s->save_snapshot(snapshot(16, 1), false);
        REQUIRE(s->compact(16) > 0);
    }
    const int oldest = segments(dir.path).begin()->first;
    char oldest_path[64];
    std::snprintf(oldest_path, sizeof oldest_path, "/wal/%08d.seg", oldest);
    SECTION("the newest snapshot lost") {
        fs::remove(snap_path(dir.path, 16, 1));
        const std::string error = open_error(dir.path, small);
        CHECK(error.find("data dir " + dir.path + " is missing part of its log: the snapshot " +
                         snap_path(dir.path, 8, 1) + " ends at entry 8 but the WAL (oldest segment " + dir.path +
                         oldest_path + ") starts at entry ") == 0);
        CHECK(error.find(" are lost. Restore the data dir from a backup.") != std::string::npos);
    }
    SECTION("every snapshot lost") {
        fs::remove(snap_path(dir.path, 16, 1));
        fs::remove(snap_path(dir.path, 8, 1));
        CHECK(open_error(dir.path, small).find("but the WAL (oldest segment " + dir.path + oldest_path +
                                               ") starts at entry ") != std::string::npos);
    }
}

TEST_CASE("a WAL whose first segments are gone with no snapshot refuses to start", "[storage][snapshot]") {
    TempDir dir;
    const StorageOptions small = small_segments();
    {
        auto s = open_ok(dir.path, small);
        write_log(s.get(), 5, 1);
    }
    fs::remove(dir.path + "/wal/00000001.seg");
    fs::remove(dir.path + "/wal/00000002.seg");
    CHECK(open_error(dir.path, small).find("is missing part of its log: there is no snapshot but the WAL "
                                           "(oldest segment " +
                                           dir.path + "/wal/00000003.seg) starts at entry 3, so entries 1 to 2 "
                                           "are lost") != std::string::npos);
}

TEST_CASE("the disk writer writes a job's snapshot before its entries and compacts after the sync",
          "[storage][snapshot]") {
    TempDir dir;
    const StorageOptions small = small_segments();
    auto storage = open_ok(dir.path, small);
    write_log(storage.get(), 10, 1);
    std::mutex mu;
    std::condition_variable cv;
    std::vector<DiskWriter::Done> dones;
    {
        DiskWriter writer(
            storage.get(),
            [&](DiskWriter::Done d) {
                std::lock_guard<std::mutex> lock(mu);
                dones.push_back(d);
                cv.notify_all();
            },
            [](const std::exception& e) { FAIL(e.what()); });
        DiskWriter::Job job;
        job.id = 1;
        job.hard_state = HardState{2, 2, 10};
        job.snapshot = snapshot(30, 2, "from the leader");
        job.snapshot_resets_log = true;
        job.entries = entries(31, 32, 2);
        job.commit_index = 31;
        job.compact_to = 30;
        writer.push(std::move(job));
        writer.stop();
    }
    REQUIRE(dones.size() == 1);
    CHECK(dones[0].last_id == 1);
    CHECK(dones[0].synced);
    CHECK(dones[0].snapshots == 1);
    CHECK(dones[0].snapshot_bytes == std::string("from the leader").size());
    CHECK(dones[0].snapshot == SnapshotMeta{30, 2, {}});
    CHECK(dones[0].segments_deleted >= 9);  // every segment of the replaced log but the current one
    storage.reset();
    auto s = open_ok(dir.path, small);
    CHECK(s->restored().snapshot->meta == SnapshotMeta{30, 2, {}});
    CHECK(*s->restored().snapshot->data == "from the leader");
    CHECK(s->restored().entries == entries(31, 32, 2));
    CHECK(s->restored().hard_state == HardState{2, 2, 31});
}

TEST_CASE("the disk writer encodes a node's own snapshot on its thread, from the state frozen when it was taken, "
          "while the node goes on writing", "[storage][snapshot]") {
    TempDir dir;
    auto storage = open_ok(dir.path);
    KvStore kv;
    Index index = 0;
    const auto put_all = [&](const std::string& value) {  // 200,000 keys
        for (int k = 0; k < 200000; k++)
            kv.apply(Entry{++index, 1, EntryType::Command, "set k" + std::to_string(k) + " " + value, 0, 0});
    };
    put_all("before");
    const std::string at_take = kv.encode();
    // Taking the snapshot, as the node's event loop does (NodeRuntime::take_snapshot, NodeHost::write).
    SnapshotMeta meta;
    meta.index = index;
    meta.term = 1;
    auto own = std::make_shared<OwnSnapshot>(meta, kv.freeze());
    std::mutex mu;
    std::condition_variable cv;
    bool loop_wrote = false;
    std::thread::id encoded_on;
    std::vector<DiskWriter::Done> dones;
    {
        DiskWriter writer(
            storage.get(),
            [&](DiskWriter::Done d) {
                std::lock_guard<std::mutex> lock(mu);
                dones.push_back(d);
            },
            [](const std::exception& e) { FAIL(e.what()); });
        DiskWriter::Job job;
        job.id = 1;
        job.hard_state = HardState{1, 1, 0};
        job.encode_snapshot = [&, own] {
            std::unique_lock<std::mutex> lock(mu);  // encodes only once the loop has gone on writing
            cv.wait(lock, [&] { return loop_wrote; });
            encoded_on = std::this_thread::get_id();
            return own->encode();
        };
        job.commit_index = index;
        writer.push(std::move(job));
        put_all("after");  // the loop goes on: every key changes while the snapshot waits to be encoded
        {
            std::lock_guard<std::mutex> lock(mu);
            loop_wrote = true;
        }
        cv.notify_all();
        writer.stop();
    }
    CHECK(encoded_on != std::this_thread::get_id());
    REQUIRE(dones.size() == 1);
    CHECK(dones[0].snapshots == 1);
    CHECK(dones[0].snapshots_encoded == 1);
    CHECK(*kv.get("k0") == "after");
    CHECK(*own->snapshot().data == at_take);
    storage.reset();
    auto s = open_ok(dir.path);
    REQUIRE(s->restored().snapshot);
    CHECK(s->restored().snapshot->meta.index == 200000);
    CHECK(*s->restored().snapshot->data == at_take);
}

TEST_CASE("a WAL reset record that would drop committed entries is corruption, named", "[storage][snapshot]") {
    TempDir dir;
    {
        auto s = open_ok(dir.path);
        write_log(s.get(), 5, 1);
        s->record_commit(5);
        s->sync();
    }
    // A reset record to entry 3, written over the zero fill after the last record.
    std::string payload(1, '\3');
    put_le(&payload, 3, 8);
    put_le(&payload, 1, 8);
    std::string record;
    put_le(&record, payload.size(), 4);
    put_le(&record, crc32(payload.data(), payload.size(), crc32(record.data(), 4)), 4);
    record += payload;
    const std::string path = dir.path + "/wal/00000001.seg";
    std::string bytes = read_bytes(path);
    size_t end = 8;  // after the segment header, record by record to the zero fill
    while (get_le(bytes.data() + end, 4) != 0) end += 8 + get_le(bytes.data() + end, 4);
    bytes.replace(end, record.size(), record);
    write_bytes(path, bytes);
    CHECK(open_error(dir.path) == "WAL segment " + path + " is corrupt at byte offset " + std::to_string(end) +
                                      ": reset to entry 3 drops committed entries (commit index 5); refusing to "
                                      "start rather than lose log entries. Restore the data dir from a backup.");
}

TEST_CASE("A snapshot file keeps the configuration at its index, and a version 1 file (none) is still read",
          "[storage][snapshot][membership]") {
    TempDir dir;
    Snapshot s = snapshot(12, 3, "the state");
    s.meta.membership = Membership::of_voters({1, 2, 3});
    s.meta.membership.members[1].peer = "127.0.0.1:7002";
    s.meta.membership.members[1].http = "127.0.0.1:8002";
    s.meta.membership.members[2].voter = false;
    s.meta.membership.removed = {4};
    write_snapshot_file(dir.path, s);
    const std::vector<SnapshotFile> files = list_snapshot_files(dir.path);
    REQUIRE(files.size() == 1);
    Snapshot back;
    REQUIRE(read_snapshot_file(files[0], &back) == "");
    CHECK(back.meta == s.meta);
    CHECK(*back.data == "the state");

    // The configuration is under the checksum: a flipped byte in it is damage.
    std::string bytes = read_bytes(files[0].path);
    const size_t at = bytes.find("127.0.0.1:8002");
    REQUIRE(at != std::string::npos);
    bytes[at] = '9';
    write_bytes(files[0].path, bytes);
    CHECK(read_snapshot_file(files[0], &back) == "checksum mismatch");

    // Version 1: header, data, crc; no configuration part.
    std::string v1("RBSNP\0\0\1", 8);
    put_le(&v1, 12, 8);
    put_le(&v1, 3, 8);
    put_le(&v1, 9, 8);
    v1 += "old state";
    put_le(&v1, crc32(v1.data(), v1.size()), 4);
    write_bytes(files[0].path, v1);
    Snapshot old;
    REQUIRE(read_snapshot_file(files[0], &old) == "");
    CHECK(old.meta == SnapshotMeta{12, 3, {}});
    CHECK(*old.data == "old state");
}
