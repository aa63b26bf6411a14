// The changes a node's watchers see: a bounded history of recent key changes, and the
// watchers subscribed to them (GET /watch, http_server.h).
//
// The native host feeds it from the runtime's on_apply hook, so a node — leader or
// follower — tells its watchers about each change as it applies it, in revision
// (log index) order. The history holds the last `capacity` changes (and at most
// kMaxHistoryBytes of keys and values): it has every change
// with a revision above floor(). A watcher asking to start at a revision at or below
// the floor may have missed changes the node no longer has, and is refused (the HTTP
// layer tells it to re-list: `event: compacted`).
//
// A node cut off from the cluster applies nothing, and its watchers would hear nothing
// while changes go on elsewhere. So the host reports whether it knows a leader
// (observe_leader, every tick); after kStaleAfter without one, every watcher is told the
// stream is stale, and told again once a leader is back.
//
// Everything runs on the node's io thread. Watchers are called synchronously; one may
// unsubscribe (itself or another) from inside a call, but not subscribe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "core/raft/entry.h"

namespace raftbook {

struct WatchEvent {
    Index revision = 0;
    std::string key;
    std::string value;     // when !deleted
    bool deleted = false;
};

class Watcher {
public:
    virtual ~Watcher() = default;
    virtual void on_change(const WatchEvent& e) = 0;
    // The node lost (stale) or regained its leader; `why` says which, for the client.
    virtual void on_stale(bool stale, const std::string& why) = 0;
    // The node stops serving: the watcher is unsubscribed already.
    virtual void on_close() = 0;

    std::string key;      // the key watched, or the prefix when `prefix`
    bool prefix = false;
    Index from = 0;       // the first revision it wants (set by subscribe)
    bool matches(const std::string& k) const { return prefix ? k.compare(0, key.size(), key) == 0 : k == key; }
};

class WatchHub {
public:
    static constexpr auto kStaleAfter = std::chrono::seconds(2);
    static constexpr size_t kMaxHistoryBytes = 64 * 1024 * 1024;

    WatchHub(size_t capacity, size_t max_watchers, std::string node_name)
        : capacity_(capacity), max_watchers_(max_watchers), node_name_(std::move(node_name)) {}

    // A change applied at e.revision (revisions only grow).
    void record(WatchEvent e);
    // The history restarts above `floor` (the state was replaced wholesale, e.g. by a
    // snapshot): changes at or below it are no longer known.
    void reset(Index floor);
    Index floor() const { return floor_; }
    // The newest revision recorded (or the floor).
    Index last() const { return history_.empty() ? floor_ : history_.back().revision; }

    // Subscribes `w` to changes from revision `from` on, first replaying those in the
    // history. A `from` past the newest change is kept: a node that is behind (restarted,
    // catching up) applies changes below it again, and the watcher, resumed with
    // Last-Event-ID, has seen them already. Returns false (subscribing nothing) when changes from `from` on may be
    // missing: from <= floor().
    bool subscribe(Watcher* w, Index from);
    void unsubscribe(Watcher* w);
    // Tells every watcher the node is stopping (on_close) and forgets them.
    void close_all();
    size_t watchers() const { return count_; }
    bool full() const { return count_ >= max_watchers_; }
    size_t max_watchers() const { return max_watchers_; }

    // Whether the node knows a leader now (called every tick, with a steady clock).
    void observe_leader(bool known, std::chrono::steady_clock::time_point now);
    bool stale() const { return stale_; }
    const std::string& stale_reason() const { return stale_reason_; }

private:
    size_t capacity_;
    size_t max_watchers_;
    std::string node_name_;
    std::deque<WatchEvent> history_;
    size_t history_bytes_ = 0;
    Index floor_ = 0;
    // Calls f on every watcher; an unsubscribe meanwhile leaves a null slot, dropped after.
    template <class F>
    void each(F f);
    std::vector<Watcher*> watchers_;
    size_t count_ = 0;
    int iterating_ = 0;
    bool leader_known_ = true;
    std::chrono::steady_clock::time_point leader_lost_at_;
    bool stale_ = false;
    std::string stale_reason_;
};

}  // namespace raftbook
