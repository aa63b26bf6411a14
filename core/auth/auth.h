// Access control: proving knowledge of the cluster's token without sending it.
//
// A cluster may have a shared secret, the token (`raftbook serve --token-file`). A peer
// or browser node proves it knows the token by answering a challenge: on a new peer
// connection each side's Hello carries a fresh random nonce, and each side that has
// a token answers the other's nonce with an Auth frame whose proof is
//     HMAC-SHA256(token, "raftbook-auth-v1\n" + nonce + "\n" + decimal id of the sender)
// in lowercase hex. A node with a token takes no other frame from a connection until
// a correct proof arrived on it, and closes it with a reason otherwise. The token never
// crosses the wire, a proof is useless on any other connection (another nonce), and it
// names the node it is for (a proof for node 4 does not admit node 5).
//
// This is the core's, not a host's, so the native node and the browser node (wasm)
// compute the same bytes with the same code; it does no I/O and takes its nonce's
// randomness from the host.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/raft/entry.h"

namespace raftbook {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(std::string_view data);
Sha256Digest hmac_sha256(std::string_view key, std::string_view message);
std::string to_hex(const Sha256Digest& d);

// A nonce from 128 bits of host randomness, as hex.
std::string auth_nonce(uint64_t random_hi, uint64_t random_lo);
// The proof node `from` sends for the other side's `nonce` (see the top).
std::string auth_proof(std::string_view token, std::string_view nonce, NodeId from);
// Whether `proof` is the right answer; compares in constant time.
bool auth_proof_ok(std::string_view token, std::string_view nonce, NodeId from, std::string_view proof);

}  // namespace raftbook
