// `raftbook chaos --power-loss`: after a kill -9, take away what a power loss would
// have, before the node restarts.
//
// A node started with `serve --test-durability-log FILE` notes in FILE every write,
// truncate, create and rename of its data dir before making it, and every fsync after
// it (durability_log.h). lose_unsynced() reads that log and undoes what no fsync made
// durable: each file goes back to its size at its last sync, the bytes written into
// it since then become zeros again (the WAL writes its records over zeros it synced
// earlier, and nothing else writes inside a file after its sync), and creations and
// renames whose directory was not fsynced since are reverted (a renamed-over file
// comes back from the copy the log kept). A truncate that was lost leaves zeros where
// the cut bytes were: the real bytes are gone, and zeros read as a clean end of the WAL.
//
// That is one of the states a real power loss may leave (it may also keep some of the
// unsynced writes, or parts of them); it is the one that loses the most, which is what
// a node that acknowledges before it fsyncs must survive and cannot.
#pragma once

#include <cstdint>
#include <string>

namespace raftbook {

struct PowerLossCut {
    size_t files = 0;         // files cut back or zeroed
    uint64_t bytes = 0;       // bytes written since their file's last sync, now gone
    size_t names = 0;         // creations and renames undone
    std::string describe() const;  // "2 files cut back (4.1 KiB unsynced), 1 rename undone"
};

// Applies the cut the durability log at `log_path` calls for, then removes the log
// (the restarted node starts a new one). A missing log is an empty one. Throws
// std::runtime_error naming the file and line when the log or a file cannot be used.
PowerLossCut lose_unsynced(const std::string& log_path);

}  // namespace raftbook
