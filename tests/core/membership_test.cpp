// Membership changes (thesis ch. 4) and leadership transfer (thesis §3.10), on Raft
// cores wired together by hand: a tiny network that delivers every message, makes every
// write durable at once, and drops whatever goes to or from a node that is down. Each
// test names the rule it holds the core to.
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <memory>
#include <set>

#include "core/raft/raft.h"

using namespace raftbook;

namespace {

RaftConfig node_config(NodeId id, std::vector<NodeId> peers) {
    RaftConfig c;
    c.id = id;
    c.peers = std::move(peers);
    c.random_seed = 3;
    return c;
}

struct Net {
    std::map<NodeId, std::unique_ptr<Raft>> nodes;
    std::set<NodeId> down;
    std::deque<Message> wire;
    std::vector<Message> sent;  // every message handed to the wire

    // A node of the bootstrap cluster {1..n} (voters), or, with n = 0, a node joining
    // with no configuration.
    Raft& add(NodeId id, int n, Restored r = {}) {
        std::vector<NodeId> peers;
        for (int i = 1; i <= n; i++) peers.push_back(NodeId(i));
        nodes[id] = std::make_unique<Raft>(node_config(id, peers), std::move(r));
        return *nodes[id];
    }
    Raft& at(NodeId id) { return *nodes.at(id); }
    bool up(NodeId id) const { return !down.count(id) && nodes.count(id); }

    void settle() {
        for (int rounds = 0; rounds < 100000; rounds++) {
            bool busy = false;
            for (auto& [id, r] : nodes) {
                if (down.count(id)) continue;
                while (r->has_ready()) {
                    Ready rd = r->ready();
                    if (!rd.entries.empty()) r->persisted(rd.entries.back().index, rd.entries.back().term);
                    if (!rd.committed_entries.empty()) r->applied(rd.committed_entries.back().index);
                    for (auto* list : {&rd.messages, &rd.messages_after_persist})
                        for (Message& m : *list) {
                            sent.push_back(m);
                            wire.push_back(std::move(m));
                        }
                    busy = true;
                }
            }
            if (!wire.empty()) {
                Message m = std::move(wire.front());
                wire.pop_front();
                if (up(m.to) && up(m.from)) nodes[m.to]->step(m);
                busy = true;
            }
            if (!busy) return;
        }
        FAIL("the network did not settle");
    }
    void tick(int n = 1) {
        for (int i = 0; i < n; i++) {
            for (auto& [id, r] : nodes)
                if (!down.count(id)) r->tick();
            settle();
        }
    }
    // Node `id` campaigns and wins; its no-op commits.
    void elect(NodeId id) {
        at(id).campaign();
        settle();
        REQUIRE(at(id).role() == Role::Leader);
        tick(2);
        REQUIRE(at(id).commit_index() == at(id).log().last_index());
    }
    std::optional<NodeId> leader() {
        for (auto& [id, r] : nodes)
            if (!down.count(id) && r->role() == Role::Leader) return id;
        return std::nullopt;
    }
    // Proposes a command at `id`; returns its index (0: refused).
    Index propose(NodeId id, const std::string& data = "set k v") {
        Index index = 0;
        if (at(id).propose(data, 0, 0, &index) != ProposeResult::Ok) return 0;
        settle();
        return index;
    }
    // A membership change at the leader `id`, settled; "" or the refusal.
    std::string change(NodeId id, ConfChange::Type type, NodeId node) {
        ConfChange cc;
        cc.type = type;
        cc.node = node;
        const std::string error = at(id).propose_conf_change(cc);
        settle();
        return error;
    }
};

constexpr auto kAdd = ConfChange::Type::AddLearner;
constexpr auto kPromote = ConfChange::Type::Promote;
constexpr auto kRemove = ConfChange::Type::Remove;

// Voters {1, 2, 3} led by 1, with node 4 added as a learner and caught up.
void three_voters_and_a_learner(Net& net) {
    for (NodeId i = 1; i <= 3; i++) net.add(i, 3);
    net.add(4, 0);
    net.elect(1);
    REQUIRE(net.change(1, kAdd, 4) == "");
    net.tick(2);
    REQUIRE(net.at(4).membership().is_member(4));
    REQUIRE_FALSE(net.at(4).is_voter());
    REQUIRE(net.at(4).log().last_index() == net.at(1).log().last_index());
}

}  // namespace

