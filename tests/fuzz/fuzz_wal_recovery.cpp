// libFuzzer target: WAL recovery on arbitrary bytes.
//
// A data dir's segment file is whatever the disk gives back after a crash or damage,
// so recovery must treat it as untrusted input. Each run writes the input as the only
// segment of a data dir and opens the storage. It must either refuse with an error
// message or restore a valid log (indexes 1, 2, 3, ... and a commit index within it);
// and recovery must be idempotent: after a torn tail has been cut, opening again gives
// the same log with nothing more to cut. Crashes, sanitizer reports and broken
// properties abort.
//
// The data dir lives under $TMPDIR (default /tmp) and is removed at exit; its hard
// state claims the largest term so that entries of any term are consistent with it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "native/storage.h"

namespace fs = std::filesystem;
using namespace raftbook;

namespace {

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (g_dir.empty()) g_dir = make_data_dir();
    const std::string wal = g_dir + "/wal";
    fs::remove_all(wal);
    fs::create_directory(wal);
    std::ofstream(wal + "/00000001.seg", std::ios::binary)
        .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));

    std::string error;
    auto s = Storage::open(g_dir, &error);
    if (!s) {
        check(!error.empty(), "open failed without an error message");
        return 0;
    }
    const Restored restored = s->restored();
    for (size_t i = 0; i < restored.entries.size(); i++)
        check(restored.entries[i].index == i + 1, "restored entries are not 1, 2, 3, ...");
    check(restored.hard_state.commit_index <= restored.entries.size(),
          "commit index beyond the restored log");
    s.reset();

    s = Storage::open(g_dir, &error);
    check(s != nullptr, "a recovered WAL does not open again");
    check(s->recovery_note().empty(), "a recovered WAL still has a torn tail");
    check(s->restored().entries == restored.entries, "reopening changed the log");
    check(s->restored().hard_state == restored.hard_state, "reopening changed the hard state");
    return 0;
}
