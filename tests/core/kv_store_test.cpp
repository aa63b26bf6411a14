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
    for (const char* bad : {"", "set", "set x", "del", "del x y", "frob x", "set  v", "if-rev 0 frob x"}) CHECK_FALSE(kv.apply(cmd(2, bad)));
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

TEST_CASE("kv: a snapshot encoding round-trips the whole state: map with revisions, sessions with results, "
          "idempotency records, applied index, fingerprint") {
    KvStore kv;
    for (Index i = 1; i <= 500; i++)
        kv.apply(cmd(i, i % 7 == 0 ? "del k" + std::to_string(i - 3) : "set k" + std::to_string(i) + " value " + std::to_string(i),
                     i % 5 + 1, i));
    REQUIRE(kv.apply(cmd(501, "idem op-1 if-rev 0 set fresh 1")));
    REQUIRE_FALSE(kv.apply(cmd(502, "if-rev 1 set k2 nope", 3, 502)));  // k2 is at revision 2: fails
    const std::string bytes = kv.encode();
    KvStore back;
    std::string error;
    REQUIRE(KvStore::decode(bytes, &back, &error));
    CHECK(back.sorted() == kv.sorted());
    for (const auto& [key, value] : kv.sorted()) CHECK(back.revision(key) == kv.revision(key));
    REQUIRE(back.idempotent_result("op-1") != nullptr);
    CHECK(*back.idempotent_result("op-1") == *kv.idempotent_result("op-1"));
    REQUIRE(back.request_result(3, 502) != nullptr);
    CHECK_FALSE(back.request_result(3, 502)->ok);
    CHECK(*back.request_result(3, 502) == *kv.request_result(3, 502));
    CHECK(back.size() == kv.size());
    CHECK(back.applied_index() == 502);
    CHECK(back.fingerprint() == kv.fingerprint());
    CHECK(back.applied_request(3, 497));
    CHECK_FALSE(back.applied_request(3, 503));
    // Both go on identically.
    CHECK(kv.apply(cmd(503, "set x y", 1, 1000)) == back.apply(cmd(503, "set x y", 1, 1000)));
    CHECK(back.fingerprint() == kv.fingerprint());
    CHECK_FALSE(back.apply(cmd(504, "set x z", 3, 497)));  // its session table came along
    CHECK_FALSE(back.apply(cmd(505, "idem op-1 set fresh 2")));  // and its idempotency records
    CHECK(*back.get("fresh") == "1");
}

