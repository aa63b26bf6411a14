// The search for one key: Wing & Gong's, with Lowe's just-in-time linearization and
// Porcupine's memo, plus rules that cut the branching on a register.
//
// The invokes and completions of the operations, sorted by time (equal times count as
// concurrent: invokes first), form a doubly linked list of what is still undecided.
// At a prefix (the operations placed so far, in order), the candidates are the
// operations invoked before the first completion in the list; the search places one,
// unlinks its two events and goes on. When no candidate can go, the operation whose
// completion comes first was not placed in time: the latest choice is undone and the
// next candidate at its prefix tried. The memo holds every (set of operations decided,
// register value) pair reached: reaching one again would repeat a search that failed.
//
// Each rule below keeps some valid order whenever there is one, so only the branching
// changes, never the verdict:
//  - A read the register's value explains, among the candidates, goes next, without
//    branching: moving it forward breaks nothing, as a read changes no value and all
//    that had to precede it is placed already.
//  - An operation of unknown outcome is dropped unless a read returned its value after
//    its invoke (an unknown read, always); it must be placed before the last such read
//    completes, or left out: placed later it could only hide other writes.
//  - The only write of a value that was read is followed at once by a read of it, so it
//    must be placed before the first read of it completes, even if its outcome is
//    unknown. It, and any operation of unknown outcome, is a candidate only when a
//    read of its value can go right after it.
//  - A dead write (no read returns its value) is followed by another write or by
//    nothing, so it can go just before the next write placed: each branch places the
//    dead writes that may go, then its write. One goes alone only at its completion.
//  - Of the writes of one value, only the one completing first is a candidate: in any
//    order placing another first and it later, swapping the two changes no value.
//  - Candidates are tried earliest deadline first (a write's deadline counting the
//    first read of its value): writes go late, so a wrong choice shows soon after it
//    is made, before many choices pile up on top of it.
// A key with a compare-and-swap keeps the walk but not the rules about dead and sole
// writes, which assume that only reads observe the register: add_cas_steps says what
// holds instead.
#include "core/lincheck/lincheck_search.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "core/sim/rng.h"

namespace raftbook {

namespace {

using Fn = HistoryEvent::Fn;
constexpr size_t kNone = std::numeric_limits<size_t>::max();

// The memo: a set of (set of operations decided, register value) pairs. A set is kept
// as its fingerprint, two 64-bit Zobrist hashes updated in O(1) a step: a false match
// needs both to collide, odds below 10^-20 even at a billion entries. An
// open-addressing table: one allocation, freed at once.
class Memo {
public:
    explicit Memo(size_t max_bytes) : slots_(1024), max_bytes_(max_bytes) {}

    // Adds the pair; returns false if it was already there. Once growing would pass
    // max_bytes the memo is full(): it stops adding and answers "new", which is safe
    // (the search repeats work) until the caller stops.
    bool insert(uint64_t set_hash1, uint64_t set_hash2, int value) {
        if (2 * (used_ + 1) > slots_.size()) {
            full_ = full_ || 2 * slots_.size() * sizeof(Slot) > max_bytes_;
            if (full_) return true;
            grow();
        }
        Slot* slot = find(set_hash1, set_hash2, value);
        if (slot->value != kEmpty) return false;
        *slot = {set_hash1, set_hash2, value};
        ++used_;
        return true;
    }
    bool full() const { return full_; }

private:
    static constexpr int kEmpty = -1;  // register values are >= 0
    struct Slot {
        uint64_t h1 = 0, h2 = 0;
        int value = kEmpty;
    };

    // The slot holding the pair, or the empty slot where it belongs.
    Slot* find(uint64_t h1, uint64_t h2, int value) {
        const size_t mask = slots_.size() - 1;
        for (size_t i = size_t(h1 ^ (uint64_t(value) + 1) * 0x9E3779B97F4A7C15ULL) & mask;;
             i = (i + 1) & mask) {
            Slot& s = slots_[i];
            if (s.value == kEmpty || (s.h1 == h1 && s.h2 == h2 && s.value == value)) return &s;
        }
    }
    void grow() {
        std::vector<Slot> old(slots_.size() * 2);
        old.swap(slots_);
        for (const Slot& s : old)
            if (s.value != kEmpty) *find(s.h1, s.h2, s.value) = s;
    }

