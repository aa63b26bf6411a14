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

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "entry.h"

namespace raftbook {

struct Command {
    enum class Op { Set, Del } op = Op::Set;
    std::string key;
    std::string value;
};

// Parses "set KEY VALUE" / "del KEY". Returns false (and sets *error) on anything else.
bool parse_command(const std::string& text, Command* out, std::string* error);

class KvStore {
public:
    // Applies one committed entry. Returns false when it was a duplicate client request
    // or not a valid command (both leave the state unchanged).
    bool apply(const Entry& e);

    const std::string* get(const std::string& key) const;
    const std::map<std::string, std::string>& data() const { return data_; }
    Index applied_index() const { return applied_; }
    // Whether (client_id, seq) has been applied already.
    bool applied_request(uint64_t client_id, uint64_t seq) const;
    // A running hash of every applied command, in order: equal on two nodes at the
    // same applied index exactly when they applied the same sequence.
    uint64_t fingerprint() const { return fingerprint_; }

private:
    std::map<std::string, std::string> data_;
    std::unordered_map<uint64_t, uint64_t> last_seq_;  // client id -> last applied seq
    Index applied_ = 0;
    uint64_t fingerprint_ = 1469598103934665603ULL;
};

}  // namespace raftbook
