// Client requests as the runtime tests submit them.
#pragma once

#include <cstdint>
#include <string>

#include "core/raft/message.h"

namespace raftbook::testing {

// A put; client and seq 0: the runtime gives it one of its own sessions.
inline ClientRequest put(const std::string& key, const std::string& value, uint64_t client = 0, uint64_t seq = 0) {
    ClientRequest r;
    r.op = "put";
    r.key = key;
    r.value = value;
    r.client_id = client;
    r.seq = seq;
    return r;
}

inline ClientRequest get(const std::string& key) {
    ClientRequest r;
    r.op = "get";
    r.key = key;
    return r;
}

}  // namespace raftbook::testing