    std::vector<Slot> slots_;  // size a power of two, at most half full
    size_t used_ = 0;
    size_t max_bytes_;
    bool full_ = false;
};

class RegisterSearch {
public:
    RegisterSearch(const std::vector<RegisterOperation>& ops, const std::vector<size_t>& subset,
                   SearchBudget& budget);
    SearchOutcome run();

private:
    // An operation as the search sees it: values interned, 0 = absent.
    struct Step {
        Fn f;              // Read or Write: a cas is one or the other (see add_cas_steps)
        int value;         // a read's expected value, a write's new value (a delete's is 0)
        bool optional;     // outcome unknown: may be left out
        bool before_read;  // a candidate only when a read of its value can follow it
        bool dead;         // a write or delete whose value no read returned
        int64_t complete;  // its completion, or the bound that stands in for it
        int64_t deadline;  // that, or the first completion of a read of its value if earlier
        int expect = -1;   // a write that goes only when the register holds this (a cas)
        bool differs = false;  // a read that needs the register to hold anything but value
    };
    struct Entry {
        int64_t time;
        bool completion;
        size_t step;
    };
    // A decision. A branch has alternatives: the candidates after it at its prefix. A
    // forced one has none. An absorbed one is a dead write placed just before the
    // branch that follows it, and undone with it.
    enum class Kind { Branch, Forced, Absorbed };
    struct Choice {
        size_t step;
        int value_before;  // the register before it
        Kind kind;
        size_t rank;  // a branch's place among the candidates at its prefix
    };

    void add_steps(const std::vector<RegisterOperation>& ops, const std::vector<size_t>& subset);
    void add_cas_steps(const std::vector<RegisterOperation>& ops, const std::vector<size_t>& subset);
    void link_entries();
    void list_candidates();
    void place(size_t step, int after, Kind kind, size_t rank);
    Choice undo();
    bool decide(size_t step, int after, Kind kind, size_t rank);
    bool decide_branch(size_t rank);

    SearchBudget& budget_;
    std::vector<Step> steps_;
    std::vector<Entry> entries_;
    size_t values_ = 1;  // distinct values interned, absent included

    // The undecided events: a circular doubly linked list; node 0 is the head and node
    // k the entry k-1. Unlinking and relinking in reverse order restores the list
    // exactly (dancing links), which is how a choice is undone.
    std::vector<size_t> next_, prev_, invoke_node_, completion_node_;

    std::vector<std::pair<uint64_t, uint64_t>> zobrist_;
    uint64_t set_hash1_ = 0, set_hash2_ = 0;  // fingerprint of the set decided
    Memo memo_;
    std::vector<Choice> choices_;
    size_t remaining_ = 0;  // operations that must be placed and are not yet
    int value_ = 0;         // the register

