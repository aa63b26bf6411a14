#include "core/kv/kv_store.h"

#include <algorithm>
#include <string_view>

namespace raftbook {

std::string check_key(const std::string& key) {
    if (key.empty()) return "missing key: use /kv/KEY";
    if (key.size() > kMaxKeyBytes)
        return "key is " + std::to_string(key.size()) + " bytes; the limit is " + std::to_string(kMaxKeyBytes);
    for (unsigned char c : key)
        if (c <= ' ' || c == 0x7f) return "key may not contain spaces or control characters";
    return "";
}

bool parse_command(const std::string& text, Command* out, std::string* error) {
    const std::string_view t(text);
    const size_t op_end = std::min(t.find(' '), t.size());
    const std::string_view op = t.substr(0, op_end);
    if (op != "set" && op != "del") {
        *error = "unknown command '" + std::string(op) + "' (expected 'set KEY VALUE' or 'del KEY')";
        return false;
    }
    if (op_end >= t.size()) {
        *error = "missing key (expected '" + std::string(op) + " KEY" + (op == "set" ? " VALUE'" : "'") + ")";
        return false;
    }
    const size_t key_end = std::min(t.find(' ', op_end + 1), t.size());
    const std::string_view key = t.substr(op_end + 1, key_end - op_end - 1);
    if (key.empty()) {
        *error = "empty key";
        return false;
    }
    if (op == "set") {
        if (key_end >= t.size()) {
            *error = "missing value (expected 'set KEY VALUE')";
            return false;
        }
        out->op = Command::Op::Set;
        out->value.assign(t.substr(key_end + 1));
    } else {
        if (key_end != t.size()) {
            *error = "'del' takes one key";
            return false;
        }
        out->op = Command::Op::Del;
        out->value.clear();
    }
    out->key.assign(key);
    return true;
}

bool KvStore::apply(const Entry& e, bool deduplicate) {
    applied_ = e.index;
    if (e.type != EntryType::Command) return false;
    if (e.client_id != 0) {
        uint64_t& last = last_seq_[e.client_id];
        if (e.seq <= last && deduplicate) return false;  // a retry of a request already applied
        last = std::max(last, e.seq);
    }
    Command c;
    std::string error;
    if (!parse_command(e.data, &c, &error)) return false;
    Shard& sh = shard(c.key);
    if (c.op == Command::Op::Set) {
        auto [it, inserted] = sh.try_emplace(std::move(c.key), std::move(c.value));
        if (!inserted) it->second = std::move(c.value);
        size_ += inserted;
    } else {
        size_ -= sh.erase(c.key);
    }
    fingerprint_ = (fingerprint_ ^ std::hash<std::string>()(e.data)) * 1099511628211ULL;
    return true;
}

const std::string* KvStore::get(const std::string& key) const {
    const Shard& sh = shard(key);
    auto it = sh.find(key);
    return it == sh.end() ? nullptr : &it->second;
}

std::map<std::string, std::string> KvStore::sorted() const {
    std::map<std::string, std::string> all;
    for (const Shard& sh : shards_) all.insert(sh.begin(), sh.end());
    return all;
}

bool KvStore::applied_request(uint64_t client_id, uint64_t seq) const {
    auto it = last_seq_.find(client_id);
    return it != last_seq_.end() && seq <= it->second;
}

// Snapshot encoding: "RBKV" and a format byte (1), then varints (LEB128): applied
// index, fingerprint, the number of client sessions and each (client id, last seq),
// the number of keys and each (key length, key, value length, value).
namespace {

constexpr char kKvMagic[] = "RBKV\x01";
constexpr size_t kKvMagicBytes = 5;

void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(char(v | 0x80));
        v >>= 7;
    }
    out.push_back(char(v));
}

void put_string(std::string& out, const std::string& s) {
    put_varint(out, s.size());
    out += s;
}

class Reader {
public:
    explicit Reader(const std::string& b) : b_(b) {}
    bool varint(uint64_t* v) {
        *v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= b_.size()) return false;
            const uint8_t byte = uint8_t(b_[pos_++]);
            if (shift == 63 && byte > 1) return false;  // overflows 64 bits
            *v |= uint64_t(byte & 0x7F) << shift;
            if (!(byte & 0x80)) return true;
        }
        return false;
    }
    bool string(std::string* s) {
        uint64_t n;
        if (!varint(&n) || n > b_.size() - pos_) return false;
        s->assign(b_, pos_, size_t(n));
        pos_ += size_t(n);
        return true;
    }
    size_t left() const { return b_.size() - pos_; }
    size_t pos() const { return pos_; }
    void skip(size_t n) { pos_ += n; }

private:
    const std::string& b_;
    size_t pos_ = 0;
};

}  // namespace

std::string KvStore::encode() const {
    std::string out(kKvMagic, kKvMagicBytes);
    out.reserve(64 + last_seq_.size() * 12 + size_ * 32);  // a guess: a second pass to size it costs more
    put_varint(out, applied_);
    put_varint(out, fingerprint_);
    put_varint(out, last_seq_.size());
    for (const auto& [client, seq] : last_seq_) {
        put_varint(out, client);
        put_varint(out, seq);
    }
    put_varint(out, size_);
    for (const Shard& sh : shards_) {
        for (const auto& [k, v] : sh) {
            put_string(out, k);
            put_string(out, v);
        }
    }
    return out;
}

bool KvStore::decode(const std::string& bytes, KvStore* out, std::string* error) {
    auto fail = [error](const std::string& what) {
        *error = "state machine snapshot is malformed: " + what;
        return false;
    };
    if (bytes.size() < kKvMagicBytes || bytes.compare(0, kKvMagicBytes, kKvMagic, kKvMagicBytes) != 0)
        return fail("it does not start with the key-value snapshot header");
    Reader r(bytes);
    r.skip(kKvMagicBytes);
    KvStore kv;
    uint64_t sessions, keys;
    if (!r.varint(&kv.applied_) || !r.varint(&kv.fingerprint_) || !r.varint(&sessions))
        return fail("truncated header");
    if (sessions > r.left() / 2) return fail("declares " + std::to_string(sessions) + " client sessions in " +
                                             std::to_string(r.left()) + " bytes");
    kv.last_seq_.reserve(size_t(sessions));
    for (uint64_t i = 0; i < sessions; i++) {
        uint64_t client, seq;
        if (!r.varint(&client) || !r.varint(&seq)) return fail("truncated client session table");
        if (client == 0 || !kv.last_seq_.emplace(client, seq).second)
            return fail("client session " + std::to_string(client) + " is invalid or repeated");
    }
    if (!r.varint(&keys)) return fail("truncated key count");
    if (keys > r.left() / 3) return fail("declares " + std::to_string(keys) + " keys in " +
                                         std::to_string(r.left()) + " bytes");
    std::string k, v;
    for (uint64_t i = 0; i < keys; i++) {
        if (!r.string(&k) || !r.string(&v)) return fail("truncated at key " + std::to_string(i));
        if (k.empty() || k.find(' ') != std::string::npos) return fail("key " + std::to_string(i) + " is not a valid key");
        if (!kv.shard(k).emplace(std::move(k), std::move(v)).second) return fail("key " + std::to_string(i) + " is repeated");
    }
    kv.size_ = size_t(keys);
    if (r.left() != 0) return fail(std::to_string(r.left()) + " bytes after the last key");
    *out = std::move(kv);
    return true;
}

}  // namespace raftbook
