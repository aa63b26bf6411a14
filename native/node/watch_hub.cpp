// Recent changes and their watchers; see watch_hub.h.
#include "native/node/watch_hub.h"

#include <algorithm>

namespace raftbook {

template <class F>
void WatchHub::each(F f) {
    iterating_++;
    for (size_t i = 0; i < watchers_.size(); i++)  // by index: a call may not add, but may null a slot
        if (watchers_[i]) f(watchers_[i]);
    if (--iterating_ == 0) watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), nullptr), watchers_.end());
}

void WatchHub::record(WatchEvent e) {
    each([&](Watcher* w) {
        if (e.revision >= w->from && w->matches(e.key)) w->on_change(e);
    });
    history_bytes_ += e.key.size() + e.value.size();
    history_.push_back(std::move(e));
    while (history_.size() > capacity_ || history_bytes_ > kMaxHistoryBytes) {
        floor_ = history_.front().revision;
        history_bytes_ -= history_.front().key.size() + history_.front().value.size();
        history_.pop_front();
    }
}

void WatchHub::reset(Index floor) {
    history_.clear();
    history_bytes_ = 0;
    floor_ = floor;
}

bool WatchHub::subscribe(Watcher* w, Index from) {
    if (std::max<Index>(from, 1) <= floor_) return false;  // revisions start at 1
    w->from = from;
    auto it = std::lower_bound(history_.begin(), history_.end(), from,
                               [](const WatchEvent& e, Index rev) { return e.revision < rev; });
    for (; it != history_.end(); ++it)
        if (w->matches(it->key)) w->on_change(*it);
    watchers_.push_back(w);
    count_++;
    if (stale_) w->on_stale(true, stale_reason_);
    return true;
}

void WatchHub::unsubscribe(Watcher* w) {
    auto it = std::find(watchers_.begin(), watchers_.end(), w);
    if (it == watchers_.end()) return;
    count_--;
    if (iterating_) {
        *it = nullptr;
    } else {
        watchers_.erase(it);
    }
}

void WatchHub::close_all() {
    std::vector<Watcher*> all;
    for (Watcher* w : watchers_)
        if (w) all.push_back(w);
    for (Watcher* w : all) unsubscribe(w);
    for (Watcher* w : all) w->on_close();
}

void WatchHub::observe_leader(bool known, std::chrono::steady_clock::time_point now) {
    if (known) {
        leader_known_ = true;
        if (!stale_) return;
        stale_ = false;
        stale_reason_.clear();
        each([&](Watcher* w) { w->on_stale(false, node_name_ + " has a leader again; changes flow again"); });
        return;
    }
    if (leader_known_) {
        leader_known_ = false;
        leader_lost_at_ = now;
    }
    if (stale_ || now - leader_lost_at_ < kStaleAfter) return;
    stale_ = true;
    stale_reason_ = node_name_ + " has known no leader for " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kStaleAfter).count()) +
                    " s: it may be cut off from the cluster, and changes made elsewhere do not reach this stream. "
                    "Watch through another node (from the last revision seen + 1) or wait";
    each([&](Watcher* w) { w->on_stale(true, stale_reason_); });
}

}  // namespace raftbook
