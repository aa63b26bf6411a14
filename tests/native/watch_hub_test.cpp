// WatchHub (native/node/watch_hub.h) on its own: replay from a revision, the bounded
// history and its floor, staleness after kStaleAfter without a leader, and watchers
// that leave while being told of a change.
#include <catch2/catch.hpp>

#include "native/node/watch_hub.h"

using namespace raftbook;

namespace {

struct Recorder : Watcher {
    std::vector<Index> seen;
    std::vector<std::string> notices;
    bool closed = false;
    WatchHub* leave_from = nullptr;  // unsubscribe on the first change
    void on_change(const WatchEvent& e) override {
        seen.push_back(e.revision);
        if (leave_from) leave_from->unsubscribe(this);
    }
    void on_stale(bool stale, const std::string& why) override { notices.push_back((stale ? "stale: " : "live: ") + why); }
    void on_close() override { closed = true; }
};

WatchEvent change(Index rev, const std::string& key) { return WatchEvent{rev, key, "v", false}; }

}  // namespace

TEST_CASE("watch hub: a watcher gets the held changes from its revision on, then new ones, of its keys only",
          "[watch]") {
    WatchHub hub(10, 5, "node 1");
    hub.record(change(3, "a/1"));
    hub.record(change(5, "b"));
    hub.record(change(8, "a/2"));
    Recorder w;
    w.key = "a/";
    w.prefix = true;
    REQUIRE(hub.subscribe(&w, 4));
    hub.record(change(9, "a/3"));
    hub.record(change(10, "a"));  // not under "a/"
    CHECK(w.seen == std::vector<Index>{8, 9});
    Recorder exact;
    exact.key = "b";
    REQUIRE(hub.subscribe(&exact, 0));  // from the start: everything held
    CHECK(exact.seen == std::vector<Index>{5});
}

TEST_CASE("watch hub: a watcher resumed ahead of a node that is behind hears only changes from its revision on",
          "[watch]") {
    WatchHub hub(10, 5, "node 1");  // a restarted node, catching up from revision 1
    Recorder w;
    w.key = "k";
    REQUIRE(hub.subscribe(&w, 3));  // Last-Event-ID: 2, seen on another node
    for (Index r : {1, 2, 3, 4}) hub.record(change(r, "k"));
    CHECK(w.seen == std::vector<Index>{3, 4});
}

TEST_CASE("watch hub: past its capacity the history forgets the oldest, and a watcher from before is refused",
          "[watch]") {
    WatchHub hub(2, 5, "node 1");
    for (Index r : {1, 2, 3}) hub.record(change(r, "k"));
    CHECK(hub.floor() == 1);
    Recorder w;
    w.key = "k";
    CHECK_FALSE(hub.subscribe(&w, 1));  // revision 1 is gone: the watcher must re-list
    CHECK(hub.watchers() == 0);
    REQUIRE(hub.subscribe(&w, 2));
    CHECK(w.seen == std::vector<Index>{2, 3});
}

TEST_CASE("watch hub: watchers hear that the node has had no leader for kStaleAfter, and that it has one again",
          "[watch]") {
    WatchHub hub(10, 5, "node 2");
    Recorder w;
    w.key = "k";
    REQUIRE(hub.subscribe(&w, 1));
    const auto t0 = std::chrono::steady_clock::now();
    hub.observe_leader(false, t0);
    hub.observe_leader(false, t0 + WatchHub::kStaleAfter - std::chrono::milliseconds(1));
    CHECK(w.notices.empty());
    hub.observe_leader(false, t0 + WatchHub::kStaleAfter);
    REQUIRE(w.notices.size() == 1);
    CHECK(w.notices[0].find("stale: node 2 has known no leader") == 0);
    Recorder late;  // subscribes while stale: told at once
    late.key = "k";
    REQUIRE(hub.subscribe(&late, 1));
    CHECK(late.notices.size() == 1);
    hub.observe_leader(true, t0 + 2 * WatchHub::kStaleAfter);
    CHECK(w.notices.back().find("live: ") == 0);
}

TEST_CASE("watch hub: a watcher may leave while being told of a change, the rest are still told, and close_all closes",
          "[watch]") {
    WatchHub hub(10, 2, "node 1");
    Recorder leaving, staying;
    leaving.key = staying.key = "k";
    leaving.leave_from = &hub;
    REQUIRE(hub.subscribe(&leaving, 1));
    REQUIRE(hub.subscribe(&staying, 1));
    CHECK(hub.full());
    hub.record(change(1, "k"));
    hub.record(change(2, "k"));
    CHECK(leaving.seen == std::vector<Index>{1});
    CHECK(staying.seen == std::vector<Index>{1, 2});
    CHECK(hub.watchers() == 1);
    hub.close_all();
    CHECK(staying.closed);
    CHECK(hub.watchers() == 0);
}

TEST_CASE("watch hub: it is full at max_watchers, and a watcher leaving or refused makes or takes no place",
          "[watch]") {
    WatchHub hub(2, 3, "node 1");  // at most 3 watchers (a node: kMaxWatchers, 1000)
    hub.record(change(1, "k"));
    hub.record(change(2, "k"));
    hub.record(change(3, "k"));
    std::vector<Recorder> w(4);
    for (Recorder& r : w) r.key = "k";
    CHECK_FALSE(hub.subscribe(&w[0], 1));  // revision 1 is gone: refused, and not counted
    for (int i = 0; i < 3; i++) {
        CHECK_FALSE(hub.full());
        REQUIRE(hub.subscribe(&w[i], 2));
    }
    CHECK(hub.full());  // the HTTP layer answers a fourth 503 (GET /watch)
    CHECK(hub.watchers() == 3);
    w[1].leave_from = &hub;  // leaves on the next change
    hub.record(change(4, "k"));
    CHECK_FALSE(hub.full());
    REQUIRE(hub.subscribe(&w[3], 4));
    CHECK(hub.full());
    hub.unsubscribe(&w[0]);
    hub.unsubscribe(&w[0]);  // twice: still one place
    CHECK(hub.watchers() == 2);
    CHECK_FALSE(hub.full());
}
