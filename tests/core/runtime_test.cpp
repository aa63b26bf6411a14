// The node runtime (core/runtime) under a minimal host: frames delivered by hand,
// writes made durable by hand, a clock moved by hand. Each test names the rule it holds
// the runtime to; the simulator runs the same runtime under every fault it has.
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <memory>
#include <set>

#include "core/runtime/node_runtime.h"
#include "tests/core/client_requests.h"

using namespace raftbook;
using namespace raftbook::testing;

namespace {

struct Cluster;

struct TestHost : RuntimeHost {
    Cluster* cluster = nullptr;
    NodeId id = kNoNode;
    std::deque<DiskWrite> disk;  // issued, not yet durable
    bool send(NodeId to, Frame frame) override;
    void write(DiskWrite w) override { disk.push_back(std::move(w)); }
    TimeMs now() const override;
    std::vector<Membership> memberships;  // as told to on_membership
    void on_membership(const Membership& m) override { memberships.push_back(m); }
};

struct Cluster {
    TimeMs clock = 0;
    bool auto_persist = true;  // make every write durable as soon as it is issued
    std::map<NodeId, TestHost> hosts;
    std::map<NodeId, std::unique_ptr<NodeRuntime>> nodes;
    std::deque<std::pair<NodeId, Frame>> wire;  // (to, frame), in send order
    std::set<NodeId> down;

    explicit Cluster(int n) {
        for (NodeId i = 1; i <= NodeId(n); i++) {
            hosts[i].cluster = this;
            hosts[i].id = i;
        }
        for (NodeId i = 1; i <= NodeId(n); i++) {
            RuntimeConfig rc;
            rc.raft.id = i;
            for (NodeId j = 1; j <= NodeId(n); j++) rc.raft.peers.push_back(j);
            rc.raft.random_seed = 7;
            rc.session_seed = 100 + i;
            nodes[i] = std::make_unique<NodeRuntime>(rc, Restored{}, &hosts[i]);
        }
    }
    NodeRuntime& at(NodeId i) { return *nodes[i]; }
    // Runs every node's Ready loop, persists (if auto) and delivers until quiet.
    void settle() {
        for (int rounds = 0; rounds < 10000; rounds++) {
            bool busy = false;
            for (auto& [id, rt] : nodes) {
                while (rt->has_ready()) {
                    rt->process_ready();
                    busy = true;
                }
                TestHost& h = hosts[id];
                if (auto_persist && !h.disk.empty()) {
                    const uint64_t last = h.disk.back().id;
                    h.disk.clear();
                    rt->persisted(last);
                    busy = true;
                }
            }
            if (!wire.empty()) {
                auto [to, f] = std::move(wire.front());
                wire.pop_front();
                if (!down.count(to)) nodes[to]->receive(f, f.type == MessageType::ClientRequest || f.type == MessageType::ClientReply ? sender(f) : f.peer.from);
                busy = true;
            }
            if (!busy) return;
        }
        FAIL("cluster did not settle");
    }
    // Client frames carry no sender; the test host remembers it.
    std::deque<NodeId> client_senders;
    NodeId sender(const Frame&) {
        const NodeId s = client_senders.front();
        client_senders.pop_front();
        return s;
    }
    void tick_all(int n = 1) {
        for (int i = 0; i < n; i++) {
            clock += 50;
            for (auto& [id, rt] : nodes) rt->tick();
            settle();
        }
    }
    NodeId elect(NodeId n) {
        at(n).campaign();
        settle();
        REQUIRE(at(n).raft().role() == Role::Leader);
        tick_all(2);  // the no-op commits; followers learn the leader
        return n;
    }
};

bool TestHost::send(NodeId to, Frame frame) {
    if (cluster->down.count(id)) return false;
    if (frame.type == MessageType::ClientRequest || frame.type == MessageType::ClientReply) {
        // Keep the sender in order with the frame (the wire is FIFO).
        cluster->client_senders.push_back(id);
        cluster->wire.emplace_back(to, std::move(frame));
        return true;
    }
    cluster->wire.emplace_back(to, std::move(frame));
    return true;
}
TimeMs TestHost::now() const { return cluster->clock; }


}  // namespace

