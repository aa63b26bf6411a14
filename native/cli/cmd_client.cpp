// `raftbook put | get | del | status`: the client subcommands, one HTTP request each to
// a node's --http address (any node: a follower forwards writes and reads to the
// leader).
//
// Output is for people by default — the value, "ok", a status table — and one JSON
// object on stdout with --json, for scripts (errors too: {"error": ...}). Exit status:
// 0 done, 1 not done (a missing key for get, an unreachable node, a cluster that could
// not commit in time), 2 bad usage. When the command fails, the message says what to
// do next: start a node, retry, or ask another node.
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/codec/codec.h"
#include "native/cli/commands.h"
#include "native/client/http_client.h"
#include "native/node/http_server.h"
#include "native/cli/options.h"

namespace raftbook {

namespace {

const std::string kDefaultServer = "127.0.0.1:" + std::to_string(kDemoPort);

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// What every client subcommand shares: the flags, the connection, the way it reports.
class Client {
public:
    Client(const char* command, const char* synopsis) : command_(command), opts_(command, synopsis) {
        opts_.flag("server", "HOST:PORT", "a node's HTTP (--http) address", kDefaultServer);
        opts_.flag("timeout-ms", "MS", "give up when the node has not answered by then", "10000");
        opts_.flag_switch("json", "print one JSON object (also for errors) instead of text");
    }
    Options& options() { return opts_; }

    // Parses the command line; false with *exit_code when the command must not run.
    bool parse(int argc, char** argv, int* exit_code) {
        if (!opts_.parse(argc, argv, exit_code)) return false;
        uint64_t ms = 0;
        if (!opts_.get_uint("timeout-ms", 1, 3600 * 1000, &ms, exit_code)) return false;
        std::string error;
        if (!parse_host_port(opts_.get("server"), &host_, &port_, &error)) {
            *exit_code = opts_.usage_error("--server: " + error);
            return false;
        }
        if (host_.empty()) host_ = "127.0.0.1";
        timeout_ = std::chrono::milliseconds(ms);
        json_ = opts_.given("json");
        return true;
    }
    // The server's address as errors name it (after request()).
    const std::string& server() const { return address_; }

    // One request. On a transport error or a status not in `expected`, reports it and
    // returns false with *exit_code = 1.
    bool request(const std::string& method, const std::string& target, const std::string& body,
                 const std::vector<int>& expected, HttpResult* out, int* exit_code) {
        HttpClient client(host_, port_, timeout_);
        address_ = client.address();
        *out = client.request(method, target, body);
        for (int status : expected)
            if (out->status == status) return true;
        *exit_code = 1;
        if (!out->ok()) {
            fail(out->error + (out->sent ? "" : " — is a node running there? Start a local cluster with 'raftbook demo'"));
        } else if (out->status == 503) {
            fail("the cluster could not serve it: " + server_error(*out));
        } else {
            fail(address_ + " answered " + std::to_string(out->status) + ": " + server_error(*out));
        }
        return false;
    }

    // Prints `result` (as JSON with --json, else `text` when not empty) and returns 0.
    int done(const nlohmann::json& result, const std::string& text) const {
        if (json_) {
            std::printf("%s\n", dump(result).c_str());
        } else if (!text.empty()) {
            std::printf("%s\n", text.c_str());
        }
        return 0;
    }

    // Reports a failure: {"error": ...} on stdout with --json, else a line on stderr.
    void fail(const std::string& message, nlohmann::json fields = nlohmann::json::object()) const {
        if (json_) {
            fields["error"] = message;
            std::printf("%s\n", dump(fields).c_str());
        } else {
            std::fprintf(stderr, "raftbook %s: %s\n", command_, message.c_str());
        }
    }

private:
    // The node's JSON {"error": ...} text, or the body as it is.
    static std::string server_error(const HttpResult& r) {
        const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
        if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
        const std::string body = r.body.substr(0, 200);
        return body.empty() ? "(no details)" : body;
    }

