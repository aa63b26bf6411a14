// The browser node (core/runtime/browser_node.h) against a native side built in the
// test: three NodeRuntimes with memory disks on one virtual clock, and the native end
// of the page's link as a native node's peer transport keeps it — CBOR frames down,
// the browser's JSON text frames up, the Hello/Auth handshake of core/auth/auth.h, and
// relaying by `to` (a frame for another native member goes on to it). The page's link
// goes to a follower, so everything the page asks reaches the leader only through the
// follower's relaying (node_runtime.h).
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>

#include "core/auth/auth.h"
#include "core/runtime/browser_node.h"
#include "tests/core/client_requests.h"

using namespace raftbook;
using namespace raftbook::testing;

namespace {

constexpr TimeMs kTick = 50;
constexpr NodeId kPage = 4242;
const char* const kCluster = "c-test";

struct Native;

// Three native voters and one page, with the page's link to `via` (or none).
struct World {
    TimeMs clock = 0;
    std::map<NodeId, std::unique_ptr<Native>> natives;
    struct Delivery {
        NodeId from, to;  // `from`: the node at the other end of the link it comes in on
        Frame frame;
    };
    std::deque<Delivery> wire;  // between natives
    std::unique_ptr<BrowserNode> page;
    NodeId page_id = kNoNode;

    // The native end of the page's link.
    NodeId via = kNoNode;
    std::string native_token;  // the cluster's token, "" for none
    std::string native_nonce;  // in the native Hello
    bool heard_page_hello = false;
    bool page_proven = false;
    std::deque<std::string> down;  // CBOR frames for the page
    std::string native_closed;     // why the native end closed the link ("" while open)
    std::string page_closed;       // why the page closed it

