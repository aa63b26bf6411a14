// `raftbook members [list|add|promote|remove]` and `raftbook transfer-leader`: change
// who is in the cluster, through any member's HTTP API (native/node/members_api.h).
//
// A change goes to the leader like a write and is answered once its configuration
// entry is applied. A new member joins as a learner (it receives the log, never votes)
// and becomes a voter with `promote` once it has caught up; `members add` without
// --learner does both, asking for the promotion again until the leader agrees. Changes
// go one at a time: the leader refuses one while another is under way.
#include <chrono>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "native/cli/client_command.h"

namespace raftbook {

namespace {

// What a change that failed means, for every --help and the README.
const char kFailedChange[] =
    "\nA change refused for good (409: already a member, removed, not a voter) did not\n"
    "happen. One refused for now (503: another change under way, not caught up) or that\n"
    "failed without an answer (a timeout) may still take effect: 'raftbook members'\n"
    "shows the configuration; retry if it did not.";

bool parse_id(Client& c, const std::string& text, NodeId* out, int* exit_code) {
    if (!text.empty() && text.size() <= 19 && text.find_first_not_of("0123456789") == std::string::npos) {
        *out = std::stoull(text);
        if (*out != kNoNode) return true;
    }
    *exit_code = c.options().usage_error("'" + text + "' is not a node id (1 or more)");
    return false;
}

// Sends one change and reports it, sending it again while the cluster answers 503 (a
// change or a transfer under way, no leader yet: a change is idempotent, so a retry of
// one that took effect is answered as done) until --timeout-ms. The answer is in *answer.
bool change(Client& c, const std::string& method, const std::string& target, const nlohmann::json& body,
            nlohmann::json* answer, int* exit_code) {
    const auto deadline = std::chrono::steady_clock::now() + c.timeout();
    const std::string text = body.is_null() ? "" : body.dump();
    for (;;) {
        HttpClient client(c.host(), c.port(), c.timeout());
        const HttpResult r = client.request(method, target, text, c.headers());
        if (r.status == 200) {
            *answer = nlohmann::json::parse(r.body, nullptr, false);
            return true;
        }
        if (r.status == 503 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            continue;
        }
        *exit_code = 1;
        if (!r.ok()) {
            c.fail(r.error + (r.sent ? "" : " — is a node running there?"));
        } else {
            c.fail(client.address() + " answered " + std::to_string(r.status) + ": " + Client::server_error(r));
        }
        return false;
    }
}

int members_list(int argc, char** argv) {
    Client c("members", "Lists the cluster's members as a node sees them: voters and learners, native or\n"
                        "browser nodes, their peer and HTTP addresses, connections, the native node each\n"
                        "browser is reached through (via), and each one's match index (on the leader).");
    int exit_code = 0;
    if (!c.parse(argc, argv, &exit_code)) return exit_code;
    HttpResult r;
    if (!c.request("GET", "/members", "", {200}, &r, &exit_code)) return exit_code;
    const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("members")) {
        c.fail(c.server() + " answered /members with something else; is it a raftbook node's --http address?");
        return 1;
    }
    std::string text = members_table(j["members"]);
    if (!j.value("removed", nlohmann::json::array()).empty()) text += "removed   " + j["removed"].dump() + "\n";
    text.pop_back();
    return c.done(j, text);
}

int members_add(int argc, char** argv) {
    Client c("members add",
             (std::string("Adds node ID to the cluster as a learner; without --learner, promotes it to a\n"
                          "voter once it has caught up (asking again until the leader agrees, within\n"
                          "--timeout-ms). Start the node with raftbook serve --id ID --join ... instead to\n"
                          "do both from the node itself.") + kFailedChange).c_str());
    c.options().positionals("ID PEER_ADDR", 2, 2);
    c.options().flag("http", "ADDR", "the new member's HTTP (--http) address, for clients and other members");
    c.options().flag_switch("learner", "stay a learner: do not promote it");
    int exit_code = 0;
    if (!c.parse(argc, argv, &exit_code)) return exit_code;
    NodeId id = 0;
    if (!parse_id(c, c.options().args()[0], &id, &exit_code)) return exit_code;
    const nlohmann::json body = {
        {"id", id}, {"peer", c.options().args()[1]}, {"http", c.options().get("http")}, {"learner", true}};
    nlohmann::json added;
    if (!change(c, "POST", "/members", body, &added, &exit_code)) return exit_code;
    if (c.options().given("learner"))
        return c.done(added, "added node " + std::to_string(id) + " as a learner (configuration entry " +
                                 field(added, "revision") + ")");
    // Promote: refused (409) until the learner has caught up; ask again meanwhile.
    const auto deadline = std::chrono::steady_clock::now() + c.timeout();
    for (;;) {
        HttpResult r;
        HttpClient client(c.host(), c.port(), c.timeout());
        r = client.request("POST", "/members/" + std::to_string(id) + "/promote", "", c.headers());
        if (r.status == 200) {
            const nlohmann::json promoted = nlohmann::json::parse(r.body, nullptr, false);
            return c.done(promoted, "added node " + std::to_string(id) + " and promoted it to a voter (configuration entry " +
                                        field(promoted, "revision") + ")");
        }
        if (std::chrono::steady_clock::now() >= deadline || (r.ok() && r.status != 409 && r.status != 503)) {
            c.fail("added node " + std::to_string(id) + " as a learner, but it was not promoted: " +
                   (r.ok() ? Client::server_error(r) : r.error) + ". Promote it with 'raftbook members promote " +
                   std::to_string(id) + "' once it has caught up");
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

int members_simple(int argc, char** argv, const char* command, const std::string& synopsis, const char* method,
                   const std::string& suffix, const char* verb) {
    Client c(command, (synopsis + kFailedChange).c_str());
    c.options().positionals("ID", 1, 1);
    int exit_code = 0;
    if (!c.parse(argc, argv, &exit_code)) return exit_code;
    NodeId id = 0;
    if (!parse_id(c, c.options().args()[0], &id, &exit_code)) return exit_code;
    nlohmann::json answer;
    if (!change(c, method, "/members/" + std::to_string(id) + suffix, nullptr, &answer, &exit_code)) return exit_code;
    return c.done(answer, std::string(verb) + " node " + std::to_string(id) + " (configuration entry " +
                              field(answer, "revision") + ")");
}

}  // namespace

int cmd_members(int argc, char** argv) {
    const std::string sub = argc > 1 ? argv[1] : "list";
    if (argc > 1 && sub != "list" && sub != "add" && sub != "promote" && sub != "remove" && sub[0] != '-') {
        std::fprintf(stderr, "raftbook members: unknown subcommand '%s' (list, add, promote, remove)\n", sub.c_str());
        return 2;
    }
    if (argc < 2 || sub[0] == '-') {
        if (argc > 1 && (sub == "--help" || sub == "-h"))
            std::printf("usage: raftbook members [list|add|promote|remove] ...\n"
                        "  members [list]                   the members: voters and learners, native and browser\n"
                        "  members add ID PEER_ADDR [--http ADDR] [--learner]\n"
                        "  members promote ID               a learner becomes a voter\n"
                        "  members remove ID                a member leaves (its id is never reused)\n"
                        "Each takes --server, --token-file, --json and --help.\n");
        if (argc > 1 && (sub == "--help" || sub == "-h")) return 0;
        return members_list(argc, argv);
    }
    if (sub == "list") return members_list(argc - 1, argv + 1);
    if (sub == "add") return members_add(argc - 1, argv + 1);
    if (sub == "promote")
        return members_simple(argc - 1, argv + 1, "members promote",
                              "Makes the learner ID a voter. The leader refuses until it has caught up.", "POST",
                              "/promote", "promoted");
    return members_simple(argc - 1, argv + 1, "members remove",
                          "Removes node ID from the cluster. Its id is never reused; a removed node that\n"
                          "comes back is refused. Removing the leader makes it step down once the change\n"
                          "commits.",
                          "DELETE", "", "removed");
}

int cmd_transfer_leader(int argc, char** argv) {
    Client c("transfer-leader",
             "Hands leadership to the voter ID: the leader brings it up to date and tells it to\n"
             "campaign at once. Answered once ID leads; a transfer that does not finish within an\n"
             "election timeout is abandoned (the old leader goes on leading).");
    c.options().positionals("ID", 1, 1);
    int exit_code = 0;
    if (!c.parse(argc, argv, &exit_code)) return exit_code;
    NodeId id = 0;
    if (!parse_id(c, c.options().args()[0], &id, &exit_code)) return exit_code;
    nlohmann::json answer;
    if (!change(c, "POST", "/transfer-leader", {{"id", id}}, &answer, &exit_code)) return exit_code;
    return c.done(answer, "node " + std::to_string(id) + " leads");
}

}  // namespace raftbook
