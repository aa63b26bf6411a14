// A node's data dir: the lock, the identity, the hard state file and the WAL; see storage.h.
#include "native/storage/storage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "native/storage/crc32.h"
#include "native/storage/snapshot_file.h"

namespace raftbook {

namespace {

// The hard state file: magic and format version, current_term, voted_for, and the
// crc32 of the bytes before it.
constexpr char kHardStateMagic[8] = {'R', 'B', 'H', 'S', 'T', 0, 0, 1};
constexpr size_t kHardStateBytes = 8 + 8 + 8 + 4;
constexpr const char* kHardStateFile = "hardstate";  // a hardstate.tmp left by a crash is ignored

StorageError damaged_hard_state(const std::string& path, const std::string& what) {
    return StorageError("hard state file " + path + " is damaged (" + what +
                        "); it holds this node's term and vote, without which it could vote "
                        "twice in one term. Restore the data dir from a backup.");
}

// Reads current_term and voted_for; nullopt when there is no file (a node that never
// saved any).
std::optional<HardState> read_hard_state(const std::string& dir) {
    const std::string path = join_path(dir, kHardStateFile);
    if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return std::nullopt;
    const std::string buf = read_file(path);
    if (buf.size() != kHardStateBytes)
        throw damaged_hard_state(path, std::to_string(buf.size()) + " bytes, expected " +
                                           std::to_string(kHardStateBytes));
    if (std::memcmp(buf.data(), kHardStateMagic, sizeof kHardStateMagic) != 0)
        throw damaged_hard_state(path, "not a raftbook hard state file");
    const size_t body = kHardStateBytes - 4;
    if (crc32(buf.data(), body) != get_le(buf.data() + body, 4))
        throw damaged_hard_state(path, "checksum mismatch");
    HardState hs;
    hs.current_term = get_le(buf.data() + 8, 8);
    hs.voted_for = get_le(buf.data() + 16, 8);
    return hs;
}

// Takes DIR/LOCK for as long as the returned descriptor is open (also against a second
// open in this process: flock locks belong to the open file, not the process).
UniqueFd lock_data_dir(const std::string& dir) {
    const std::string path = join_path(dir, "LOCK");
    UniqueFd fd = open_file(path, O_RDWR | O_CREAT);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK)
            throw StorageError("cannot lock " + path + ": " + std::strerror(errno));
        std::string pid = read_file(path);
        pid.erase(std::find(pid.begin(), pid.end(), '\n'), pid.end());
        throw StorageError("data dir " + dir + " is locked by " +
                           (pid.empty() ? "another process" : "pid " + pid) +
                           "; stop that node or pass another --data");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    truncate_file(fd.get(), 0, path);
    write_all(fd.get(), pid.data(), pid.size(), path);
    return fd;
}

std::string describe(const Identity& id) {
    return "node " + std::to_string(id.node_id) +
           (id.cluster_id.empty() ? " (of a cluster not known yet)"
                                  : " of cluster " + id.cluster_id);
}

// Refuses a dir that records another node or cluster than the one opening it.
void check_identity(const std::string& dir, const Identity& recorded, const StorageOptions& want) {
    if (want.node_id != kNoNode && want.node_id != recorded.node_id)
        throw StorageError("data dir " + dir + " belongs to " + describe(recorded) +
                           "; this is node " + std::to_string(want.node_id) + ": pass --id " +
                           std::to_string(recorded.node_id) + ", or another --data");
    if (!want.cluster_id.empty() && !recorded.cluster_id.empty() &&
        want.cluster_id != recorded.cluster_id)
        throw StorageError("data dir " + dir + " belongs to " + describe(recorded) +
                           "; this node is of cluster " + want.cluster_id + ": pass --cluster-id " +
                           recorded.cluster_id + ", or another --data");
}

// The term of entry i in the WAL's log; 0 when it does not hold it.
Term wal_term(const WalLog& log, Index i) {
    if (!log.start_known || i < log.first_index || i > log.last_index()) return 0;
    return log.entries[i - log.first_index].term;
}

// Whether the WAL's log goes on right after entry `at` (a snapshot's last entry; {0, 0}
// for the start of the log): it holds that entry with that term, or starts just after
// it (after that term, when a reset record says which).
bool continues(const WalLog& log, const SnapshotMeta& at) {
    if (!log.start_known) return false;
    if (log.first_index == at.index + 1) return log.prev_term == 0 || log.prev_term == at.term;
    return wal_term(log, at.index) == at.term;
}

std::string entries_between(Index from, Index to) {
    return from == to ? "entry " + std::to_string(from)
                      : "entries " + std::to_string(from) + " to " + std::to_string(to);
}

void add_note(std::string* notes, const std::string& note) {
    if (!notes->empty()) *notes += ". ";
    *notes += note;
}

}  // namespace