TEST_CASE("kv: a frozen state stays the state at the freeze, whatever is applied after, and encodes as the store "
          "did then") {
    // Every table changes after the freeze: keys (overwritten, deleted, new), client
    // sessions, idempotency records.
    const auto history = [](KvStore& kv, Index from, Index to) {
        for (Index i = from; i <= to; i++) {
            const std::string n = std::to_string(i % 3000);
            const std::string write = i % 7 == 0 ? "del k" + n : "set k" + n + " v" + std::to_string(i);
            kv.apply(cmd(i, i % 5 == 0 ? "idem i" + std::to_string(i) + " " + write : write, 1 + i % 4, i));
        }
    };
    KvStore kv;
    history(kv, 1, 4000);
    const std::string at_freeze = kv.encode();
    const std::map<std::string, std::string> keys_at_freeze = kv.sorted();
    const std::shared_ptr<const KvStore> frozen = kv.freeze();
    history(kv, 4001, 9000);
    CHECK(frozen->encode() == at_freeze);
    CHECK(frozen->sorted() == keys_at_freeze);
    CHECK(frozen->applied_index() == 4000);
    CHECK(frozen->request_result(1 + 4000 % 4, 4000));
    CHECK_FALSE(frozen->idempotent_result("i8000"));
    // ...and the store went on as if it had never been frozen.
    KvStore never_frozen;
    history(never_frozen, 1, 9000);
    CHECK(kv.encode() == never_frozen.encode());
    CHECK(kv.encode() != at_freeze);
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

TEST_CASE("kv: a key's revision is the index of the write that last changed it") {
    KvStore kv;
    kv.apply(cmd(1, "set a 1"));
    kv.apply(cmd(2, "set b 1"));
    kv.apply(cmd(3, "set a 2"));
    CHECK(kv.revision("a") == 3);
    CHECK(kv.revision("b") == 2);
    CHECK(kv.revision("missing") == 0);
    CHECK(kv.last_applied().result.revision == 3);  // a write answers with its own index
    kv.apply(cmd(4, "del a"));
    CHECK(kv.revision("a") == 0);
    CHECK(kv.last_applied().changed);
    CHECK(kv.last_applied().deleted);
    kv.apply(cmd(5, "del a"));  // deleting a missing key changes no key, but is a write at 5
    CHECK_FALSE(kv.last_applied().changed);
    CHECK(kv.last_applied().result.revision == 5);
    CHECK(kv.applied_index() == 5);  // the store's revision
}

TEST_CASE("kv: a conditional write applies only when its condition holds, else reports the current state") {
    KvStore kv;
    CHECK(kv.apply(cmd(1, "if-rev 0 set k first")));  // 0: the key must not exist
    CHECK(*kv.get("k") == "first");
    CHECK_FALSE(kv.apply(cmd(2, "if-rev 0 set k again")));
    WriteResult failed = kv.last_applied().result;
    CHECK_FALSE(failed.ok);
    CHECK(failed.found);
    CHECK(failed.revision == 1);
    CHECK(failed.value == "first");
    CHECK(*kv.get("k") == "first");
    CHECK(kv.apply(cmd(3, "if-rev 1 set k second")));
    CHECK(kv.last_applied().result.ok);
    CHECK(kv.last_applied().result.revision == 3);
    CHECK_FALSE(kv.apply(cmd(4, "if-rev 1 del k")));  // revision 1 is gone
    CHECK(kv.get("k"));
    // A value condition: the previous value may hold spaces; its length delimits it.
    CHECK(kv.apply(cmd(5, "set v a b")));
    CHECK_FALSE(kv.apply(cmd(6, "if-value 1 a set v c")));
    CHECK(kv.last_applied().result.value == "a b");
    CHECK(kv.apply(cmd(7, "if-value 3 a b set v c d")));
    CHECK(*kv.get("v") == "c d");
    CHECK_FALSE(kv.apply(cmd(8, "if-value 0  set missing x")));  // a value condition needs the key to exist
    CHECK_FALSE(kv.last_applied().result.found);
    CHECK(kv.apply(cmd(9, "if-value 3 c d del v")));
    CHECK_FALSE(kv.get("v"));
}

TEST_CASE("kv: command_text and parse_command agree, and conditions are read exactly") {
    Command c;
    c.op = Command::Op::Set;
    c.key = "k";
    c.value = " spaced  value ";
    c.condition = Command::If::Value;
    c.prev_value = "set x if-rev 3 ";
    c.idempotency_key = "req-1";
    Command back;
    std::string error;
    REQUIRE(parse_command(command_text(c), &back, &error));
    CHECK(back.key == "k");
    CHECK(back.value == c.value);
    CHECK(back.prev_value == c.prev_value);
    CHECK(back.condition == Command::If::Value);
    CHECK(back.idempotency_key == "req-1");
    for (const char* bad : {"if-rev set k v", "if-rev -1 set k v", "if-rev 01 set k v", "if-value 9 ab set k v",
                            "if-value 2 abc set k v", "idem", "idem x", "if-rev 1", "if-rev 99999999999999999999 set k v"})
        CHECK_FALSE(parse_command(bad, &back, &error));
}

TEST_CASE("kv: a write with a known idempotency key applies nothing and returns the first result") {
    KvStore kv;
    CHECK(kv.apply(cmd(1, "idem K1 set x 1", 7, 1)));
    CHECK(kv.apply(cmd(2, "set x 2")));
    // The same write again, from another client (a retry through another node).
    CHECK_FALSE(kv.apply(cmd(3, "idem K1 set x 1", 9, 1)));
    CHECK(*kv.get("x") == "2");
    CHECK(kv.last_applied().result.revision == 1);
    CHECK(kv.last_applied().result.ok);
    // A failed conditional write's result is recorded too.
    CHECK_FALSE(kv.apply(cmd(4, "idem K2 if-rev 0 set x 3")));
    CHECK(kv.apply(cmd(5, "del x")));
    CHECK_FALSE(kv.apply(cmd(6, "idem K2 if-rev 0 set x 3")));  // would hold now, but K2 already answered
    CHECK_FALSE(kv.get("x"));
    CHECK_FALSE(kv.last_applied().result.ok);
    CHECK(kv.last_applied().result.revision == 2);
    REQUIRE(kv.idempotent_result("K1"));
}

TEST_CASE("kv: the idempotency window forgets the oldest keys, at the same index on every node") {
    KvStore a, b;
    Index i = 0;
    for (size_t k = 0; k <= kIdempotencyWindow; k++) {
        const Entry e = cmd(++i, "idem K" + std::to_string(k) + " set x " + std::to_string(k));
        a.apply(e);
        b.apply(e);
    }
    CHECK_FALSE(a.idempotent_result("K0"));  // one past the window: forgotten
    CHECK(a.idempotent_result("K1"));
    CHECK(a.apply(cmd(++i, "idem K0 set x again")));  // so it applies again
    b.apply(cmd(i, "idem K0 set x again"));
    CHECK(a.fingerprint() == b.fingerprint());
    CHECK(*a.get("x") == "again");
}

TEST_CASE("kv: a retried request is answered with its first result") {
    KvStore kv;
    kv.apply(cmd(1, "set k v"));
    CHECK_FALSE(kv.apply(cmd(2, "if-rev 0 set k w", 7, 1)));
    kv.apply(cmd(3, "del k"));
    CHECK_FALSE(kv.apply(cmd(4, "if-rev 0 set k w", 7, 1)));  // the retry: would hold now, but applies nothing
    CHECK_FALSE(kv.get("k"));
    REQUIRE(kv.request_result(7, 1));
    CHECK_FALSE(kv.request_result(7, 1)->ok);
    CHECK(kv.request_result(7, 1)->revision == 1);
}

TEST_CASE("kv: list pages through a prefix in key order") {
    KvStore kv;
    Index i = 0;
    for (const char* k : {"b/3", "a/1", "b/1", "b/2", "c", "b/10"}) kv.apply(cmd(++i, std::string("set ") + k + " v" + k));
    bool more = false;
    auto page = kv.list("b/", "", 2, &more);
    REQUIRE(page.size() == 2);
    CHECK(page[0].key == "b/1");
    CHECK(page[1].key == "b/10");
    CHECK(page[1].revision == 6);
    CHECK(more);
    page = kv.list("b/", "b/10", 10, &more);
    REQUIRE(page.size() == 2);
    CHECK(page[0] == KeyValue{"b/2", "vb/2", 4});
    CHECK(page[1].key == "b/3");
    CHECK_FALSE(more);
    CHECK(kv.list("", "", 100, &more).size() == 6);
    CHECK(kv.list("z", "", 100, &more).empty());
}
