// Snapshot files: name, format, atomic write and verified read; see snapshot_file.h.
#include "native/storage/snapshot_file.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "native/storage/crc32.h"
#include "native/storage/storage_io.h"

namespace raftbook {

namespace {

constexpr char kSnapshotMagic[8] = {'R', 'B', 'S', 'N', 'P', 0, 0, 2};
constexpr char kVersion1 = 1;  // no configuration part
constexpr size_t kSnapshotHeaderBytes = 8 + 8 + 8 + 8;
constexpr size_t kSnapshotTrailerBytes = 4;
constexpr size_t kNameBytes = 5 + 16 + 1 + 16;  // "snap-" TERM "-" INDEX

bool parse_hex(const std::string& s, uint64_t* out) {
    if (s.size() != 16 || !std::all_of(s.begin(), s.end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        }))
        return false;
    *out = std::stoull(s, nullptr, 16);
    return true;
}

}  // namespace

std::string snapshot_file_name(const SnapshotMeta& meta) {
    char name[kNameBytes + 1];
    std::snprintf(name, sizeof name, "snap-%016llx-%016llx", static_cast<unsigned long long>(meta.term),
                  static_cast<unsigned long long>(meta.index));
    return name;
}

std::vector<SnapshotFile> list_snapshot_files(const std::string& dir) {
    std::vector<SnapshotFile> files;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = f.path().filename().string();
        SnapshotFile file;
        if (name.size() != kNameBytes || name.compare(0, 5, "snap-") != 0 || name[21] != '-' ||
            !parse_hex(name.substr(5, 16), &file.meta.term) || !parse_hex(name.substr(22, 16), &file.meta.index))
            continue;
        file.path = join_path(dir, name);
        files.push_back(std::move(file));
    }
    if (ec) throw StorageError("cannot list directory " + dir + ": " + ec.message());
    std::sort(files.begin(), files.end(), [](const SnapshotFile& a, const SnapshotFile& b) {
        return a.meta.index != b.meta.index ? a.meta.index > b.meta.index : a.meta.term > b.meta.term;
    });
    return files;
}

void write_snapshot_file(const std::string& dir, const Snapshot& snap) {
    std::string header(kSnapshotMagic, sizeof kSnapshotMagic);
    put_le(&header, snap.meta.index, 8);
    put_le(&header, snap.meta.term, 8);
    put_le(&header, snap.size(), 8);
    const std::string_view data = snap.data ? std::string_view(*snap.data) : std::string_view();
    const std::string conf_text = snap.meta.membership.encode();
    std::string conf;
    put_le(&conf, conf_text.size(), 8);
    conf += conf_text;
    std::string trailer;
    put_le(&trailer,
           crc32(conf.data(), conf.size(), crc32(data.data(), data.size(), crc32(header.data(), header.size()))), 4);
    replace_file(dir, snapshot_file_name(snap.meta), {header, data, conf, trailer});
}

std::string read_snapshot_file(const SnapshotFile& file, Snapshot* out) {
    std::string buf = read_file(file.path);
    if (buf.size() < kSnapshotHeaderBytes + kSnapshotTrailerBytes)
        return "cut short: " + std::to_string(buf.size()) + " bytes, not even a header";
    if (std::memcmp(buf.data(), kSnapshotMagic, 7) != 0) return "not a raftbook snapshot file";
    const bool v1 = buf[7] == kVersion1;
    if (buf[7] != kSnapshotMagic[7] && !v1)
        return "format version " + std::to_string(static_cast<unsigned char>(buf[7])) +
               ", this raftbook reads versions 1 and 2";
    const uint64_t length = get_le(buf.data() + 24, 8);
    const size_t room = buf.size() - kSnapshotHeaderBytes - kSnapshotTrailerBytes;  // data (and configuration)
    const size_t conf_part = v1 ? 0 : 8;
    if (v1 ? length != room : (length > room || room - length < conf_part ||
                               get_le(buf.data() + kSnapshotHeaderBytes + length, 8) != room - length - conf_part))
        return v1 ? "its header says " + std::to_string(length) + " bytes of data but it holds " +
                        std::to_string(room) + " (cut short or grown)"
                  : "its " + std::to_string(length) +
                        " bytes of data (as its header says) and its configuration do not fill the file "
                        "(cut short or grown)";
    const size_t body = buf.size() - kSnapshotTrailerBytes;
    if (crc32(buf.data(), body) != get_le(buf.data() + body, 4)) return "checksum mismatch";
    SnapshotMeta meta{get_le(buf.data() + 8, 8), get_le(buf.data() + 16, 8), {}};
    if (meta.index != file.meta.index || meta.term != file.meta.term)
        return "it holds entry " + std::to_string(meta.index) + " of term " + std::to_string(meta.term) +
               ", not what its name says";
    if (!v1) {
        const std::string conf = buf.substr(kSnapshotHeaderBytes + length + conf_part, room - length - conf_part);
        const std::string error = Membership::decode(conf, &meta.membership);
        if (!error.empty()) return "its configuration does not decode: " + error;
    }
    buf.resize(kSnapshotHeaderBytes + length);
    buf.erase(0, kSnapshotHeaderBytes);
    out->meta = std::move(meta);
    out->data = std::make_shared<const std::string>(std::move(buf));
    return "";
}

void prune_snapshot_files(const std::string& dir, size_t keep) {
    const std::vector<SnapshotFile> files = list_snapshot_files(dir);
    for (size_t i = keep; i < files.size(); i++) remove_file(files[i].path);
    std::vector<std::string> temps;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = f.path().filename().string();
        if (name.size() == kNameBytes + 4 && name.compare(0, 5, "snap-") == 0 &&
            name.compare(kNameBytes, 4, ".tmp") == 0)
            temps.push_back(f.path().string());
    }
    if (ec) throw StorageError("cannot list directory " + dir + ": " + ec.message());
    for (const std::string& temp : temps) remove_file(temp);
}

}  // namespace raftbook
