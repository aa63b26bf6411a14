#include <catch2/catch.hpp>

#include "core/raft/raft_log.h"

using namespace raftbook;

namespace {
std::vector<Entry> entries(Index from, std::vector<Term> terms) {
    std::vector<Entry> out;
    for (Term t : terms) out.push_back(Entry{from++, t, EntryType::Command, "set k v", 0, 0});
    return out;
}
}  // namespace

TEST_CASE("log: a compacted log still answers the term just before its first index") {
    RaftLog log(11, 4, entries(11, {4, 5}), 0);
    CHECK(log.first_index() == 11);
    CHECK(log.prev_index() == 10);
    CHECK(log.term(10) == Term(4));
    CHECK_FALSE(log.term(9).has_value());
    CHECK(log.last_index() == 12);
    CHECK(log.last_term() == 5);
    CHECK(log.commit_index() == 10);  // everything compacted was committed
}

TEST_CASE("log: merge keeps matching entries and replaces from the first conflict") {
    RaftLog log(1, 0, entries(1, {1, 1, 2, 2}), 0);
    CHECK(log.merge(1, entries(2, {1, 2})) == 3);
    CHECK(log.last_index() == 4);  // nothing conflicted: nothing removed
    CHECK(log.merge(2, entries(3, {3})) == 3);
    CHECK(log.last_index() == 3);
    CHECK(log.term(3) == Term(3));
    CHECK(log.unstable_from() == 3);
    CHECK(log.persisted_index() == 2);
}

TEST_CASE("log: is_up_to_date compares last term first, then length") {
    RaftLog log(1, 0, entries(1, {1, 2, 2}), 0);
    CHECK(log.is_up_to_date(3, 2));
    CHECK(log.is_up_to_date(1, 3));
    CHECK_FALSE(log.is_up_to_date(2, 2));
    CHECK_FALSE(log.is_up_to_date(9, 1));
}

TEST_CASE("log: commit index never moves back") {
    RaftLog log(1, 0, entries(1, {1, 1, 1}), 2);
    log.commit_to(1);
    CHECK(log.commit_index() == 2);
    log.commit_to(9);
    CHECK(log.commit_index() == 3);
}

TEST_CASE("log: a write that finishes after its entries were replaced does not count") {
    RaftLog log;
    log.append(Entry{1, 1, EntryType::Command, "a", 0, 0});
    log.append(Entry{2, 1, EntryType::Command, "b", 0, 0});
    CHECK(log.take_unstable().size() == 2);
    log.merge(1, entries(2, {2}));  // (2, term 1) replaced by (2, term 2) before the write finished
    log.persisted_to(2, 1);
    CHECK(log.persisted_index() == 0);
    CHECK(log.take_unstable().size() == 1);
    log.persisted_to(2, 2);
    CHECK(log.persisted_index() == 2);
}

TEST_CASE("log: slice respects the byte cap but always returns one entry") {
    RaftLog log(1, 0, entries(1, {1, 1, 1, 1}), 0);
    CHECK(log.slice(1, 4).size() == 4);
    CHECK(log.slice(1, 4, 1).size() == 1);
    CHECK(log.slice(2, 9).size() == 3);
    CHECK(log.last_index_with_term_at_most(4, 0) == 0);
}
