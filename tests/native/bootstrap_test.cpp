// The data dir's bootstrap file (native/storage/bootstrap.h): the configuration a node
// first started with, read back on a restart; damage is reported, never read as none.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "native/storage/bootstrap.h"
#include "native/storage/storage_io.h"
#include "tests/native/storage_support.h"

using namespace raftbook;
using namespace raftbook::test;

namespace {

Membership founders() {
    Membership m;
    m.members = {{1, true, "127.0.0.1:7001", "127.0.0.1:8001"}, {2, true, "127.0.0.1:7002", "127.0.0.1:8002"}};
    return m;
}

std::string damage_of(const std::string& dir) {
    try {
        read_bootstrap(dir);
    } catch (const StorageError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("The bootstrap file holds the founding members with their addresses, or none for a node that joined",
          "[storage][membership]") {
    TempDir dir;
    CHECK_FALSE(read_bootstrap(dir.path).has_value());  // a fresh dir: none
    write_bootstrap(dir.path, founders());
    REQUIRE(read_bootstrap(dir.path).has_value());
    CHECK(*read_bootstrap(dir.path) == founders());
    write_bootstrap(dir.path, Membership{});
    REQUIRE(read_bootstrap(dir.path).has_value());
    CHECK(read_bootstrap(dir.path)->empty());
}

TEST_CASE("A damaged bootstrap file is an error naming it, never no configuration", "[storage][membership]") {
    TempDir dir;
    write_bootstrap(dir.path, founders());
    const std::string path = dir.path + "/bootstrap";
    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::string damaged = bytes;
    SECTION("a flipped byte") { damaged[damaged.find("7002")] = '8'; }
    SECTION("cut short") { damaged.resize(bytes.size() - 5); }
    SECTION("emptied") { damaged.clear(); }
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << damaged;
    }
    const std::string error = damage_of(dir.path);
    CHECK(error.find("bootstrap file " + path + " is damaged") == 0);
}