    const char* command_;
    Options opts_;
    std::string host_;
    uint16_t port_ = 0;
    std::string address_;
    std::chrono::milliseconds timeout_{0};
    bool json_ = false;
};

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

// A field of a JSON object as text: "-" when it is missing or null.
std::string field(const nlohmann::json& object, const char* name) {
    if (!object.is_object() || !object.contains(name) || object.at(name).is_null()) return "-";
    const nlohmann::json& v = object.at(name);
    return v.is_string() ? v.get<std::string>() : v.dump();
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
    row("keys", field(s, "kv_keys"));
    out += "\nmember    peer address           connected    match index\n";
    const nlohmann::json& members = s.contains("members") ? s.at("members") : nlohmann::json::array();
    for (const nlohmann::json& m : members) {
        const bool self = m.is_object() && m.contains("self") && m.at("self") == true;
        const std::string connected = self ? "(this node)" : field(m, "connected") == "true" ? "yes"
                                                           : field(m, "connected") == "false" ? "no" : "-";
        std::snprintf(line, sizeof line, "%-9s %-22s %-12s %s\n", field(m, "id").c_str(), field(m, "address").c_str(),
                      connected.c_str(), field(m, "match_index").c_str());
        out += line;
    }
    if (field(s, "role") != "leader")
        out += leader_known ? "(match indexes are the leader's view: ask node " + leader + ")\n"
                            : "(match indexes are the leader's view: ask the leader once there is one)\n";
    out.pop_back();  // done() ends the text with a newline
    return out;
}

// put, get and del: parse KEY (and VALUE for PUT), check them, send METHOD /kv/KEY,
// and let `report` say what the answer (200, or 404 for GET) means.
int kv_command(int argc, char** argv, const char* name, const char* synopsis, const std::string& method,
               const std::function<int(Client&, const std::string&, const HttpResult&)>& report) {
    Client c(name, synopsis);
    const bool with_value = method == "PUT";
    c.options().positionals(with_value ? "KEY VALUE" : "KEY", with_value ? 2 : 1, with_value ? 2 : 1);
    int exit_code = 0;
    if (!c.parse(argc, argv, &exit_code)) return exit_code;
    const std::string& key = c.options().args()[0];
    const std::string value = with_value ? c.options().args()[1] : "";
    if (!check_input(c, key, with_value ? &value : nullptr, &exit_code)) return exit_code;
    HttpResult r;
    const std::vector<int> expected = method == "GET" ? std::vector<int>{200, 404} : std::vector<int>{200};
    if (!c.request(method, kv_target(key), value, expected, &r, &exit_code)) return exit_code;
    return report(c, key, r);
}

// A write's answer: it is committed and applied.
int report_done(Client& c, const std::string& key, const HttpResult&) {
    return c.done({{"ok", true}, {"key", key}}, "ok");
}

}  // namespace

int cmd_put(int argc, char** argv) {
    return kv_command(argc, argv, "put",
                      "Writes KEY = VALUE. Returns once a majority of the cluster has the write on disk\n"
                      "and it is applied.",
                      "PUT", report_done);
}

int cmd_get(int argc, char** argv) {
    return kv_command(argc, argv, "get",
                      "Prints KEY's value. Linearizable: it sees every write that returned before it.\n"
                      "Exits 1 when the key does not exist.",
                      "GET", [](Client& c, const std::string& key, const HttpResult& r) {
                          if (r.status == 404) {
                              c.fail(key + " not found", {{"key", key}, {"found", false}});
                              return 1;
                          }
                          return c.done({{"key", key}, {"found", true}, {"value", r.body}}, r.body);
                      });
}

int cmd_del(int argc, char** argv) {
    return kv_command(argc, argv, "del",
                      "Deletes KEY (done, too, when it did not exist). Returns once the delete is\n"
                      "committed and applied.",
                      "DELETE", report_done);
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
