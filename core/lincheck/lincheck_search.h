// The search at the heart of the linearizability checker: are these operations on one
// key linearizable, for a register that starts absent? lincheck.h turns a history into
// such operations, one list per key; lincheck_search.cpp explains the search.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/lincheck/lincheck.h"

namespace raftbook {

// One operation on a register: an invoke and what became of it.
struct RegisterOperation {
    static constexpr size_t kNoEvent = std::numeric_limits<size_t>::max();

    HistoryEvent::Fn f = HistoryEvent::Fn::Read;
    std::optional<std::string> value;  // the value written, or the value read
    std::optional<std::string> expected;  // a cas's expected value
    bool failed = false;                  // a cas that found another value than expected
    int64_t invoke_time = 0;
    int64_t complete_time = 0;  // meaningless when unknown
    bool unknown = false;       // info, or never completed: may take effect any time after invoke
    // Where it came from, for reporting: indices into the history.
    size_t invoke_event = 0;
    size_t complete_event = kNoEvent;  // kNoEvent when it never completed
};

enum class SearchOutcome { Linearizable, NotLinearizable, OutOfSteps, OutOfTime, OutOfMemory };

// What searches may spend before they give up. `steps` is shared: each search spends
// from it. The core reads no clock; a host may bound the wall time with out_of_time
// (asked every 1024 steps of the shared count; empty = no time bound).
struct SearchBudget {
    uint64_t steps;
    size_t memo_bytes;
    std::function<bool()> out_of_time;
};

// Whether the operations ops[i], i in `subset`, are linearizable.
SearchOutcome search_register(const std::vector<RegisterOperation>& ops,
                              const std::vector<size_t>& subset, SearchBudget& budget);

}  // namespace raftbook