// The newest valid snapshot and the WAL entries after it (storage.h). Returns whether
// the WAL must be reset to start after the snapshot.
bool Storage::restore_log(const std::vector<SnapshotFile>& files, WalLog* log) {
    std::optional<Snapshot> snap;
    std::vector<std::pair<SnapshotFile, std::string>> damaged;  // newer than snap
    for (const SnapshotFile& file : files) {
        Snapshot candidate;
        const std::string why = read_snapshot_file(file, &candidate);
        if (why.empty()) {
            snap = std::move(candidate);
            break;
        }
        damaged.emplace_back(file, why);
    }
    const SnapshotMeta base = snap ? snap->meta : SnapshotMeta{};
    const std::string base_name =
        snap ? "the snapshot " + join_path(dir_, snapshot_file_name(base)) : std::string("no snapshot");
    // A damaged snapshot may be passed over only when the WAL still holds what it held.
    for (const auto& [file, why] : damaged)
        if (!continues(*log, base) || wal_term(*log, file.meta.index) != file.meta.term)
            throw StorageError("snapshot file " + file.path + " is damaged (" + why +
                               "), and the WAL no longer holds the entries it covers (after " + base_name +
                               "); refusing to start rather than lose them or start from an older state. "
                               "Restore the data dir from a backup.");
    for (const auto& [file, why] : damaged) {
        rename_file(file.path, file.path + ".damaged");
        add_note(&recovery_note_, "snapshot file " + file.path + " is damaged (" + why + "); renamed it to " +
                                      file.path + ".damaged and restored the same state from " + base_name +
                                      " and the WAL, which holds every entry up to " +
                                      std::to_string(file.meta.index));
    }
    if (!damaged.empty()) sync_dir(dir_);
    if (!log->start_known && !snap)
        throw StorageError("data dir " + dir_ + " is missing part of its log: the WAL's oldest segment is " +
                           log->first_segment +
                           ", those before it are gone, and there is no snapshot (snap-TERM-INDEX file) of the "
                           "entries they held. Restore the data dir from a backup.");
    if (log->start_known && log->first_index > base.index + 1)
        throw StorageError("data dir " + dir_ + " is missing part of its log: " +
                           (snap ? base_name + " ends at entry " + std::to_string(base.index)
                                 : std::string("there is no snapshot")) +
                           " but the WAL (oldest segment " + log->first_segment +
                           ") starts at entry " + std::to_string(log->first_index) + ", so " +
                           entries_between(base.index + 1, log->first_index - 1) +
                           " are lost. Restore the data dir from a backup.");
    const bool reset = !continues(*log, base);
    if (reset && log->commit_index > base.index)
        throw StorageError("data dir " + dir_ + " is inconsistent: " + base_name + " and the WAL (" +
                           log->first_segment + " on) disagree about committed entry " +
                           std::to_string(base.index) + ". Restore the data dir from a backup.");
    std::vector<Entry>& entries = log->entries;
    if (reset) {
        if (log->start_known && log->last_index() > base.index)
            add_note(&recovery_note_, "dropped " + entries_between(base.index + 1, log->last_index()) +
                                          " from the WAL: they continue a log that " + base_name +
                                          " replaced (a crash came between writing that snapshot and recording "
                                          "the reset of the log); they were never committed");
        entries.clear();
    } else if (base.index >= log->first_index) {
        entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(base.index + 1 - log->first_index));
    }
    restored_.first_index = base.index + 1;
    restored_.prev_term = base.term;
    restored_.entries = std::move(entries);
    restored_.hard_state.commit_index = std::max(log->commit_index, base.index);
    restored_.snapshot = std::move(snap);
    snapshot_ = base;
    return reset;
}

std::unique_ptr<Storage> Storage::open(const std::string& dir, std::string* error,
                                       const StorageOptions& options) {
    std::unique_ptr<Storage> s(new Storage());
    try {
        if (!options.cluster_id.empty())
            if (const std::string problem = cluster_id_problem(options.cluster_id);
                !problem.empty())
                throw StorageError("cannot open data dir " + dir + " for cluster id '" +
                                   options.cluster_id + "': " + problem);
        s->dir_ = dir;
        make_dirs(dir);
        s->lock_ = lock_data_dir(dir);
        const std::optional<Identity> recorded = read_identity(dir);
        if (recorded) check_identity(dir, *recorded, options);
        const std::optional<HardState> hard_state = read_hard_state(dir);
        s->saved_ = hard_state.value_or(HardState{});
        sync_dir(dir);  // a rename by a process that crashed before its fsync of the dir
        WalLog log;
        const std::vector<SnapshotFile> snapshots = list_snapshot_files(dir);
        // The WAL is created before the identity, the hard state and any snapshot are
        // first written: each means a segment is missing if none is there.
        s->wal_ = Wal::open(join_path(dir, "wal"), options.segment_bytes, &log,
                            recorded || hard_state || !snapshots.empty());
        s->recovery_note_ = std::move(log.torn_tail);
        s->restored_.hard_state = {s->saved_.current_term, s->saved_.voted_for, 0};
        if (s->restore_log(snapshots, &log)) {
            s->wal_->reset(s->snapshot_.index, s->snapshot_.term);
            s->wal_->sync();
        }
        Term max_term = s->snapshot_.term;
        for (const Entry& e : s->restored_.entries) max_term = std::max(max_term, e.term);
        if (max_term > s->saved_.current_term)
            throw StorageError(
                "data dir " + dir + " is inconsistent: its log holds entries of term " +
                std::to_string(max_term) + " but the hard state says current_term " +
                std::to_string(s->saved_.current_term) + " (is " +
                join_path(dir, kHardStateFile) +
                " missing or from another dir?). Restore the data dir from a backup.");
        s->identity_ = recorded.value_or(Identity{});
        if (options.node_id != kNoNode &&
            (!recorded || (recorded->cluster_id.empty() && !options.cluster_id.empty()))) {
            s->identity_ = {options.node_id, options.cluster_id};
            write_identity(dir, s->identity_);
            if (!recorded && !(log.created && !hard_state))
                add_note(&s->recovery_note_, "data dir " + dir +
                                                 " had no identity file (it is from before raftbook "
                                                 "recorded one): recorded it as " +
                                                 describe(s->identity_));
        }
    } catch (const std::exception& e) {
        *error = e.what();
        return nullptr;
    }
    return s;
}

