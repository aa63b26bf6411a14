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

}  // namespace raftbook