TEST_CASE("§4.2.1 a learner is sent the log but counts toward no majority and never campaigns") {
    Net net;
    three_voters_and_a_learner(net);
    // Voters 2 and 3 down: the leader and the learner hold a new entry, not a majority.
    net.down = {2, 3};
    const Index i = net.propose(1);
    REQUIRE(i != 0);
    net.tick(2);
    CHECK(net.at(4).log().last_index() == i);
    CHECK(net.at(1).commit_index() < i);
    // Nor does the learner keep the leader alive under check-quorum.
    net.tick(2 * net.at(1).randomized_election_timeout());
    CHECK(net.at(1).role() != Role::Leader);
    // The learner, hearing from no leader, never campaigns.
    const Term term = net.at(4).current_term();
    net.down = {1, 2, 3};
    net.tick(100);
    CHECK(net.at(4).role() == Role::Follower);
    CHECK(net.at(4).current_term() == term);
}

TEST_CASE("§4.2 adding a learner and promoting it makes it count: four voters need three") {
    Net net;
    three_voters_and_a_learner(net);
    REQUIRE(net.change(1, kPromote, 4) == "");
    net.tick(2);
    REQUIRE(net.at(1).membership().voters() == std::vector<NodeId>{1, 2, 3, 4});
    REQUIRE(net.at(1).commit_index() == net.at(1).membership_index());
    // 1, 3 and the new voter 4 are three of four: a majority.
    net.down = {2};
    const Index a = net.propose(1);
    net.tick(2);
    CHECK(net.at(1).commit_index() >= a);
    // 1 and 4 are two of four: no longer a majority.
    net.down = {2, 3};
    const Index b = net.propose(1);
    net.tick(2);
    CHECK(net.at(1).commit_index() < b);
}

TEST_CASE("§4.2.1 a learner far behind is not promoted until it catches up") {
    Net net;
    three_voters_and_a_learner(net);
    net.down = {4};
    for (int i = 0; i < 1200; i++) net.at(1).propose("set k " + std::to_string(i));
    net.settle();
    net.tick(2);
    const std::string refused = net.change(1, kPromote, 4);
    CHECK(refused.find("promoted once within 1000 entries") != std::string::npos);
    CHECK_FALSE(net.at(1).membership().is_voter(4));
    net.down.clear();
    net.tick(5);
    REQUIRE(net.at(4).log().last_index() == net.at(1).log().last_index());
    CHECK(net.change(1, kPromote, 4) == "");
    CHECK(net.at(1).membership().is_voter(4));
}

TEST_CASE("§4.2 one configuration change at a time: none while a Config entry is uncommitted") {
    Net net;
    for (NodeId i = 1; i <= 3; i++) net.add(i, 3);
    net.elect(1);
    net.down = {2, 3};
    REQUIRE(net.change(1, kAdd, 4) == "");
    const std::string refused = net.change(1, kAdd, 5);
    CHECK(refused.find("not committed yet") != std::string::npos);
    CHECK_FALSE(net.at(1).membership().is_member(5));
    net.down.clear();
    net.tick(2);
    REQUIRE(net.at(1).commit_index() >= net.at(1).membership_index());
    CHECK(net.change(1, kAdd, 5) == "");
}

