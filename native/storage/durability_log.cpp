// The test-only durability log; see durability_log.h.
#include "native/storage/durability_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <set>

#include "native/storage/storage_io.h"

namespace raftbook::durability_log {

namespace {

std::mutex mu;
int log_fd = -1;
std::set<std::string> kept;  // TO.power-loss-old files whose rename is not yet durable
std::atomic<int> sync_delay_ms{0};

std::string parent(const std::string& path) {
    const std::string p = std::filesystem::path(path).parent_path().string();
    return p.empty() ? "." : p;
}

std::string normal(const std::string& path) {
    return std::filesystem::path(path).lexically_normal().string();
}

void append(const std::string& line) {
    const std::string text = line + "\n";
    if (::write(log_fd, text.data(), text.size()) != ssize_t(text.size()))
        throw StorageError("cannot write the durability log: " + std::string(std::strerror(errno)), errno);
}

size_t size_of(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? size_t(st.st_size) : 0;
}

}  // namespace

void start(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu);
    log_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw StorageError("cannot open the durability log " + path + ": " + std::strerror(errno), errno);
}

void stop() {
    std::lock_guard<std::mutex> lock(mu);
    if (log_fd >= 0) ::close(log_fd);
    log_fd = -1;
    kept.clear();
}

void set_sync_delay(int milliseconds) { sync_delay_ms = milliseconds; }

void before_sync() {
    if (sync_delay_ms <= 0) return;
    thread_local std::minstd_rand rng{std::random_device{}()};
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % uint64_t(sync_delay_ms + 1)));
}

void before_write(int fd, const std::string& path, int64_t offset, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu);
    if (log_fd < 0) return;
    if (offset < 0) offset = ::lseek(fd, 0, SEEK_CUR);
    append("write\t" + normal(path) + "\t" + std::to_string(offset) + "\t" + std::to_string(bytes) + "\t" +
           std::to_string(size_of(fd)));
}

void before_truncate(int fd, const std::string& path, size_t size) {
    std::lock_guard<std::mutex> lock(mu);
    if (log_fd >= 0)
        append("trunc\t" + normal(path) + "\t" + std::to_string(size) + "\t" + std::to_string(size_of(fd)));
}

void after_sync(int fd, const std::string& path) {
    std::lock_guard<std::mutex> lock(mu);
    if (log_fd >= 0) append("sync\t" + normal(path) + "\t" + std::to_string(size_of(fd)));
}

void before_create(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu);
    if (log_fd >= 0 && ::access(path.c_str(), F_OK) != 0) append("create\t" + normal(path));
}

void before_rename(const std::string& from, const std::string& to) {
    std::lock_guard<std::mutex> lock(mu);
    if (log_fd < 0) return;
    // Keep the file the rename replaces, first: the log line must never announce a
    // rename whose old target is gone.
    const std::string old = kept_name(to);
    ::unlink(old.c_str());
    if (::link(to.c_str(), old.c_str()) == 0) kept.insert(normal(old));
    append("rename\t" + normal(from) + "\t" + normal(to));
}

void after_sync_dir(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mu);
    if (log_fd < 0) return;
    append("syncdir\t" + normal(dir));
    for (auto it = kept.begin(); it != kept.end();) {
        if (parent(*it) != normal(dir)) {
            ++it;
            continue;
        }
        ::unlink(it->c_str());
        it = kept.erase(it);
    }
}

std::string kept_name(const std::string& to) { return to + ".power-loss-old"; }

}  // namespace raftbook::durability_log
