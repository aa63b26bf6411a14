// POSIX file helpers for durable storage; see storage_io.h.
#include "native/storage/storage_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace raftbook {

namespace {

[[noreturn]] void fail(const std::string& action, const std::string& path, int err) {
    throw StorageError("cannot " + action + " " + path + ": " + std::strerror(err), err);
}

}  // namespace

UniqueFd::~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

void put_le(std::string* out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t get_le(const char* p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

std::string join_path(const std::string& dir, const std::string& name) {
    if (dir.empty() || dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

void make_dirs(const std::string& path) {
    namespace fs = std::filesystem;
    fs::path prefix;
    for (const fs::path& part : fs::path(path).lexically_normal()) {
        const fs::path parent = prefix.empty() ? fs::path(".") : prefix;
        prefix /= part;
        if (part.empty()) continue;  // the "" after a trailing slash
        if (::mkdir(prefix.c_str(), 0755) == 0)
            sync_dir(parent.string());
        else if (errno != EEXIST)
            fail("create directory", prefix.string(), errno);
    }
    std::error_code ec;
    if (!fs::is_directory(path, ec))
        throw StorageError("cannot use " + path + " as a directory: it is not one");
}

UniqueFd open_file(const std::string& path, int flags) {
    int fd;
    do fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) fail("open", path, errno);
    return UniqueFd(fd);
}

std::string read_file(const std::string& path) {
    UniqueFd fd = open_file(path, O_RDONLY);
    std::string out;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("read", path, errno);
        if (n == 0) return out;
        out.append(buf, static_cast<size_t>(n));
    }
}

void write_all(int fd, const char* data, size_t size, const std::string& path) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write", path, errno);
        data += n;
        size -= static_cast<size_t>(n);
    }
}

void write_all_at(int fd, const char* data, size_t size, size_t offset,
                  const std::string& path) {
    while (size > 0) {
        ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write", path, errno);
        data += n;
        size -= static_cast<size_t>(n);
        offset += static_cast<size_t>(n);
    }
}

void write_zeros_at(int fd, size_t offset, size_t size, const std::string& path) {
    static const char zeros[1 << 16] = {};
    while (size > 0) {
        const size_t n = std::min(size, sizeof zeros);
        write_all_at(fd, zeros, n, offset, path);
        offset += n;
        size -= n;
    }
}

void sync_data(int fd, const std::string& path) {
    if (::fdatasync(fd) != 0) fail("fdatasync", path, errno);
}

void sync_file(int fd, const std::string& path) {
    if (::fsync(fd) != 0) fail("fsync", path, errno);
}

void sync_dir(const std::string& dir) {
    UniqueFd fd = open_file(dir, O_RDONLY | O_DIRECTORY);
    if (::fsync(fd.get()) != 0) fail("fsync directory", dir, errno);
}

void truncate_file(int fd, size_t size, const std::string& path) {
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) fail("truncate", path, errno);
}

void rename_file(const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) fail("rename " + from + " to", to, errno);
}

void replace_file(const std::string& dir, const std::string& name, const std::string& bytes) {
    replace_file(dir, name, {std::string_view(bytes)});
}

void replace_file(const std::string& dir, const std::string& name,
                  std::initializer_list<std::string_view> pieces) {
    const std::string temp = join_path(dir, name + ".tmp");
    {
        UniqueFd fd = open_file(temp, O_WRONLY | O_CREAT | O_TRUNC);
        for (const std::string_view piece : pieces) write_all(fd.get(), piece.data(), piece.size(), temp);
        sync_file(fd.get(), temp);
    }
    rename_file(temp, join_path(dir, name));
    sync_dir(dir);
}

void remove_file(const std::string& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail("delete", path, errno);
}

}  // namespace raftbook
