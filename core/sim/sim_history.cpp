#include "core/sim/sim_history.h"

#include <algorithm>
#include <tuple>

namespace raftbook {

namespace {

constexpr int64_t kNanosPerMs = 1000000;

HistoryEvent::Fn fn_of(ClientOp::Kind k) {
    switch (k) {
        case ClientOp::Kind::Write: return HistoryEvent::Fn::Write;
        case ClientOp::Kind::Delete: return HistoryEvent::Fn::Delete;
        case ClientOp::Kind::Read: break;
    }
    return HistoryEvent::Fn::Read;
}

}  // namespace

const char* outcome_name(ClientOp::Outcome o) {
    switch (o) {
        case ClientOp::Outcome::Pending: return "pending";
        case ClientOp::Outcome::Ok: return "ok";
        case ClientOp::Outcome::Fail: return "fail";
        case ClientOp::Outcome::Unknown: return "unknown";
    }
    return "?";
}


std::vector<HistoryEvent> history_of(const std::vector<ClientOp>& ops, std::vector<uint64_t>* op_of) {
    struct Placed {
        int64_t time;
        bool invoke;  // completions first at one instant
        uint64_t op;
        HistoryEvent event;
    };
    std::vector<Placed> placed;
    int64_t last = 0;
    for (const ClientOp& op : ops) last = std::max({last, op.invoke_ms, op.complete_ms});
    for (const ClientOp& op : ops) {
        // A conditional write that was refused changed nothing and saw the key's value
        // at one instant: to the checker it is a read of that value.
        const bool refused = op.outcome == ClientOp::Outcome::Ok && op.condition_failed;
        const ClientOp::Kind kind = refused ? ClientOp::Kind::Read : op.kind;
        HistoryEvent e;
        e.process = int64_t(op.process);
        e.f = fn_of(kind);
        e.key = op.key;
        if (kind == ClientOp::Kind::Write) e.value = op.value;
        e.type = HistoryEvent::Type::Invoke;
        e.time = op.invoke_ms * kNanosPerMs;
        placed.push_back({e.time, true, op.id, e});
        switch (op.outcome) {
            case ClientOp::Outcome::Ok:
                e.type = HistoryEvent::Type::Ok;
                if (kind == ClientOp::Kind::Read) e.value = refused ? op.current : op.result;
                break;
            case ClientOp::Outcome::Fail: e.type = HistoryEvent::Type::Fail; break;
            case ClientOp::Outcome::Unknown:
            case ClientOp::Outcome::Pending: e.type = HistoryEvent::Type::Info; break;
        }
        if (op.kind == ClientOp::Kind::Read && e.type == HistoryEvent::Type::Info) e.value.reset();
        e.time = (op.outcome == ClientOp::Outcome::Pending ? last : op.complete_ms) * kNanosPerMs;
        placed.push_back({e.time, false, op.id, e});
    }
    std::stable_sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) {
        return std::tie(a.time, a.invoke, a.op) < std::tie(b.time, b.invoke, b.op);
    });
    std::vector<HistoryEvent> history;
    if (op_of) op_of->clear();
    for (Placed& p : placed) {
        history.push_back(std::move(p.event));
        if (op_of) op_of->push_back(p.op);
    }
    return history;
}

std::string describe(const ClientOp& op) {
    std::string what;
    switch (op.kind) {
        case ClientOp::Kind::Write: what = "write " + op.key + " = " + op.value; break;
        case ClientOp::Kind::Delete: what = "delete " + op.key; break;
        case ClientOp::Kind::Read:
            what = "read " + op.key;
            if (op.outcome == ClientOp::Outcome::Ok) what += " -> " + (op.result ? *op.result : std::string("absent"));
            break;
    }
    return "op " + std::to_string(op.id) + " (process " + std::to_string(op.process) + ", " + what + ", " +
           std::to_string(op.invoke_ms) + ".." +
           (op.complete_ms < 0 ? std::string("") : std::to_string(op.complete_ms)) + " ms, " +
           outcome_name(op.outcome) + ")";
}

}  // namespace raftbook
