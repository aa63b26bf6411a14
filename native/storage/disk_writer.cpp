// The disk thread's group commit loop; see disk_writer.h.
#include "native/storage/disk_writer.h"

#include <algorithm>
#include <chrono>

namespace raftbook {

DiskWriter::DiskWriter(Storage* storage, std::function<void(Done)> on_done,
                       std::function<void(const std::exception&)> on_error)
    : storage_(storage), on_done_(std::move(on_done)), on_error_(std::move(on_error)), thread_([this] { run(); }) {}

DiskWriter::~DiskWriter() { stop(); }

void DiskWriter::push(Job job) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back(std::move(job));
    }
    cv_.notify_one();
}

void DiskWriter::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void DiskWriter::run() {
    for (;;) {
        std::vector<Job> batch;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            batch.swap(queue_);
        }
        // Group commit: every Ready queued while the last fsync ran goes into this one.
        Done done;
        Index compact_to = 0;
        try {
            // The node's own snapshots are encoded first: CPU time, not the disk's.
            const auto encode_start = std::chrono::steady_clock::now();
            for (Job& job : batch) {
                if (!job.encode_snapshot) continue;
                job.snapshot = job.encode_snapshot();
                done.snapshots_encoded++;
            }
            const auto start = std::chrono::steady_clock::now();
            done.encode_seconds = std::chrono::duration<double>(start - encode_start).count();
            for (Job& job : batch) {
                if (job.hard_state) {
                    storage_->save_hard_state(*job.hard_state);
                    done.synced = true;
                }
                if (job.snapshot) {
                    const auto snapshot_start = std::chrono::steady_clock::now();
                    storage_->save_snapshot(*job.snapshot, job.snapshot_resets_log);
                    done.snapshot_seconds +=
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - snapshot_start).count();
                    done.snapshots++;
                    done.snapshot_bytes += job.snapshot->size();
                    done.snapshot = job.snapshot->meta;
                    done.synced = true;
                }
                if (!job.entries.empty()) {
                    storage_->append(job.entries);
                    done.last_index = job.entries.back().index;
                    done.last_term = job.entries.back().term;
                    done.entries += job.entries.size();
                    done.synced = true;
                }
                if (job.commit_index > recorded_commit_) {  // a commit record alone is worth a sync
                    recorded_commit_ = job.commit_index;
                    done.synced = true;
                }
                storage_->record_commit(job.commit_index);
                compact_to = std::max(compact_to, job.compact_to);
                done.last_id = job.id;
            }
            if (done.synced) storage_->sync();
            done.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (compact_to > 0) done.segments_deleted = storage_->compact(compact_to);
        } catch (const std::exception& e) {
            on_error_(e);
            return;
        }
        on_done_(std::move(done));
    }
}

}  // namespace raftbook
