// The linearizability checker (see lincheck.h for the model). This file holds, in
// order: parsing one history line, pairing invokes with their completions (where a
// malformed history is caught), shrinking a violation, and the check itself. The search
// for one key is in lincheck_search.cpp.
#include "core/lincheck/lincheck.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/lincheck/lincheck_search.h"

namespace raftbook {

namespace {

using Json = nlohmann::json;
constexpr size_t kNoEvent = RegisterOperation::kNoEvent;

const char* const kTypeNames[] = {"invoke", "ok", "fail", "info"};
const char* const kFnNames[] = {"read", "write", "delete", "cas"};

const char* type_name(HistoryEvent::Type t) { return kTypeNames[int(t)]; }
const char* fn_name(HistoryEvent::Fn f) { return kFnNames[int(f)]; }

// --- One line ------------------------------------------------------------------------

const Json* field(const Json& j, const char* name, std::string* error) {
    auto it = j.find(name);
    if (it != j.end()) return &*it;
    *error = std::string("missing field \"") + name +
             "\"; every line needs process, type, f, key and time";
    return nullptr;
}

bool integer_field(const Json& j, const char* name, int64_t* out, std::string* error) {
    const Json* v = field(j, name, error);
    if (!v) return false;
    if (!v->is_number_integer()) {
        *error = std::string("\"") + name + "\" must be an integer, got " +
                 (v->is_number() ? v->dump() : v->type_name());
        return false;
    }
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)) {
        *error =
            std::string("\"") + name + "\" is out of range: " + v->dump() + " is above 2^63 - 1";
        return false;
    }
    *out = v->get<int64_t>();
    return true;
}

bool string_field(const Json& j, const char* name, std::string* out, std::string* error) {
    const Json* v = field(j, name, error);
    if (!v) return false;
    if (!v->is_string()) {
        *error = std::string("\"") + name + "\" must be a string, got " + v->type_name();
        return false;
    }
    *out = v->get<std::string>();
    return true;
}

// Reads a string field that must be one of `names`; sets *index to its position.
template <size_t N>
bool choice_field(const Json& j, const char* name, const char* const (&names)[N], int* index,
                  std::string* error) {
    std::string s;
    if (!string_field(j, name, &s, error)) return false;
    for (size_t i = 0; i < N; ++i) {
        if (s == names[i]) {
            *index = int(i);
            return true;
        }
    }
    std::string allowed;
    for (size_t i = 0; i < N; ++i) allowed += std::string(i ? ", " : "") + names[i];
    *error = std::string("\"") + name + "\" must be one of " + allowed + "; got " + Json(s).dump();
    return false;
}

// nlohmann's message without its exception tag and its own (always 1) line number.
std::string json_error_detail(const Json::parse_error& e) {
    std::string what = e.what();
    size_t colon = what.find(": ", what.find("column"));
    std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
    return "not valid JSON (at byte " + std::to_string(e.byte) + "): " + detail;
}

size_t line_of(const std::vector<HistoryEvent>& h, size_t i) {
    return h[i].line ? h[i].line : i + 1;
}

}  // namespace

