// `raftbook put | get | del | list | watch | status`: the client subcommands, HTTP
// requests to a node's --http address (any node: a follower forwards writes and reads
// to the leader; a watch streams the changes that node applies).
//
// Output is for people by default — the value, "ok", a status table — and one JSON
// object on stdout with --json, for scripts (errors too: {"error": ...}). Exit status:
// 0 done, 1 not done (a missing key for get, an unreachable node, a cluster that could
// not commit in time), 2 bad usage. When the command fails, the message says what to
// do next: start a node, retry, or ask another node.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "core/codec/codec.h"
#include "native/cli/client_command.h"
#include "native/cli/commands.h"
#include "native/client/event_stream.h"
#include "native/client/http_client.h"
#include "native/node/http_server.h"
#include "native/cli/options.h"

namespace raftbook {

namespace {

// Checks a key (and value) before anything is sent; exit 2 when they cannot be stored.
bool check_input(Client& c, const std::string& key, const std::string* value, int* exit_code) {
    std::string problem = check_key(key);
    if (problem.empty() && !is_utf8(key)) problem = "the key must be UTF-8 text";
    if (problem.empty() && value && value->size() > kMaxValueBytes)
        problem = "the value is " + std::to_string(value->size()) + " bytes; the limit is " +
                  std::to_string(kMaxValueBytes);
    if (problem.empty() && value && !is_utf8(*value)) problem = "the value must be UTF-8 text";
    if (problem.empty()) return true;
    *exit_code = c.options().usage_error(problem);
    return false;
}


// The node's /status as a table: the node's state, then one row per member.
std::string status_table(const nlohmann::json& s, const std::string& server) {
    char line[512];
    std::string out;
    auto row = [&](const char* name, const std::string& value) {
        std::snprintf(line, sizeof line, "%-9s %s\n", name, value.c_str());
        out += line;
    };
    const std::string leader = field(s, "leader");
    const bool leader_known = leader != "-" && leader != "0";
    row("node", field(s, "id") + " (http " + server + ")");
    row("role", field(s, "role"));
    row("term", field(s, "term"));
    row("leader", leader_known ? "node " + leader : "none known (an election may be under way)");
    row("commit", field(s, "commit_index"));
    row("applied", field(s, "applied_index"));
    row("log", field(s, "log_first_index") + ".." + field(s, "log_last_index") + " (durable to " +
                   field(s, "persisted_index") + ")");
    row("snapshot", field(s, "snapshot_index") == "0" ? std::string("none yet")
                                                     : "up to " + field(s, "snapshot_index") + " (term " +
                                                           field(s, "snapshot_term") + ")");
    row("keys", field(s, "kv_keys"));
    out += "\n" + members_table(s.contains("members") ? s.at("members") : nlohmann::json::array());
    if (field(s, "role") != "leader")
        out += leader_known ? "(match indexes are the leader's view: ask node " + leader + ")\n"
                            : "(match indexes are the leader's view: ask the leader once there is one)\n";
    out.pop_back();  // done() ends the text with a newline
    return out;
}

// What a failed write means, for put --help, del --help and the README.
const char kFailedWrite[] =
    "\nA write that fails without an answer (a timeout, a 503, a closed connection) may\n"
    "still take effect later: the node may have put it in the log before it failed.\n"
    "Retrying it is then a second write. To retry safely, give every attempt of one\n"
    "write the same --idempotency-key: the cluster applies it at most once and answers\n"
    "a retry with the first attempt's result (it remembers the last 100,000 keys).\n"
    "With --prev-value or --prev-revision the write is conditional (compare-and-swap):\n"
    "when the key's current value or revision differs, nothing changes and the command\n"
    "prints the current revision and value and exits 1.";

// The flags of a write (put, del): its condition and idempotency key.
void write_flags(Options& o) {
    o.flag("prev-value", "V", "write only if the key's value is V (compare-and-swap)");
    o.flag("prev-revision", "N", "write only if the key's revision is N (0: only if the key does not exist)");
    o.flag("idempotency-key", "K", "apply this write at most once, however often it is sent with K");
}

// The query string and headers the write flags ask for; false (exit 2) on bad flags.
bool write_request(Client& c, std::string* query, Headers* headers, int* exit_code) {
    Options& o = c.options();
    if (o.given("prev-value") && o.given("prev-revision")) {
        *exit_code = o.usage_error("give --prev-value or --prev-revision, not both");
        return false;
    }
    if (o.given("prev-revision")) {
        uint64_t rev = 0;
        if (!o.get_uint("prev-revision", 0, UINT64_MAX - 1, &rev, exit_code)) return false;
        *query = "?prev_revision=" + std::to_string(rev);
    }
    if (o.given("prev-value")) *query = "?prev_value=" + url_escape(o.get("prev-value"));
    if (o.given("idempotency-key")) {
        const std::string problem = check_idempotency_key(o.get("idempotency-key"));
        if (!problem.empty()) {
            *exit_code = o.usage_error("--idempotency-key: " + problem);
            return false;
        }
        headers->push_back({"Idempotency-Key", o.get("idempotency-key")});
    }
    return true;
}

// The revision a node's answer carries (its Raftbook-Revision header), 0 when none.
uint64_t revision_of(const HttpResult& r) {
    auto it = r.headers.find("raftbook-revision");
    return it == r.headers.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
}

// put, get and del: parse KEY (and VALUE for PUT), check them, send METHOD /kv/KEY,
// and let `report` say what the answer (200, 412 for a write, 404 for GET) means.
int kv_command(int argc, char** argv, const char* name, const std::string& synopsis, const std::string& method,
               const std::function<int(Client&, const std::string&, const HttpResult&)>& report) {
    Client c(name, synopsis.c_str());
    const bool with_value = method == "PUT";
    const bool write = method != "GET";
    c.options().positionals(with_value ? "KEY VALUE" : "KEY", with_value ? 2 : 1, with_value ? 2 : 1);
    if (write) write_flags(c.options());
    int exit_code = 0;
    if (!c.parse(argc, argv, &exit_code)) return exit_code;
    const std::string& key = c.options().args()[0];
    const std::string value = with_value ? c.options().args()[1] : "";
    if (!check_input(c, key, with_value ? &value : nullptr, &exit_code)) return exit_code;
    std::string query;
    Headers headers;
    if (write && !write_request(c, &query, &headers, &exit_code)) return exit_code;
    HttpResult r;
    const std::vector<int> expected = write ? std::vector<int>{200, 412} : std::vector<int>{200, 404};
    if (!c.request(method, kv_target(key) + query, value, expected, &r, &exit_code, headers)) return exit_code;
    return report(c, key, r);
}

// A write's answer: it is committed and applied, or its condition failed.
int report_write(Client& c, const std::string& key, const HttpResult& r) {
    const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    const uint64_t revision = j.is_object() ? j.value("revision", uint64_t(0)) : 0;
    if (r.status == 412) {
        const bool exists = j.is_object() && j.contains("value") && j["value"].is_string();
        c.fail(exists ? "condition failed: " + key + " is at revision " + std::to_string(revision) + " with the value '" +
                            j["value"].get<std::string>() + "'; nothing changed"
                      : "condition failed: " + key + " does not exist; nothing changed",
               {{"key", key}, {"condition_failed", true}, {"revision", revision},
                {"value", exists ? j["value"] : nlohmann::json()}});
        return 1;
    }
    return c.done({{"ok", true}, {"key", key}, {"revision", revision}}, "ok (revision " + std::to_string(revision) + ")");
}

}  // namespace

int cmd_put(int argc, char** argv) {
    return kv_command(argc, argv, "put",
                      std::string("Writes KEY = VALUE. Returns once a majority of the cluster has the write on disk\n"
                                  "and it is applied, printing the write's revision (its log index).\n") +
                          kFailedWrite,
                      "PUT", report_write);
}

int cmd_get(int argc, char** argv) {
    return kv_command(argc, argv, "get",
                      "Prints KEY's value. Linearizable: it sees every write that returned before it.\n"
                      "Exits 1 when the key does not exist. With --json it also gives the key's revision.",
                      "GET", [](Client& c, const std::string& key, const HttpResult& r) {
                          if (r.status == 404) {
                              c.fail(key + " not found", {{"key", key}, {"found", false}});
                              return 1;
                          }
                          return c.done({{"key", key}, {"found", true}, {"value", r.body}, {"revision", revision_of(r)}},
                                        r.body);
                      });
}

int cmd_del(int argc, char** argv) {
    return kv_command(argc, argv, "del",
                      std::string("Deletes KEY (done, too, when it did not exist). Returns once the delete is\n"
                                  "committed and applied.\n") +
                          kFailedWrite,
                      "DELETE", report_write);
}

int cmd_list(int argc, char** argv) {
    Client c("list", "Lists the keys starting with PREFIX (all keys when it is empty), in key order:\n"
                     "one 'KEY = VALUE  (revision N)' line each. Each page of up to 1000 keys is a\n"
                     "linearizable read; a listing of several pages is not one snapshot.");
    c.options().positionals("[PREFIX]", 0, 1);
    c.options().flag("limit", "N", "list at most N keys (0: all)", "0");
    int exit_code = 0;
    if (!c.parse(argc, argv, &exit_code)) return exit_code;
    uint64_t limit = 0;
    if (!c.options().get_uint("limit", 0, UINT64_MAX, &limit, &exit_code)) return exit_code;
    const std::string prefix = c.options().args().empty() ? "" : c.options().args()[0];
    if (prefix.size() > kMaxKeyBytes)
        return c.options().usage_error("the prefix is " + std::to_string(prefix.size()) +
                                       " bytes, over the key limit of " + std::to_string(kMaxKeyBytes));
    nlohmann::json items = nlohmann::json::array();
    std::string text, after;
    uint64_t revision = 0;
    for (bool more = true; more && (limit == 0 || items.size() < limit);) {
        const uint64_t page = limit == 0 ? kMaxListLimit : std::min<uint64_t>(kMaxListLimit, limit - items.size());
        HttpResult r;
        if (!c.request("GET", "/kv/?prefix=" + url_escape(prefix) + "&limit=" + std::to_string(page) +
                                  (after.empty() ? "" : "&after=" + url_escape(after)),
                       "", {200}, &r, &exit_code))
            return exit_code;
        const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
        if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) {
            c.fail(c.server() + " answered the listing with something that is not one; is it a raftbook node?");
            return 1;
        }
        revision = j.value("revision", revision);
        more = j.value("more", false);
        for (const nlohmann::json& item : j["items"]) {
            after = item.value("key", "");
            text += after + " = " + item.value("value", "") + "  (revision " + std::to_string(item.value("revision", 0ull)) + ")\n";
            items.push_back(item);
        }
    }
    if (!text.empty()) text.pop_back();
    return c.done({{"items", items}, {"revision", revision}}, text);
}

