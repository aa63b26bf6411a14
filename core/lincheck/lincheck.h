// The linearizability checker: did a key-value store behave like one register per key,
// each operation taking effect at one instant between its invoke and its completion?
//
// A history is a list of events in the Jepsen style, one JSON object a line:
//   {"process": 3, "type": "invoke", "f": "write", "key": "x", "value": "5", "time": 1200}
//   {"process": 3, "type": "ok",     "f": "write", "key": "x", "value": "5", "time": 1900}
// Each process runs one operation at a time: an invoke, then its ok (it happened), fail
// (it certainly did not) or info (unknown: it may take effect at any time after its
// invoke, so it is treated as completing at +infinity). A read's value arrives with its
// ok; null means the key was absent. A delete makes the key absent. An invoke with no
// completion by the end of the history counts as info.
//
// A compare-and-swap carries [expected, new] as its value, as Jepsen writes it:
//   {"process": 2, "type": "invoke", "f": "cas", "key": "r", "value": ["3", "0"], ...}
// (expected null: the key must be absent). Its ok means it found the expected value and
// swapped; its fail that it found another value and changed nothing (the comparison
// happened: a cas refused before it was compared must be recorded as info or left
// out); its info that either may have happened. Jepsen's and Porcupine's etcd register
// read cas outcomes the same way.
//
// Jepsen's own log lines (`INFO  jepsen.util - 3	:invoke	:cas	[4 0]`, the format of
// its published etcd histories) are read too: one register, named "r".
//
// Keys are independent registers, so the history is split by key and each key checked
// alone (P-compositionality), by the search of Wing & Gong as Lowe and Porcupine refined
// it: place operations one by one in an order consistent with real time, memoising
// every (set placed, register value) reached, undoing choices at dead ends — with
// register-specific rules that keep it fast (see lincheck_search.cpp). Some histories
// stay exponential (many overlapping writes of few distinct values on one key); past a
// step, memory or (host-supplied) time bound the verdict is Unknown rather than a guess.
//
// A failing key is then shrunk to a minimal violating sub-history: operations are
// removed (in halving chunks, then one at a time) while the rest stays non-linearizable,
// only in ways that keep the rest a proof against the whole history — a write stays
// while a read left returns its value — within a bound of its own.
//
// The search reads no clock (the core does no I/O): the same history and bounds give
// the same verdict everywhere. A host that wants a wall-clock bound (`raftbook lincheck
// --timeout`) supplies out_of_time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace raftbook {

// One line of a history.
struct HistoryEvent {
    enum class Type { Invoke, Ok, Fail, Info };
    enum class Fn { Read, Write, Delete, Cas };

    int64_t process = 0;
    Type type = Type::Invoke;
    Fn f = Fn::Read;
    std::string key;
    std::optional<std::string> value;  // written value (a cas's new one); read result on a read's ok
    int64_t time = 0;                  // nanoseconds; only the order matters
    size_t line = 0;  // 1-based line in the file; 0 in memory = its position in the list
    std::optional<std::string> expected = std::nullopt;  // a cas's expected value (null: absent)
};

// What is wrong with a malformed history, and where.
struct HistoryError {
    size_t line = 0;
    std::string message;
};

// Parses one line (a JSON object). Returns false and sets *error (without the line
// number) when it is not a well-formed event. Does not check pairing with other lines.
bool parse_history_event(const std::string& text, HistoryEvent* out, std::string* error);

// The event as one compact line of the input format (fields in the documented order).
std::string history_event_json(const HistoryEvent& e);

// Reads a whole history, one event a line; blank lines are skipped. Returns false and
// sets *error at the first malformed line.
bool read_history(std::istream& in, std::vector<HistoryEvent>* out, HistoryError* error);

// Reads a history in Jepsen's log format, one register: `INFO  jepsen.util - P\t:TYPE\t
// :F\tVALUE` a line, F read, write or cas; a timed-out read's fail and every info carry
// `:timed-out`. The nemesis's lines are skipped; the line number stands for the time.
bool read_jepsen_log(std::istream& in, std::vector<HistoryEvent>* out, HistoryError* error);

// Either format, told apart by the first character that is not a space: `{` is JSON.
bool read_any_history(std::istream& in, std::vector<HistoryEvent>* out, HistoryError* error);

// Bounds on the work. Some histories (many crashed writes of repeated values on one
// key) make any exact search exponential; past a bound the checker says so instead.
struct LincheckOptions {
    uint64_t search_steps = uint64_t(1) << 36;  // search steps for deciding all keys
    size_t memo_bytes = size_t(1) << 29;        // memory bound for one key's memo
    uint64_t shrink_steps = uint64_t(1) << 34;  // search steps for shrinking a violation
    // Optional host clocks: the search (resp. the shrinking) stops once they return
    // true. Asked every 1024 steps; empty = no time bound.
    std::function<bool()> out_of_time;
    std::function<bool()> shrink_out_of_time;
};

struct LincheckResult {
    // Unknown: no key failed, but the search gave up on some within the bounds.
    enum class Verdict { Linearizable, NotLinearizable, Unknown, Malformed };
    Verdict verdict = Verdict::Linearizable;
    size_t operations = 0;  // operations checked: every invoke not answered by fail (but a cas's)
    size_t keys = 0;
    HistoryError error;  // when Malformed

    // When NotLinearizable: every key with no valid order (sorted), and for the first a
    // minimal violating sub-history — the events of its operations, in history order.
    std::vector<std::string> failing_keys;
    size_t key_operations = 0;  // operations on failing_keys[0] before shrinking
    std::vector<HistoryEvent> violation;
    size_t violation_operations = 0;
    bool shrink_complete = true;  // false when a bound stopped shrinking early

    // Keys the search gave up on (sorted), and the first bound it hit.
    enum class Limit { None, Steps, Time, Memory };
    std::vector<std::string> undecided_keys;
    Limit gave_up = Limit::None;
};

// Checks a history in memory (e.g. one a test harness recorded). Pairing errors — an
// ok without a pending invoke, a second invoke while one is pending, a completion
// that disagrees with its invoke — make the verdict Malformed.
LincheckResult check_linearizable(const std::vector<HistoryEvent>& history,
                                  const LincheckOptions& options = {});

}  // namespace raftbook
