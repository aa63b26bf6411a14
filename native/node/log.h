// One-line log messages on stderr for the native node.
//
// A node logs what an operator needs to follow it — role changes, peers connecting and
// going away, rejected input, fatal errors — as single timestamped lines, never one per
// message. log_line() is printf-style and thread-safe (one write(2) per line), so the
// disk thread may log too. set_log_prefix() names the process once ("node 2").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace raftbook {

void set_log_prefix(const std::string& prefix);
void log_line(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Lets one kind of event through at most once per `interval`, per key (e.g. one line per
// misbehaving peer address), and counts what it held back.
class LogLimiter {
public:
    explicit LogLimiter(std::chrono::milliseconds interval) : interval_(interval) {}
    // True when a line for `key` may be logged now; *suppressed is how many were held
    // back for that key since the last line.
    bool allow(const std::string& key, uint64_t* suppressed);
    // The end of such a line: " (N more since the last report)", or "" when none were.
    static std::string held_back(uint64_t suppressed);

private:
    struct Slot {
        std::chrono::steady_clock::time_point last;
        uint64_t suppressed = 0;
    };
    std::chrono::milliseconds interval_;
    std::unordered_map<std::string, Slot> slots_;
};

}  // namespace raftbook
