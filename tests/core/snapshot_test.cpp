// Log compaction and InstallSnapshot (Raft §7), one rule a test: a leader and a
// follower driven by hand, every message passed between them by the test, so a chunk
// can be lost, duplicated or reordered exactly where the rule says it matters.
#include <catch2/catch.hpp>

#include "core/raft/raft.h"

using namespace raftbook;

namespace {

constexpr size_t kChunk = 100;

RaftConfig config(NodeId id) {
    RaftConfig c;
    c.id = id;
    c.peers = {1, 2, 3};
    c.snapshot_chunk_bytes = kChunk;
    c.snapshot_inflight_chunks = 2;
    return c;
}

std::string snapshot_bytes(char fill = 's') { return std::string(250, fill); }  // 3 chunks: 100, 100, 50

Entry entry(Index i, Term t) { return Entry{i, t, EntryType::Command, "set k" + std::to_string(i) + " v", 0, 0}; }

// A log 1..last (terms as given, 1 when absent), durable, in term `term`.
Restored log_of(Index last, Term term, Term tail_term = 1, Index tail_from = 1) {
    Restored r;
    for (Index i = 1; i <= last; i++) r.entries.push_back(entry(i, i >= tail_from ? tail_term : 1));
    r.hard_state = {term, kNoNode, 0};
    return r;
}

// Node 1 restored from a snapshot at (10, term 1) with entries 11 and 12, then elected
// leader of term 2 (it appends its no-op at 13).
Raft compacted_leader(const std::string& data = snapshot_bytes()) {
    Restored r;
    r.snapshot = Snapshot{{10, 1}, std::make_shared<const std::string>(data)};
    r.first_index = 11;
    r.prev_term = 1;
    r.entries = {entry(11, 1), entry(12, 1)};
    r.hard_state = {1, kNoNode, 12};
    Raft leader(config(1), r);
    leader.campaign();
    for (NodeId p : {NodeId(2), NodeId(3)}) {
        Message v;
        v.type = MessageType::PreVoteResp;
        v.from = p;
        v.to = 1;
        v.term = 2;
        leader.step(v);
    }
    leader.ready();
    for (NodeId p : {NodeId(2), NodeId(3)}) {
        Message v;
        v.type = MessageType::VoteResp;
        v.from = p;
        v.to = 1;
        v.term = 2;
        leader.step(v);
    }
    REQUIRE(leader.role() == Role::Leader);
    leader.ready();
    leader.persisted(13, 2);
    return leader;
}

std::vector<Message> of_type(const std::vector<Message>& ms, MessageType t) {
    std::vector<Message> out;
    for (const Message& m : ms)
        if (m.type == t) out.push_back(m);
    return out;
}

std::vector<Message> sent(Raft& r, MessageType t) { return of_type(r.ready().messages, t); }

// Node 2 answers the leader's first probe: its log ends at 3, far before the leader's
// compaction point, so the leader switches it to the Snapshot state and sends chunks.
std::vector<Message> start_transfer(Raft& leader) {
    Message reject;
    reject.type = MessageType::AppendResp;
    reject.from = 2;
    reject.to = 1;
    reject.term = 2;
    reject.reject = true;
    reject.index = 12;
    reject.hint_index = 3;
    reject.hint_term = 1;
    leader.step(reject);
    REQUIRE(leader.progress(2)->state == Progress::State::Snapshot);
    return sent(leader, MessageType::Snapshot);
}

Message heartbeat_answer(NodeId from) {
    Message m;
    m.type = MessageType::HeartbeatResp;
    m.from = from;
    m.to = 1;
    m.term = 2;
    return m;
}

// Passes one chunk to the follower and returns its immediate answer (a SnapshotResp),
// or an empty message when it sent none now.
Message give(Raft& follower, const Message& chunk) {
    follower.step(chunk);
    const auto ms = follower.ready().messages;
    return ms.empty() ? Message{} : ms.back();
}

}  // namespace

