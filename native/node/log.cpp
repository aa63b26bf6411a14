// Timestamped single-line logging to stderr, and the per-key rate limiter; see log.h.
#include "native/node/log.h"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace raftbook {

namespace {
std::string g_prefix = "raftbook";
}

void set_log_prefix(const std::string& prefix) { g_prefix = prefix; }

void log_line(const char* format, ...) {
    char line[1024];
    const auto now = std::chrono::system_clock::now();
    const std::time_t secs = std::chrono::system_clock::to_time_t(now);
    const int ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
    std::tm tm;
    localtime_r(&secs, &tm);
    int n = std::snprintf(line, sizeof line, "%02d:%02d:%02d.%03d %s: ", tm.tm_hour, tm.tm_min, tm.tm_sec, ms,
                          g_prefix.c_str());
    va_list ap;
    va_start(ap, format);
    if (n >= 0 && size_t(n) < sizeof line) n += std::vsnprintf(line + n, sizeof line - size_t(n), format, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = std::min(size_t(n), sizeof line - 2);
    line[len++] = '\n';
    ssize_t ignored = ::write(STDERR_FILENO, line, len);
    (void)ignored;
}

bool LogLimiter::allow(const std::string& key, uint64_t* suppressed) {
    const auto now = std::chrono::steady_clock::now();
    if (slots_.size() > 1000) slots_.clear();  // bounded memory, whatever the keys
    auto it = slots_.find(key);
    if (it == slots_.end()) {
        slots_[key].last = now;
        *suppressed = 0;
        return true;
    }
    if (now - it->second.last < interval_) {
        it->second.suppressed++;
        return false;
    }
    *suppressed = it->second.suppressed;
    it->second = Slot{now, 0};
    return true;
}

std::string LogLimiter::held_back(uint64_t suppressed) {
    return suppressed ? " (" + std::to_string(suppressed) + " more since the last report)" : "";
}

}  // namespace raftbook