    // The current prefix, from list_candidates().
    std::vector<size_t> candidates_, dead_;
    size_t read_ = kNone;                      // a read the value explains, which goes next
    size_t first_completion_ = 0;              // node of the first completion in the list
    uint64_t pass_ = 0;                        // list_candidates() calls, marking the arrays below
    std::vector<uint64_t> readable_, listed_;  // value -> pass: a read may follow / listed
    std::vector<uint64_t> absorbed_;           // step -> pass: in dead_
};

RegisterSearch::RegisterSearch(const std::vector<RegisterOperation>& ops,
                               const std::vector<size_t>& subset, SearchBudget& budget)
    : budget_(budget), memo_(budget.memo_bytes) {
    const bool cas = std::any_of(subset.begin(), subset.end(), [&](size_t i) { return ops[i].f == Fn::Cas; });
    if (cas)
        add_cas_steps(ops, subset);
    else
        add_steps(ops, subset);
    link_entries();
    Rng rng(steps_.size());
    zobrist_.resize(steps_.size());
    for (auto& z : zobrist_) z = {rng.next(), rng.next()};
    for (const Step& s : steps_) remaining_ += !s.optional;
    readable_.assign(values_, 0);
    listed_.assign(values_, 0);
    absorbed_.assign(steps_.size(), 0);
}

void RegisterSearch::add_steps(const std::vector<RegisterOperation>& ops,
                               const std::vector<size_t>& subset) {
    // When the first and the last read of each value completed, and how many writes
    // wrote each value.
    struct Reads {
        int64_t first, last;
    };
    std::map<std::optional<std::string>, Reads> reads_of;
    std::map<std::string, int> writes_of;
    for (size_t i : subset) {
        const RegisterOperation& op = ops[i];
        if (op.f == Fn::Write) ++writes_of[*op.value];
        if (op.f != Fn::Read || op.unknown) continue;
        auto [it, added] = reads_of.emplace(op.value, Reads{op.complete_time, op.complete_time});
        it->second.first = std::min(it->second.first, op.complete_time);
        it->second.last = std::max(it->second.last, op.complete_time);
    }

    std::unordered_map<std::string, int> ids;
    for (size_t i : subset) {
        const RegisterOperation& op = ops[i];
        const auto reads = reads_of.find(op.value);
        const bool read = reads != reads_of.end();
        const bool sole_writer = op.f == Fn::Write && read && writes_of[*op.value] == 1;
        bool optional = false;
        int64_t complete = op.complete_time;
        if (op.unknown) {
            if (op.f == Fn::Read || !read || reads->second.last < op.invoke_time) continue;
            optional = !sole_writer;
            complete = optional ? reads->second.last : reads->second.first;
        }
        if (sole_writer) complete = std::min(complete, reads->second.first);
        const int value = op.value ? ids.emplace(*op.value, int(ids.size()) + 1).first->second : 0;
        const int64_t deadline =
            op.f == Fn::Write && read ? std::min(complete, reads->second.first) : complete;
        entries_.push_back({op.invoke_time, false, steps_.size()});
        entries_.push_back({complete, true, steps_.size()});
        steps_.push_back({op.f, value, optional, optional || sole_writer, op.f != Fn::Read && !read,
                          complete, deadline});
    }
    values_ = ids.size() + 1;
}

// A key with a compare-and-swap. A cas's expected value observes the register as a read
// does, and a failed cas observes that it held something else, so the rules for dead
// and sole writes, which assume that only reads observe, are off. A cas becomes:
//  - ok, or of unknown outcome: a write that goes only when the register holds the
//    expected value (placed elsewhere an unknown cas changes nothing, as if left out);
//  - failed: a read of anything but the expected value;
//  - ok and swapping a value for itself: a read of it (unknown: nothing).
//
// An operation U of unknown outcome, writing v, is placed before every operation
// invoked after its bound, or left out. The bound is the last completion of an
// operation that could observe v: a read of v, an ok cas expecting v, a failed cas
// expecting another value — or the bound of an unknown cas expecting v, which may need
// U to swap. (Take a valid order in which the latest-placed such U breaks this: every
// observer completed before an operation placed ahead of U, so precedes U, and an
// unknown cas expecting v placed after U would break it too, later. So what follows U
// up to the next write is only unknown cas it leaves unchanged: dropping U and them
// keeps the order valid. Repeat.) A bound before U's invoke drops U at once.
void RegisterSearch::add_cas_steps(const std::vector<RegisterOperation>& ops,
                                   const std::vector<size_t>& subset) {
    using Value = std::optional<std::string>;
    // The last completion of a known observer of each value, and of failed cas by the
    // value they expected: the latest two, for two distinct expected values.
    std::map<Value, int64_t> observed;
    std::pair<int64_t, Value> failed1{-1, {}}, failed2{-1, {}};
    for (size_t i : subset) {
        const RegisterOperation& op = ops[i];
        if (op.unknown) continue;
        if (op.f == Fn::Read || (op.f == Fn::Cas && !op.failed)) {
            const Value& seen = op.f == Fn::Read ? op.value : op.expected;
            observed[seen] = std::max(observed[seen], op.complete_time);
        }
        if (!op.failed) continue;
        const std::pair<int64_t, Value> f{op.complete_time, op.expected};
        if (f.second == failed1.second)
            failed1.first = std::max(failed1.first, f.first);
        else if (f.first > failed1.first)
            failed2 = std::exchange(failed1, f);
        else if (f.first > failed2.first)
            failed2 = f;
    }
    // The bounds of the unknown writes and cas (by position in `subset`), to a fixpoint:
    // each is at least the bound of every unknown cas expecting its value.
    std::vector<int64_t> bound(subset.size(), -1);
    auto writes = [&](const RegisterOperation& op) {
        return op.unknown && op.f != Fn::Read && !(op.f == Fn::Cas && op.expected == op.value);
    };
    for (size_t k = 0; k < subset.size(); ++k) {
        const RegisterOperation& op = ops[subset[k]];
        if (!writes(op)) continue;
        const auto it = observed.find(op.value);
        bound[k] = std::max(it == observed.end() ? -1 : it->second,
                            failed1.second != op.value ? failed1.first : failed2.first);
    }
    for (bool changed = true; changed;) {
        changed = false;
        std::map<Value, int64_t> cas_bound;  // by expected value
        for (size_t k = 0; k < subset.size(); ++k) {
            const RegisterOperation& op = ops[subset[k]];
            if (writes(op) && op.f == Fn::Cas)
                cas_bound[op.expected] = std::max(cas_bound[op.expected], bound[k]);
        }
        for (size_t k = 0; k < subset.size(); ++k) {
            const auto it = cas_bound.find(ops[subset[k]].value);
            if (!writes(ops[subset[k]]) || it == cas_bound.end() || it->second <= bound[k]) continue;
            bound[k] = it->second;
            changed = true;
        }
    }

    std::unordered_map<std::string, int> ids;
    auto id = [&](const Value& v) { return v ? ids.emplace(*v, int(ids.size()) + 1).first->second : 0; };
    for (size_t k = 0; k < subset.size(); ++k) {
        const RegisterOperation& op = ops[subset[k]];
        Step step{Fn::Read, 0, false, false, false, op.complete_time, op.complete_time};
        if (op.failed) {
            step.value = id(op.expected);
            step.differs = true;
        } else if (op.f == Fn::Read || (op.f == Fn::Cas && op.expected == op.value)) {
            if (op.unknown) continue;
            step.value = id(op.value);
        } else {
            if (op.unknown && bound[k] < op.invoke_time) continue;
            step.f = Fn::Write;
            step.value = id(op.value);
            if (op.f == Fn::Cas) step.expect = id(op.expected);
            step.optional = op.unknown;
            if (op.unknown) {
                step.complete = bound[k];
                // Tried after the operations that must go: it is placed only when needed.
                step.deadline = std::numeric_limits<int64_t>::max();
            }
        }
        entries_.push_back({op.invoke_time, false, steps_.size()});
        entries_.push_back({step.complete, true, steps_.size()});
        steps_.push_back(step);
    }
    values_ = ids.size() + 1;
}

void RegisterSearch::link_entries() {
    std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
        return std::tie(a.time, a.completion, a.step) < std::tie(b.time, b.completion, b.step);
    });
    const size_t n = entries_.size();
    next_.resize(n + 1);
    prev_.resize(n + 1);
    invoke_node_.resize(steps_.size());
    completion_node_.resize(steps_.size());
    for (size_t k = 0; k <= n; ++k) {
        next_[k] = (k + 1) % (n + 1);
        prev_[k] = (k + n) % (n + 1);
        if (k == 0) continue;
        const Entry& e = entries_[k - 1];
        (e.completion ? completion_node_ : invoke_node_)[e.step] = k;
    }
}

