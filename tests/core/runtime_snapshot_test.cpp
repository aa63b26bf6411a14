// The node runtime's snapshots (core/runtime, Raft §7) under a host whose disk and
// network are the test's hands: when a snapshot is taken and what is written, what
// Raft learns once it is durable, restarting from one, installing one from a leader.
#include <catch2/catch.hpp>

#include <deque>
#include <vector>

#include "core/runtime/node_runtime.h"

using namespace raftbook;

namespace {

struct Host : RuntimeHost {
    std::deque<DiskWrite> disk;  // issued, not yet durable
    std::vector<Frame> sent;
    std::vector<std::pair<SnapshotMeta, bool>> snapshots;  // on_snapshot calls (meta, installed)
    bool hold_snapshots = false;  // persist_all stops before a snapshot write
    bool encodes = false;         // encodes_snapshots()
    bool send(NodeId, Frame frame) override {
        sent.push_back(std::move(frame));
        return true;
    }
    void write(DiskWrite w) override { disk.push_back(std::move(w)); }
    TimeMs now() const override { return 0; }
    bool encodes_snapshots() const override { return encodes; }
    void on_snapshot(const SnapshotMeta& meta, const KvStore&, bool installed) override {
        snapshots.push_back({meta, installed});
    }
};

RuntimeConfig single(uint64_t snapshot_entries, uint64_t catchup_entries) {
    RuntimeConfig rc;
    rc.raft.id = 1;
    rc.raft.peers = {1};
    rc.snapshot_entries = snapshot_entries;
    rc.catchup_entries = catchup_entries;
    return rc;
}

void drain(NodeRuntime& rt) {
    while (rt.has_ready()) rt.process_ready();
}

void persist_all(NodeRuntime& rt, Host& h) {
    while (!h.disk.empty()) {
        size_t n = h.disk.size();
        if (h.hold_snapshots) {
            for (n = 0; n < h.disk.size() && !h.disk[n].snapshot;) n++;
            if (n == 0) return;
        }
        const uint64_t id = h.disk[n - 1].id;
        h.disk.erase(h.disk.begin(), h.disk.begin() + n);
        rt.persisted(id);
        drain(rt);
    }
}

// A one-node cluster (it leads at once) that applied `writes` puts, all durable.
void write_keys(NodeRuntime& rt, Host& h, int writes, int from = 0) {
    for (int i = from; i < from + writes; i++) {
        ClientRequest r;
        r.op = "put";
        r.key = "k" + std::to_string(i);
        r.value = "v" + std::to_string(i);
        rt.submit(r, [](const ClientReply&) {});
        drain(rt);
        persist_all(rt, h);
    }
}

const DiskWrite* snapshot_write(const Host& h) {
    for (const DiskWrite& w : h.disk)
        if (w.snapshot) return &w;
    return nullptr;
}

}  // namespace

TEST_CASE("runtime: past snapshot_entries it writes a snapshot, and once durable Raft compacts to catchup_entries before it") {
    Host h;
    h.hold_snapshots = true;
    NodeRuntime rt(single(10, 3), Restored{}, &h);
    rt.campaign();
    drain(rt);
    persist_all(rt, h);
    REQUIRE(rt.raft().role() == Role::Leader);
    // Index 1 is the no-op; after 10 puts the state has applied 11 > 0 + 10.
    for (int i = 0; i < 10; i++) {
        write_keys(rt, h, 1, i);
        if (snapshot_write(h)) break;
    }
    const DiskWrite* w = snapshot_write(h);
    REQUIRE(w);
    const Index index = w->snapshot->meta.index;
    CHECK(index == 11);
    CHECK(w->compact_to == index - 3);
    CHECK_FALSE(w->snapshot_resets_log);
    KvStore decoded;
    std::string error;
    REQUIRE(KvStore::decode(*w->snapshot->data, &decoded, &error));
    CHECK(decoded.fingerprint() == rt.kv().fingerprint());
    REQUIRE(h.snapshots.size() == 1);
    CHECK_FALSE(h.snapshots[0].second);
    // Not durable yet: Raft neither holds it nor compacted, and no second one starts.
    CHECK_FALSE(rt.raft().snapshot());
    CHECK(rt.raft().log().first_index() == 1);
    CHECK_FALSE(rt.take_snapshot());
    const uint64_t id = w->id;
    rt.persisted(id);
    REQUIRE(rt.raft().snapshot());
    CHECK(rt.raft().snapshot()->meta.index == index);
    CHECK(rt.raft().log().prev_index() == index - 3);
    CHECK(rt.stats().snapshots_taken == 1);
    CHECK(rt.status()["snapshot_index"] == index);
}

TEST_CASE("runtime: a host that encodes snapshots is handed the frozen state, unencoded, and Raft holds the bytes "
          "once durable") {
    Host h;
    h.encodes = true;
    NodeRuntime rt(single(0, 0), Restored{}, &h);
    rt.campaign();
    drain(rt);
    persist_all(rt, h);
    write_keys(rt, h, 8);
    const std::string state = rt.kv().encode();
    REQUIRE(rt.take_snapshot());
    REQUIRE(h.disk.size() == 1);
    const DiskWrite& w = h.disk.front();
    CHECK_FALSE(w.snapshot);
    REQUIRE(w.snapshot_to_encode);
    CHECK_FALSE(w.snapshot_to_encode->snapshot().data);  // the runtime left the encoding to the host
    CHECK(w.snapshot_to_encode->snapshot().meta.index == rt.kv().applied_index());
    CHECK(*w.snapshot_to_encode->encode().data == state);
    persist_all(rt, h);
    REQUIRE(rt.raft().snapshot());
    CHECK(*rt.raft().snapshot()->data == state);
    CHECK(rt.stats().snapshot_bytes_taken == state.size());
}

