// Test only (`raftbook serve --test-durability-log FILE`, used by `raftbook chaos
// --power-loss`): a side file saying what of the data dir an fsync made durable, so
// that a test can take away what a power loss would.
//
// kill -9 keeps the kernel's page cache: every write() the node made survives it,
// fsynced or not, and a node that acknowledges before it fsyncs is never caught. With
// this log on, the storage helpers (storage_io.cpp) append one line before each change
// and after each sync, tab-separated:
//     write  PATH OFFSET BYTES SIZE_BEFORE   before a write
//     trunc  PATH SIZE SIZE_BEFORE           before a truncate
//     sync   PATH SIZE                       after fdatasync/fsync: PATH's data is durable
//     create PATH                            before creating a file
//     rename FROM TO                         before a rename (the old TO is kept as
//                                            TO.power-loss-old until the rename is durable)
//     syncdir DIR                            after fsync of DIR: its names are durable
// Each line is one write() to a file opened O_APPEND, before the change it announces,
// so a kill -9 cannot keep a change and lose its line. After a kill, power_loss.h
// reads the log and undoes what was not yet durable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace raftbook::durability_log {

// Starts logging to `path` (appended to; created if missing), and stops. Throws
// StorageError.
void start(const std::string& path);
void stop();

// Also test only (`serve --test-slow-disk MS`): every fsync first waits a random time
// up to this long, as a slow, uneven disk keeps written data in its cache a while (and
// one node's longer than another's), so a power loss finds more of it.
void set_sync_delay(int milliseconds);

// The hooks storage_io.cpp calls; each does nothing unless start() was called.
void before_write(int fd, const std::string& path, int64_t offset /* -1: the fd's position */, size_t bytes);
void before_truncate(int fd, const std::string& path, size_t size);
void before_sync();  // waits the sync delay
void after_sync(int fd, const std::string& path);
void before_create(const std::string& path);  // called for every open with O_CREAT
void before_rename(const std::string& from, const std::string& to);
void after_sync_dir(const std::string& dir);

// The name under which the file a rename replaced is kept until the rename is durable.
std::string kept_name(const std::string& to);

}  // namespace raftbook::durability_log
