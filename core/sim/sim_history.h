// The simulator's client operations as a linearizability history: the bridge from
// ClientOp records (simulator.h) to `raftbook lincheck`'s format (core/lincheck).
//
// Each op becomes an invoke at its invoke time and a completion at its completion
// time: ok when it completed Ok (a read's ok carries what it read), fail when a write
// certainly did not happen (Fail), and info when the client does not know (Unknown)
// or the op never completed (Pending) — such a write may take effect at any time after
// its invoke. A conditional write (its condition is not modelled) is a write when it
// applied, and a read of the value it found when its condition failed. Times are virtual milliseconds scaled to nanoseconds; events are ordered
// by time, completions before invokes at one instant, then by op id, so that a process
// that starts its next op at the instant its last one completed stays well paired.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/lincheck/lincheck.h"
#include "core/sim/simulator.h"

namespace raftbook {

// The history of `ops`. If op_of is given, (*op_of)[k] is the op id of event k.
std::vector<HistoryEvent> history_of(const std::vector<ClientOp>& ops, std::vector<uint64_t>* op_of = nullptr);

// "pending", "ok", "fail" or "unknown".
const char* outcome_name(ClientOp::Outcome o);

// "op 12 (process 12, write x = v3, 1200..1750 ms, Ok)": one op for a report.
std::string describe(const ClientOp& op);

}  // namespace raftbook