TEST_CASE("runtime: a write sent to a follower is forwarded, committed, applied everywhere and answered once") {
    Cluster c(3);
    c.elect(1);
    int answers = 0;
    ClientReply got;
    c.at(3).submit(put("x", "5"), [&](const ClientReply& r) { answers++; got = r; });
    c.settle();
    c.tick_all(2);
    REQUIRE(answers == 1);
    CHECK(got.ok);
    CHECK(c.at(3).stats().forwarded == 1);
    for (NodeId n = 1; n <= 3; n++) {
        REQUIRE(c.at(n).kv().get("x") != nullptr);
        CHECK(*c.at(n).kv().get("x") == "5");
    }
}

TEST_CASE("runtime: a read on a follower goes through the leader's ReadIndex and sees the last write") {
    Cluster c(3);
    c.elect(1);
    c.at(2).submit(put("k", "v1"), [](const ClientReply&) {});
    c.settle();
    ClientReply got;
    int answers = 0;
    c.at(3).submit(get("k"), [&](const ClientReply& r) { answers++; got = r; });
    c.settle();
    c.tick_all(2);
    REQUIRE(answers == 1);
    CHECK(got.ok);
    CHECK(got.found);
    CHECK(got.value == "v1");
    CHECK(c.at(1).stats().reads_served == 1);
}

TEST_CASE("runtime: persist before responding - a follower's acknowledgement waits for its write") {
    Cluster c(3);
    c.elect(1);
    c.auto_persist = false;
    c.at(1).submit(put("x", "1"), [](const ClientReply&) {});
    // Deliver everything, but keep node 2's and 3's writes from becoming durable.
    for (int i = 0; i < 200; i++) {
        for (auto& [id, rt] : c.nodes)
            while (rt->has_ready()) rt->process_ready();
        if (!c.hosts[1].disk.empty()) c.at(1).persisted(c.hosts[1].disk.back().id), c.hosts[1].disk.clear();
        if (c.wire.empty()) break;
        auto [to, f] = std::move(c.wire.front());
        c.wire.pop_front();
        c.nodes[to]->receive(f, f.peer.from);
    }
    const Index last = c.at(1).raft().log().last_index();
    CHECK(c.at(1).raft().commit_index() < last);  // no follower acknowledged: nothing durable there
    CHECK(c.at(2).raft().log().last_index() == last);
    REQUIRE_FALSE(c.hosts[2].disk.empty());
    c.at(2).persisted(c.hosts[2].disk.back().id);  // now node 2's write is durable...
    c.hosts[2].disk.clear();
    c.auto_persist = true;
    c.settle();
    CHECK(c.at(1).raft().commit_index() == last);  // ...its acknowledgement left, and a majority holds it
}

TEST_CASE("runtime: a retried request with the same client id and seq applies once") {
    Cluster c(3);
    c.elect(1);
    int answers = 0;
    c.at(2).submit(put("n", "1", 77, 1), [&](const ClientReply& r) { CHECK(r.ok); answers++; });
    c.settle();
    c.tick_all(2);
    // The client did not hear back (say) and sends the same request to another node.
    c.at(3).submit(put("n", "1", 77, 1), [&](const ClientReply& r) { CHECK(r.ok); answers++; });
    c.settle();
    c.tick_all(2);
    CHECK(answers == 2);
    Index entries_with_77 = 0;
    const RaftLog& log = c.at(1).raft().log();
    for (Index i = log.first_index(); i <= log.last_index(); i++)
        if (log.at(i).client_id == 77) entries_with_77++;
    CHECK(entries_with_77 == 1);  // the leader saw it applied and did not propose it again
}

TEST_CASE("runtime: with no leader a request fails after the request timeout, saying why") {
    Cluster c(3);
    ClientReply got;
    int answers = 0;
    c.down = {1, 2, 3};  // nothing gets through: no election can succeed
    c.at(2).submit(put("x", "1"), [&](const ClientReply& r) { answers++; got = r; });
    for (int i = 0; i < 3000 / 50 + 2; i++) {
        c.clock += 50;
        c.at(2).tick();
        while (c.at(2).has_ready()) c.at(2).process_ready();
        c.wire.clear();
    }
    REQUIRE(answers == 1);
    CHECK_FALSE(got.ok);
    CHECK(got.error.find("no leader elected within 3000 ms") != std::string::npos);
    CHECK(c.at(2).stats().timeouts == 1);
}

