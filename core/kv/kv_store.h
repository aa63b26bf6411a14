// The replicated state machine: a key-value map driven by committed log entries.
//
// Commands are text, one per entry:
//
//   [idem IKEY ][if-rev N |if-value LEN PREV ](set KEY VALUE | del KEY)
//
// `set KEY VALUE` (the value may contain spaces) and `del KEY` write unconditionally.
// A condition makes the write compare-and-swap: `if-rev N` holds when KEY's revision
// is N (0: KEY does not exist), `if-value LEN PREV` when KEY exists with the value
// PREV, which is exactly LEN bytes (so it may hold spaces; the space after it ends it).
// The condition is evaluated when the entry is applied, so every node decides it the
// same way. `idem IKEY` names an idempotency key (see below). A no-op entry changes
// nothing. Every node applies the same entries in the same order, so every node's
// state is the same at the same applied index — State Machine Safety, which the
// simulator's checker verifies through fingerprint().
//
// Revisions. Every key carries one: the log index of the write that last changed it.
// The store's revision is its applied index. A write's result (WriteResult) is its own
// index, or, when its condition failed, the key's current revision and value; nothing
// changes then.
//
// Exactly-once for retried client requests (§8): an entry carrying a client id and a
// sequence number at or below the last one applied for that client is skipped, and the
// result of that client's last request is kept, so a retry of it is answered with it.
// Idempotency keys do the same across clients and connections: the result of a write
// carrying `idem IKEY` is recorded, and a later entry with the same IKEY applies
// nothing and is answered with the recorded result. Records are kept for the last
// kIdempotencyWindow idempotency keys applied (counted in log order, so every node
// forgets the same ones at the same index). Both tables are part of the state, so they
// are identical on every node.
//
// Freezing (for snapshots). Copying a KvStore costs O(shards), not O(keys): the map's
// shards and the two tables are shared between the copies, copy-on-write — a write
// first copies the shard (or table) it changes when another store still holds it. So
// freeze() hands out the state as it is now, immutable, in microseconds, and a snapshot
// is encoded from it (a pass over every key) off the host's event loop while writes go
// on; each shard written meanwhile is copied once (1/256 of the map). A frozen store may
// be read on another thread while the live store's thread holds a reference to it until
// that reader has said (through a mutex, a posted handler) that it is done: until then
// the live store copies every shard it writes, never writing one the reader sees.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/raft/entry.h"
#include "core/raft/message.h"  // KeyValue

namespace raftbook {

constexpr size_t kMaxKeyBytes = 1024;
constexpr size_t kMaxValueBytes = 64 * 1024;
constexpr size_t kMaxIdempotencyKeyBytes = 128;
constexpr size_t kIdempotencyWindow = 100000;  // idempotency keys remembered, most recent first
constexpr size_t kMaxListLimit = 1000;         // items in one page of a listing
constexpr size_t kMaxListBytes = 4 * 1024 * 1024;  // keys and values in one page, at most (about)

struct Command {
    enum class Op { Set, Del } op = Op::Set;
    enum class If { Always, Revision, Value } condition = If::Always;
    std::string key;
    std::string value;
    Index prev_revision = 0;  // If::Revision: the revision KEY must have (0: KEY must not exist)
    std::string prev_value;   // If::Value: the value KEY must have
    std::string idempotency_key;  // "" for none
};

// Checks a client's key: non-empty, at most kMaxKeyBytes, no spaces or control
// characters (commands are "set KEY VALUE" text). Returns an error message, or "".
std::string check_key(const std::string& key);
// Checks an idempotency key: 1 to kMaxIdempotencyKeyBytes bytes, no spaces or control
// characters. Returns an error message, or "".
std::string check_idempotency_key(const std::string& key);

// Parses a command (above). Returns false (and sets *error) on anything else.
bool parse_command(const std::string& text, Command* out, std::string* error);
// The command's text; parse_command reads it back when its keys pass the checks.
std::string command_text(const Command& c);

// What a write did, as its client is told.
struct WriteResult {
    bool ok = true;       // false: the condition failed and nothing changed
    Index revision = 0;   // ok: the write's own index; failed: the key's revision (0: missing)
    bool found = false;   // failed: whether the key exists
    std::string value;    // failed: the key's value
    bool operator==(const WriteResult& o) const {
        return ok == o.ok && revision == o.revision && found == o.found && value == o.value;
    }
};

// What the last apply() did, for the host (watchers) and the runtime (replies).
struct Applied {
    WriteResult result;         // its result (for a duplicate: the first one's)
    bool changed = false;       // a key changed: set, or deleted while it existed
    std::string key;            // the key written (when changed)
    bool deleted = false;       // ...by a delete
};

class KvStore {
public:
    KvStore();
    // A copy shares everything, copy-on-write (Freezing, above). No moves: a move is this
    // copy, so a moved-from store still holds its state, never null shards.
    KvStore(const KvStore&) = default;
    KvStore& operator=(const KvStore&) = default;