TEST_CASE("§7 compaction discards the log up to a durable snapshot and keeps the index and term before the rest") {
    Raft r(config(1), log_of(12, 1));
    r.snapshot_taken(Snapshot{{10, 1}, std::make_shared<const std::string>("x")}, 7);
    CHECK(r.log().prev_index() == 7);
    CHECK(r.log().prev_term() == 1);
    CHECK(r.log().first_index() == 8);
    CHECK(r.log().last_index() == 12);
    REQUIRE(r.snapshot());
    CHECK(r.snapshot()->meta.index == 10);
    r.snapshot_taken(Snapshot{{9, 1}, std::make_shared<const std::string>("y")}, 9);  // older: ignored
    CHECK(r.snapshot()->meta.index == 10);
    CHECK(r.log().prev_index() == 7);
}

TEST_CASE("§7 a follower needing compacted entries gets the snapshot in chunks, under flow control, then AppendEntries") {
    Raft leader = compacted_leader();
    const auto chunks = start_transfer(leader);
    REQUIRE(chunks.size() == 2);  // snapshot_inflight_chunks
    CHECK(chunks[0].chunk().offset == 0);
    CHECK(chunks[1].chunk().offset == kChunk);
    CHECK(chunks[0].chunk().total == 250);
    CHECK(chunks[0].index == 10);
    CHECK(chunks[0].log_term == 1);
    CHECK_FALSE(chunks[1].chunk().done);

    // Heartbeats go on meanwhile (the follower must not time out and campaign).
    leader.tick();
    leader.tick();
    bool heartbeat_to_2 = false;
    for (const Message& m : sent(leader, MessageType::Heartbeat)) heartbeat_to_2 |= m.to == 2;
    CHECK(heartbeat_to_2);

    Raft follower(config(2), log_of(3, 2));
    Message ack = give(follower, chunks[0]);
    CHECK(ack.type == MessageType::SnapshotResp);
    CHECK(ack.chunk().offset == kChunk);
    leader.step(ack);
    const auto third = sent(leader, MessageType::Snapshot);
    REQUIRE(third.size() == 1);  // one slot freed
    CHECK(third[0].chunk().offset == 2 * kChunk);
    CHECK(third[0].chunk().done);
    leader.step(give(follower, chunks[1]));
    follower.step(third[0]);

    // The whole snapshot: installed, the log reset (entry 10 was not in it), committed.
    Ready rd = follower.ready();
    REQUIRE(rd.snapshot);
    CHECK(*rd.snapshot->data == snapshot_bytes());
    CHECK(rd.snapshot->meta == SnapshotMeta{10, 1});
    CHECK(rd.snapshot_resets_log);
    CHECK(follower.log().prev_index() == 10);
    CHECK(follower.log().last_index() == 10);
    CHECK(follower.commit_index() == 10);
    // The ack promises the snapshot is durable: it waits for the write.
    CHECK(of_type(rd.messages, MessageType::AppendResp).empty());
    const auto acks = of_type(rd.messages_after_persist, MessageType::AppendResp);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].index == 10);

    leader.step(acks[0]);
    CHECK(leader.progress(2)->state == Progress::State::Replicate);
    CHECK(leader.progress(2)->match_index == 10);
    const auto appends = sent(leader, MessageType::Append);
    REQUIRE(appends.size() == 1);
    CHECK(appends[0].index == 10);
    CHECK(appends[0].entries.size() == 3);  // 11..13
    follower.step(appends[0]);
    CHECK(follower.log().last_index() == 13);
}

TEST_CASE("§7 a lost chunk: later chunks are refused and it is re-sent after a heartbeat round without progress") {
    Raft leader = compacted_leader();
    const auto chunks = start_transfer(leader);
    Raft follower(config(2), log_of(3, 2));
    // chunks[0] is lost. The follower, holding nothing, refuses chunk 1 and asks for 0.
    const Message ask = give(follower, chunks[1]);
    CHECK(ask.type == MessageType::SnapshotResp);
    CHECK(ask.chunk().offset == 0);
    leader.step(ask);
    CHECK(sent(leader, MessageType::Snapshot).empty());  // two chunks still count as in flight
    leader.step(heartbeat_answer(2));                     // the round in which progress could come
    CHECK(sent(leader, MessageType::Snapshot).empty());
    leader.step(heartbeat_answer(2));                     // a whole round, no progress: re-send
    const auto again = sent(leader, MessageType::Snapshot);
    REQUIRE_FALSE(again.empty());
    CHECK(again[0].chunk().offset == 0);
    CHECK(follower.ready().snapshot == std::nullopt);
}