TEST_CASE("2015 correction: a new leader changes the configuration only after committing an entry of its term") {
    Restored r;
    r.entries = {Entry{1, 1, EntryType::Command, "set k v", 0, 0}};
    r.hard_state = {1, kNoNode, 1};
    for (bool fault : {false, true}) {
        Raft leader(node_config(1, {1, 2, 3}), r);
        leader.faults.config_change_before_commit_in_term = fault;
        leader.campaign();
        Message v;
        v.from = 2;
        v.to = 1;
        v.type = MessageType::PreVoteResp;
        v.term = 2;
        leader.step(v);
        v.type = MessageType::VoteResp;
        leader.step(v);
        REQUIRE(leader.role() == Role::Leader);
        Ready rd = leader.ready();  // its no-op, entry 2: on no follower yet
        leader.persisted(rd.entries.back().index, rd.entries.back().term);
        const std::string answer = leader.propose_conf_change(ConfChange{kAdd, 4, "", ""});
        if (fault) {
            CHECK(answer == "");
        } else {
            CHECK(answer.find("not committed an entry of its term") != std::string::npos);
            Message ack;
            ack.type = MessageType::AppendResp;
            ack.from = 2;
            ack.to = 1;
            ack.term = 2;
            ack.index = 2;
            leader.step(ack);
            REQUIRE(leader.commit_index() == 2);
            CHECK(leader.propose_conf_change(ConfChange{kAdd, 4, "", ""}) == "");
        }
    }
}

TEST_CASE("§4.1 a configuration is in force once appended, and falls back when its entry is truncated") {
    Raft follower(node_config(2, {1, 2, 3}), Restored{});
    Message a;
    a.type = MessageType::Append;
    a.from = 1;
    a.to = 2;
    a.term = 1;
    Membership with4;
    REQUIRE(apply_conf_change(Membership::of_voters({1, 2, 3}), ConfChange{kAdd, 4, "", ""}, &with4) == "");
    a.entries = {Entry{1, 1, EntryType::NoOp, "", 0, 0}, Entry{2, 1, EntryType::Config, with4.encode(), 0, 0}};
    follower.step(a);
    CHECK(follower.commit_index() == 0);  // in force though not committed
    CHECK(follower.membership() == with4);
    CHECK(follower.membership_index() == 2);
    CHECK(follower.membership_at(1) == Membership::of_voters({1, 2, 3}));

    // A leader of term 2 replaces entry 2: the bootstrap configuration is back in force.
    Message b = a;
    b.from = 3;
    b.term = 2;
    b.index = 1;
    b.log_term = 1;
    b.entries = {Entry{2, 2, EntryType::Command, "set k v", 0, 0}};
    follower.step(b);
    REQUIRE(follower.log().at(2).type == EntryType::Command);
    CHECK(follower.membership() == Membership::of_voters({1, 2, 3}));
    CHECK(follower.membership_index() == 0);
}

TEST_CASE("§4.2.2 a leader removing itself does not count itself, steps down once it commits, and others elect a leader") {
    Net net;
    for (NodeId i = 1; i <= 3; i++) net.add(i, 3);
    net.elect(1);
    net.down = {3};
    REQUIRE(net.change(1, kRemove, 1) == "");
    net.tick(2);
    // The new configuration {2, 3} needs both: 1's own copy does not count.
    CHECK(net.at(1).role() == Role::Leader);
    CHECK(net.at(1).commit_index() < net.at(1).membership_index());
    net.down.clear();
    net.tick(2);
    CHECK(net.at(1).role() == Role::Follower);
    CHECK(net.at(1).commit_index() >= net.at(1).membership_index());
    net.tick(60);
    const auto l = net.leader();
    REQUIRE(l.has_value());
    CHECK(*l != 1);
    CHECK(net.at(*l).membership().voters() == std::vector<NodeId>{2, 3});
    CHECK(net.at(1).role() == Role::Follower);
}

TEST_CASE("§4.2.2 a removed node never campaigns") {
    Net net;
    for (NodeId i = 1; i <= 3; i++) net.add(i, 3);
    net.elect(1);
    REQUIRE(net.change(1, kRemove, 3) == "");
    net.tick(2);
    REQUIRE_FALSE(net.at(3).membership().is_member(3));
    const Term term = net.at(3).current_term();
    net.tick(100);  // the leader no longer sends it heartbeats
    CHECK(net.at(3).role() == Role::Follower);
    CHECK(net.at(3).current_term() == term);
    CHECK(net.at(1).role() == Role::Leader);
    CHECK(net.at(1).progress(3) == nullptr);
}

