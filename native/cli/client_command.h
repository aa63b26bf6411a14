// What every client subcommand shares (put, get, ..., status, members): the flags
// --server, --timeout-ms, --token-file and --json, one request to the node, and the way
// results and failures are reported (text for people, one JSON object with --json).
//
// The token (a cluster started with --token-file; native/node/http_server.h) comes from
// --token-file FILE, else from the environment variable RAFTBOOK_TOKEN, and goes with
// every request as "Authorization: Bearer TOKEN" (the node asks it only of writes).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/raft/entry.h"
#include "native/cli/commands.h"
#include "native/cli/options.h"
#include "native/client/http_client.h"

namespace raftbook {

inline const std::string kDefaultServer = "127.0.0.1:" + std::to_string(kDemoPort);

inline std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// What every client subcommand shares: the flags, the connection, the way it reports.
class Client {
public:
    Client(const char* command, const char* synopsis) : command_(command), opts_(command, synopsis) {
        opts_.flag("server", "HOST:PORT", "a node's HTTP (--http) address", kDefaultServer);
        opts_.flag("timeout-ms", "MS", "give up when the node has not answered by then", "10000");
        opts_.flag("token-file", "FILE",
                   "the cluster's token (FILE's first line), which writes need on a node\n"
                   "                           that has one; default: the environment variable RAFTBOOK_TOKEN");
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
        if (opts_.given("token-file")) {
            if (!read_token_file(opts_.get("token-file"), &token_, &error)) {
                *exit_code = opts_.usage_error("--token-file: " + error);
                return false;
            }
        } else if (const char* env = std::getenv("RAFTBOOK_TOKEN")) {
            token_ = env;
        }
        timeout_ = std::chrono::milliseconds(ms);
        json_ = opts_.given("json");
        return true;
    }
    // The server's address as errors name it (after request()).
    const std::string& server() const { return address_; }
    const std::string& host() const { return host_; }
    uint16_t port() const { return port_; }
    bool json() const { return json_; }
    std::chrono::milliseconds timeout() const { return timeout_; }
    // `extra` and, when there is a token, its Authorization header: what every request sends.
    Headers headers(Headers extra = {}) const {
        if (!token_.empty()) extra.push_back({"Authorization", "Bearer " + token_});
        return extra;
    }

    // One request. On a transport error or a status not in `expected`, reports it and
    // returns false with *exit_code = 1.
    bool request(const std::string& method, const std::string& target, const std::string& body,
                 const std::vector<int>& expected, HttpResult* out, int* exit_code, const Headers& headers = {}) {
        HttpClient client(host_, port_, timeout_);
        address_ = client.address();
        *out = client.request(method, target, body, this->headers(headers));
        for (int status : expected)
            if (out->status == status) return true;
        *exit_code = 1;
        if (!out->ok()) {
            fail(out->error + (out->sent ? "" : " — is a node running there? Start a local cluster with 'raftbook demo'"));
        } else if (out->status == 503) {
            fail("the cluster could not serve it: " + server_error(*out) +
                 (method == "PUT" || method == "DELETE"
                      ? ". The write may still take effect: retry it with the same --idempotency-key to be sure it "
                        "applies once"
                      : ""));
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

    // The node's JSON {"error": ...} text, or the body as it is.
    static std::string server_error(const HttpResult& r) {
        const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
        if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
        const std::string body = r.body.substr(0, 200);
        return body.empty() ? "(no details)" : body;
    }

private:
    const char* command_;
    Options opts_;
    std::string host_;
    uint16_t port_ = 0;
    std::string address_;
    std::chrono::milliseconds timeout_{0};
    std::string token_;  // "" for none
    bool json_ = false;
};

// A field of a JSON object as text: "-" when it is missing or null.
inline std::string field(const nlohmann::json& object, const char* name) {
    if (!object.is_object() || !object.contains(name) || object.at(name).is_null()) return "-";
    const nlohmann::json& v = object.at(name);
    return v.is_string() ? v.get<std::string>() : v.dump();
}

// The members of a /status or GET /members answer, one row each (a header first). A
// browser member's "via" is the native node it is reached through ("-": not known).
inline std::string members_table(const nlohmann::json& members) {
    char line[512];
    std::string out =
        "member    role      kind      peer address           http address           connected    via    match index\n";
    for (const nlohmann::json& m : members) {
        const bool self = m.is_object() && m.contains("self") && m.at("self") == true;
        const std::string connected = self ? "(this node)" : field(m, "connected") == "true" ? "yes"
                                                           : field(m, "connected") == "false" ? "no" : "-";
        const std::string role = field(m, "voter") == "true" ? "voter" : field(m, "voter") == "false" ? "learner" : "-";
        const auto address = [&m](const char* name) {  // a browser has none: ""
            const std::string a = field(m, name);
            return a.empty() ? std::string("-") : a;
        };
        std::snprintf(line, sizeof line, "%-9s %-9s %-9s %-22s %-22s %-12s %-6s %s\n", field(m, "id").c_str(),
                      role.c_str(), field(m, "kind").c_str(), address("peer").c_str(), address("http").c_str(),
                      connected.c_str(), field(m, "via").c_str(), field(m, "match_index").c_str());
        out += line;
    }
    return out;
}

}  // namespace raftbook