TEST_CASE("runtime: a request with a bad key is refused with the rule, not proposed") {
    Cluster c(1);
    c.elect(1);
    ClientReply got;
    c.at(1).submit(put("has space", "v"), [&](const ClientReply& r) { got = r; });
    c.settle();
    CHECK_FALSE(got.ok);
    CHECK(got.error.find("invalid request: key may not contain spaces") != std::string::npos);
    CHECK(c.at(1).stats().proposals == 0);
}

TEST_CASE("runtime: a follower that is behind answers a read through the leader, , and with serve_reads_locally it answers stale") {
    Cluster c(3);
    c.elect(1);
    c.down = {3};  // node 3 hears nothing for now
    c.at(1).submit(put("x", "new"), [](const ClientReply&) {});
    c.settle();
    c.tick_all(2);
    REQUIRE(c.at(1).kv().get("x") != nullptr);
    REQUIRE(c.at(3).kv().get("x") == nullptr);  // node 3 is behind
    c.down.clear();

    c.at(3).raft_mut().faults.serve_reads_locally = true;
    ClientReply stale;
    c.at(3).submit(get("x"), [&](const ClientReply& r) { stale = r; });
    CHECK(stale.ok);
    CHECK_FALSE(stale.found);  // the broken shortcut: the write the leader acknowledged is missing

    c.at(3).raft_mut().faults.serve_reads_locally = false;
    ClientReply fresh;
    c.at(3).submit(get("x"), [&](const ClientReply& r) { fresh = r; });
    c.settle();
    c.tick_all(2);
    CHECK(fresh.ok);
    CHECK(fresh.found);
    CHECK(fresh.value == "new");
}

namespace {
ClientReply run(Cluster& c, NodeId at, ClientRequest r) {
    ClientReply got;
    int answers = 0;
    c.at(at).submit(std::move(r), [&](const ClientReply& reply) { answers++; got = reply; });
    c.settle();
    c.tick_all(2);
    REQUIRE(answers == 1);
    return got;
}
ClientRequest cas(const std::string& key, const std::string& value, Index prev_revision) {
    ClientRequest r = put(key, value);
    r.condition = "revision";
    r.prev_revision = prev_revision;
    return r;
}
}  // namespace

TEST_CASE("runtime: a compare-and-swap through a follower is decided at apply, and its result reaches the client") {
    Cluster c(3);
    c.elect(1);
    const ClientReply first = run(c, 3, cas("lock", "node-3", 0));  // 0: only if nobody holds it
    CHECK(first.ok);
    CHECK_FALSE(first.condition_failed);
    CHECK(first.revision == c.at(1).kv().revision("lock"));
    CHECK(first.revision > 0);
    const ClientReply second = run(c, 2, cas("lock", "node-2", 0));
    CHECK(second.ok);  // served...
    CHECK(second.condition_failed);  // ...but the condition failed, reporting who holds it
    CHECK(second.revision == first.revision);
    CHECK(second.found);
    CHECK(second.value == "node-3");
    for (NodeId n = 1; n <= 3; n++) CHECK(*c.at(n).kv().get("lock") == "node-3");
    const ClientReply third = run(c, 2, cas("lock", "node-2", first.revision));
    CHECK_FALSE(third.condition_failed);
    CHECK(*c.at(2).kv().get("lock") == "node-2");
}

TEST_CASE("runtime: a write retried with its idempotency key after a leader change applies once") {
    Cluster c(3);
    c.elect(1);
    ClientRequest w = put("x", "1");
    w.idempotency_key = "req-42";
    const ClientReply first = run(c, 2, w);
    REQUIRE(first.ok);
    run(c, 1, put("x", "2"));  // someone else writes after it
    c.down = {1};  // the leader fails; a new one is elected
    c.tick_all(40);
    REQUIRE((c.at(2).raft().role() == Role::Leader || c.at(3).raft().role() == Role::Leader));
    // The client never heard the first answer (say) and retries through another node,
    // on a new connection: a new client id, the same idempotency key.
    const ClientReply retry = run(c, 2, w);
    CHECK(retry.ok);
    CHECK(retry.revision == first.revision);  // the first write's result
    for (NodeId n = 1; n <= 3; n++) CHECK(*c.at(n).kv().get("x") == "2");  // and nothing applied again
}