    explicit World(uint64_t snapshot_entries = 0);
    ~World();
    BrowserNodeConfig page_config(const std::string& token = "", bool promote_self = false) const;
    void open_page(BrowserNodeConfig config) {
        page_id = config.id;
        page = std::make_unique<BrowserNode>(std::move(config), clock);
    }
    void link(NodeId to);
    void route(NodeId from, NodeId to, Frame frame);
    void from_page(const std::string& text);
    void pump();
    void run(TimeMs ms);
    template <class F>
    bool run_until(F done, TimeMs limit = 20000) {
        for (TimeMs t = 0; t < limit && !done(); t += kTick) run(kTick);
        return done();
    }
    NodeRuntime& leader();
    std::optional<ClientReply> ask(ClientRequest r);  // from the page, answered within 10 s
};

struct Native : RuntimeHost {
    World* world;
    NodeId id;
    uint64_t written = 0, reported = 0;
    std::unique_ptr<NodeRuntime> runtime;
    Native(World* w, NodeId i, uint64_t snapshot_entries) : world(w), id(i) {
        RuntimeConfig rc;
        rc.raft.id = i;
        rc.raft.members = Membership::of_voters({1, 2, 3});
        rc.raft.random_seed = 11 * i;
        rc.session_seed = 100 + i;
        rc.snapshot_entries = snapshot_entries;
        rc.catchup_entries = snapshot_entries / 4;
        runtime = std::make_unique<NodeRuntime>(rc, Restored{}, this);
    }
    bool send(NodeId to, Frame frame) override {
        world->route(id, to, std::move(frame));
        return true;
    }
    void write(DiskWrite w) override { written = w.id; }
    TimeMs now() const override { return world->clock; }
    bool settle() {
        bool busy = false;
        while (runtime->has_ready() || written > reported) {
            busy = true;
            if (written > reported) runtime->persisted(reported = written);
            if (runtime->has_ready()) runtime->process_ready();
        }
        return busy;
    }
};

World::World(uint64_t snapshot_entries) {
    for (NodeId i = 1; i <= 3; i++) natives[i] = std::make_unique<Native>(this, i, snapshot_entries);
    natives[1]->runtime->campaign();
    pump();
}

World::~World() = default;

BrowserNodeConfig World::page_config(const std::string& token, bool promote_self) const {
    BrowserNodeConfig c;
    c.id = kPage;
    c.cluster_id = kCluster;
    c.token = token;
    c.random_hi = 0x1234;
    c.random_lo = 0x5678;
    c.runtime.promote_self = promote_self;
    c.membership = natives.at(1)->runtime->raft().membership();
    return c;
}

// The page opens a link to native member `to`; the native end says Hello with its nonce.
void World::link(NodeId to) {
    via = to;
    heard_page_hello = false;
    page_proven = native_token.empty();
    native_closed.clear();
    page_closed.clear();
    down.clear();
    native_nonce = auth_nonce(to, 99);
    Frame hello;
    hello.type = MessageType::Hello;
    hello.peer.type = MessageType::Hello;
    hello.peer.from = to;
    hello.nonce = native_nonce;
    hello.cluster = kCluster;
    down.push_back(encode_frame(hello, WireFormat::Cbor));
    page->link_up(to, clock);
}

void World::route(NodeId from, NodeId to, Frame frame) {
    frame.cluster = kCluster;
    if (natives.count(to)) {
        wire.push_back({from, to, std::move(frame)});
    } else if (to == page_id && via != kNoNode && page_proven && native_closed.empty()) {
        down.push_back(encode_frame(frame, WireFormat::Cbor));  // relayed by `via` when from another
    }
}

// The native end takes a text frame from the page, as a native node's transport would.
void World::from_page(const std::string& text) {
    Frame f;
    std::string error;
    if (!decode_frame(text, WireFormat::Json, &f, &error)) FAIL("the page sent an undecodable frame: " << error);
    CHECK(f.cluster == kCluster);
    if (!heard_page_hello) {
        REQUIRE(f.type == MessageType::Hello);
        heard_page_hello = true;
        if (!native_token.empty()) {
            Frame auth;
            auth.type = MessageType::Auth;
            auth.peer.type = MessageType::Auth;
            auth.peer.from = via;
            auth.cluster = kCluster;
            auth.proof = auth_proof(native_token, f.nonce, via);
            down.push_back(encode_frame(auth, WireFormat::Cbor));
        }
        return;
    }
    if (f.type == MessageType::Auth) {
        if (native_token.empty()) return;
        if (!auth_proof_ok(native_token, native_nonce, page_id, f.proof)) native_closed = "wrong token";
        page_proven = native_closed.empty();
        return;
    }
    if (!page_proven) {
        native_closed = "this cluster needs a token";
        return;
    }
    const bool client = f.type == MessageType::ClientRequest || f.type == MessageType::ClientReply;
    if (!client && f.peer.to != via) {
        wire.push_back({via, f.peer.to, std::move(f)});  // relayed
        return;
    }
    natives.at(via)->runtime->receive(f, page_id);
}

void World::pump() {
    for (int rounds = 0; rounds < 100000; rounds++) {
        bool busy = false;
        for (auto& [id, n] : natives) busy |= n->settle();
        while (!wire.empty()) {
            const Delivery d = std::move(wire.front());
            wire.pop_front();
            natives.at(d.to)->runtime->receive(d.frame, d.from);
            busy = true;
        }
        if (page && via != kNoNode) {
            for (const std::string& text : page->take_outbox()) {
                if (native_closed.empty() && page_closed.empty()) from_page(text);
                busy = true;
            }
            while (!down.empty() && native_closed.empty() && page_closed.empty()) {
                const std::string bytes = std::move(down.front());
                down.pop_front();
                page_closed = page->receive(bytes, false, clock);
                busy = true;
            }
        }
        if (!busy) return;
    }
    FAIL("the world never went quiet");
}

void World::run(TimeMs ms) {
    for (TimeMs t = 0; t < ms; t += kTick) {
        clock += kTick;
        for (auto& [id, n] : natives) n->runtime->tick();
        if (page) page->tick(clock);
        pump();
    }
}

NodeRuntime& World::leader() {
    for (auto& [id, n] : natives)
        if (n->runtime->raft().role() == Role::Leader) return *n->runtime;
    FAIL("no native leader");
    return *natives.begin()->second->runtime;
}

std::optional<ClientReply> World::ask(ClientRequest r) {
    std::optional<ClientReply> reply;
    page->submit(std::move(r), [&](const ClientReply& x) { reply = x; }, clock);
    pump();
    run_until([&] { return reply.has_value(); }, 10000);
    return reply;
}

std::optional<ClientReply> native_put(World& w, const std::string& key, const std::string& value) {
    std::optional<ClientReply> reply;
    w.leader().submit(put(key, value), [&](const ClientReply& x) { reply = x; });
    w.pump();
    return reply;
}

}  // namespace