int cmd_watch(int argc, char** argv) {
    Client c("watch", "Prints every change to KEY (or, with --prefix, to every key starting with it) as\n"
                      "the node applies it, one line each: 'REVISION put KEY VALUE' or 'REVISION del KEY'.\n"
                      "Runs until Ctrl-C. Without --from-revision it starts with the next change; a\n"
                      "revision the node no longer holds exits 1 saying to re-list ('raftbook list').\n"
                      "When the node knows no leader for a while it says so on stderr: changes made\n"
                      "elsewhere do not reach it then.");
    c.options().positionals("KEY", 1, 1);
    c.options().flag_switch("prefix", "watch every key starting with KEY");
    c.options().flag("from-revision", "N", "start with the changes at revision N and later (e.g. a listing's + 1)");
    int exit_code = 0;
    if (!c.parse(argc, argv, &exit_code)) return exit_code;
    const std::string key = c.options().args()[0];
    const bool prefix = c.options().given("prefix");
    if (!prefix && !check_input(c, key, nullptr, &exit_code)) return exit_code;
    std::string target = prefix ? "/watch/?prefix=" + url_escape(key) : "/watch/" + url_escape(key);
    if (c.options().given("from-revision")) {
        uint64_t from = 0;
        if (!c.options().get_uint("from-revision", 0, UINT64_MAX - 1, &from, &exit_code)) return exit_code;
        target += std::string(prefix ? "&" : "?") + "from_revision=" + std::to_string(from);
    }
    boost::asio::io_context ioc;
    EventStream stream(ioc, c.host(), c.port());
    std::string last_id;
    stream.open(
        target, c.headers(),
        [&](const ServerEvent& e) {
            const nlohmann::json data = nlohmann::json::parse(e.data, nullptr, false);
            if (e.event.empty()) {
                last_id = e.id;
                if (c.json()) {
                    std::printf("%s\n", e.data.c_str());
                } else if (data.is_object()) {
                    const std::string k = data.value("key", "");
                    const std::string rev = std::to_string(data.value("revision", 0ull));
                    if (data.value("deleted", false)) {
                        std::printf("%s del %s\n", rev.c_str(), k.c_str());
                    } else {
                        std::printf("%s put %s %s\n", rev.c_str(), k.c_str(), data.value("value", "").c_str());
                    }
                }
                std::fflush(stdout);
                return;
            }
            const std::string why = data.is_object() ? data.value("error", data.value("message", e.data)) : e.data;
            if (e.event == "compacted") {
                c.fail("cannot continue the watch: " + why, {{"event", "compacted"}});
                stream.close();
                return;
            }
            std::fprintf(stderr, "raftbook watch: %s: %s\n", e.event.c_str(), why.c_str());
        },
        [&](const std::string& error) {
            const std::string resume =
                last_id.empty() ? "" : "; resume with --from-revision " + std::to_string(std::stoull(last_id) + 1);
            c.fail(error.empty() ? "the node ended the stream (is it stopping?)" + resume : error + resume);
        });
    ioc.run();
    return 1;  // the stream ended (Ctrl-C ends the process)
}

int cmd_status(int argc, char** argv) {
    Client c("status", "Shows one node's view of the cluster: its role and term, the leader, commit and\n"
                       "apply progress, and the members (with each one's match index, on the leader).");
    int exit_code = 0;
    if (!c.parse(argc, argv, &exit_code)) return exit_code;
    HttpResult r;
    if (!c.request("GET", "/status", "", {200}, &r, &exit_code)) return exit_code;
    const nlohmann::json s = nlohmann::json::parse(r.body, nullptr, false);
    if (!s.is_object()) {
        c.fail(c.server() + " answered /status with something that is not JSON; is it a raftbook node's --http address?");
        return 1;
    }
    return c.done(s, status_table(s, c.server()));
}

}  // namespace raftbook