template <typename Write>
void Storage::guarded(Write write) {
    if (!failure_.empty())
        throw StorageError("data dir " + dir_ + " failed earlier (" + failure_ +
                               "); its files are in an unknown state: stop the node and "
                               "restart it, which recovers from what is durable",
                           failure_errno_);
    try {
        write();
    } catch (const StorageError& e) {
        failure_ = e.what();
        failure_errno_ = e.error_number();
        throw;
    }
}

void Storage::set_cluster_id(const std::string& cluster_id) {
    guarded([&] {
        if (const std::string problem = cluster_id_problem(cluster_id); !problem.empty())
            throw std::invalid_argument("Storage::set_cluster_id: " + problem);
        if (cluster_id == identity_.cluster_id) return;
        if (identity_.node_id == kNoNode)
            throw std::logic_error("Storage::set_cluster_id: data dir " + dir_ +
                                   " records no node id (it was opened with node_id 0)");
        if (!identity_.cluster_id.empty())
            throw std::logic_error("Storage::set_cluster_id: data dir " + dir_ + " belongs to " +
                                   describe(identity_) + "; refusing to record cluster " +
                                   cluster_id);
        const Identity next{identity_.node_id, cluster_id};
        write_identity(dir_, next);
        identity_ = next;
    });
}

void Storage::save_hard_state(const HardState& hs) {
    guarded([&] {
        wal_->set_commit(hs.commit_index);
        if (hs.current_term == saved_.current_term && hs.voted_for == saved_.voted_for) return;
        write_hard_state(hs);
        saved_ = {hs.current_term, hs.voted_for, 0};
    });
}

void Storage::write_hard_state(const HardState& hs) {
    std::string buf(kHardStateMagic, sizeof kHardStateMagic);
    put_le(&buf, hs.current_term, 8);
    put_le(&buf, hs.voted_for, 8);
    put_le(&buf, crc32(buf.data(), buf.size()), 4);
    replace_file(dir_, kHardStateFile, buf);
}

void Storage::append(const std::vector<Entry>& entries) {
    guarded([&] {
        for (const Entry& e : entries)
            if (e.term > saved_.current_term)
                throw std::logic_error(
                    "Storage::append: entry " + std::to_string(e.index) + " has term " +
                    std::to_string(e.term) + " but the saved current_term is " +
                    std::to_string(saved_.current_term) +
                    "; call save_hard_state(ready.hard_state) before append()");
        wal_->append(entries);
    });
}

void Storage::record_commit(Index commit_index) {
    guarded([&] { wal_->set_commit(commit_index); });
}

void Storage::sync() {
    guarded([&] { wal_->sync(); });
}

void Storage::save_snapshot(const Snapshot& snap, bool resets_log) {
    guarded([&] {
        if (snap.meta.index < snapshot_.index)
            throw std::logic_error("Storage::save_snapshot: snapshot at entry " + std::to_string(snap.meta.index) +
                                   " is older than the one saved at entry " + std::to_string(snapshot_.index));
        if (snap.meta.index == 0 || snap.meta.term > saved_.current_term)
            throw std::logic_error("Storage::save_snapshot: snapshot of entry " + std::to_string(snap.meta.index) +
                                   " of term " + std::to_string(snap.meta.term) +
                                   " (saved current_term " + std::to_string(saved_.current_term) +
                                   "); call save_hard_state(ready.hard_state) first");
        write_snapshot_file(dir_, snap);
        if (resets_log) {
            wal_->reset(snap.meta.index, snap.meta.term);
            wal_->sync();
        }
        snapshot_ = snap.meta;
        prune_snapshot_files(dir_, 2);  // this one, and the one before it
    });
}

size_t Storage::compact(Index compact_to) {
    size_t deleted = 0;
    guarded([&] {
        if (snapshot_.index > 0) deleted = wal_->compact(std::min(compact_to, snapshot_.index));
    });
    return deleted;
}

}  // namespace raftbook