TEST_CASE("§7 a snapshot records the configuration at its index, and a node installing it uses it") {
    Net net;
    for (NodeId i = 1; i <= 3; i++) net.add(i, 3);
    net.add(4, 0);
    net.down = {4};
    net.elect(1);
    REQUIRE(net.change(1, kAdd, 4) == "");
    net.tick(2);
    const Index at = net.at(1).commit_index();
    REQUIRE(at == net.at(1).log().last_index());
    const Membership expected = net.at(1).membership();
    net.at(1).snapshot_taken(Snapshot{{at, net.at(1).current_term(), {}}, std::make_shared<const std::string>("state")}, at);
    REQUIRE(net.at(1).snapshot()->meta.membership == expected);
    REQUIRE(net.at(1).log().prev_index() == at);
    CHECK(net.at(1).membership() == expected);  // the compacted Config entry still rules
    net.down.clear();
    net.tick(3);
    REQUIRE(net.at(4).snapshot() != nullptr);
    CHECK(net.at(4).snapshot()->meta.membership == expected);
    CHECK(net.at(4).membership() == expected);
    bool chunk_carried_it = false;
    for (const Message& m : net.sent)
        if (m.type == MessageType::Snapshot) chunk_carried_it = m.chunk().membership == expected.encode();
    CHECK(chunk_carried_it);
}

TEST_CASE("§3.10 leadership transfer: the target takes over, and the leader takes no proposals meanwhile") {
    Net net;
    for (NodeId i = 1; i <= 3; i++) net.add(i, 3);
    net.elect(1);
    net.down = {2};
    net.propose(1);  // 2 is behind: it must be caught up first
    net.down.clear();
    REQUIRE(net.at(1).transfer_leadership(2) == "");
    CHECK(net.at(1).transfer_target() == 2);
    CHECK(net.at(1).propose("set x 1") == ProposeResult::Dropped);
    CHECK(net.at(1).propose_conf_change(ConfChange{kAdd, 4, "", ""}).find("transfer") != std::string::npos);
    const Term term = net.at(1).current_term();
    net.tick(3);  // heartbeats bring 2 up to date; then TimeoutNow
    CHECK(net.at(2).role() == Role::Leader);  // within the others' leader lease
    CHECK(net.at(2).current_term() == term + 1);
    CHECK(net.at(1).role() == Role::Follower);
    CHECK(net.at(1).transfer_target() == kNoNode);
}

TEST_CASE("§3.10 a leadership transfer to a node cut off is abandoned after an election timeout") {
    Net net;
    for (NodeId i = 1; i <= 3; i++) net.add(i, 3);
    net.elect(1);
    net.down = {2};
    REQUIRE(net.at(1).transfer_leadership(2) == "");
    CHECK(net.at(1).propose("set x 1") == ProposeResult::Dropped);
    net.tick(9);
    CHECK(net.at(1).transfer_target() == 2);
    net.tick(1);
    CHECK(net.at(1).transfer_target() == kNoNode);
    CHECK(net.at(1).role() == Role::Leader);
    CHECK(net.propose(1) != 0);
}

TEST_CASE("§4.2.1 votes are asked of and counted from the voters of the configuration only") {
    RaftConfig c = node_config(1, {});
    c.members = Membership::of_voters({1, 2, 3});
    c.members.members.push_back(Member{4, false, "", ""});
    Raft r(c);
    r.campaign();
    for (const Message& m : r.ready().messages) CHECK(m.to != 4);
    Message v;
    v.from = 4;
    v.to = 1;
    v.type = MessageType::PreVoteResp;
    v.term = 1;
    r.step(v);  // a learner's vote
    v.from = 5;
    r.step(v);  // a stranger's
    CHECK(r.role() == Role::PreCandidate);
    v.from = 2;
    r.step(v);
    REQUIRE(r.role() == Role::Candidate);
    v.type = MessageType::VoteResp;
    for (NodeId from : {NodeId(4), NodeId(5)}) {
        v.from = from;
        r.step(v);
    }
    CHECK(r.role() == Role::Candidate);
    v.from = 3;
    r.step(v);
    CHECK(r.role() == Role::Leader);
}