    // Applies one committed entry. Returns whether it took effect: false when it was a
    // duplicate client request (by client id and seq, or by idempotency key), a write
    // whose condition failed, or not a valid command (all leave the keys unchanged).
    // `deduplicate` = false applies a retried request again — the test-only fault
    // apply_duplicates (faults.h), which the checker's Exactly Once catches.
    bool apply(const Entry& e, bool deduplicate = true);
    // What the last apply() did.
    const Applied& last_applied() const { return last_; }

    const std::string* get(const std::string& key) const;
    // KEY's revision: the index of the write that last changed it; 0 when missing.
    Index revision(const std::string& key) const;
    size_t size() const { return size_; }
    // The whole map, in key order (for views and tests; copies every key).
    std::map<std::string, std::string> sorted() const;
    // Keys starting with `prefix` and after `after`, in key order: at most `limit`, and
    // the page ends early once it holds kMaxListBytes of keys and values. *more says
    // whether more such keys follow. Scans every key (the map is hashed, not ordered).
    std::vector<KeyValue> list(const std::string& prefix, const std::string& after, size_t limit, bool* more) const;
    Index applied_index() const { return applied_; }
    // Whether (client_id, seq) has been applied already.
    bool applied_request(uint64_t client_id, uint64_t seq) const;
    // The result of client_id's request seq, when it is the last one applied for it.
    const WriteResult* request_result(uint64_t client_id, uint64_t seq) const;
    // The recorded result of a write with this idempotency key, while it is remembered.
    const WriteResult* idempotent_result(const std::string& idempotency_key) const;
    // A running hash of every command that took effect, in order: equal on two nodes at
    // the same applied index exactly when the same commands took effect on both (it
    // changes with each one that does, and only then).
    uint64_t fingerprint() const { return fingerprint_; }

    // The whole state — map with revisions, client sessions with their last results,
    // idempotency records in order, applied index, fingerprint — as
    // compact binary, for a snapshot (core/raft/snapshot.h). decode() accepts untrusted
    // bytes (a snapshot from a peer): on anything malformed it returns false with a
    // one-line *error and leaves *out unchanged; on success *out equals the encoded store.
    std::string encode() const;
    static bool decode(const std::string& bytes, KvStore* out, std::string* error);
    // The state as it is now, immutable however this store changes later: a copy, in
    // O(shards) (see Freezing, above). Its encode() is what encode() returns now.
    std::shared_ptr<const KvStore> freeze() const { return std::make_shared<const KvStore>(*this); }

private:
    struct Record {
        std::string value;
        Index revision = 0;
    };
    struct Session {  // per client id
        uint64_t last_seq = 0;
        WriteResult result;  // of last_seq
    };
    // Evaluates c (the condition, then the write) at index `index`.
    WriteResult write(Command& c, Index index);

    // The map is a hash map (apply is O(1); an ordered map was 15 % of a busy leader's
    // CPU at 600k keys) split into shards, because growing one hash table rehashes
    // every key at once: 165 ms at 700k keys, a pause every client would wait out.
    // A shard grows by 1/256 of that. Shards and tables are shared copy-on-write
    // (Freezing, above): read them through the pointers, write them only through own().
    using Shard = std::unordered_map<std::string, Record>;
    using Sessions = std::unordered_map<uint64_t, Session>;  // client id -> its last applied request
    struct Idempotency {  // records, and their keys in the order they were applied (oldest first)
        std::unordered_map<std::string, WriteResult> results;
        std::deque<std::string> order;
    };
    static constexpr size_t kShards = 256;
    static size_t shard_of(const std::string& key) { return std::hash<std::string>()(key) % kShards; }
    const Shard& shard(const std::string& key) const { return *shards_[shard_of(key)]; }
    // What p points to, for writing: copied first when another store shares it.
    template <typename T>
    static T& own(std::shared_ptr<T>& p) {
        if (p.use_count() > 1) p = std::make_shared<T>(*p);
        return *p;
    }
    std::array<std::shared_ptr<Shard>, kShards> shards_;
    size_t size_ = 0;
    std::shared_ptr<Sessions> sessions_;
    std::shared_ptr<Idempotency> idempotent_;
    Index applied_ = 0;
    uint64_t fingerprint_ = 1469598103934665603ULL;
    Applied last_;
};

}  // namespace raftbook