TEST_CASE("runtime: a restart from a snapshot and the entries after it rebuilds the same state") {
    Host h;
    NodeRuntime rt(single(0, 0), Restored{}, &h);
    rt.campaign();
    drain(rt);
    persist_all(rt, h);
    write_keys(rt, h, 8);
    REQUIRE(rt.take_snapshot());
    const Snapshot snap = *snapshot_write(h)->snapshot;
    persist_all(rt, h);
    write_keys(rt, h, 3, 100);

    Restored r;
    r.snapshot = snap;
    r.first_index = snap.meta.index + 1;
    r.prev_term = snap.meta.term;
    r.entries = rt.raft().log().slice(snap.meta.index + 1, rt.raft().log().last_index());
    r.hard_state = rt.raft().hard_state();
    Host h2;
    NodeRuntime again(single(0, 0), r, &h2);
    REQUIRE(h2.snapshots.size() == 1);
    CHECK(h2.snapshots[0].second);  // restored: the state machine starts from it
    CHECK(again.kv().applied_index() == snap.meta.index);
    again.campaign();
    drain(again);
    persist_all(again, h2);
    CHECK(again.kv().applied_index() == rt.kv().applied_index() + 1);  // + its own no-op
    CHECK(again.kv().sorted() == rt.kv().sorted());
}

TEST_CASE("runtime: a restored snapshot that does not hold its state is an error naming its index") {
    Restored r;
    r.snapshot = Snapshot{{7, 1}, std::make_shared<const std::string>("not a snapshot")};
    r.first_index = 8;
    r.prev_term = 1;
    Host h;
    CHECK_THROWS_WITH(NodeRuntime(single(0, 0), r, &h),
                      Catch::StartsWith("the restored snapshot at index 7 does not hold the state at that index"));
}

namespace {

// A follower (node 2 of 3) and the last chunk of a snapshot from leader 1 in term 1.
Frame chunk_from_leader(const std::string& data, Index index) {
    Frame f;
    f.type = MessageType::Snapshot;
    Message& m = f.peer;
    m.type = MessageType::Snapshot;
    m.from = 1;
    m.to = 2;
    m.term = 1;
    m.index = index;
    m.log_term = 1;
    m.chunk_mut().total = data.size();
    m.chunk_mut().data = data;
    m.chunk_mut().done = true;
    return f;
}

RuntimeConfig follower() {
    RuntimeConfig rc;
    rc.raft.id = 2;
    rc.raft.peers = {1, 2, 3};
    return rc;
}

}  // namespace

TEST_CASE("runtime: an installed snapshot replaces the state, is written with its reset flag, acked once durable") {
    KvStore leader_kv;
    for (Index i = 1; i <= 5; i++) leader_kv.apply(Entry{i, 1, EntryType::Command, "set k" + std::to_string(i) + " v", 9, i});
    Host h;
    NodeRuntime rt(follower(), Restored{}, &h);
    rt.receive(chunk_from_leader(leader_kv.encode(), 5), 1);
    drain(rt);
    CHECK(rt.kv().fingerprint() == leader_kv.fingerprint());
    CHECK(rt.kv().applied_index() == 5);
    CHECK(rt.kv().applied_request(9, 5));
    REQUIRE(h.disk.size() == 1);
    REQUIRE(h.disk[0].snapshot);
    CHECK(h.disk[0].snapshot->meta == SnapshotMeta{5, 1});
    CHECK(h.disk[0].snapshot_resets_log);
    CHECK(h.disk[0].compact_to == 5);
    CHECK(h.disk[0].commit_index == 5);
    CHECK(h.sent.empty());  // the ack promises a durable snapshot
    rt.persisted(h.disk[0].id);
    REQUIRE(h.sent.size() == 1);
    CHECK(h.sent[0].peer.type == MessageType::AppendResp);
    CHECK(h.sent[0].peer.index == 5);
    CHECK(rt.stats().snapshots_installed == 1);
}

TEST_CASE("runtime: a snapshot whose data does not decode, or holds another index, is refused and never installed") {
    KvStore other;
    other.apply(Entry{1, 1, EntryType::Command, "set a b", 0, 0});
    Host h;
    NodeRuntime rt(follower(), Restored{}, &h);
    rt.receive(chunk_from_leader("garbage from a peer", 5), 1);
    rt.receive(chunk_from_leader(other.encode(), 5), 1);  // a state at index 1, claimed to be at 5
    drain(rt);
    CHECK(rt.stats().snapshots_refused == 2);
    CHECK(rt.stats().snapshots_installed == 0);
    CHECK(rt.kv().applied_index() == 0);
    CHECK(rt.raft().commit_index() == 0);
    CHECK_FALSE(rt.raft().snapshot());
}