TEST_CASE("§7 duplicated and reordered chunks never make a mixed snapshot") {
    Raft leader = compacted_leader();
    auto chunks = start_transfer(leader);
    leader.step([&] {
        Message a;
        a.type = MessageType::SnapshotResp;
        a.from = 2;
        a.to = 1;
        a.term = 2;
        a.index = 10;
        a.log_term = 1;
        a.chunk_mut().offset = kChunk;
        return a;
    }());
    chunks.push_back(sent(leader, MessageType::Snapshot).at(0));
    REQUIRE(chunks.size() == 3);

    Raft follower(config(2), log_of(3, 2));
    CHECK(give(follower, chunks[0]).chunk().offset == kChunk);
    CHECK(give(follower, chunks[0]).chunk().offset == kChunk);  // duplicate: ignored
    CHECK(give(follower, chunks[2]).chunk().offset == kChunk);  // ahead of order: refused
    CHECK(follower.log().last_index() == 3);
    CHECK(give(follower, chunks[1]).chunk().offset == 2 * kChunk);
    CHECK(give(follower, chunks[1]).chunk().offset == 2 * kChunk);
    follower.step(chunks[2]);
    Ready rd = follower.ready();
    REQUIRE(rd.snapshot);
    CHECK(*rd.snapshot->data == snapshot_bytes());
}

TEST_CASE("§7 a new leader mid-transfer: the partial snapshot is dropped, only the new one is installed") {
    Raft old_leader = compacted_leader(snapshot_bytes('a'));
    const auto old_chunks = start_transfer(old_leader);
    Raft follower(config(2), log_of(3, 2));
    give(follower, old_chunks[0]);

    // Node 3 leads term 3 with another snapshot at (11, 3); its chunks start at 0.
    auto new_chunk = [&](uint64_t offset) {
        Message m = old_chunks[0];
        m.from = 3;
        m.term = 3;
        m.index = 11;
        m.log_term = 3;
        m.chunk_mut().offset = offset;
        m.chunk_mut().data = snapshot_bytes('b').substr(offset, kChunk);
        m.chunk_mut().done = offset + m.chunk().data.size() == 250;
        return m;
    };
    CHECK(give(follower, new_chunk(kChunk)).chunk().offset == 0);  // its first chunk is what is expected
    give(follower, new_chunk(0));
    give(follower, old_chunks[1]);  // the old leader's next chunk: a stale term, refused
    give(follower, new_chunk(kChunk));
    follower.step(new_chunk(2 * kChunk));
    Ready rd = follower.ready();
    REQUIRE(rd.snapshot);
    CHECK(rd.snapshot->meta == SnapshotMeta{11, 3});
    CHECK(*rd.snapshot->data == snapshot_bytes('b'));
}

TEST_CASE("§7 another snapshot from the same leader mid-transfer: the partial one is dropped, never mixed") {
    Raft leader = compacted_leader(snapshot_bytes('a'));
    const auto chunks = start_transfer(leader);
    Raft follower(config(2), log_of(3, 2));
    give(follower, chunks[0]);
    auto newer = [&](uint64_t offset) {  // the same leader and term, a snapshot at 12
        Message m = chunks[0];
        m.index = 12;
        m.chunk_mut().offset = offset;
        m.chunk_mut().data = snapshot_bytes('b').substr(offset, kChunk);
        m.chunk_mut().done = offset + kChunk >= 250;
        return m;
    };
    CHECK(give(follower, newer(kChunk)).chunk().offset == 0);  // not a continuation of the first
    give(follower, newer(0));
    CHECK(give(follower, chunks[1]).chunk().offset == 0);  // nor is the first's next chunk one of this
    give(follower, newer(0));
    give(follower, newer(kChunk));
    follower.step(newer(2 * kChunk));
    Ready rd = follower.ready();
    REQUIRE(rd.snapshot);
    CHECK(rd.snapshot->meta.index == 12);
    CHECK(*rd.snapshot->data == snapshot_bytes('b'));
}