TEST_CASE("browser node: its Hello names it and carries a fresh nonce, and the link is no route before the other side's Hello") {
    World w;
    w.open_page(w.page_config());
    w.page->link_up(2, w.clock);
    std::vector<std::string> out = w.page->take_outbox();
    REQUIRE(out.size() == 1);
    Frame hello;
    std::string error;
    REQUIRE(decode_frame(out[0], WireFormat::Json, &hello, &error));
    CHECK(hello.type == MessageType::Hello);
    CHECK(hello.peer.from == kPage);
    CHECK(hello.cluster == kCluster);
    CHECK(hello.nonce.size() == 32);
    CHECK(w.page->status()["link"]["up"] == false);
    w.page->link_down(w.clock);
    w.page->link_up(2, w.clock);
    Frame again;
    REQUIRE(decode_frame(w.page->take_outbox().at(0), WireFormat::Json, &again, &error));
    CHECK(again.nonce != hello.nonce);  // a new link, a new challenge
}

TEST_CASE("browser node: without a token it joins through a follower as a browser learner and catches up") {
    World w;
    for (int i = 0; i < 5; i++) REQUIRE(native_put(w, "k" + std::to_string(i), "v")->ok);
    w.open_page(w.page_config());
    w.link(2);  // a follower: the join reaches the leader only through its relaying
    REQUIRE(w.run_until([&] { return w.page->joined(); }));
    const Member* me = w.leader().raft().membership().find(kPage);
    REQUIRE(me != nullptr);
    CHECK(me->browser);
    CHECK_FALSE(me->voter);
    REQUIRE(w.run_until([&] { return w.page->status()["applied_index"] == w.leader().kv().applied_index(); }));
    const nlohmann::json s = w.page->status();
    CHECK(s["kv_fingerprint"] == w.leader().status()["kv_fingerprint"]);
    CHECK(s["joined"] == true);
    CHECK(s["link"]["via"] == 2);
    CHECK(s["link"]["up"] == true);
    CHECK(s["role"] == "follower");
    CHECK(s["voter"] == false);
    bool self_listed = false;
    for (const nlohmann::json& m : s["members"])
        if (m["id"] == kPage) self_listed = m["kind"] == "browser" && m["self"] == true;
    CHECK(self_listed);
    CHECK(s["log_tail"].size() > 0);
    CHECK(s["log_tail"].back()["index"] == s["log_last_index"]);
}

TEST_CASE("browser node: status shows the last frames up and down its link, with their times, at most 64") {
    World w;
    w.open_page(w.page_config());
    w.link(2);
    REQUIRE(w.run_until([&] { return w.page->joined(); }));
    REQUIRE(native_put(w, "k", "v")->ok);  // the leader's Append with it reaches the page through node 2
    const Index index = w.leader().raft().log().last_index();
    const nlohmann::json frames = w.page->status()["recent_frames"];
    const auto seen = [&](const char* dir, const char* type, NodeId from, NodeId to) {
        for (const nlohmann::json& f : frames)
            if (f["dir"] == dir && f["type"] == type && f["from"] == from && f["to"] == to && f["at_ms"] == w.clock &&
                f["index"] == (std::string(type) == "Append" ? index - 1 : index))
                return true;
        return false;
    };
    CHECK(seen("received", "Append", 1, kPage));
    CHECK(seen("sent", "AppendResp", kPage, 1));
    CHECK(frames.front()["dir"] == "sent");  // oldest first: the page's Hello still leads
    CHECK(frames.front()["type"] == "Hello");
    REQUIRE(w.ask(put("color", "blue"))->ok);
    const nlohmann::json asked = w.page->status()["recent_frames"];
    const auto client = [&](const char* type) {
        for (auto f = asked.rbegin(); f != asked.rend(); ++f)  // the newest
            if ((*f)["type"] == type) return *f;
        return nlohmann::json();
    };
    CHECK(client("ClientRequest")["op"] == "put");
    CHECK(client("ClientRequest")["key"] == "color");
    CHECK(client("ClientRequest")["dir"] == "sent");
    CHECK(client("ClientReply")["ok"] == true);
    CHECK(client("ClientReply")["dir"] == "received");
    w.run(5000);  // a heartbeat and its answer every tick
    const nlohmann::json later = w.page->status()["recent_frames"];
    CHECK(later.size() == 64);
    CHECK(later.back()["at_ms"] == w.clock);
}

