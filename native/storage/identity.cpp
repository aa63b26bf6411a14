// The identity file: format, strict parse, atomic replace; see identity.h.
#include "native/storage/identity.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <random>
#include <vector>

#include "native/storage/crc32.h"
#include "native/storage/storage_io.h"

namespace raftbook {

namespace {

constexpr const char* kFirstLine = "raftbook data dir identity, format 1";
constexpr size_t kMaxClusterIdBytes = 256;
constexpr size_t kMaxFileBytes = 1024;  // the four lines, with room to spare

StorageError damaged(const std::string& path, const std::string& what) {
    return StorageError("identity file " + path + " is damaged (" + what +
                        "); it says which node of which cluster this data dir belongs to. If "
                        "you know the dir is this node's, delete the file: the node then "
                        "records the --id and --cluster-id it is started with.");
}

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(v));
    return buf;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A node id in decimal, as written: no sign, no leading zero, not 0, fits 64 bits.
std::optional<NodeId> parse_node_id(const std::string& s) {
    if (s.empty() || s.size() > 20 || s[0] == '0') return std::nullopt;
    NodeId v = 0;
    for (char c : s) {
        if (!is_digit(c)) return std::nullopt;
        const NodeId digit = static_cast<NodeId>(c - '0');
        if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
        v = v * 10 + digit;
    }
    return v;
}

}  // namespace

std::string cluster_id_problem(const std::string& id) {
    if (id.empty()) return "a cluster id may not be empty";
    if (id.size() > kMaxClusterIdBytes)
        return "a cluster id has at most " + std::to_string(kMaxClusterIdBytes) + " bytes";
    for (char c : id)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return "a cluster id may not hold control characters";
    return "";
}

std::optional<Identity> read_identity(const std::string& dir) {
    const std::string path = join_path(dir, kIdentityFile);
    if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return std::nullopt;
    const std::string buf = read_file(path);
    if (buf.size() > kMaxFileBytes)
        throw damaged(path, std::to_string(buf.size()) + " bytes, more than an identity holds");
    if (buf.empty() || buf.back() != '\n') throw damaged(path, "its last line is cut short");
    // The crc line, then the checksum over everything before it.
    const size_t crc_line = buf.rfind('\n', buf.size() - 2) + 1;  // 0 when a single line
    const std::string crc_text = buf.substr(crc_line, buf.size() - 1 - crc_line);
    if (crc_text.compare(0, 6, "crc32 ") != 0 || crc_text.size() != 6 + 8)
        throw damaged(path, "no 'crc32 XXXXXXXX' last line");
    if (hex32(crc32(buf.data(), crc_line)) != crc_text.substr(6))
        throw damaged(path, "checksum mismatch");
    // The checksum holds, so what follows is what was written: still parse it strictly.
    std::vector<std::string> lines;
    for (size_t start = 0; start < crc_line;) {
        const size_t end = buf.find('\n', start);
        lines.push_back(buf.substr(start, end - start));
        start = end + 1;
    }
    if (lines.size() != 3 || lines[0] != kFirstLine)
        throw damaged(path, "not a raftbook identity file, or one of a newer format");
    Identity id;
    const std::optional<NodeId> node =
        lines[1].compare(0, 5, "node ") == 0 ? parse_node_id(lines[1].substr(5)) : std::nullopt;
    if (!node) throw damaged(path, "no 'node N' line with N a node id from 1");
    id.node_id = *node;
    if (lines[2] != "cluster") {
        if (lines[2].compare(0, 8, "cluster ") != 0) throw damaged(path, "no 'cluster' line");
        id.cluster_id = lines[2].substr(8);
        if (const std::string problem = cluster_id_problem(id.cluster_id); !problem.empty())
            throw damaged(path, problem);
    }
    return id;
}

void write_identity(const std::string& dir, const Identity& identity) {
    std::string buf = std::string(kFirstLine) + "\n";
    buf += "node " + std::to_string(identity.node_id) + "\n";
    buf += identity.cluster_id.empty() ? "cluster\n" : "cluster " + identity.cluster_id + "\n";
    buf += "crc32 " + hex32(crc32(buf.data(), buf.size())) + "\n";
    replace_file(dir, kIdentityFile, buf);
}

std::string random_cluster_id() {
    std::random_device rd;
    const uint64_t v = (uint64_t(rd()) << 32) | rd();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace raftbook
