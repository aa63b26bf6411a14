// libFuzzer target: WAL recovery on arbitrary bytes.
//
// A data dir's segment file is whatever the disk gives back after a crash or damage,
// so recovery must treat it as untrusted input. Each run puts the input in a data dir's
// WAL three ways and opens the storage each time:
//   1. as the only segment. Open must either refuse with an error message or restore a
//      valid log (indexes 1, 2, 3, ... and a commit index within it). Recovery must be
//      idempotent (opening again gives the same log with nothing more to cut), and the
//      node must carry on: an entry appended after it (over the zero fill, past a cut
//      torn tail, or into a new segment) is there on the next open.
//   2. followed by zeros, as the zero fill ahead of the records (wal.h) leaves it. The
//      same checks; and when the input alone was a clean log, the zeros are its clean
//      end: the same log, nothing cut.
//   3. as a segment with a later one (holding only its header and zero fill). A segment
//      that is not the last may end in zeros but never in a torn tail, so open refuses
//      exactly when the input alone was refused, had a torn tail or was empty, and
//      otherwise restores the same log.
// Crashes, sanitizer reports and broken properties abort.
//
// The data dir lives under $TMPDIR (default /tmp) and is removed at exit; its hard
// state claims the largest term so that entries of any term are consistent with it.
// Segments are small (kSegmentBytes), so that appending rolls over to a new one.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "native/storage/storage.h"

namespace fs = std::filesystem;
using namespace raftbook;

namespace {

constexpr size_t kSegmentBytes = 4096;
const std::string kSegmentHeader("RBWAL\0\0\1", 8);

std::string g_dir;

void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz_wal_recovery: %s\n", what);
    std::abort();
}

std::string make_data_dir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/raftbook-fuzz-wal-XXXXXX";
    check(::mkdtemp(tmpl.data()) != nullptr, "cannot create a temp dir");
    std::string error;
    auto s = Storage::open(tmpl, &error);
    check(s != nullptr, "cannot open an empty data dir");
    s->save_hard_state({UINT64_MAX, 1, 0});
    std::atexit([] { fs::remove_all(g_dir); });
    return tmpl;
}

std::string segment_path(int seq) {
    char name[32];
    std::snprintf(name, sizeof name, "/wal/%08d.seg", seq);
    return g_dir + name;
}

// Replaces the data dir's WAL with these segments, numbered from 1.
void write_segments(const std::vector<std::string>& segments) {
    fs::remove_all(g_dir + "/wal");
    fs::create_directory(g_dir + "/wal");
    for (size_t i = 0; i < segments.size(); i++)
        std::ofstream(segment_path(static_cast<int>(i + 1)), std::ios::binary)
            .write(segments[i].data(), static_cast<std::streamsize>(segments[i].size()));
}

std::unique_ptr<Storage> open_storage(std::string* error) {
    StorageOptions options;
    options.segment_bytes = kSegmentBytes;
    return Storage::open(g_dir, error, options);
}

struct Recovered {
    bool opened = false;
    Restored restored;
    std::string note;  // the torn tail cut off
};

// Opens the WAL as it is on disk and checks that recovery gives a valid log and is
// idempotent; with carry_on, also that an entry appended after it is kept.
Recovered recover(bool carry_on) {
    Recovered r;
    std::string error;
    auto s = open_storage(&error);
    if (!s) {
        check(!error.empty(), "open failed without an error message");
        return r;
    }
    r.opened = true;
    r.restored = s->restored();
    r.note = s->recovery_note();
    const std::vector<Entry>& entries = r.restored.entries;
    for (size_t i = 0; i < entries.size(); i++)
        check(entries[i].index == i + 1, "restored entries are not 1, 2, 3, ...");
    check(r.restored.hard_state.commit_index <= entries.size(),
          "commit index beyond the restored log");
    s.reset();

    s = open_storage(&error);
    check(s != nullptr, "a recovered WAL does not open again");
    check(s->recovery_note().empty(), "a recovered WAL still has a torn tail");
    check(s->restored().entries == entries, "reopening changed the log");
    check(s->restored().hard_state == r.restored.hard_state, "reopening changed the hard state");
    if (!carry_on) return r;

    Entry next;
    next.index = entries.size() + 1;
    next.term = 1;
    next.data = "carry on";
    s->append({next});
    s->sync();
    s.reset();
    s = open_storage(&error);
    check(s != nullptr, "a WAL appended to after recovery does not open");
    check(s->recovery_note().empty(), "an append after recovery left a torn tail");
    std::vector<Entry> want = entries;
    want.push_back(next);
    check(s->restored().entries == want, "an entry appended after recovery was not kept");
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (g_dir.empty()) g_dir = make_data_dir();
    const std::string input(reinterpret_cast<const char*>(data), size);

    write_segments({input});
    const Recovered alone = recover(true);
    // A clean log: no torn tail, and a segment header (an empty file is given one).
    const bool clean = alone.opened && alone.note.empty() && !input.empty();

    const std::string zero_filled = input + std::string(1 + size % 300, '\0');
    write_segments({zero_filled});
    const Recovered zeros = recover(false);
    if (clean) {
        check(zeros.opened && zeros.note.empty(), "zeros after a clean log are not its clean end");
        check(zeros.restored.entries == alone.restored.entries &&
                  zeros.restored.hard_state == alone.restored.hard_state,
              "zeros after a clean log changed it");
        check(fs::file_size(segment_path(1)) == zero_filled.size(),
              "the zeros after a clean log were cut off");
    }

    write_segments({input, kSegmentHeader + std::string(100, '\0')});
    const Recovered earlier = recover(false);
    check(earlier.opened == clean,
          "a segment that is not the last was not refused exactly when it is torn");
    if (earlier.opened)
        check(earlier.restored.entries == alone.restored.entries &&
                  earlier.restored.hard_state == alone.restored.hard_state &&
                  earlier.note.empty(),
              "a segment that is not the last replays differently from the last");
    return 0;
}
