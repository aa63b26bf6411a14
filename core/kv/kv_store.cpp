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

KvStore::KvStore() : sessions_(std::make_shared<Sessions>()), idempotent_(std::make_shared<Idempotency>()) {
    for (auto& sh : shards_) sh = std::make_shared<Shard>();
}

bool KvStore::apply(const Entry& e, bool deduplicate) {
    applied_ = e.index;
    last_ = Applied();
    if (e.type != EntryType::Command) return false;
    Session* session = nullptr;
    if (e.client_id != 0) {
        session = &own(sessions_)[e.client_id];
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
            Idempotency& idem = own(idempotent_);
            idem.results.emplace(c.idempotency_key, last_.result);
            idem.order.push_back(c.idempotency_key);
            if (idem.order.size() > kIdempotencyWindow) {  // forget the oldest
                idem.results.erase(idem.order.front());
                idem.order.pop_front();
            }
        }
    }
    if (session) session->result = last_.result;
    if (duplicate || !last_.result.ok) return false;  // nothing changed
    fingerprint_ = (fingerprint_ ^ std::hash<std::string>()(e.data)) * 1099511628211ULL;
    return true;
}

WriteResult KvStore::write(Command& c, Index index) {
    Shard& sh = own(shards_[shard_of(c.key)]);
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
    for (const auto& sh : shards_)
        for (const auto& [key, record] : *sh) all.emplace(key, record.value);
    return all;
}

std::vector<KeyValue> KvStore::list(const std::string& prefix, const std::string& after, size_t limit,
                                    bool* more) const {
    std::vector<const std::pair<const std::string, Record>*> match;
    for (const auto& sh : shards_)
        for (const auto& kv : *sh)
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
    auto it = sessions_->find(client_id);
    return it != sessions_->end() && seq <= it->second.last_seq;
}

const WriteResult* KvStore::request_result(uint64_t client_id, uint64_t seq) const {
    auto it = sessions_->find(client_id);
    return it != sessions_->end() && it->second.last_seq == seq ? &it->second.result : nullptr;
}

const WriteResult* KvStore::idempotent_result(const std::string& idempotency_key) const {
    auto it = idempotent_->results.find(idempotency_key);
    return it == idempotent_->results.end() ? nullptr : &it->second;
}

// Snapshot encoding: "RBKV" and a format byte (1), then varints (LEB128): applied
// index, fingerprint, the number of client sessions and each (client id, last seq),
// the number of keys and each (key length, key, value length, value).
namespace {

constexpr char kKvMagic[] = "RBKV\x02";
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

// Snapshot format (version 2; integers are LEB128 varints, strings a varint length then
// the bytes; a write result is a flags byte — 1: ok, 2: found — its revision and value):
//   "RBKV" 0x02 | applied | fingerprint
//   | sessions: count, then per client: id | last_seq | result
//   | keys: count, then per key: key | value | revision
//   | idempotency records: count, then oldest first: idempotency key | result
namespace {

void put_result(std::string& out, const WriteResult& r) {
    out.push_back(char((r.ok ? 1 : 0) | (r.found ? 2 : 0)));
    put_varint(out, r.revision);
    put_string(out, r.value);
}

bool read_result(Reader& r, WriteResult* w) {
    uint64_t flags;
    if (!r.varint(&flags) || flags > 3 || !r.varint(&w->revision) || !r.string(&w->value)) return false;
    w->ok = flags & 1;
    w->found = flags & 2;
    return true;
}

}  // namespace

std::string KvStore::encode() const {
    std::string out(kKvMagic, kKvMagicBytes);
    out.reserve(64 + sessions_->size() * 16 + size_ * 36);  // a guess: a second pass to size it costs more
    put_varint(out, applied_);
    put_varint(out, fingerprint_);
    put_varint(out, sessions_->size());
    for (const auto& [client, session] : *sessions_) {
        put_varint(out, client);
        put_varint(out, session.last_seq);
        put_result(out, session.result);
    }
    put_varint(out, size_);
    for (const auto& sh : shards_) {
        for (const auto& [k, rec] : *sh) {
            put_string(out, k);
            put_string(out, rec.value);
            put_varint(out, rec.revision);
        }
    }
    put_varint(out, idempotent_->order.size());
    for (const std::string& ikey : idempotent_->order) {
        put_string(out, ikey);
        put_result(out, idempotent_->results.at(ikey));
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
    uint64_t sessions, keys, records;
    if (!r.varint(&kv.applied_) || !r.varint(&kv.fingerprint_) || !r.varint(&sessions))
        return fail("truncated header");
    if (sessions > r.left() / 5) return fail("declares " + std::to_string(sessions) + " client sessions in " +
                                             std::to_string(r.left()) + " bytes");
    kv.sessions_->reserve(size_t(sessions));
    for (uint64_t i = 0; i < sessions; i++) {
        uint64_t client;
        Session s;
        if (!r.varint(&client) || !r.varint(&s.last_seq) || !read_result(r, &s.result))
            return fail("truncated client session table");
        if (client == 0 || !kv.sessions_->emplace(client, std::move(s)).second)
            return fail("client session " + std::to_string(client) + " is invalid or repeated");
    }
    if (!r.varint(&keys)) return fail("truncated key count");
    if (keys > r.left() / 4) return fail("declares " + std::to_string(keys) + " keys in " +
                                         std::to_string(r.left()) + " bytes");
    std::string k;
    for (uint64_t i = 0; i < keys; i++) {
        Record rec;
        if (!r.string(&k) || !r.string(&rec.value) || !r.varint(&rec.revision))
            return fail("truncated at key " + std::to_string(i));
        if (!check_key(k).empty()) return fail("key " + std::to_string(i) + " is not a valid key");
        if (rec.revision == 0 || rec.revision > kv.applied_)
            return fail("key " + std::to_string(i) + " has revision " + std::to_string(rec.revision) +
                        ", not in 1.." + std::to_string(kv.applied_));
        if (!kv.shards_[shard_of(k)]->emplace(std::move(k), std::move(rec)).second) return fail("key " + std::to_string(i) + " is repeated");
    }
    kv.size_ = size_t(keys);
    if (!r.varint(&records)) return fail("truncated idempotency record count");
    if (records > kIdempotencyWindow || records > r.left() / 4)
        return fail("declares " + std::to_string(records) + " idempotency records in " + std::to_string(r.left()) + " bytes");
    for (uint64_t i = 0; i < records; i++) {
        std::string ikey;
        WriteResult w;
        if (!r.string(&ikey) || !read_result(r, &w)) return fail("truncated at idempotency record " + std::to_string(i));
        if (!check_idempotency_key(ikey).empty() || !kv.idempotent_->results.emplace(ikey, std::move(w)).second)
            return fail("idempotency record " + std::to_string(i) + " is invalid or repeated");
        kv.idempotent_->order.push_back(std::move(ikey));
    }
    if (r.left() != 0) return fail(std::to_string(r.left()) + " bytes after the last idempotency record");
    *out = std::move(kv);
    return true;
}

}  // namespace raftbook
