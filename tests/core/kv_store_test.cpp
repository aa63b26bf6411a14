#include <catch2/catch.hpp>

#include "core/kv_store.h"

using namespace raftbook;

namespace {
Entry cmd(Index i, const std::string& data, uint64_t client = 0, uint64_t seq = 0) {
    return Entry{i, 1, EntryType::Command, data, client, seq};
}
}  // namespace

TEST_CASE("kv: set and del apply in order; values may hold spaces") {
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
    CHECK(kv.data().empty());
}

TEST_CASE("kv: parse_command explains what is wrong") {
    Command c;
    std::string error;
    CHECK_FALSE(parse_command("put x 1", &c, &error));
    CHECK(error.find("unknown command 'put'") != std::string::npos);
    CHECK_FALSE(parse_command("set x", &c, &error));
    CHECK(error.find("missing value") != std::string::npos);
}
