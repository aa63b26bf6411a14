#include "core/kv/kv_store.h"

#include <algorithm>
#include <string_view>

namespace raftbook {

namespace {

// Reads the next space-terminated word of `t` from *pos (moving past the space).
bool next_word(std::string_view t, size_t* pos, std::string_view* word) {
    if (*pos >= t.size()) return false;
    const size_t end = std::min(t.find(' ', *pos), t.size());
    *word = t.substr(*pos, end - *pos);
    *pos = end + 1;
    return !word->empty();
}

// A decimal number with no sign, no leading zero (but "0") and no overflow.
bool parse_index(std::string_view s, uint64_t* out) {
    if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + uint64_t(c - '0');
    }
    *out = v;
    return true;
}

std::string check_word(const std::string& word, size_t max, const char* what) {
    if (word.size() > max)
        return std::string(what) + " is " + std::to_string(word.size()) + " bytes; the limit is " + std::to_string(max);
    for (unsigned char c : word)
        if (c <= ' ' || c == 0x7f) return std::string(what) + " may not contain spaces or control characters";
    return "";
}

}  // namespace

std::string check_key(const std::string& key) {
    if (key.empty()) return "missing key: use /kv/KEY";
    return check_word(key, kMaxKeyBytes, "key");
}

std::string check_idempotency_key(const std::string& key) {
    if (key.empty()) return "the idempotency key is empty";
    return check_word(key, kMaxIdempotencyKeyBytes, "the idempotency key");
}

bool parse_command(const std::string& text, Command* out, std::string* error) {
    const std::string_view t(text);
    size_t pos = 0;
    std::string_view word;
    *out = Command();
    auto fail = [&](std::string message) {
        *error = std::move(message);
        return false;
    };
    if (!next_word(t, &pos, &word))
        return fail("empty command (expected 'set KEY VALUE' or 'del KEY', perhaps after 'idem IKEY' and a condition)");
    if (word == "idem") {
        if (!next_word(t, &pos, &word)) return fail("missing idempotency key after 'idem'");
        out->idempotency_key.assign(word);
        if (!next_word(t, &pos, &word)) return fail("missing command after 'idem " + out->idempotency_key + "'");
    }
    if (word == "if-rev") {
        out->condition = Command::If::Revision;
        if (!next_word(t, &pos, &word) || !parse_index(word, &out->prev_revision))
            return fail("'if-rev' needs a revision: a non-negative integer");
        if (!next_word(t, &pos, &word)) return fail("missing command after the condition");
    } else if (word == "if-value") {
        out->condition = Command::If::Value;
        uint64_t length = 0;
        if (!next_word(t, &pos, &word) || !parse_index(word, &length))
            return fail("'if-value' needs the length of the value it compares");
        if (length > kMaxValueBytes || pos + length >= t.size() || t[pos + length] != ' ')
            return fail("'if-value " + std::to_string(length) + "' is not followed by that many bytes and a space");
        out->prev_value.assign(t.substr(pos, length));
        pos += length + 1;
        if (!next_word(t, &pos, &word)) return fail("missing command after the condition");
    }
    const std::string op(word);
    if (op != "set" && op != "del") return fail("unknown command '" + op + "' (expected 'set KEY VALUE' or 'del KEY')");
    if (!next_word(t, &pos, &word)) return fail("missing key (expected '" + op + " KEY" + (op == "set" ? " VALUE'" : "'") + ")");
    out->key.assign(word);
    if (op == "set") {
        if (pos > t.size()) return fail("missing value (expected 'set KEY VALUE')");
        out->op = Command::Op::Set;
        out->value.assign(t.substr(pos));
    } else {
        if (pos <= t.size()) return fail("'del' takes one key");
        out->op = Command::Op::Del;
    }
    return true;
}

std::string command_text(const Command& c) {
    std::string text;
    if (!c.idempotency_key.empty()) text += "idem " + c.idempotency_key + " ";
    if (c.condition == Command::If::Revision) text += "if-rev " + std::to_string(c.prev_revision) + " ";
    if (c.condition == Command::If::Value)
        text += "if-value " + std::to_string(c.prev_value.size()) + " " + c.prev_value + " ";
    text += c.op == Command::Op::Set ? "set " + c.key + " " + c.value : "del " + c.key;
    return text;
}