// Finds what may go next at the current prefix (see the rules at the top): the read
// to force, the dead writes to absorb, and the candidates, earliest deadline first.
void RegisterSearch::list_candidates() {
    candidates_.clear();
    dead_.clear();
    read_ = kNone;
    ++pass_;
    size_t x = next_[0];
    for (; !entries_[x - 1].completion; x = next_[x]) {
        const size_t step = entries_[x - 1].step;
        const Step& s = steps_[step];
        if (s.f != Fn::Read) {
            if (s.expect >= 0 && s.expect != value_) continue;
            (s.dead ? dead_ : candidates_).push_back(step);
            if (s.dead) absorbed_[step] = pass_;
            continue;
        }
        if (!s.differs) readable_[s.value] = pass_;
        if (read_ == kNone && (s.value == value_) != s.differs) read_ = step;
    }
    first_completion_ = x;

    // A read can follow a candidate if it is invoked before the first completion that
    // must come before it: not an optional operation's (it may be left out), not an
    // absorbed dead write's (it goes before the candidate), and, for the operation
    // that owns the first such completion, not its own.
    size_t owner = kNone;
    bool owner_readable = false;
    for (; x != 0; x = next_[x]) {
        const Entry& e = entries_[x - 1];
        const Step& s = steps_[e.step];
        if (e.completion && (s.optional || absorbed_[e.step] == pass_)) continue;
        if (e.completion && owner != kNone) break;
        if (e.completion)
            owner = e.step;
        else if (s.differs)
            continue;
        else if (s.f == Fn::Read && owner == kNone)
            readable_[s.value] = pass_;
        else if (s.f == Fn::Read)
            owner_readable = owner_readable || s.value == steps_[owner].value;
    }
    auto without = [&](auto drop) {
        candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(), drop),
                          candidates_.end());
    };
    without([&](size_t c) {
        return steps_[c].before_read && readable_[steps_[c].value] != pass_ &&
               !(c == owner && owner_readable);
    });
    auto by = [&](int64_t Step::*key) {
        return [this, key](size_t a, size_t b) {
            return std::tie(steps_[a].*key, a) < std::tie(steps_[b].*key, b);
        };
    };
    std::sort(candidates_.begin(), candidates_.end(), by(&Step::complete));
    without([&](size_t c) {
        return steps_[c].expect < 0 && std::exchange(listed_[steps_[c].value], pass_) == pass_;
    });
    std::sort(candidates_.begin(), candidates_.end(), by(&Step::deadline));
}