TEST_CASE("runtime: a bad list request is refused naming the rule") {
    Cluster c(1);
    c.elect(1);
    ClientRequest l;
    l.op = "list";
    l.limit = kMaxListLimit + 1;
    ClientReply got = run(c, 1, l);
    CHECK_FALSE(got.ok);
    CHECK(got.error == "invalid request: limit must be from 1 to 1000, got 1001");
    l.limit = 10;
    l.key = std::string(kMaxKeyBytes + 1, 'p');
    got = run(c, 1, l);
    CHECK(got.error == "invalid request: prefix is 1025 bytes, over the key limit of 1024");
}

TEST_CASE("runtime: a list on a follower goes through the leader's ReadIndex and pages in key order") {
    Cluster c(3);
    c.elect(1);
    for (const char* k : {"svc/b", "svc/a", "other", "svc/c"}) run(c, 1, put(k, std::string("v-") + k));
    ClientRequest l;
    l.op = "list";
    l.key = "svc/";
    l.limit = 2;
    const ClientReply page = run(c, 3, l);
    REQUIRE(page.ok);
    REQUIRE(page.items.size() == 2);
    CHECK(page.items[0].key == "svc/a");
    CHECK(page.items[1].value == "v-svc/b");
    CHECK(page.items[1].revision == c.at(1).kv().revision("svc/b"));
    CHECK(page.more);
    CHECK(page.revision == c.at(1).kv().applied_index());
    l.after = page.items.back().key;
    const ClientReply rest = run(c, 3, l);
    REQUIRE(rest.items.size() == 1);
    CHECK(rest.items[0].key == "svc/c");
    CHECK_FALSE(rest.more);
}

namespace {

ClientRequest membership_op(const std::string& op, NodeId node) {
    ClientRequest r;
    r.op = op;
    r.node = node;
    return r;
}

// Node `id` joins cluster c with no configuration (it learns one from the leader).
NodeRuntime& joining(Cluster& c, NodeId id, bool promote_self = false) {
    c.hosts[id].cluster = &c;
    c.hosts[id].id = id;
    RuntimeConfig rc;
    rc.raft.id = id;
    rc.raft.random_seed = 7;
    rc.session_seed = 100 + id;
    rc.promote_self = promote_self;
    c.nodes[id] = std::make_unique<NodeRuntime>(rc, Restored{}, &c.hosts[id]);
    return *c.nodes[id];
}

}  // namespace

TEST_CASE("runtime: membership changes sent to a follower are forwarded to the leader and answered once applied") {
    Cluster c(3);
    c.elect(1);
    joining(c, 4);
    REQUIRE(c.hosts[4].memberships.size() == 1);  // once on start: empty, it is joining
    CHECK(c.hosts[4].memberships[0].empty());
    std::vector<ClientReply> replies;
    auto record = [&](const ClientReply& r) { replies.push_back(r); };

    ClientRequest add = membership_op("add_learner", 4);
    add.peer = "127.0.0.1:7004";
    c.at(3).submit(add, record);
    c.settle();
    c.tick_all(2);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].ok);
    CHECK(replies[0].revision == c.at(1).raft().membership_index());
    CHECK(c.at(1).stats().conf_changes_applied == 1);
    CHECK(c.at(4).raft().membership().is_member(4));
    CHECK(c.hosts[4].memberships.back().find(4)->peer == "127.0.0.1:7004");
    CHECK(c.hosts[2].memberships.back() == c.at(1).raft().membership());
    CHECK(c.at(3).status()["membership"].size() == 4);

    c.at(2).submit(membership_op("promote", 4), record);
    c.settle();
    c.tick_all(2);
    REQUIRE(replies.size() == 2);
    CHECK(replies[1].ok);
    CHECK(c.at(1).raft().membership().is_voter(4));

    // A refusal is answered once, with Raft's reason: not "not leader", which the
    // requesting node would retry forever.
    c.at(3).submit(membership_op("promote", 9), record);
    c.settle();
    REQUIRE(replies.size() == 3);
    CHECK_FALSE(replies[2].ok);
    CHECK(replies[2].error == "node 9 is not a member (add it as a learner first)");

    c.at(2).submit(membership_op("transfer_leader", 4), record);
    c.settle();
    c.tick_all(2);
    REQUIRE(replies.size() == 4);
    CHECK(replies[3].ok);
    CHECK(c.at(4).raft().role() == Role::Leader);
    CHECK(c.at(1).stats().transfers == 1);

    c.at(2).submit(membership_op("remove", 1), record);
    c.settle();
    c.tick_all(2);
    REQUIRE(replies.size() == 5);
    CHECK(replies[4].ok);
    CHECK(c.at(4).raft().membership().voters() == std::vector<NodeId>{2, 3, 4});
}

