// What the storage tests share: a temp dir of their own, entries that are easy to find
// in a segment's bytes, and opening a data dir that must open (or must not).
#pragma once

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "native/storage/storage.h"

namespace raftbook::test {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/raftbook-storage-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// data "" gives "set kINDEX v": unique per index, so it can be found in a segment's bytes.
inline Entry entry(Index index, Term term, std::string data = "") {
    Entry e;
    e.index = index;
    e.term = term;
    e.data = data.empty() ? "set k" + std::to_string(index) + " v" : data;
    e.client_id = 7;
    e.seq = index;
    return e;
}

inline std::unique_ptr<Storage> open_ok(const std::string& dir, const StorageOptions& options = {}) {
    std::string error;
    auto s = Storage::open(dir, &error, options);
    INFO(error);
    REQUIRE(s);
    return s;
}

inline std::string open_error(const std::string& dir, const StorageOptions& options = {}) {
    std::string error;
    auto s = Storage::open(dir, &error, options);
    REQUIRE_FALSE(s);
    return error;
}

}  // namespace raftbook::test