bool KvStore::apply(const Entry& e, bool deduplicate) {
    applied_ = e.index;
    last_ = Applied();
    if (e.type != EntryType::Command) return false;
    Session* session = nullptr;
    if (e.client_id != 0) {
        session = &sessions_[e.client_id];
        if (e.seq <= session->last_seq && deduplicate) {  // a retry of a request already applied
            last_.result = session->result;
            return false;
        }
        session->last_seq = std::max(session->last_seq, e.seq);
    }
    Command c;
    std::string error;
    if (!parse_command(e.data, &c, &error)) return false;
    const WriteResult* first = c.idempotency_key.empty() ? nullptr : idempotent_result(c.idempotency_key);
    const bool duplicate = first && deduplicate;  // the same write again, under its idempotency key
    if (duplicate) {
        last_.result = *first;
    } else {
        last_.result = write(c, e.index);
        if (!c.idempotency_key.empty() && !first) {
            idempotent_.emplace(c.idempotency_key, last_.result);
            idempotent_order_.push_back(c.idempotency_key);
            if (idempotent_order_.size() > kIdempotencyWindow) {  // forget the oldest
                idempotent_.erase(idempotent_order_.front());
                idempotent_order_.pop_front();
            }
        }
    }
    if (session) session->result = last_.result;
    if (duplicate || !last_.result.ok) return false;  // nothing changed
    fingerprint_ = (fingerprint_ ^ std::hash<std::string>()(e.data)) * 1099511628211ULL;
    return true;
}

WriteResult KvStore::write(Command& c, Index index) {
    Shard& sh = shard(c.key);
    auto it = sh.find(c.key);
    const bool exists = it != sh.end();
    const bool holds = c.condition == Command::If::Always ||
                       (c.condition == Command::If::Revision && (exists ? it->second.revision : 0) == c.prev_revision) ||
                       (c.condition == Command::If::Value && exists && it->second.value == c.prev_value);
    WriteResult r;
    if (!holds) {
        r.ok = false;
        r.found = exists;
        if (exists) {
            r.revision = it->second.revision;
            r.value = it->second.value;
        }
        return r;
    }
    r.revision = index;
    last_.key = c.key;
    if (c.op == Command::Op::Set) {
        if (exists) {
            it->second = Record{std::move(c.value), index};
        } else {
            sh.emplace(std::move(c.key), Record{std::move(c.value), index});
            size_++;
        }
        last_.changed = true;
    } else if (exists) {
        sh.erase(it);
        size_--;
        last_.changed = last_.deleted = true;
    }
    return r;
}

const std::string* KvStore::get(const std::string& key) const {
    const Shard& sh = shard(key);
    auto it = sh.find(key);
    return it == sh.end() ? nullptr : &it->second.value;
}

Index KvStore::revision(const std::string& key) const {
    const Shard& sh = shard(key);
    auto it = sh.find(key);
    return it == sh.end() ? 0 : it->second.revision;
}

std::map<std::string, std::string> KvStore::sorted() const {
    std::map<std::string, std::string> all;
    for (const Shard& sh : shards_)
        for (const auto& [key, record] : sh) all.emplace(key, record.value);
    return all;
}

std::vector<KeyValue> KvStore::list(const std::string& prefix, const std::string& after, size_t limit,
                                    bool* more) const {
    std::vector<const std::pair<const std::string, Record>*> match;
    for (const Shard& sh : shards_)
        for (const auto& kv : sh)
            if (kv.first.compare(0, prefix.size(), prefix) == 0 && kv.first > after) match.push_back(&kv);
    const auto by_key = [](const auto* a, const auto* b) { return a->first < b->first; };
    const size_t n = std::min(match.size(), limit);
    std::partial_sort(match.begin(), match.begin() + long(n), match.end(), by_key);
    std::vector<KeyValue> page;
    size_t bytes = 0;
    for (size_t i = 0; i < n && (page.empty() || bytes < kMaxListBytes); i++) {
        page.push_back({match[i]->first, match[i]->second.value, match[i]->second.revision});
        bytes += match[i]->first.size() + match[i]->second.value.size();
    }
    *more = page.size() < match.size();
    return page;
}

bool KvStore::applied_request(uint64_t client_id, uint64_t seq) const {
    auto it = sessions_.find(client_id);
    return it != sessions_.end() && seq <= it->second.last_seq;
}

const WriteResult* KvStore::request_result(uint64_t client_id, uint64_t seq) const {
    auto it = sessions_.find(client_id);
    return it != sessions_.end() && it->second.last_seq == seq ? &it->second.result : nullptr;
}

const WriteResult* KvStore::idempotent_result(const std::string& idempotency_key) const {
    auto it = idempotent_.find(idempotency_key);
    return it == idempotent_.end() ? nullptr : &it->second;
}

}  // namespace raftbook
