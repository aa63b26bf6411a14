// The bootstrap file: format, strict parse, atomic replace; see bootstrap.h.
#include "native/storage/bootstrap.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "native/storage/crc32.h"
#include "native/storage/storage_io.h"

namespace raftbook {

namespace {

constexpr const char* kFirstLine = "raftbook data dir bootstrap, format 1\n";
constexpr size_t kMaxFileBytes = 1 << 20;

StorageError damaged(const std::string& path, const std::string& what) {
    return StorageError("bootstrap file " + path + " is damaged (" + what +
                        "); it holds the configuration this node started with. If the node's log "
                        "or snapshot holds a configuration, delete the file and restart it with the "
                        "--cluster it was first started with.");
}

std::string crc_line(const std::string& bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "crc32 %08x\n", static_cast<unsigned>(crc32(bytes.data(), bytes.size())));
    return buf;
}

}  // namespace

std::optional<Membership> read_bootstrap(const std::string& dir) {
    const std::string path = join_path(dir, kBootstrapFile);
    if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return std::nullopt;
    const std::string buf = read_file(path);
    if (buf.size() > kMaxFileBytes) throw damaged(path, "larger than a configuration");
    if (buf.empty() || buf.back() != '\n') throw damaged(path, "its last line is cut short");
    const size_t last = buf.size() < 2 ? 0 : buf.rfind('\n', buf.size() - 2) + 1;
    const std::string body = buf.substr(0, last);
    if (buf.substr(last) != crc_line(body)) throw damaged(path, "no 'crc32' last line, or a checksum mismatch");
    const std::string first = kFirstLine;
    if (body.compare(0, first.size(), first) != 0)
        throw damaged(path, "not a raftbook bootstrap file, or one of a newer format");
    Membership m;
    const std::string error = Membership::decode(body.substr(first.size()), &m);
    if (!error.empty()) throw damaged(path, error);
    return m;
}

void write_bootstrap(const std::string& dir, const Membership& bootstrap) {
    const std::string body = kFirstLine + bootstrap.encode();
    replace_file(dir, kBootstrapFile, body + crc_line(body));
}

}  // namespace raftbook
