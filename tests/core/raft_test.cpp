// One Raft node driven by hand-made messages: each test names the rule it checks,
// in the paper's words, and feeds the node exactly the input that exercises it.
#include <catch2/catch.hpp>

#include "core/raft/raft.h"

using namespace raftbook;

namespace {

RaftConfig config(NodeId id, int n = 3) {
    RaftConfig c;
    c.id = id;
    for (int i = 1; i <= n; i++) c.peers.push_back(NodeId(i));
    return c;
}

Restored with_log(std::vector<Term> terms, Term term, NodeId voted_for = kNoNode) {
    Restored r;
    for (size_t i = 0; i < terms.size(); i++) r.entries.push_back(Entry{i + 1, terms[i], EntryType::Command, "set k v", 0, 0});
    r.hard_state = {term, voted_for, 0};
    return r;
}

Message msg(MessageType t, NodeId from, NodeId to, Term term) {
    Message m;
    m.type = t;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

// All output messages of one Ready, both lists.
std::vector<Message> all_messages(const Ready& rd) {
    std::vector<Message> out = rd.messages;
    out.insert(out.end(), rd.messages_after_persist.begin(), rd.messages_after_persist.end());
    return out;
}

Message only_reply(Raft& r) {
    const auto msgs = all_messages(r.ready());
    REQUIRE(msgs.size() == 1);
    return msgs[0];
}

// Makes node 1 of a 3-node cluster leader of term `term`, then drains its output.
void make_leader(Raft& r) {
    r.campaign();
    for (NodeId p : {NodeId(2), NodeId(3)}) {
        Message v = msg(MessageType::PreVoteResp, p, 1, r.current_term() + 1);
        r.step(v);
    }
    r.ready();
    for (NodeId p : {NodeId(2), NodeId(3)}) r.step(msg(MessageType::VoteResp, p, 1, r.current_term()));
    REQUIRE(r.role() == Role::Leader);
}

}  // namespace

TEST_CASE("§5.1 a node that sees a higher term adopts it and becomes follower") {
    Raft r(config(1), with_log({1}, 1));
    make_leader(r);
    r.step(msg(MessageType::Heartbeat, 2, 1, 9));
    CHECK(r.role() == Role::Follower);
    CHECK(r.current_term() == 9);
    CHECK(r.leader_id() == 2);
}

TEST_CASE("§5.1 a message from an older term is answered with our term and otherwise ignored") {
    Raft r(config(1), with_log({1, 2}, 5));
    Message a = msg(MessageType::Append, 2, 1, 3);
    a.index = 2;
    a.log_term = 2;
    a.entries = {Entry{3, 3, EntryType::Command, "set a b", 0, 0}};
    r.step(a);
    const Message reply = only_reply(r);
    CHECK(reply.type == MessageType::AppendResp);
    CHECK(reply.term == 5);
    CHECK(r.log().last_index() == 2);
}

TEST_CASE("§5.2 one vote per term") {
    Raft r(config(1), with_log({1}, 1));
    Message v = msg(MessageType::Vote, 2, 1, 2);
    v.index = 1;
    v.log_term = 1;
    r.step(v);
    Ready rd = r.ready();
    REQUIRE(rd.messages_after_persist.size() == 1);
    CHECK_FALSE(rd.messages_after_persist[0].reject);
    CHECK(r.voted_for() == 2);
    Message v3 = v;
    v3.from = 3;
    r.step(v3);
    CHECK(only_reply(r).reject);  // already voted for 2 in term 2
    r.step(v);
    CHECK_FALSE(only_reply(r).reject);  // a repeated request from 2 is granted again
}

TEST_CASE("§5.4.1 election restriction: no vote for a candidate whose log is less up-to-date") {
    Raft r(config(1), with_log({1, 1, 2}, 2));
    Message v = msg(MessageType::Vote, 2, 1, 3);
    v.index = 5;
    v.log_term = 1;  // longer, but its last term is older
    r.step(v);
    CHECK(only_reply(r).reject);
    CHECK(r.voted_for() == kNoNode);
    v.from = 3;
    v.index = 3;
    v.log_term = 2;  // same last term, same length: at least as up-to-date
    r.step(v);
    CHECK_FALSE(only_reply(r).reject);

    Raft broken(config(1), with_log({1, 1, 2}, 2));
    broken.faults.vote_without_log_check = true;
    Message w = msg(MessageType::Vote, 2, 1, 3);
    w.index = 1;
    w.log_term = 1;
    broken.step(w);
    CHECK_FALSE(only_reply(broken).reject);
}

TEST_CASE("pre-vote: asking changes no term and no vote, on either side") {
    Raft candidate(config(1), with_log({1}, 1));
    candidate.campaign();
    CHECK(candidate.role() == Role::PreCandidate);
    CHECK(candidate.current_term() == 1);
    Ready rd = candidate.ready();
    CHECK_FALSE(rd.hard_state.has_value());
    REQUIRE(rd.messages.size() == 2);
    CHECK(rd.messages[0].type == MessageType::PreVote);
    CHECK(rd.messages[0].term == 2);

    Raft voter(config(2), with_log({1}, 1));
    voter.step(rd.messages[0]);
    const Message reply = only_reply(voter);
    CHECK(reply.type == MessageType::PreVoteResp);
    CHECK_FALSE(reply.reject);
    CHECK(voter.current_term() == 1);
    CHECK(voter.voted_for() == kNoNode);
}

TEST_CASE("check-quorum lease: a node that hears from its leader ignores vote requests") {
    Raft r(config(1), with_log({1}, 1));
    r.step(msg(MessageType::Heartbeat, 2, 1, 1));
    r.ready();
    Message v = msg(MessageType::Vote, 3, 1, 2);
    v.index = 1;
    v.log_term = 1;
    r.step(v);
    CHECK(r.current_term() == 1);
    CHECK(all_messages(r.ready()).empty());
}

TEST_CASE("check-quorum: a leader that hears from no majority for an election timeout steps down") {
    Raft r(config(1), with_log({1}, 1));
    make_leader(r);
    for (int i = 0; i < 2 * 10; i++) r.tick();
    CHECK(r.role() == Role::Follower);
}

TEST_CASE("§5.3 consistency check: reject when prevLogIndex/prevLogTerm do not match") {
    Raft r(config(2), with_log({1, 1, 2}, 3));
    Message a = msg(MessageType::Append, 1, 2, 3);
    a.index = 3;
    a.log_term = 3;  // we hold (3, term 2)
    a.entries = {Entry{4, 3, EntryType::Command, "set a b", 0, 0}};
    r.step(a);
    const Message reply = only_reply(r);
    CHECK(reply.reject);
    CHECK(reply.hint_index == 3);  // our last entry with a term <= 3
    CHECK(reply.hint_term == 2);
    CHECK(r.log().last_index() == 3);
}

TEST_CASE("§5.3 a conflicting entry and all that follow it are replaced by the leader's") {
    Raft r(config(2), with_log({1, 1, 2, 2, 2}, 3));
    Message a = msg(MessageType::Append, 1, 2, 3);
    a.index = 2;
    a.log_term = 1;
    a.entries = {Entry{3, 3, EntryType::Command, "set a b", 0, 0}};
    r.step(a);
    CHECK_FALSE(only_reply(r).reject);
    CHECK(r.log().last_index() == 3);
    CHECK(r.log().at(3).term == 3);
}

TEST_CASE("§5.3 a stale AppendEntries never truncates entries the follower already has") {
    Raft r(config(2), with_log({1, 1, 1, 1}, 1));
    Message a = msg(MessageType::Append, 1, 2, 1);
    a.index = 1;
    a.log_term = 1;
    a.entries = {Entry{2, 1, EntryType::Command, "set k v", 0, 0}};
    r.step(a);
    const Message reply = only_reply(r);
    CHECK(reply.index == 2);
    CHECK(r.log().last_index() == 4);
}

TEST_CASE("a malformed AppendEntries (a gap, decreasing terms, terms above its own) changes nothing") {
    // A well-formed one for comparison: term 3, prevLogIndex 2, prevLogTerm 1, entries 3..4 of term 3.
    auto append = [](Term term) {
        Message a = msg(MessageType::Append, 2, 1, term);
        a.index = 2;
        a.log_term = 1;
        a.commit = 4;
        a.entries = {Entry{3, 3, EntryType::Command, "set a 1", 0, 0}, Entry{4, 3, EntryType::Command, "set b 2", 0, 0}};
        return a;
    };
    std::vector<Message> malformed;
    for (Term term : {Term(3), Term(4)}) {  // our own term, and a higher one
        Message gap = append(term);
        gap.entries[1].index = 5;
        Message decreasing = append(term);
        decreasing.entries[1].term = 2;
        Message above = append(term);
        above.entries[1].term = term + 1;
        Message prev_above = append(term);
        prev_above.log_term = term + 1;
        malformed.insert(malformed.end(), {gap, decreasing, above, prev_above});
    }
    for (const Message& m : malformed) {
        INFO(malformed_append(m));
        REQUIRE_FALSE(malformed_append(m).empty());
        Raft r(config(1), with_log({1, 1}, 3));
        r.ready();
        r.tick();
        r.step(m);
        CHECK(r.current_term() == 3);
        CHECK(r.leader_id() == kNoNode);
        CHECK(r.election_elapsed() == 1);
        CHECK(r.log().last_index() == 2);
        CHECK(r.commit_index() == 0);
        CHECK_FALSE(r.has_ready());
    }
    Raft r(config(1), with_log({1, 1}, 3));
    r.step(append(3));
    CHECK(r.log().last_index() == 4);  // the same message, well formed, is taken
}

TEST_CASE("§5.3 followers learn commitIndex, never beyond what the message vouched for") {
    Raft r(config(2), with_log({1, 1, 9}, 9));  // entry 3 is from a term the leader never had
    Message a = msg(MessageType::Append, 1, 2, 10);
    a.index = 2;
    a.log_term = 1;
    a.commit = 3;  // the leader's 3 is not our 3: only 2 is vouched for
    r.step(a);
    r.ready();
    CHECK(r.commit_index() == 2);
}

TEST_CASE("§5 persist before responding: votes and acks wait for the disk, unless the fault is on") {
    for (bool fault : {false, true}) {
        Raft r(config(2), with_log({1}, 1));
        r.faults.ack_before_persist = fault;
        Message a = msg(MessageType::Append, 1, 2, 1);
        a.index = 1;
        a.log_term = 1;
        a.entries = {Entry{2, 1, EntryType::Command, "set a b", 0, 0}};
        r.step(a);
        Ready rd = r.ready();
        REQUIRE(rd.entries.size() == 1);
        CHECK(rd.messages_after_persist.size() == (fault ? 0u : 1u));
        CHECK(rd.messages.size() == (fault ? 1u : 0u));
    }
}

TEST_CASE("§5.4.2 a leader commits by counting only entries of its own term") {
    for (bool fault : {false, true}) {
        Raft r(config(1, 5), with_log({1, 2}, 3));
        r.faults.commit_old_term_by_count = fault;
        r.campaign();
        for (NodeId p = 2; p <= 5; p++) r.step(msg(MessageType::PreVoteResp, p, 1, 4));
        r.ready();
        for (NodeId p = 2; p <= 3; p++) r.step(msg(MessageType::VoteResp, p, 1, 4));
        REQUIRE(r.role() == Role::Leader);
        r.ready();
        r.persisted(3, 4);  // our own log, no-op at 3 included, is durable
        for (NodeId p = 2; p <= 3; p++) {  // two followers hold entry 2, not yet 3
            Message ack = msg(MessageType::AppendResp, p, 1, 4);
            ack.index = 2;
            r.step(ack);
        }
        CHECK(r.commit_index() == (fault ? 2u : 0u));
        for (NodeId p = 2; p <= 3; p++) {
            Message ack = msg(MessageType::AppendResp, p, 1, 4);
            ack.index = 3;
            r.step(ack);
        }
        CHECK(r.commit_index() == 3);  // the term-4 entry commits, and 2 with it
    }
}

TEST_CASE("a leader counts its own log, and applies it, only once it is durable, unless the fault is on") {
    for (bool fault : {false, true}) {
        Raft r(config(1), with_log({}, 0));
        r.faults.ack_before_persist = fault;
        make_leader(r);
        r.ready();
        Message ack = msg(MessageType::AppendResp, 2, 1, r.current_term());
        ack.index = 1;
        r.step(ack);
        // One follower + a leader whose write is still in flight: no majority, unless the
        // leader vouches for what it has not persisted.
        CHECK(r.commit_index() == (fault ? 1u : 0u));
        CHECK(r.ready().committed_entries.size() == (fault ? 1u : 0u));
        r.persisted(1, r.current_term());
        CHECK(r.commit_index() == 1);
        CHECK(r.ready().committed_entries.size() == (fault ? 0u : 1u));  // each entry applied once
    }
}

// Node 1 leads with its no-op committed by node 2's acknowledgement (ReadIndex needs a
// commit in the leader's term); its Ready is drained.
void lead_with_noop_committed(Raft& r) {
    make_leader(r);
    r.ready();
    r.persisted(1, r.current_term());
    Message ack = msg(MessageType::AppendResp, 2, 1, r.current_term());
    ack.index = 1;
    r.step(ack);
    REQUIRE(r.commit_index() == 1);
    r.ready();
}

TEST_CASE("ReadIndex: a read point is released only after a majority confirms the leadership") {
    Raft r(config(1), with_log({}, 0));
    lead_with_noop_committed(r);
    REQUIRE(r.read_index(7));
    Ready rd = r.ready();
    CHECK(rd.read_states.empty());
    int heartbeats = 0;
    for (const Message& m : rd.messages) heartbeats += m.type == MessageType::Heartbeat && m.context == 7;
    CHECK(heartbeats == 2);
    Message hb = msg(MessageType::HeartbeatResp, 3, 1, r.current_term());
    hb.context = 7;
    r.step(hb);
    rd = r.ready();
    REQUIRE(rd.read_states.size() == 1);
    CHECK(rd.read_states[0].index == 1);
    CHECK(rd.read_states[0].context == 7);
}

TEST_CASE("ReadIndex: a context not greater than the last is refused, so answers to earlier heartbeats cannot release it") {
    Raft r(config(1), with_log({}, 0));
    lead_with_noop_committed(r);
    REQUIRE(r.read_index(7));
    r.ready();  // the heartbeats of context 7 go out
    Message hb2 = msg(MessageType::HeartbeatResp, 2, 1, r.current_term());
    hb2.context = 7;
    r.step(hb2);
    REQUIRE(r.ready().read_states.size() == 1);  // us and node 2: a majority

    // The same context again, or a lower one, or zero ("no read"), is refused...
    CHECK_FALSE(r.read_index(7));
    CHECK_FALSE(r.read_index(5));
    CHECK_FALSE(r.read_index(0));
    // ...so node 3's late answer to the heartbeat sent before them releases nothing.
    Message hb3 = msg(MessageType::HeartbeatResp, 3, 1, r.current_term());
    hb3.context = 7;
    r.step(hb3);
    CHECK(r.ready().read_states.empty());

    // A greater context waits for answers to its own heartbeats.
    REQUIRE(r.read_index(8));
    r.step(hb3);
    CHECK(r.ready().read_states.empty());
    hb3.context = 8;
    r.step(hb3);
    const Ready rd = r.ready();
    REQUIRE(rd.read_states.size() == 1);
    CHECK(rd.read_states[0].context == 8);
}

TEST_CASE("ReadIndex: refused before the leader committed an entry of its own term") {
    Raft r(config(1), with_log({1, 1}, 1));
    make_leader(r);
    CHECK_FALSE(r.read_index(1));
    Raft f(config(2));
    CHECK_FALSE(f.read_index(1));
}

TEST_CASE("fast backtracking: a follower behind is told where its log ends") {
    Raft r(config(2), with_log({1, 1, 1, 1, 1, 1, 1}, 1));
    Message a = msg(MessageType::Append, 1, 2, 2);
    a.index = 10;
    a.log_term = 1;
    r.step(a);
    const Message reply = only_reply(r);
    CHECK(reply.reject);
    CHECK(reply.hint_index == 7);
    CHECK(reply.hint_term == 1);
}

TEST_CASE("a follower that acknowledged entries and now holds none (its data dir wiped) is sent everything again") {
    Raft leader(config(1), with_log({1, 1, 1}, 1));
    make_leader(leader);  // term 2; its no-op is entry 4
    leader.ready();
    leader.persisted(4, 2);
    Message ack = msg(MessageType::AppendResp, 2, 1, 2);
    ack.index = 4;
    leader.step(ack);
    REQUIRE(leader.progress(2)->match_index == 4);
    leader.ready();

    // Node 2 comes back with an empty disk. The leader's next append to it (here the
    // catch-up append after a heartbeat answer) has prevLogIndex 4, which it lacks.
    Raft wiped(config(2), Restored{});
    Message probe = msg(MessageType::Append, 1, 2, 2);
    probe.index = 4;
    probe.log_term = 2;
    wiped.step(probe);
    const Message reject = only_reply(wiped);
    REQUIRE(reject.reject);
    REQUIRE(reject.index == 4);  // the match index the leader holds for it
    REQUIRE(reject.hint_index == 0);

    leader.step(reject);
    CHECK(leader.progress(2)->match_index == 0);  // what it holds is no longer known
    const std::vector<Message> out = all_messages(leader.ready());
    REQUIRE(out.size() == 1);
    CHECK(out[0].type == MessageType::Append);
    CHECK(out[0].index == 0);  // from the start
    REQUIRE_FALSE(out[0].entries.empty());
    CHECK(out[0].entries.front().index == 1);

    // A follower that still holds some of the log is not reset by the same answer.
    Raft leader2(config(1), with_log({1, 1, 1}, 1));
    make_leader(leader2);
    leader2.ready();
    leader2.step(ack);
    leader2.ready();
    Message partial = reject;
    partial.hint_index = 2;
    partial.hint_term = 1;
    leader2.step(partial);
    CHECK(leader2.progress(2)->match_index == 4);
}
