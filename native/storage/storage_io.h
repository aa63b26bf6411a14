// The few POSIX file operations durable storage is built from, each turning a failure
// into a StorageError that names the path and the system's reason.
//
// Durability on Linux takes more than write(): data is durable after fdatasync() on the
// file, and a new or renamed file's name is durable only after fsync() on its directory
// (a new directory's name too: make_dirs() fsyncs the parent of each one it creates).
// These helpers keep those steps short at the call sites in wal.cpp, storage.cpp and
// identity.cpp, along with the little-endian integers the on-disk formats are made of.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <initializer_list>
#include <string>
#include <string_view>

namespace raftbook {

// An I/O failure of the data dir (disk full, permission denied, EIO). After a failed
// write or sync the state of the files is unknown, so the node must stop; restarting
// recovers from what is on disk. `error_number` is the errno of a failed system call
// (0 when none): EMFILE or ENFILE means the process ran out of file descriptors, not
// that the disk is at fault, and the node says so.
class StorageError : public std::runtime_error {
public:
    explicit StorageError(const std::string& what, int error_number = 0)
        : std::runtime_error(what), error_number_(error_number) {}
    int error_number() const { return error_number_; }

private:
    int error_number_;
};

// Owns a file descriptor and closes it.
class UniqueFd {
public:
    explicit UniqueFd(int fd = -1) : fd_(fd) {}
    ~UniqueFd();
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    UniqueFd& operator=(UniqueFd&& o) noexcept;
    int get() const { return fd_; }

private:
    int fd_;
};

void put_le(std::string* out, uint64_t v, int bytes);  // appends the low `bytes` bytes
uint64_t get_le(const char* p, int bytes);

std::string join_path(const std::string& dir, const std::string& name);
// Like mkdir -p, and durable: fsyncs the parent of each directory it creates, so that a
// crash right after cannot lose the new names.
void make_dirs(const std::string& path);
UniqueFd open_file(const std::string& path, int flags);   // O_CLOEXEC added; mode 0644
std::string read_file(const std::string& path);           // the whole file
void write_all(int fd, const char* data, size_t size, const std::string& path);
// pwrite() of all `size` bytes at `offset`.
void write_all_at(int fd, const char* data, size_t size, size_t offset,
                  const std::string& path);
// Writes `size` zero bytes at `offset`: real zeros, written blocks, unlike a hole or a
// fallocate()d range, whose first write still changes the file's metadata.
void write_zeros_at(int fd, size_t offset, size_t size, const std::string& path);
void sync_data(int fd, const std::string& path);          // fdatasync
void sync_file(int fd, const std::string& path);          // fsync: data and metadata
void sync_dir(const std::string& dir);                    // makes names in dir durable
void truncate_file(int fd, size_t size, const std::string& path);
void rename_file(const std::string& from, const std::string& to);
// Replaces dir/name with `bytes` atomically and durably: writes dir/name.tmp, fsyncs it,
// renames it over dir/name and fsyncs dir. A crash leaves the old file or the new one
// (and maybe a stale name.tmp, which readers ignore).
void replace_file(const std::string& dir, const std::string& name, const std::string& bytes);
// The same with the file's bytes given in pieces, written one after the other (a large
// body between a header and a trailer, without copying it into one string).
void replace_file(const std::string& dir, const std::string& name,
                  std::initializer_list<std::string_view> pieces);
// unlink(); a file already gone is not an error.
void remove_file(const std::string& path);

}  // namespace raftbook
