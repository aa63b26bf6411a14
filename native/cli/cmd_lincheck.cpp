// `raftbook lincheck HISTORY.jsonl`: the command-line face of the linearizability
// checker (lincheck.h). It reads the file, checks it, and prints the verdict: one line
// when the history is linearizable, the failing key and a minimal violating sub-history
// (each event with its line number) when it is not, FILE:LINE: what is wrong when the
// history is malformed, and which keys it could not decide when the search hit its
// bounds. Exit 0, 1, 2 and 3 respectively; --json prints the same as one JSON object.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "native/cli/commands.h"
#include "core/lincheck/lincheck.h"
#include "native/cli/options.h"

namespace raftbook {

namespace {

// The command's description in its usage: the input format and the exit statuses.
const char* const kSynopsis =
    "Checks that a key-value history is linearizable: one register per key, initially\n"
    "absent. The history holds one event a line (- reads stdin):\n"
    "  {\"process\": 3, \"type\": \"invoke\"|\"ok\"|\"fail\"|\"info\",\n"
    "   \"f\": \"read\"|\"write\"|\"delete\"|\"cas\", \"key\": \"x\", \"value\": \"5\" or null,\n"
    "   \"time\": nanoseconds}\n"
    "info = outcome unknown, fail = did not happen; a read's value comes with its ok\n"
    "(null = absent). A cas's value is [expected, new] (expected null = absent): ok =\n"
    "it swapped, fail = it found another value, info = unknown.\n"
    "Jepsen's log lines (INFO  jepsen.util - 3\t:invoke\t:cas\t[4 0]) are read as one\n"
    "register, \"r\", when the file does not start with '{'.\n"
    "Exit status: 0 linearizable, 1 not linearizable, 2 malformed history or bad usage,\n"
    "3 undecided (the search hit --timeout or its memory bound).";

std::string count(size_t n, const char* noun) {
    return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const std::string& w : words) out += (out.empty() ? "" : ", ") + w;
    return out;
}

// "key k0 (it passed --timeout; a larger one may decide)"
std::string undecided(const LincheckResult& r) {
    const std::string memory = std::to_string(LincheckOptions().memo_bytes >> 20) + " MiB";
    return std::string(r.undecided_keys.size() == 1 ? "key " : "keys ") + join(r.undecided_keys) +
           (r.gave_up == LincheckResult::Limit::Time    ? " (it passed --timeout; a larger one may decide)"
            : r.gave_up == LincheckResult::Limit::Steps ? " (it passed the search's step bound)"
                                                        : " (its memo reached " + memory +
                                                              ": too many overlapping operations on one key for an exact search)");
}

void print_text(const LincheckResult& r) {
    const std::string checked =
        count(r.operations, "operation") + " on " + count(r.keys, "key") + " checked";
    if (r.verdict == LincheckResult::Verdict::Linearizable) {
        std::printf("linearizable: %s\n", checked.c_str());
        return;
    }
    if (r.verdict == LincheckResult::Verdict::Unknown) {
        std::printf("UNKNOWN: no violation found, but the search gave up on %s\n",
                    undecided(r).c_str());
        std::printf("%s\n", checked.c_str());
        return;
    }
    const std::string& key = r.failing_keys.front();
    std::printf("NOT linearizable: key %s: no order of its %s behaves like a register\n",
                key.c_str(), count(r.key_operations, "operation").c_str());
    if (r.failing_keys.size() > 1) {
        const std::vector<std::string> others(r.failing_keys.begin() + 1, r.failing_keys.end());
        std::printf("also not linearizable: %s %s\n", others.size() > 1 ? "keys" : "key",
                    join(others).c_str());
    }
    std::printf("minimal violating sub-history, %zu of those operations (%s):\n",
                r.violation_operations,
                r.shrink_complete ? "each one is needed to show the violation"
                                  : "shrinking hit a bound; a smaller one may exist");
    for (const HistoryEvent& e : r.violation)
        std::printf("  line %zu: %s\n", e.line, history_event_json(e).c_str());
    if (!r.undecided_keys.empty())
        std::printf("the search also gave up on %s\n", undecided(r).c_str());
    std::printf("%s\n", checked.c_str());
}

void print_json(const LincheckResult& r) {
    nlohmann::ordered_json j;
    if (r.verdict == LincheckResult::Verdict::Unknown)
        j["linearizable"] = nullptr;
    else
        j["linearizable"] = r.verdict == LincheckResult::Verdict::Linearizable;
    j["operations"] = r.operations;
    j["keys"] = r.keys;
    if (r.verdict == LincheckResult::Verdict::NotLinearizable) {
        j["failing_keys"] = r.failing_keys;
        j["key"] = r.failing_keys.front();
        j["key_operations"] = r.key_operations;
        j["violation_operations"] = r.violation_operations;
        j["shrink_complete"] = r.shrink_complete;
        j["violation"] = nlohmann::ordered_json::array();
        for (const HistoryEvent& e : r.violation)
            j["violation"].push_back(
                {{"line", e.line},
                 {"event", nlohmann::ordered_json::parse(history_event_json(e))}});
    }
    if (!r.undecided_keys.empty()) j["undecided_keys"] = r.undecided_keys;
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

int cmd_lincheck(int argc, char** argv) {
    Options opts("lincheck", kSynopsis);
    opts.flag_switch("json", "print the result as one JSON object");
    opts.flag("timeout", "SECONDS", "time bound for the search", "60");
    opts.flag("shrink-time", "SECONDS", "time bound for shrinking a violation", "10");
    opts.positionals("HISTORY.jsonl", 1, 1);
    int exit_code = 0;
    uint64_t timeout_seconds = 0, shrink_seconds = 0;
    if (!opts.parse(argc, argv, &exit_code) ||
        !opts.get_uint("timeout", 1, 86400 * 7, &timeout_seconds, &exit_code) ||
        !opts.get_uint("shrink-time", 0, 86400, &shrink_seconds, &exit_code))
        return exit_code;
    const bool json = opts.given("json");
    const std::string path = opts.args().front();

    std::ifstream file;
    if (path != "-") {
        file.open(path);
        if (!file) {
            std::fprintf(stderr, "raftbook lincheck: cannot open %s: %s\n", path.c_str(),
                         std::strerror(errno));
            return 2;
        }
    }
    std::istream& in = path == "-" ? std::cin : file;

    std::vector<HistoryEvent> history;
    LincheckResult result;
    const bool parsed = read_any_history(in, &history, &result.error);
    if (in.bad()) {
        std::fprintf(stderr, "raftbook lincheck: error reading %s: %s\n", path.c_str(),
                     std::strerror(errno));
        return 2;
    }
    if (parsed) {
        LincheckOptions options;
        // The search reads no clock; these wall-clock bounds are this command's. The
        // shrinking's clock starts when the shrinking asks it first.
        using Clock = std::chrono::steady_clock;
        const Clock::time_point search_deadline = Clock::now() + std::chrono::seconds(timeout_seconds);
        options.out_of_time = [search_deadline] { return Clock::now() > search_deadline; };
        options.shrink_out_of_time = [shrink_seconds, deadline = std::optional<Clock::time_point>()]() mutable {
            if (!deadline) deadline = Clock::now() + std::chrono::seconds(shrink_seconds);
            return Clock::now() > *deadline;
        };
        result = check_linearizable(history, options);
    } else {
        result.verdict = LincheckResult::Verdict::Malformed;
    }
    if (result.verdict == LincheckResult::Verdict::Malformed) {
        const HistoryError& error = result.error;
        std::fprintf(stderr, "%s:%zu: %s\n", path.c_str(), error.line, error.message.c_str());
        if (json)
            std::printf("%s\n", nlohmann::json{{"error", error.message}, {"line", error.line}}
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                    .c_str());
        return 2;
    }
    if (json)
        print_json(result);
    else
        print_text(result);
    switch (result.verdict) {
        case LincheckResult::Verdict::Linearizable:
            return 0;
        case LincheckResult::Verdict::NotLinearizable:
            return 1;
        default:
            return 3;
    }
}

}  // namespace raftbook