TEST_CASE("browser node: a page far behind a compacted leader catches up by snapshot") {
    World w(/*snapshot_entries=*/20);
    for (int i = 0; i < 100; i++) REQUIRE(native_put(w, "k" + std::to_string(i), std::to_string(i))->ok);
    REQUIRE(w.leader().raft().log().first_index() > 1);  // the start of the log is gone
    w.open_page(w.page_config());
    w.link(2);
    // Its status shows a chunk coming down the link, with where it sits in the snapshot.
    REQUIRE(w.run_until([&] {
        const nlohmann::json frames = w.page->status()["recent_frames"];
        for (const nlohmann::json& f : frames)
            if (f["type"] == "Snapshot" && f["dir"] == "received" && f["total"] > 0 && f.contains("offset")) return true;
        return false;
    }));

    REQUIRE(w.run_until([&] {
        return w.page->joined() && w.page->status()["applied_index"] == w.leader().kv().applied_index();
    }));
    const nlohmann::json s = w.page->status();
    CHECK(s["snapshot_index"].get<Index>() > 0);
    CHECK(s["kv_fingerprint"] == w.leader().status()["kv_fingerprint"]);
    CHECK(s["kv_keys"] == 100);
}

TEST_CASE("browser node: the page's put commits on every node and its get reads it back") {
    World w;
    w.open_page(w.page_config());
    w.link(3);
    REQUIRE(w.run_until([&] { return w.page->joined(); }));
    const std::optional<ClientReply> wrote = w.ask(put("color", "blue"));
    REQUIRE(wrote);
    CHECK(wrote->ok);
    CHECK(wrote->revision > 0);
    for (auto& [id, n] : w.natives) {
        w.run_until([&] { return n->runtime->kv().applied_index() >= wrote->revision; });
        CHECK(*n->runtime->kv().get("color") == "blue");
    }
    const std::optional<ClientReply> read = w.ask(get("color"));
    REQUIRE(read);
    CHECK(read->error == "");
    CHECK(read->ok);
    CHECK(read->found);
    CHECK(read->value == "blue");
}

TEST_CASE("browser node: a request before it has joined goes through its link, and fails with a reason without one") {
    World w;
    REQUIRE(native_put(w, "x", "1")->ok);
    w.open_page(w.page_config());
    // No link: no route, so the request times out, saying so.
    std::optional<ClientReply> lost;
    w.page->submit(get("x"), [&](const ClientReply& r) { lost = r; }, w.clock);
    REQUIRE(w.run_until([&] { return lost.has_value(); }));
    CHECK_FALSE(lost->ok);
    CHECK_FALSE(lost->error.empty());
    // With a link, a read is served even before the configuration shows the page.
    w.link(2);
    const std::optional<ClientReply> read = w.ask(get("x"));
    REQUIRE(read);
    CHECK(read->error == "");
    CHECK(read->ok);
    CHECK(read->value == "1");
}

TEST_CASE("browser node: with promote_self it becomes a voter once caught up, and promote() does it on request") {
    SECTION("promote_self") {
        World w;
        w.open_page(w.page_config("", /*promote_self=*/true));
        w.link(2);
        REQUIRE(w.run_until([&] { return w.leader().raft().membership().is_voter(kPage); }));
        REQUIRE(w.run_until([&] { return w.page->status()["voter"] == true; }));
    }
    SECTION("promote()") {
        World w;
        w.open_page(w.page_config());
        w.link(2);
        REQUIRE(w.run_until([&] { return w.page->joined(); }));
        w.run(1000);
        CHECK_FALSE(w.leader().raft().membership().is_voter(kPage));  // a learner until asked
        std::optional<ClientReply> reply;
        w.page->promote([&](const ClientReply& r) { reply = r; }, w.clock);
        REQUIRE(w.run_until([&] { return reply.has_value(); }));
        CHECK(reply->error == "");
        CHECK(reply->ok);
        CHECK(w.leader().raft().membership().is_voter(kPage));
        // A voter now: the leader counts its acks, and a write still commits with it.
        const std::optional<ClientReply> wrote = w.ask(put("after", "promotion"));
        REQUIRE(wrote);
        CHECK(wrote->ok);
    }
}