TEST_CASE("runtime: a transfer to a node that is down is answered with an error once abandoned") {
    Cluster c(3);
    c.elect(1);
    c.down = {3};
    std::vector<ClientReply> replies;
    c.at(2).submit(membership_op("transfer_leader", 3), [&](const ClientReply& r) { replies.push_back(r); });
    c.settle();
    c.tick_all(12);
    REQUIRE(replies.size() == 1);
    CHECK_FALSE(replies[0].ok);
    CHECK(replies[0].error.find("abandoned") != std::string::npos);
    CHECK(c.at(1).raft().role() == Role::Leader);
}

TEST_CASE("runtime: a learner started with promote_self asks until it is a voter") {
    Cluster c(3);
    c.elect(1);
    joining(c, 4, /*promote_self=*/true);
    std::vector<ClientReply> replies;
    c.at(1).submit(membership_op("add_learner", 4), [&](const ClientReply& r) { replies.push_back(r); });
    c.settle();
    c.tick_all(60);
    REQUIRE(replies.size() == 1);
    CHECK(c.at(1).raft().membership().is_voter(4));
    CHECK(c.at(4).raft().is_voter());
}

TEST_CASE("runtime: a membership request must name a node") {
    CHECK(check_request(membership_op("remove", 0)) == "node id must be 1 or more");
    ClientRequest add = membership_op("add_learner", 4);
    add.peer = "host with space:1";
    CHECK(check_request(add).find("without spaces") != std::string::npos);
    CHECK(check_request(membership_op("promote", 4)) == "");
}

TEST_CASE("runtime: removing the leader is answered once applied, then it steps down and the others elect a leader") {
    Cluster c(3);
    c.elect(1);
    std::vector<ClientReply> replies;
    c.at(2).submit(membership_op("remove", 1), [&](const ClientReply& r) { replies.push_back(r); });
    c.settle();
    c.tick_all(2);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].ok);
    CHECK(c.at(1).raft().role() == Role::Follower);
    const uint64_t elections = c.at(1).stats().elections;
    c.tick_all(60);
    const NodeId leader = c.at(2).raft().leader_id();
    CHECK((leader == 2 || leader == 3));
    CHECK(c.at(leader).raft().membership().voters() == std::vector<NodeId>{2, 3});
    CHECK(c.at(1).raft().role() == Role::Follower);
    CHECK(c.at(1).stats().elections == elections);  // no member: it never campaigns
}

TEST_CASE("runtime: a change the configuration already shows is answered ok, and the runtime's snapshot records the configuration") {
    Cluster c(3);
    c.elect(1);
    joining(c, 4);
    std::vector<ClientReply> replies;
    auto record = [&](const ClientReply& r) { replies.push_back(r); };
    c.at(2).submit(membership_op("add_learner", 4), record);
    c.settle();
    c.tick_all(2);
    c.at(3).submit(membership_op("add_learner", 4), record);  // a retry, say, after a lost answer
    c.settle();
    REQUIRE(replies.size() == 2);
    CHECK(replies[1].ok);
    CHECK(replies[1].revision == replies[0].revision);
    CHECK(c.at(1).raft().log().last_index() == replies[0].revision);  // nothing proposed again

    // The same id under other addresses is another machine, not a retry: refused.
    ClientRequest other = membership_op("add_learner", 4);
    other.peer = "10.0.0.9:7004";
    c.at(3).submit(other, record);
    c.settle();
    REQUIRE(replies.size() == 3);
    CHECK_FALSE(replies[2].ok);
    CHECK(replies[2].error == "node 4 is already a member");

    REQUIRE(c.at(2).take_snapshot());
    REQUIRE(c.hosts[2].disk.back().snapshot.has_value());
    CHECK(c.hosts[2].disk.back().snapshot->meta.membership == c.at(1).raft().membership());
}
