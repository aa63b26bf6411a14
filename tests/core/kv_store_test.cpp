#include <catch2/catch.hpp>

#include "core/kv/kv_store.h"

using namespace raftbook;

namespace {
Entry cmd(Index i, const std::string& data, uint64_t client = 0, uint64_t seq = 0) {
    return Entry{i, 1, EntryType::Command, data, client, seq};
}
}  // namespace

TEST_CASE("kv: set and del apply in order, values may hold spaces") {
    KvStore kv;
    CHECK(kv.apply(cmd(1, "set x hello world")));
    REQUIRE(kv.get("x"));
    CHECK(*kv.get("x") == "hello world");
    CHECK(kv.apply(cmd(2, "del x")));
    CHECK_FALSE(kv.get("x"));
    CHECK(kv.applied_index() == 2);
}

TEST_CASE("kv: a retried client request applies once") {
    KvStore a, b;
    a.apply(cmd(1, "set x 1", 7, 1));
    a.apply(cmd(2, "set x 2", 8, 1));
    CHECK_FALSE(a.apply(cmd(3, "set x 1", 7, 1)));  // the retry
    CHECK(*a.get("x") == "2");
    CHECK(a.applied_request(7, 1));
    b.apply(cmd(1, "set x 1", 7, 1));
    b.apply(cmd(2, "set x 2", 8, 1));
    CHECK(a.fingerprint() == b.fingerprint());
}

TEST_CASE("kv: the no-op and malformed commands change nothing") {
    KvStore kv;
    Entry noop{1, 1, EntryType::NoOp, "", 0, 0};
    CHECK_FALSE(kv.apply(noop));
    for (const char* bad : {"", "set", "set x", "del", "del x y", "frob x", "set  v"}) CHECK_FALSE(kv.apply(cmd(2, bad)));
    CHECK(kv.size() == 0);
}

TEST_CASE("kv: parse_command explains what is wrong") {
    Command c;
    std::string error;
    CHECK_FALSE(parse_command("put x 1", &c, &error));
    CHECK(error.find("unknown command 'put'") != std::string::npos);
    CHECK_FALSE(parse_command("set x", &c, &error));
    CHECK(error.find("missing value") != std::string::npos);
}

TEST_CASE("kv: size counts keys across overwrites and deletes, sorted() lists them in key order") {
    KvStore kv;
    Index i = 0;
    for (int k = 999; k >= 0; --k) kv.apply(cmd(++i, "set k" + std::to_string(k) + " v" + std::to_string(k)));
    CHECK(kv.size() == 1000);
    kv.apply(cmd(++i, "set k5 again"));  // an overwrite adds no key
    kv.apply(cmd(++i, "del k7"));
    kv.apply(cmd(++i, "del k7"));        // deleting a missing key removes nothing
    kv.apply(cmd(++i, "del nothing"));
    CHECK(kv.size() == 999);
    const auto all = kv.sorted();
    REQUIRE(all.size() == 999);
    CHECK(all.begin()->first == "k0");
    CHECK(all.at("k5") == "again");
    CHECK(all.count("k7") == 0);
    for (const auto& [key, value] : all) CHECK(*kv.get(key) == value);
}