TEST_CASE("browser node: leave() removes it from the cluster, and a removed node stops") {
    World w;
    w.open_page(w.page_config());
    w.link(2);
    REQUIRE(w.run_until([&] { return w.page->joined(); }));
    std::optional<ClientReply> reply;
    w.page->leave([&](const ClientReply& r) { reply = r; }, w.clock);
    REQUIRE(w.run_until([&] { return reply.has_value(); }));
    CHECK(reply->error == "");
    CHECK(reply->ok);
    CHECK(w.leader().raft().membership().was_removed(kPage));
    CHECK(w.page->removed());
    CHECK(w.page->status()["removed_from_cluster"] == true);
    std::optional<ClientReply> after;
    w.page->submit(put("x", "1"), [&](const ClientReply& r) { after = r; }, w.clock);
    REQUIRE(after);
    CHECK_FALSE(after->ok);
    CHECK_THAT(after->error, Catch::Contains("was removed") && Catch::Contains("new id"));
    Frame append;  // Raft traffic is refused: the page closes the link
    append.type = MessageType::Append;
    append.peer.type = MessageType::Append;
    append.peer.from = 1;
    append.peer.to = kPage;
    append.cluster = kCluster;
    CHECK_THAT(w.page->receive(encode_frame(append, WireFormat::Cbor), false, w.clock),
               Catch::Contains("was removed from the cluster"));
}

TEST_CASE("browser node: a link closed with code 4001 (removed) stops it") {
    World w;
    w.open_page(w.page_config());
    w.page->link_up(2, w.clock);
    w.page->link_down(w.clock, 4001);
    CHECK(w.page->removed());
    w.page->link_down(w.clock, 1000);  // any other code: just a closed link
    World w2;
    w2.open_page(w2.page_config());
    w2.page->link_down(w2.clock, 1006);
    CHECK_FALSE(w2.page->removed());
}

TEST_CASE("browser node: with a token the right proofs pass both ways and it joins") {
    World w;
    w.native_token = "s3cret";
    w.open_page(w.page_config("s3cret"));
    w.link(2);
    REQUIRE(w.run_until([&] { return w.page->joined(); }));
    CHECK(w.native_closed.empty());
    CHECK(w.page_closed.empty());
}

TEST_CASE("browser node: a side that proves another token is refused with the reason") {
    SECTION("the native side proves another token: the page closes the link") {
        World w;
        w.native_token = "other";
        w.open_page(w.page_config("s3cret"));
        w.link(2);
        w.run(500);
        CHECK_THAT(w.page_closed, Catch::StartsWith("wrong token"));
        CHECK_FALSE(w.page->joined());
        CHECK(w.page->status()["link"]["up"] == false);
    }
    SECTION("the native side has no token and sends Raft traffic unproven: the page closes the link") {
        World w;
        w.open_page(w.page_config("s3cret"));
        w.link(2);
        Frame f;
        f.type = MessageType::Append;
        f.peer.type = MessageType::Append;
        f.peer.from = 1;
        f.peer.to = kPage;
        f.cluster = kCluster;
        w.pump();
        CHECK_THAT(w.page->receive(encode_frame(f, WireFormat::Cbor), false, w.clock),
                   Catch::Contains("before proving it knows the token"));
    }
    SECTION("the page has no token: it ignores the native side's Auth, and the native side refuses it") {
        World w;
        w.native_token = "s3cret";
        w.open_page(w.page_config());
        w.link(2);
        w.run(500);
        CHECK(w.page_closed.empty());  // Auth ignored
        CHECK(w.native_closed == "this cluster needs a token");
        CHECK_FALSE(w.page->joined());
    }
}

