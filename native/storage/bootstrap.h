// Where a node's configuration starts: DIR/bootstrap, so a restart needs no --cluster or --join.
//
// A node's configuration in force is the newest Config entry of its log, else its
// snapshot's, else the bootstrap one (core/raft/membership.h). The first two are in the
// log and the snapshot files already; this file holds the third. It is written once, at
// the node's first start: with the members --cluster named (ids, peer and HTTP
// addresses) for a node that founded the cluster, or with no members for one that
// joined a running cluster (--join), which learns everything from the Config entries
// the leader sends it. A restarted node reads it back and needs neither flag.
//
//     raftbook data dir bootstrap, format 1
//     RBCONF 1                                  (Membership::encode: one line a member)
//     member 1 voter 127.0.0.1:7001 127.0.0.1:8001
//     ...
//     crc32 1a2b3c4d                            (of the bytes before this line)
//
// Like the identity file it is parsed strictly (anything else is damage, reported with
// the file's name) and replaced atomically.
#pragma once

#include <optional>
#include <string>

#include "core/raft/membership.h"

namespace raftbook {

constexpr const char* kBootstrapFile = "bootstrap";

// Reads DIR/bootstrap; nullopt when there is none. Throws StorageError when it is damaged.
std::optional<Membership> read_bootstrap(const std::string& dir);
// Replaces DIR/bootstrap, durably. Throws StorageError.
void write_bootstrap(const std::string& dir, const Membership& bootstrap);

}  // namespace raftbook