bool parse_history_event(const std::string& text, HistoryEvent* out, std::string* error) {
    Json j;
    try {
        j = Json::parse(text);
    } catch (const Json::parse_error& e) {
        *error = json_error_detail(e);
        return false;
    }
    if (!j.is_object()) {
        *error = std::string("expected a JSON object, got ") + j.type_name();
        return false;
    }
    HistoryEvent e;
    int type = 0, f = 0;
    if (!integer_field(j, "process", &e.process, error) ||
        !choice_field(j, "type", kTypeNames, &type, error) ||
        !choice_field(j, "f", kFnNames, &f, error) || !string_field(j, "key", &e.key, error) ||
        !integer_field(j, "time", &e.time, error))
        return false;
    e.type = HistoryEvent::Type(type);
    e.f = HistoryEvent::Fn(f);

    auto value = j.find("value");
    if (value != j.end() && !value->is_null() && e.f == HistoryEvent::Fn::Cas) {
        if (!value->is_array() || value->size() != 2 || !(*value)[1].is_string() ||
            !((*value)[0].is_string() || (*value)[0].is_null())) {
            *error = "a cas's \"value\" must be [expected, new]: two strings (expected may be "
                     "null, for absent), got " + value->dump();
            return false;
        }
        if ((*value)[0].is_string()) e.expected = (*value)[0].get<std::string>();
        e.value = (*value)[1].get<std::string>();
    } else if (value != j.end() && !value->is_null()) {
        if (!value->is_string()) {
            *error = std::string("\"value\" must be a string or null, got ") + value->type_name();
            return false;
        }
        e.value = value->get<std::string>();
    }
    // Absent and null differ only where a value is the point of the line.
    if (value == j.end() && e.f == HistoryEvent::Fn::Write &&
        e.type == HistoryEvent::Type::Invoke) {
        *error = "missing field \"value\": a write's invoke carries the value written";
        return false;
    }
    if (value == j.end() && e.f == HistoryEvent::Fn::Cas && e.type == HistoryEvent::Type::Invoke) {
        *error = "missing field \"value\": a cas's invoke carries [expected, new]";
        return false;
    }
    if (value == j.end() && e.f == HistoryEvent::Fn::Read && e.type == HistoryEvent::Type::Ok) {
        *error =
            "missing field \"value\": a read's ok carries the value read (null if the key "
            "was absent)";
        return false;
    }
    *out = std::move(e);
    return true;
}

