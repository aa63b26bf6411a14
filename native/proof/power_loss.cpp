// Undoing what was not durable; see power_loss.h.
#include "native/proof/power_loss.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "native/storage/durability_log.h"

namespace raftbook {

namespace {

// What the log says of one file, by its current name.
struct FileState {
    bool known = false;   // durable_size is known
    size_t durable_size = 0;
    std::vector<std::pair<size_t, size_t>> dirty;  // (offset, bytes) written since the last sync
    bool truncated = false;                        // truncated since the last sync
};

// A change of names in a directory, not yet made durable by an fsync of it.
struct NameChange {
    std::string from;  // "" for a creation
    std::string to;
};

std::string parent(const std::string& path) {
    const std::string p = std::filesystem::path(path).parent_path().string();
    return p.empty() ? "." : p;
}

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("power-loss cut: " + what + (errno ? std::string(": ") + std::strerror(errno) : ""));
}

}  // namespace

std::string PowerLossCut::describe() const {
    std::ostringstream out;
    out << files << " file" << (files == 1 ? "" : "s") << " cut back (" << bytes << " unsynced bytes lost), " << names
        << " unsynced creation" << (names == 1 ? "" : "s") << " or rename" << (names == 1 ? "" : "s") << " undone";
    return out.str();
}

PowerLossCut lose_unsynced(const std::string& log_path) {
    std::map<std::string, FileState> files;
    std::map<std::string, std::vector<NameChange>> unsynced_names;  // by directory
    std::ifstream in(log_path);
    std::string line;
    for (size_t number = 1; std::getline(in, line); ++number) {
        std::istringstream fields(line);
        std::string op, path, b;
        uint64_t x = 0, y = 0, z = 0;
        std::getline(fields, op, '\t');
        std::getline(fields, path, '\t');
        auto numbers = [&](int n) {
            if ((n > 0 && !(fields >> x)) || (n > 1 && !(fields >> y)) || (n > 2 && !(fields >> z)))
                throw std::runtime_error(log_path + ":" + std::to_string(number) + ": malformed line: " + line);
        };
        if (op == "write") {
            numbers(3);
            FileState& f = files[path];
            if (!f.known) f = {true, size_t(z), {}, false};
            f.dirty.emplace_back(size_t(x), size_t(y));
        } else if (op == "trunc") {
            numbers(2);
            FileState& f = files[path];
            if (!f.known) f = {true, size_t(y), {}, false};
            f.truncated = true;
        } else if (op == "sync") {
            numbers(1);
            files[path] = {true, size_t(x), {}, false};
        } else if (op == "create") {
            files[path] = {true, 0, {}, false};
            unsynced_names[parent(path)].push_back({"", path});
        } else if (op == "rename") {
            std::getline(fields, b, '\t');
            if (files.count(path))
                files[b] = files[path];
            else
                files.erase(b);
            files.erase(path);
            unsynced_names[parent(b)].push_back({path, b});
        } else if (op == "syncdir") {
            unsynced_names.erase(path);
        } else {
            throw std::runtime_error(log_path + ":" + std::to_string(number) + ": unknown line: " + line);
        }
    }

    PowerLossCut cut;
    errno = 0;
    for (const auto& [path, f] : files) {
        if (!f.known || (f.dirty.empty() && !f.truncated) || ::access(path.c_str(), F_OK) != 0) continue;
        const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) fail("cannot open " + path);
        static const std::string zeros(1 << 16, '\0');
        for (const auto& [offset, bytes] : f.dirty) {
            cut.bytes += bytes;
            for (size_t at = offset; at < std::min(offset + bytes, f.durable_size);) {
                const size_t n = std::min({zeros.size(), offset + bytes - at, f.durable_size - at});
                if (::pwrite(fd, zeros.data(), n, off_t(at)) != ssize_t(n)) fail("cannot write " + path);
                at += n;
            }
        }
        if (::ftruncate(fd, off_t(f.durable_size)) != 0) fail("cannot truncate " + path);
        ::close(fd);
        cut.files++;
    }
    for (auto& [dir, changes] : unsynced_names) {
        for (auto it = changes.rbegin(); it != changes.rend(); ++it) {
            cut.names++;
            if (it->from.empty()) {
                ::unlink(it->to.c_str());
                continue;
            }
            if (::rename(it->to.c_str(), it->from.c_str()) != 0 && errno != ENOENT)
                fail("cannot rename " + it->to + " back to " + it->from);
            const std::string kept = durability_log::kept_name(it->to);
            if (::rename(kept.c_str(), it->to.c_str()) != 0 && errno != ENOENT)
                fail("cannot restore " + it->to + " from " + kept);
            errno = 0;
        }
    }
    std::filesystem::remove(log_path);
    return cut;
}

}  // namespace raftbook
