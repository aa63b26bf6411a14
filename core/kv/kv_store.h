// The replicated state machine: a key-value map driven by committed log entries.
//
// Commands are text, one per entry: `set KEY VALUE` (the value may contain spaces)
// and `del KEY`. A no-op entry changes nothing. Every node applies the same entries in
// the same order, so every node's map is the same at the same applied index — State
// Machine Safety, which the simulator's checker verifies through fingerprint().
//
// Exactly-once for retried client requests (§8): an entry carrying a client id and a
// sequence number at or below the last one applied for that client is skipped. The
// session table is part of the state, so it is identical on every node.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "core/raft/entry.h"

namespace raftbook {

struct Command {
    enum class Op { Set, Del } op = Op::Set;
    std::string key;
    std::string value;
};

constexpr size_t kMaxKeyBytes = 1024;
constexpr size_t kMaxValueBytes = 64 * 1024;

// Checks a client's key: non-empty, at most kMaxKeyBytes, no spaces or control
// characters (commands are "set KEY VALUE" text). Returns an error message, or "".
std::string check_key(const std::string& key);

// Parses "set KEY VALUE" / "del KEY". Returns false (and sets *error) on anything else.
bool parse_command(const std::string& text, Command* out, std::string* error);

class KvStore {
public:
    // Applies one committed entry. Returns whether it took effect: false when it was a
    // duplicate client request or not a valid command (both leave the state unchanged).
    // `deduplicate` = false applies a retried request again — the test-only fault
    // apply_duplicates (faults.h), which the checker's Exactly Once catches.
    bool apply(const Entry& e, bool deduplicate = true);

    const std::string* get(const std::string& key) const;
    size_t size() const { return size_; }
    // The whole map, in key order (for views and tests; copies every key).
    std::map<std::string, std::string> sorted() const;
    Index applied_index() const { return applied_; }
    // Whether (client_id, seq) has been applied already.
    bool applied_request(uint64_t client_id, uint64_t seq) const;
    // A running hash of every command that took effect, in order: equal on two nodes at
    // the same applied index exactly when the same commands took effect on both (it
    // changes with each one that does, and only then).
    uint64_t fingerprint() const { return fingerprint_; }

    // The whole state — map, client session table, applied index, fingerprint — as
    // compact binary, for a snapshot (core/raft/snapshot.h). decode() accepts untrusted
    // bytes (a snapshot from a peer): on anything malformed it returns false with a
    // one-line *error and leaves *out unchanged; on success *out equals the encoded store.
    std::string encode() const;
    static bool decode(const std::string& bytes, KvStore* out, std::string* error);

private:
    // The map is a hash map (apply is O(1); an ordered map was 15 % of a busy leader's
    // CPU at 600k keys) split into shards, because growing one hash table rehashes
    // every key at once: 165 ms at 700k keys, a pause every client would wait out.
    // A shard grows by 1/256 of that.
    using Shard = std::unordered_map<std::string, std::string>;
    static constexpr size_t kShards = 256;
    Shard& shard(const std::string& key) { return shards_[std::hash<std::string>()(key) % kShards]; }
    const Shard& shard(const std::string& key) const { return shards_[std::hash<std::string>()(key) % kShards]; }
    std::array<Shard, kShards> shards_;
    size_t size_ = 0;
    std::unordered_map<uint64_t, uint64_t> last_seq_;  // client id -> last applied seq
    Index applied_ = 0;
    uint64_t fingerprint_ = 1469598103934665603ULL;
};

}  // namespace raftbook