// Places a step (or, for an unknown operation, leaves it out), leaving the register
// at `after`.
void RegisterSearch::place(size_t step, int after, Kind kind, size_t rank) {
    set_hash1_ ^= zobrist_[step].first;
    set_hash2_ ^= zobrist_[step].second;
    choices_.push_back({step, value_, kind, rank});
    value_ = after;
    auto unlink = [&](size_t k) {
        next_[prev_[k]] = next_[k];
        prev_[next_[k]] = prev_[k];
    };
    unlink(invoke_node_[step]);
    unlink(completion_node_[step]);
    remaining_ -= !steps_[step].optional;
}

RegisterSearch::Choice RegisterSearch::undo() {
    const Choice c = choices_.back();
    choices_.pop_back();
    set_hash1_ ^= zobrist_[c.step].first;
    set_hash2_ ^= zobrist_[c.step].second;
    value_ = c.value_before;
    auto relink = [&](size_t k) {
        next_[prev_[k]] = k;
        prev_[next_[k]] = k;
    };
    relink(completion_node_[c.step]);
    relink(invoke_node_[c.step]);
    remaining_ += !steps_[c.step].optional;
    return c;
}

// Places a step if that leads to a pair not reached before.
bool RegisterSearch::decide(size_t step, int after, Kind kind, size_t rank) {
    place(step, after, kind, rank);
    if (memo_.insert(set_hash1_, set_hash2_, value_)) return true;
    undo();
    return false;
}

// Places the candidate at `rank`, with the dead writes just before it, if that is new.
bool RegisterSearch::decide_branch(size_t rank) {
    for (size_t d : dead_) place(d, steps_[d].value, Kind::Absorbed, 0);
    const size_t step = candidates_[rank];
    if (decide(step, steps_[step].value, Kind::Branch, rank)) return true;
    for (size_t i = 0; i < dead_.size(); ++i) undo();
    return false;
}

// The walk. At each prefix: a read the value explains goes next; else the candidates
// are tried in turn, from `rank` on; when none can go, the operation completing first
// is out of time: an unknown one is left out and a dead write placed alone (the only
// ways left for them), otherwise the latest branch is undone. Every operation in the
// list has its completion after its invoke, so while remaining_ > 0 the walk meets a
// completion before the list ends. (A prefix resumed after undoing a branch has no
// read to force: it would have been forced instead of the branch.)
SearchOutcome RegisterSearch::run() {
    size_t rank = 0;
    while (remaining_ > 0) {
        if (budget_.steps == 0) return SearchOutcome::OutOfSteps;
        budget_.steps--;
        if ((budget_.steps & 1023) == 0 && budget_.out_of_time && budget_.out_of_time())
            return SearchOutcome::OutOfTime;
        if (memo_.full()) return SearchOutcome::OutOfMemory;
        list_candidates();
        bool moved = read_ != kNone && decide(read_, value_, Kind::Forced, 0);
        for (; !moved && read_ == kNone && rank < candidates_.size(); ++rank)
            moved = decide_branch(rank);
        const Step& late = steps_[entries_[first_completion_ - 1].step];
        if (!moved && read_ == kNone && (late.optional || late.dead))
            moved = decide(entries_[first_completion_ - 1].step,
                           late.optional ? value_ : late.value, Kind::Forced, 0);
        if (moved) {
            rank = 0;
            continue;
        }
        for (;;) {
            if (choices_.empty()) return SearchOutcome::NotLinearizable;
            const Choice c = undo();
            if (c.kind != Kind::Branch) continue;
            while (!choices_.empty() && choices_.back().kind == Kind::Absorbed) undo();
            rank = c.rank + 1;
            break;
        }
    }
    return SearchOutcome::Linearizable;
}

}  // namespace

SearchOutcome search_register(const std::vector<RegisterOperation>& ops,
                              const std::vector<size_t>& subset, SearchBudget& budget) {
    return RegisterSearch(ops, subset, budget).run();
}

}  // namespace raftbook