TEST_CASE("browser node: bytes that are no frame, or the wrong frame, get a close reason and never a crash") {
    World w;
    w.open_page(w.page_config());
    w.page->link_up(2, w.clock);
    CHECK_THAT(w.page->receive("\xff\x00garbage", false, w.clock), Catch::StartsWith("undecodable frame from node 2"));
    CHECK_THAT(w.page->receive("{not json", true, w.clock), Catch::StartsWith("undecodable frame from node 2"));
    Frame append;
    append.type = MessageType::Append;
    append.peer.type = MessageType::Append;
    append.peer.from = 2;
    append.cluster = kCluster;
    CHECK(w.page->receive(encode_frame(append, WireFormat::Cbor), false, w.clock) ==
          "first frame must be Hello, got Append");
    Frame hello;
    hello.type = MessageType::Hello;
    hello.peer.type = MessageType::Hello;
    hello.peer.from = 3;
    hello.cluster = kCluster;
    CHECK_THAT(w.page->receive(encode_frame(hello, WireFormat::Cbor), false, w.clock),
               Catch::StartsWith("dialled node 2 but node 3 answered"));
    hello.cluster = "another";
    CHECK_THAT(w.page->receive(encode_frame(hello, WireFormat::Cbor), false, w.clock),
               Catch::Contains("this node is in cluster 'c-test'"));
    std::mt19937_64 rng(5);
    for (int i = 0; i < 2000; i++) {
        std::string bytes(rng() % 64, '\0');
        for (char& c : bytes) c = char(rng());
        CHECK_FALSE(w.page->receive(bytes, i % 2 == 0, w.clock).empty());
    }
    // Still a working node: the link to node 2 completes and it joins.
    w.link(2);
    CHECK(w.run_until([&] { return w.page->joined(); }));
}

TEST_CASE("browser node: a follower relays a page's request to the leader once, however often the page sends it") {
    World w;  // no page object: the test sends its frames up node 2's end of the link
    w.via = 2;
    w.page_id = kPage;
    w.page_proven = true;
    Frame f;
    f.type = MessageType::ClientRequest;
    f.cluster = kCluster;
    f.request = put("k", "v");
    f.request.client_id = 77;
    f.request.seq = 1;
    w.natives.at(2)->runtime->receive(f, kPage);
    w.natives.at(2)->runtime->receive(f, kPage);  // the page's retry, before the answer
    w.pump();
    std::vector<ClientReply> replies;
    for (const std::string& bytes : w.down) {
        Frame r;
        std::string error;
        REQUIRE(decode_frame(bytes, WireFormat::Cbor, &r, &error));
        if (r.type == MessageType::ClientReply) replies.push_back(r.reply);
    }
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].ok);
    CHECK(replies[0].client_id == 77);
    CHECK(*w.leader().kv().get("k") == "v");
}

TEST_CASE("browser node: a voter that voted and then reloads comes back as a new member under a fresh id") {
    World w;
    w.open_page(w.page_config("", /*promote_self=*/true));
    w.link(2);
    REQUIRE(w.run_until([&] { return w.leader().raft().membership().is_voter(kPage); }));
    const Term before = w.page->status()["term"];
    ClientRequest transfer;  // an election the page votes in
    transfer.op = "transfer_leader";
    transfer.node = 3;
    w.leader().submit(transfer, [](const ClientReply&) {});
    w.pump();
    REQUIRE(w.run_until([&] { return w.page->status()["term"] > before && w.page->status()["leader"] == 3; }));
    // The reload: the tab's memory, its vote and its log with it, is gone. The page starts
    // a node under a fresh id (BrowserNode never reuses one), which knows nothing of the
    // old vote and needs none of it: it is a new learner with an empty log.
    BrowserNodeConfig fresh = w.page_config();
    fresh.id = kPage + 1;
    fresh.membership = w.leader().raft().membership();
    w.open_page(fresh);
    CHECK(w.page->status()["term"] == 0);
    w.link(1);
    REQUIRE(w.run_until([&] { return w.page->joined(); }));
    const Membership& config = w.leader().raft().membership();
    CHECK(config.is_voter(kPage));  // the old member, until the leader removes it as absent
    CHECK(config.is_member(kPage + 1));
    CHECK_FALSE(config.is_voter(kPage + 1));
    // Three of the four voters are enough: writes still commit.
    const std::optional<ClientReply> wrote = native_put(w, "after", "reload");
    REQUIRE(wrote);
    CHECK(wrote->ok);
}