TEST_CASE("§7 a crash mid-transfer loses the partial snapshot: nothing partial is installed") {
    Raft leader = compacted_leader();
    const auto chunks = start_transfer(leader);
    Restored disk = log_of(3, 2);
    Raft follower(config(2), disk);
    give(follower, chunks[0]);
    Raft restarted(config(2), disk);  // what its disk held: the chunks were memory only
    CHECK(give(restarted, chunks[1]).chunk().offset == 0);
    CHECK(restarted.log().last_index() == 3);
    CHECK(restarted.ready().snapshot == std::nullopt);
}

TEST_CASE("§7 a snapshot at or below the commit index is ignored, and the leader told where to resume") {
    Raft leader = compacted_leader();
    Message chunk = start_transfer(leader)[0];
    chunk.chunk_mut().data = snapshot_bytes();
    chunk.chunk_mut().total = 250;
    chunk.chunk_mut().done = true;  // the whole snapshot in one message
    Restored r = log_of(15, 2);
    r.hard_state.commit_index = 12;
    Raft follower(config(2), r);
    follower.step(chunk);
    Ready rd = follower.ready();
    CHECK_FALSE(rd.snapshot);
    CHECK(follower.log().last_index() == 15);
    CHECK(follower.log().first_index() == 1);
    const auto acks = of_type(rd.messages_after_persist, MessageType::AppendResp);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].index == 12);

    SECTION("with install_stale_snapshot, it is installed and newer committed entries are lost") {
        follower.faults.install_stale_snapshot = true;
        follower.step(chunk);
        CHECK(follower.ready().snapshot);
        CHECK(follower.log().last_index() == 10);
        CHECK(follower.commit_index() == 10);  // moved back: the checker's State Machine Safety
    }
}

TEST_CASE("§7 install keeps the entries after the snapshot when the log holds its last entry, else resets the log") {
    Raft leader = compacted_leader();
    Message chunk = start_transfer(leader)[0];
    chunk.chunk_mut().data = snapshot_bytes();
    chunk.chunk_mut().done = true;
    SECTION("entry 10 with the snapshot's term: 11..15 stay") {
        Raft follower(config(2), log_of(15, 2));
        follower.step(chunk);
        Ready rd = follower.ready();
        REQUIRE(rd.snapshot);
        CHECK_FALSE(rd.snapshot_resets_log);
        CHECK(follower.log().first_index() == 11);
        CHECK(follower.log().last_index() == 15);
        CHECK(follower.commit_index() == 10);
    }
    SECTION("entry 10 of another term: everything goes") {
        Raft follower(config(2), log_of(15, 2, /*tail_term=*/2, /*tail_from=*/9));
        follower.step(chunk);
        Ready rd = follower.ready();
        REQUIRE(rd.snapshot);
        CHECK(rd.snapshot_resets_log);
        CHECK(follower.log().first_index() == 11);
        CHECK(follower.log().last_index() == 10);
    }
}

TEST_CASE("§7 a snapshot the host's check refuses is never installed") {
    Raft leader = compacted_leader();
    Message chunk = start_transfer(leader)[0];
    chunk.chunk_mut().data = snapshot_bytes();
    chunk.chunk_mut().done = true;
    Raft follower(config(2), log_of(3, 2));
    follower.set_snapshot_check([](const Snapshot& s) { return s.data->front() != 's'; });
    follower.step(chunk);
    CHECK_FALSE(follower.ready().snapshot);
    CHECK(follower.log().last_index() == 3);
    CHECK(follower.commit_index() == 0);
}

TEST_CASE("a malformed Snapshot chunk (overrunning its total, a wrong done flag) is ignored") {
    Raft leader = compacted_leader();
    Message chunk = start_transfer(leader)[0];
    Raft follower(config(2), log_of(3, 2));
    Message overrun = chunk;
    overrun.chunk_mut().total = 50;
    CHECK_FALSE(malformed_snapshot(overrun).empty());
    follower.step(overrun);
    Message wrong_done = chunk;
    wrong_done.chunk_mut().done = true;
    CHECK_FALSE(malformed_snapshot(wrong_done).empty());
    follower.step(wrong_done);
    CHECK(follower.ready().messages.empty());
    CHECK(follower.leader_id() == kNoNode);  // ignored whole: it did not even learn of a leader
}
