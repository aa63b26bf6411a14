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

TEST_CASE("kv: a snapshot encoding round-trips the whole state: map, sessions, applied index, fingerprint") {
    KvStore kv;
    for (Index i = 1; i <= 500; i++)
        kv.apply(cmd(i, i % 7 == 0 ? "del k" + std::to_string(i - 3) : "set k" + std::to_string(i) + " value " + std::to_string(i),
                     i % 5 + 1, i));
    const std::string bytes = kv.encode();
    KvStore back;
    std::string error;
    REQUIRE(KvStore::decode(bytes, &back, &error));
    CHECK(back.sorted() == kv.sorted());
    CHECK(back.size() == kv.size());
    CHECK(back.applied_index() == 500);
    CHECK(back.fingerprint() == kv.fingerprint());
    CHECK(back.applied_request(3, 497));
    CHECK_FALSE(back.applied_request(3, 503));
    // Both go on identically.
    CHECK(kv.apply(cmd(501, "set x y", 1, 1000)) == back.apply(cmd(501, "set x y", 1, 1000)));
    CHECK(back.fingerprint() == kv.fingerprint());
    CHECK_FALSE(back.apply(cmd(502, "set x z", 3, 497)));  // its session table came along
}

TEST_CASE("kv: a snapshot that does not decode is refused with an error and changes nothing") {
    KvStore kv;
    kv.apply(cmd(1, "set a 1", 9, 1));
    kv.apply(cmd(2, "set b 2", 9, 2));
    const std::string good = kv.encode();
    KvStore target;
    target.apply(cmd(1, "set keep me"));
    std::string error;
    std::vector<std::string> bad = {"", "garbage", good + "x", good.substr(0, good.size() - 1), "RBKV\x01"};
    std::string huge_count = good.substr(0, 5) + std::string("\x02\x01\xff\xff\xff\xff\x0f", 7);
    bad.push_back(huge_count);
    for (size_t cut = 0; cut < good.size(); cut++) bad.push_back(good.substr(0, cut));
    for (const std::string& b : bad) {
        INFO(b.size() << " bytes");
        error.clear();
        CHECK_FALSE(KvStore::decode(b, &target, &error));
        CHECK(error.rfind("state machine snapshot is malformed: ", 0) == 0);
    }
    CHECK(*target.get("keep") == "me");
    CHECK(target.applied_index() == 1);
}