std::string history_event_json(const HistoryEvent& e) {
    nlohmann::ordered_json j;
    j["process"] = e.process;
    j["type"] = type_name(e.type);
    j["f"] = fn_name(e.f);
    j["key"] = e.key;
    auto or_null = [](const std::optional<std::string>& v) {
        return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
    };
    if (e.f == HistoryEvent::Fn::Cas && e.value)
        j["value"] = nlohmann::ordered_json::array({or_null(e.expected), *e.value});
    else
        j["value"] = or_null(e.value);
    j["time"] = e.time;
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool read_history(std::istream& in, std::vector<HistoryEvent>* out, HistoryError* error) {
    std::string text;
    for (size_t line = 1; std::getline(in, text); ++line) {
        if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
        HistoryEvent e;
        std::string why;
        if (!parse_history_event(text, &e, &why)) {
            *error = {line, why};
            return false;
        }
        e.line = line;
        out->push_back(std::move(e));
    }
    return true;
}

// --- Jepsen's log format ------------------------------------------------------------

bool read_jepsen_log(std::istream& in, std::vector<HistoryEvent>* out, HistoryError* error) {
    using Fn = HistoryEvent::Fn;
    using Type = HistoryEvent::Type;
    const std::string prefix = "jepsen.util - ";
    std::string text;
    for (size_t line = 1; std::getline(in, text); ++line) {
        if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto fail = [&](const std::string& why) {
            *error = {line, why + "; a Jepsen log line reads INFO  jepsen.util - 3\t:invoke\t:cas\t[4 0]"};
            return false;
        };
        const size_t at = text.find(prefix);
        if (at == std::string::npos) return fail("no \"" + prefix + "\" in this line");
        std::istringstream fields(text.substr(at + prefix.size()));
        std::string process, type, f, value;
        fields >> process >> type >> f;
        std::getline(fields >> std::ws, value);
        while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
        if (process == ":nemesis") continue;
        HistoryEvent e;
        e.key = "r";
        e.time = int64_t(line);
        e.line = line;
        try {
            size_t used = 0;
            e.process = std::stoll(process, &used);
            if (used != process.size()) throw std::invalid_argument(process);
        } catch (const std::exception&) {
            return fail("the process \"" + process + "\" is not an integer (or :nemesis)");
        }
        const std::map<std::string, Type> types = {
            {":invoke", Type::Invoke}, {":ok", Type::Ok}, {":fail", Type::Fail}, {":info", Type::Info}};
        const std::map<std::string, Fn> fns = {{":read", Fn::Read}, {":write", Fn::Write}, {":cas", Fn::Cas}};
        if (!types.count(type)) return fail("the type \"" + type + "\" is not :invoke, :ok, :fail or :info");
        if (!fns.count(f)) return fail("the operation \"" + f + "\" is not :read, :write or :cas");
        e.type = types.at(type);
        e.f = fns.at(f);
        const bool carries_value = e.type == Type::Invoke ? e.f != Fn::Read : e.type != Type::Info && value != ":timed-out";
        if (carries_value && e.f == Fn::Cas) {
            std::string expected, replacement;
            if (value.size() < 5 || value.front() != '[' || value.back() != ']' ||
                !(std::istringstream(value.substr(1, value.size() - 2)) >> expected >> replacement))
                return fail("a cas's value must be [EXPECTED NEW], got \"" + value + "\"");
            e.expected = expected;
            e.value = replacement;
        } else if (carries_value && value != "nil") {
            e.value = value;
        }
        out->push_back(std::move(e));
    }
    return true;
}

bool read_any_history(std::istream& in, std::vector<HistoryEvent>* out, HistoryError* error) {
    std::ostringstream all;
    all << in.rdbuf();
    const std::string text = all.str();
    const size_t first = text.find_first_not_of(" \t\r\n");
    std::istringstream again(text);
    return first == std::string::npos || text[first] == '{' ? read_history(again, out, error)
                                                           : read_jepsen_log(again, out, error);
}

namespace {

// --- Pairing -------------------------------------------------------------------------

using OperationsByKey = std::map<std::string, std::vector<RegisterOperation>>;

// Pairs each invoke with its completion, checking that the history makes sense as a
// whole. Operations that failed are dropped, but for a cas's, which compared; the rest
// are grouped by key, in invoke
// order. *operations counts them.
bool pair_operations(const std::vector<HistoryEvent>& h, OperationsByKey* by_key,
                     size_t* operations, HistoryError* error) {
    using Fn = HistoryEvent::Fn;
    using Type = HistoryEvent::Type;
    std::map<int64_t, size_t> pending;  // process -> its invoke's event index
    auto add = [&](size_t invoke, size_t completion) {
        const HistoryEvent& call = h[invoke];
        RegisterOperation op;
        op.f = call.f;
        op.invoke_time = call.time;
        op.invoke_event = invoke;
        op.complete_event = completion;
        op.unknown = completion == kNoEvent || h[completion].type == Type::Info;
        if (!op.unknown) op.complete_time = h[completion].time;
        if (call.f == Fn::Write || call.f == Fn::Cas) op.value = call.value;
        if (call.f == Fn::Cas) op.expected = call.expected;
        op.failed = call.f == Fn::Cas && completion != kNoEvent && h[completion].type == Type::Fail;
        if (call.f == Fn::Read && !op.unknown) op.value = h[completion].value;
        (*by_key)[call.key].push_back(std::move(op));
        ++*operations;
    };

    for (size_t i = 0; i < h.size(); ++i) {
        const HistoryEvent& e = h[i];
        auto fail = [&](const std::string& message) {
            *error = {line_of(h, i), message};
            return false;
        };
        const std::string process = "process " + std::to_string(e.process);
        auto it = pending.find(e.process);
        if (e.type == Type::Invoke) {
            if (it != pending.end())
                return fail(process + " invokes again while its invoke on line " +
                            std::to_string(line_of(h, it->second)) +
                            " is still pending; a process runs one operation at a time "
                            "(after an info, continue under a new process id)");
            if (e.f == Fn::Write && !e.value)
                return fail("a write's invoke needs a string \"value\": the value written");
            if (e.f == Fn::Cas && !e.value)
                return fail("a cas's invoke needs \"value\": [expected, new]");
            if (e.f != Fn::Write && e.f != Fn::Cas && e.value)
                return fail(std::string("a ") + fn_name(e.f) + "'s invoke has no value (null)" +
                            (e.f == Fn::Read ? "; the value read comes with its ok" : ""));
            pending[e.process] = i;
            continue;
        }
        if (it == pending.end())
            return fail(std::string("this ") + type_name(e.type) + " has no pending invoke on " +
                        process +
                        "; every ok, fail and info must follow an invoke by the same process");
        const HistoryEvent& call = h[it->second];
        const std::string call_line = std::to_string(line_of(h, it->second));
        if (e.f != call.f)
            return fail(std::string("this ") + type_name(e.type) + " is for a " + fn_name(e.f) +
                        " but the pending invoke of " + process + " on line " + call_line +
                        " is a " + fn_name(call.f));
        if (e.key != call.key)
            return fail(std::string("this ") + type_name(e.type) + " is for key " +
                        Json(e.key).dump() + " but the pending invoke of " + process + " on line " +
                        call_line + " is for key " + Json(call.key).dump());
        if (e.time < call.time)
            return fail("completes at time " + std::to_string(e.time) +
                        ", before its invoke on line " + call_line + " at time " +
                        std::to_string(call.time) +
                        "; time must not go backwards within an operation");
        if (e.type == Type::Ok && e.f == Fn::Write && e.value && e.value != call.value)
            return fail("this ok reports writing " + Json(*e.value).dump() +
                        " but its invoke on line " + call_line + " writes " +
                        Json(*call.value).dump());
        if (e.f == Fn::Cas && e.type != Type::Info && e.value &&
            (e.value != call.value || e.expected != call.expected))
            return fail("this " + std::string(type_name(e.type)) + " reports the cas " +
                        history_event_json(e) + " but its invoke on line " + call_line + " is " +
                        history_event_json(call));
        // A failed cas stays: it saw a value other than the one it expected.
        if (e.type != Type::Fail || e.f == Fn::Cas) add(it->second, i);
        pending.erase(it);
    }
    for (const auto& [process, invoke] : pending) add(invoke, kNoEvent);
    for (auto& [key, ops] : *by_key)
        std::sort(ops.begin(), ops.end(),
                  [](const RegisterOperation& a, const RegisterOperation& b) {
                      return a.invoke_event < b.invoke_event;
                  });
    return true;
}

// --- Shrinking -----------------------------------------------------------------------

// Shrinks a non-linearizable key to a subset of its operations (indices, in invoke
// order) that is still non-linearizable and has no single operation whose removal
// (as allowed below) keeps it so — unless the budget cut it short (then *complete =
// false).
//
// Only removals that keep the subset a proof against the whole history are made: a
// read may always go (reads only add constraints), a write or delete only when no read
// left returns its value (absent, for a delete). Then any valid order of the history
// would give one of the subset, so the subset's failure is the history's — where
// removing, say, the delete before a read of absent would fake a stale read. Removing
// a chunk therefore keeps those of its writes that a read left returns. On a key with
// a cas, whose expected values observe writes too, only the pure observations go:
// reads, failed cas and cas that swap a value for itself.
std::vector<size_t> shrink(const std::vector<RegisterOperation>& ops, SearchBudget& budget,
                           bool* complete) {
    using Fn = HistoryEvent::Fn;
    std::vector<size_t> current(ops.size());
    std::iota(current.begin(), current.end(), 0);
    const bool cas_key = std::any_of(ops.begin(), ops.end(),
                                     [](const RegisterOperation& op) { return op.f == Fn::Cas; });
    auto observation = [](const RegisterOperation& op) {
        return op.f == Fn::Read || (op.f == Fn::Cas && (op.failed || op.expected == op.value));
    };
    bool timed_out = false, undecided = false;
    // Tries removing current[from, from + len); keeps the removal if the rest still fails.
    auto try_remove = [&](size_t from, size_t len) {
        std::set<std::optional<std::string>> read;  // by the reads left
        for (size_t k = 0; k < current.size(); ++k) {
            const RegisterOperation& op = ops[current[k]];
            if ((k < from || k >= from + len) && op.f == Fn::Read && !op.unknown)
                read.insert(op.value);
        }
        std::vector<size_t> candidate;
        for (size_t k = 0; k < current.size(); ++k) {
            const RegisterOperation& op = ops[current[k]];
            const bool needed = cas_key ? !observation(op) : op.f != Fn::Read && read.count(op.value);
            if (k < from || k >= from + len || needed)
                candidate.push_back(current[k]);
        }
        if (candidate.size() == current.size()) return false;
        SearchOutcome outcome = search_register(ops, candidate, budget);
        timed_out = outcome == SearchOutcome::OutOfTime || outcome == SearchOutcome::OutOfSteps;
        undecided = undecided || outcome == SearchOutcome::OutOfMemory;
        if (outcome != SearchOutcome::NotLinearizable) return false;
        current = std::move(candidate);
        return true;
    };
    for (size_t chunk = std::max<size_t>(current.size() / 2, 1); !timed_out;
         chunk = std::max<size_t>(chunk / 2, 1)) {
        bool removed = false;
        for (size_t from = 0; from < current.size() && !timed_out;) {
            size_t len = std::min(chunk, current.size() - from);
            if (try_remove(from, len))
                removed = true;
            else
                from += len;
        }
        if (chunk == 1 && !removed) break;
    }
    *complete = !timed_out && !undecided;
    return current;
}

// --- Checking ------------------------------------------------------------------------

LincheckResult::Limit limit_of(SearchOutcome outcome) {
    switch (outcome) {
        case SearchOutcome::OutOfSteps: return LincheckResult::Limit::Steps;
        case SearchOutcome::OutOfTime: return LincheckResult::Limit::Time;
        case SearchOutcome::OutOfMemory: return LincheckResult::Limit::Memory;
        default: return LincheckResult::Limit::None;
    }
}

}  // namespace

LincheckResult check_linearizable(const std::vector<HistoryEvent>& history,
                                  const LincheckOptions& options) {
    using Verdict = LincheckResult::Verdict;
    LincheckResult result;
    OperationsByKey by_key;
    if (!pair_operations(history, &by_key, &result.operations, &result.error)) {
        result.verdict = Verdict::Malformed;
        return result;
    }
    result.keys = by_key.size();
    SearchBudget budget{options.search_steps, options.memo_bytes, options.out_of_time};
    for (const auto& [key, ops] : by_key) {
        std::vector<size_t> all(ops.size());
        std::iota(all.begin(), all.end(), 0);
        const SearchOutcome outcome = search_register(ops, all, budget);
        if (outcome == SearchOutcome::NotLinearizable) result.failing_keys.push_back(key);
        if (limit_of(outcome) != LincheckResult::Limit::None) {
            result.undecided_keys.push_back(key);
            if (result.gave_up == LincheckResult::Limit::None) result.gave_up = limit_of(outcome);
        }
    }
    if (result.failing_keys.empty()) {
        if (!result.undecided_keys.empty()) result.verdict = Verdict::Unknown;
        return result;
    }

    result.verdict = Verdict::NotLinearizable;
    const std::vector<RegisterOperation>& ops = by_key[result.failing_keys.front()];
    result.key_operations = ops.size();
    SearchBudget shrink_budget{options.shrink_steps, options.memo_bytes, options.shrink_out_of_time};
    std::vector<size_t> kept = shrink(ops, shrink_budget, &result.shrink_complete);
    result.violation_operations = kept.size();
    std::vector<size_t> events;
    for (size_t i : kept) {
        events.push_back(ops[i].invoke_event);
        if (ops[i].complete_event != kNoEvent) events.push_back(ops[i].complete_event);
    }
    std::sort(events.begin(), events.end());
    for (size_t i : events) {
        result.violation.push_back(history[i]);
        result.violation.back().line = line_of(history, i);
    }
    return result;
}

}  // namespace raftbook