TEST_CASE("§4.1 on restart the configuration in force is the newest in the log, else the snapshot's, else the bootstrap one") {
    Membership with4, voters4;
    REQUIRE(apply_conf_change(Membership::of_voters({1, 2, 3}), ConfChange{kAdd, 4, "", ""}, &with4) == "");
    REQUIRE(apply_conf_change(with4, ConfChange{kPromote, 4, "", ""}, &voters4) == "");
    Restored r;
    r.snapshot = Snapshot{{5, 1, with4}, std::make_shared<const std::string>("state")};
    r.first_index = 6;
    r.prev_term = 1;
    r.hard_state = {1, kNoNode, 5};
    CHECK(Raft(node_config(1, {1, 2, 3}), r).membership() == with4);
    r.entries = {Entry{6, 1, EntryType::Config, voters4.encode(), 0, 0}, Entry{7, 1, EntryType::Command, "set k v", 0, 0}};
    Raft restarted(node_config(1, {1, 2, 3}), r);
    CHECK(restarted.membership() == voters4);
    CHECK(restarted.membership_index() == 6);
    CHECK(restarted.membership_at(5) == with4);
    r.snapshot->meta.membership = Membership{};  // a snapshot that records none
    r.entries.clear();
    CHECK(Raft(node_config(1, {1, 2, 3}), r).membership() == Membership::of_voters({1, 2, 3}));
}

TEST_CASE("a configuration's text keeps each member's kind: a browser member is marked, a native one is not") {
    Membership with_browser;
    REQUIRE(apply_conf_change(Membership::of_voters({1, 2, 3}), ConfChange{kAdd, 1234, "", "", true}, &with_browser) ==
            "");
    REQUIRE(with_browser.find(1234)->browser);
    REQUIRE_FALSE(with_browser.find(1)->browser);
    const std::string text = with_browser.encode();
    REQUIRE(text.find("member 1234 learner - - browser\n") != std::string::npos);
    Membership back;
    REQUIRE(Membership::decode(text, &back) == "");
    REQUIRE(back == with_browser);
    // Text written before browser members existed reads as native members.
    REQUIRE(Membership::decode("RBCONF 1\nmember 1 voter a:1 b:2\n", &back) == "");
    REQUIRE_FALSE(back.find(1)->browser);
    // Any other trailing word is refused, naming the line.
    REQUIRE(Membership::decode("RBCONF 1\nmember 1 voter a:1 b:2 phone\n", &back).find("bad member line") == 0);
    REQUIRE(Membership::decode("RBCONF 1\nmember 1 voter a:1 b:2 browser x\n", &back).find("bad member line") == 0);
}

TEST_CASE("browser voters stay fewer than native voters, so closed tabs can never block every majority") {
    Membership m = Membership::of_voters({1, 2, 3});
    for (NodeId b : {1001, 1002, 1003}) REQUIRE(apply_conf_change(m, ConfChange{kAdd, b, "", "", true}, &m) == "");
    REQUIRE(apply_conf_change(m, ConfChange{kPromote, 1001, "", ""}, &m) == "");
    REQUIRE(apply_conf_change(m, ConfChange{kPromote, 1002, "", ""}, &m) == "");  // 2 browser voters, 3 native
    Membership out;
    const std::string refused = apply_conf_change(m, ConfChange{kPromote, 1003, "", ""}, &out);
    REQUIRE(refused.find("browser voters must be fewer than native ones") != std::string::npos);
    REQUIRE(refused.find("add a native voter first") != std::string::npos);
    // Nor may a native voter leave while that would leave the browsers as many.
    REQUIRE(apply_conf_change(m, ConfChange{kRemove, 3, "", ""}, &out).find("fewer than native") != std::string::npos);
    // A browser voter or learner may always leave; with a native voter more, a browser may be promoted.
    REQUIRE(apply_conf_change(m, ConfChange{kRemove, 1002, "", ""}, &out) == "");
    REQUIRE(apply_conf_change(m, ConfChange{kRemove, 1003, "", ""}, &out) == "");
    REQUIRE(apply_conf_change(m, ConfChange{kAdd, 4, "", ""}, &m) == "");
    REQUIRE(apply_conf_change(m, ConfChange{kPromote, 4, "", ""}, &m) == "");
    REQUIRE(apply_conf_change(m, ConfChange{kPromote, 1003, "", ""}, &m) == "");
}
