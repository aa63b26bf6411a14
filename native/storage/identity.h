// Whose data dir this is: DIR/identity names the node and the cluster it belongs to.
//
// A data dir holds one node's term, vote and log. Raft's safety rests on each server
// keeping its own stable storage: a node started on another node's dir (a wrong --id),
// or a dir of another cluster, would vote and acknowledge with a history that is not
// its own. So the dir records whose it is, and Storage::open refuses a mismatch rather
// than start.
//
// The file is four lines of text, so that `cat DIR/identity` answers the question:
//
//     raftbook data dir identity, format 1
//     node 2
//     cluster 7f3a9c01d2e4b5a6          ("cluster" alone: not known yet)
//     crc32 1a2b3c4d                    (of the bytes before this line, 8 hex digits)
//
// It is parsed strictly, and anything else is damage, reported with the file's name:
// never read as "no identity", which would quietly take the dir for a fresh one. It is
// replaced atomically (replace_file in storage_io.h), so a crash leaves the old or the
// new file.
#pragma once

#include <optional>
#include <string>

#include "core/raft/entry.h"

namespace raftbook {

struct Identity {
    NodeId node_id = kNoNode;
    std::string cluster_id;  // "" while the node has not learned it yet
};

constexpr const char* kIdentityFile = "identity";

// Reads DIR/identity; nullopt when there is none. Throws StorageError when it is damaged.
std::optional<Identity> read_identity(const std::string& dir);
// Replaces DIR/identity, durably. Throws StorageError.
void write_identity(const std::string& dir, const Identity& identity);

// "" when `id` can be recorded as a cluster id (1 to 256 bytes, no control characters),
// else what is wrong with it.
std::string cluster_id_problem(const std::string& id);

// A new cluster's id: 16 hex digits from std::random_device.
std::string random_cluster_id();

}  // namespace raftbook
