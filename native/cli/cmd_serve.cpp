// `raftbook serve`: run one member of a cluster until SIGINT or SIGTERM.
//
// This file only turns the command line into a NodeConfig, runs the io_context that
// NodeHost lives on, and stops it cleanly on a signal (queued disk writes finish,
// connections are closed with a "going away" reason). Restarting with the same --id
// and --data resumes the member from its disk.
//
// Every connection costs a file descriptor, and so does the node's own work: if
// connections could take them all, the next hard-state save or WAL segment would fail
// with EMFILE and the node would stop, so a client or anyone on the peer port could
// stop it. So the node raises its open-file limit to the hard limit and splits it, a
// descriptor budget: a reserve for itself that no connection may take, a cap on
// accepted peer connections, and the rest for client connections (those served, and
// those being answered 503 over the cap). --max-clients is lowered to fit, with a log
// line saying so; a limit too small for even a few clients refuses to start.
//
// A node reachable beyond this machine (a --listen or --http address that is not
// loopback) without a token (--token-file) says at start, in one line, that anyone who
// reaches it can join or write, and how to set one.
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/sim/scenario.h"
#include "core/sim/simulator.h"
#include "native/cli/commands.h"
#include "native/node/log.h"
#include "native/node/node_host.h"
#include "native/cli/options.h"
#include "native/storage/durability_log.h"
#include "native/storage/identity.h"

namespace raftbook {

namespace {

// Parses "1=PEER[/HTTP],2=PEER[/HTTP],..." (each address HOST:PORT) into voters; `flag`
// names the flag in a message. Returns false with a message.
bool parse_cluster(const std::string& text, Membership* out, std::string* error, const std::string& flag = "--cluster") {
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        const size_t eq = item.find('=');
        char* end = nullptr;
        const unsigned long long id = eq == std::string::npos ? 0 : std::strtoull(item.c_str(), &end, 10);
        if (eq == std::string::npos || id == 0 || end != item.c_str() + eq) {
            *error = flag + " entry '" + item + "' is not ID=HOST:PORT[/HTTPHOST:HTTPPORT] with a positive ID";
            return false;
        }
        const std::string addresses = item.substr(eq + 1);
        const size_t slash = addresses.find('/');
        Member m{id, true, addresses.substr(0, slash), slash == std::string::npos ? "" : addresses.substr(slash + 1)};
        std::string host;
        uint16_t port = 0;
        if (!parse_host_port(m.peer, &host, &port, error) ||
            (slash != std::string::npos && !parse_host_port(m.http, &host, &port, error))) {
            *error = flag + " entry '" + item + "': " + *error;
            return false;
        }
        if (out->is_member(m.id)) {
            *error = flag + " names node " + std::to_string(id) + " twice";
            return false;
        }
        out->members.push_back(m);
    }
    if (out->empty()) {
        *error = flag + " is empty; list every member as ID=HOST:PORT/HTTPHOST:HTTPPORT,...";
        return false;
    }
    std::sort(out->members.begin(), out->members.end(), [](const Member& a, const Member& b) { return a.id < b.id; });
    return true;
}

// The node's own descriptors, which no connection may take: stdin, stdout and stderr
// (the log); the data dir's lock file; the open WAL segment, and during a rollover the
// next one and the directory; the hard-state temp file and the directory it is synced
// through; the two listeners, and the socket each has accepted and not yet counted; the
// event loop's epoll, eventfd and timerfd and the signal pipe; the socket dialled to each
// peer and the resolver's netlink socket; a static file being served. A member of a
// 3-node cluster has 17 open at rest (measured, its peer sockets included) and a few
// more for moments; 64 leaves room for larger clusters and whatever libraries open.
constexpr uint64_t kOwnFds = 64;
// Fewer client connections than this (or than --max-clients, if smaller) is too few
// to serve anyone; the node refuses to start.
constexpr uint64_t kMinClients = 8;
// --snapshot-entries and --catchup-entries at most: a log of more entries than this
// between snapshots would not fit in memory anyway.
constexpr uint64_t kMaxLogEntries = 1000000000;

// The open-file limit split for a node of `members` members (see the top of the file).
struct FdBudget {
    uint64_t limit = 0;        // the soft open-file limit, raised to the hard one
    uint64_t hard_limit = 0;
    uint64_t peers = 0;        // accepted peer connections at most
    uint64_t max_clients = 0;  // client connections served at once: --max-clients, or what is left
};

// Raises the soft open-file limit to the hard limit and splits it. Returns false with a
// message when the limit is too low to run.
bool plan_fd_budget(size_t members, uint64_t wanted_clients, FdBudget* budget, std::string* error) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        *error = std::string("cannot read the open-file limit: ") + std::strerror(errno);
        return false;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    budget->limit = rl.rlim_cur;
    budget->hard_limit = rl.rlim_max;
    // Accepted peer connections: the other members (twice while one reconnects, and the
    // browser nodes that dial in) and connections still in their handshake, which anyone
    // can open.
    budget->peers = 8 + 4 * uint64_t(members);
    const uint64_t fixed = kOwnFds + budget->peers + kMaxClientRefusals;
    const uint64_t needed = fixed + std::min(wanted_clients, kMinClients);
    if (budget->limit < needed) {
        *error = "the open-file limit is " + std::to_string(budget->limit) + " (hard limit " +
                 std::to_string(budget->hard_limit) + "), too low to run: a member of a " + std::to_string(members) +
                 "-member cluster needs at least " + std::to_string(needed) + " (" + std::to_string(kOwnFds) +
                 " for itself, " + std::to_string(budget->peers) + " for peer connections, " +
                 std::to_string(needed - kOwnFds - budget->peers) +
                 " for client connections); raise it (ulimit -n, LimitNOFILE=)";
        return false;
    }
    budget->max_clients = std::min(wanted_clients, budget->limit - fixed);
    return true;
}

bool is_loopback(const std::string& host) {
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(host, ec);
    return !ec && addr.is_loopback();
}

}  // namespace

int cmd_serve(int argc, char** argv) {
    Options opts("serve",
                 "Start (or restart) one member of a cluster: Raft over WebSocket with the other\n"
                 "members, a durable log in --data, and the client HTTP API on --http.\n"
                 "\n"
                 "A new cluster starts with --cluster; a node joins a running one with --join; a\n"
                 "restart needs neither (the data dir records the configuration, and the log every\n"
                 "change since: see raftbook members).\n"
                 "\n"
                 "The data dir records its node id and cluster id, and refuses to start as another\n"
                 "--id or --cluster-id. On a fresh data dir without --cluster-id, the lowest-numbered\n"
                 "member of --cluster draws a random cluster id and the others learn it from their\n"
                 "peers (each member's /status shows it).\n"
                 "\n"
                 "Exit status: 0 stopped by SIGINT/SIGTERM; 1 could not start (the reason is printed);\n"
                 "2 bad flags; " + std::to_string(kExitDiskError) +
                     " stopped after a disk error (the log says which): fix the disk\n"
                     "before restarting it.");
    opts.flag("id", "ID", "this node's id; with --cluster one of its ids; with --join one never used in the cluster");
    opts.flag("cluster", "ID=PEER/HTTP,...",
              "first start of a new cluster: every founding member's peer (--listen) and\n"
              "                           HTTP (--http) addresses, HOST:PORT/HOST:PORT (the HTTP part may be\n"
              "                           left out), this node's included. Recorded in the data dir: not needed\n"
              "                           on a restart");
    opts.flag("join", "HOST:PORT",
              "first start of a node joining a running cluster: any member's --http address.\n"
              "                           The node is added as a learner and promoted once caught up. Not needed\n"
              "                           on a restart");
    opts.flag_switch("learner",
                     "with --join: stay a learner (receives the log, never votes); pass it again on\n"
                     "                           a restart, or the node asks to be promoted");
    opts.flag("listen", "HOST:PORT",
              "address for peer connections, as other members dial it (default: this node's\n"
              "                           --cluster address; required otherwise)");
    opts.flag("http", "HOST:PORT", "address for the client HTTP API and the playground page");
    opts.flag("data", "DIR", "data directory (write-ahead log, hard state); created if missing");
    opts.flag("cluster-id", "ID",
              "the cluster's id, 1 to 256 bytes without control characters (default: see above)");
    opts.flag("token-file", "FILE",
              "the cluster's token, the first line of FILE (give every member the same): peers\n"
              "                           and browser nodes must prove they know it, HTTP writes must carry it\n"
              "                           (Authorization: Bearer TOKEN); reads never need it");
    opts.flag("token", "TOKEN", "the token itself, for tests (other users can see a command line: use --token-file)");
    opts.flag("wire", "FORMAT", "peer frame encoding: cbor, or json for debugging", "cbor");
    opts.flag("web", "DIR", "directory of the playground's static files", RAFTBOOK_WEB_DIR);
    opts.flag("request-timeout-ms", "MS", "answer 503 when a client request is not served by then", "3000");
    opts.flag("max-clients", "N", "open client connections at most; one more is answered 503 and closed",
              std::to_string(kDefaultMaxClients));
    opts.flag("watch-history", "N",
              "recent changes kept for watchers (GET /watch) to start or resume from; older ones must re-list",
              std::to_string(kDefaultWatchHistory));
    opts.flag("max-watchers", "N",
              "watch streams (GET /watch) served at once; one more is answered 503 (each also counts\n"
              "                           against --max-clients)",
              std::to_string(kDefaultMaxWatchers));
    opts.flag("snapshot-entries", "N",
              "snapshot the state and compact the log once it holds N entries past the last\n"
              "                           snapshot; 0: never",
              "10000");
    opts.flag("catchup-entries", "N",
              "entries kept before a snapshot, so that a follower a little behind is sent\n"
              "                           entries rather than the snapshot",
              "5000");
    opts.flag("remove-absent-browsers-after", "TIME",
              "the leader removes a browser member (a live page) it has not heard from for\n"
              "                           this long, e.g. 60s or 1500ms, so that closed tabs do not erode the\n"
              "                           quorum; never a native member; 0: never",
              "60s");
    opts.flag("min-voters", "N",
              "never remove an absent browser voter when that would leave fewer than N voters", "3");
    int exit_code = 0;
    opts.flag("test-fault", "NAME[,...]",
              "TEST ONLY, breaks Raft: switch on rule faults (core/raft/faults.h), as raftbook chaos --fault does");
    opts.flag("test-durability-log", "FILE",
              "TEST ONLY: note each write and fsync of the data dir in FILE, for raftbook chaos --power-loss");
    opts.flag("test-dial", "ID=HOST:PORT[,...]",
              "TEST ONLY: dial member ID at HOST:PORT, whatever the configuration says (raftbook chaos routes every\n"
              "                           peer link through a relay it can cut, joined members' too)");
    opts.flag("test-slow-disk", "MS", "TEST ONLY: wait up to MS (at random) before each fsync, for raftbook chaos --slow-disk", "0");
    if (!opts.parse(argc, argv, &exit_code)) return exit_code;

    NodeConfig cfg;
    uint64_t id = 0, timeout_ms = 0, max_clients = 0, watch_history = 0, max_watchers = 0, snapshot_entries = 0,
             catchup_entries = 0;
    if (!opts.get_uint("id", 1, UINT64_MAX, &id, &exit_code)) return exit_code;
    if (!opts.get_uint("request-timeout-ms", 1, 3600 * 1000, &timeout_ms, &exit_code)) return exit_code;
    if (!opts.get_uint("max-clients", 1, 1 << 24, &max_clients, &exit_code)) return exit_code;
    if (!opts.get_uint("watch-history", 1, 100000000, &watch_history, &exit_code)) return exit_code;
    if (!opts.get_uint("max-watchers", 1, 1 << 24, &max_watchers, &exit_code)) return exit_code;
    if (!opts.get_uint("snapshot-entries", 0, kMaxLogEntries, &snapshot_entries, &exit_code)) return exit_code;
    if (!opts.get_uint("catchup-entries", 0, kMaxLogEntries, &catchup_entries, &exit_code)) return exit_code;
    TimeMs absent_ms = 0;
    if (!parse_duration(opts.get("remove-absent-browsers-after"), &absent_ms))
        return opts.usage_error("--remove-absent-browsers-after must be a duration like 60s or 1500ms (0: never), "
                                "not '" + opts.get("remove-absent-browsers-after") + "'");
    uint64_t min_voters = 0;
    if (!opts.get_uint("min-voters", 1, 1000, &min_voters, &exit_code)) return exit_code;
    cfg.remove_absent_browsers_after = std::chrono::milliseconds(absent_ms);
    cfg.min_voters = size_t(min_voters);
    cfg.watch_history = watch_history;
    cfg.max_watchers = max_watchers;
    cfg.snapshot_entries = snapshot_entries;
    cfg.catchup_entries = catchup_entries;
    cfg.id = id;
    cfg.request_timeout = std::chrono::milliseconds(timeout_ms);
    cfg.max_clients = max_clients;
    std::string error;
    if (opts.given("cluster") && opts.given("join"))
        return opts.usage_error("give --cluster (a new cluster) or --join (a running one), not both");
    if (opts.given("learner") && opts.given("cluster"))
        return opts.usage_error("--learner goes with --join (or the restart of a node that joined): a founding member is a voter");
    if (opts.given("cluster") && !parse_cluster(opts.get("cluster"), &cfg.bootstrap, &error))
        return opts.usage_error(error);
    if (opts.given("cluster") && !cfg.bootstrap.is_member(cfg.id))
        return opts.usage_error("--id " + std::to_string(cfg.id) + " is not in --cluster " + opts.get("cluster"));
    if (!opts.given("listen") && !opts.given("cluster"))
        return opts.usage_error("--listen is required without --cluster");
    const std::string listen = opts.given("listen") ? opts.get("listen") : cfg.bootstrap.find(cfg.id)->peer;
    if (!parse_host_port(listen, &cfg.listen_host, &cfg.listen_port, &error))
        return opts.usage_error("--listen: " + error);
    if (!opts.given("http")) return opts.usage_error("--http is required");
    if (!parse_host_port(opts.get("http"), &cfg.http_host, &cfg.http_port, &error))
        return opts.usage_error("--http: " + error);
    for (Member& m : cfg.bootstrap.members) {
        if (m.id != cfg.id) continue;
        if (m.http.empty()) m.http = opts.get("http");
    }
    cfg.join = opts.get("join");
    cfg.learner = opts.given("learner");
    if (opts.given("join")) {
        std::string host;
        uint16_t port = 0;
        if (!parse_host_port(cfg.join, &host, &port, &error)) return opts.usage_error("--join: " + error);
    }
    if (!opts.given("data")) return opts.usage_error("--data is required");
    cfg.data_dir = opts.get("data");
    cfg.cluster_id = opts.get("cluster-id");
    if (opts.given("cluster-id")) {
        const std::string problem = cluster_id_problem(cfg.cluster_id);
        if (!problem.empty()) return opts.usage_error("--cluster-id: " + problem);
    }
    if (opts.get("wire") == "json") {
        cfg.wire = WireFormat::Json;
    } else if (opts.get("wire") != "cbor") {
        return opts.usage_error("--wire must be cbor or json, got '" + opts.get("wire") + "'");
    }
    cfg.web_dir = opts.get("web");
    if (opts.given("token-file") && opts.given("token")) return opts.usage_error("give --token-file or --token, not both");
    cfg.token = opts.get("token");
    if (opts.given("token") && cfg.token.empty()) return opts.usage_error("--token is empty");
    if (opts.given("token-file") && !read_token_file(opts.get("token-file"), &cfg.token, &error))
        return opts.usage_error("--token-file: " + error);
    Membership dial;
    if (opts.given("test-dial") && !parse_cluster(opts.get("test-dial"), &dial, &error, "--test-dial"))
        return opts.usage_error(error);
    for (const Member& m : dial.members) cfg.test_dial[m.id] = m.peer;
    std::stringstream test_faults(opts.get("test-fault"));
    for (std::string name; std::getline(test_faults, name, ',');)
        if (!cfg.faults.set(name, true)) return opts.usage_error("--test-fault: no rule fault is called '" + name + "'");
    uint64_t slow_disk_ms = 0;
    if (!opts.get_uint("test-slow-disk", 0, 10000, &slow_disk_ms, &exit_code)) return exit_code;
    durability_log::set_sync_delay(int(slow_disk_ms));
    if (opts.given("test-durability-log")) {
        try {
            durability_log::start(opts.get("test-durability-log"));
        } catch (const StorageError& e) {
            return opts.usage_error(std::string("--test-durability-log: ") + e.what());
        }
    }

    set_log_prefix("node " + std::to_string(cfg.id));
    std::string exposed;  // the addresses beyond loopback
    if (!is_loopback(cfg.listen_host)) exposed = "--listen " + listen;
    if (!is_loopback(cfg.http_host)) exposed += (exposed.empty() ? "--http " : " and --http ") + opts.get("http");
    if (cfg.token.empty() && !exposed.empty())
        log_line("warning: no token, and %s not loopback: anyone who can reach this node can join the cluster or "
                 "write; give every member the same --token-file FILE (and clients --token-file or RAFTBOOK_TOKEN)",
                 (exposed + (exposed.find(" and ") == std::string::npos ? " is" : " are")).c_str());
    std::signal(SIGPIPE, SIG_IGN);
    FdBudget budget;
    // Members, for the budget: the founders; without --cluster (a join, a restart) not
    // known yet, so as many as the simulator's slots.
    const size_t members = cfg.bootstrap.empty() ? Simulator::kMaxNodes : cfg.bootstrap.members.size();
    if (!plan_fd_budget(members, max_clients, &budget, &error)) {
        std::fprintf(stderr, "raftbook serve: %s\n", error.c_str());
        return 1;
    }
    if (budget.max_clients < max_clients)
        log_line("serving at most %llu client connections, not --max-clients %llu: the open-file limit is %llu "
                 "(hard limit %llu), of which %llu are kept for the node itself, %llu for peer connections and %llu "
                 "for answering clients over the cap. To serve %llu, raise it to %llu (ulimit -n, LimitNOFILE=)",
                 (unsigned long long)budget.max_clients, (unsigned long long)max_clients,
                 (unsigned long long)budget.limit, (unsigned long long)budget.hard_limit,
                 (unsigned long long)kOwnFds, (unsigned long long)budget.peers,
                 (unsigned long long)kMaxClientRefusals, (unsigned long long)max_clients,
                 (unsigned long long)(budget.limit - budget.max_clients + max_clients));
    cfg.max_clients = budget.max_clients;
    cfg.max_peer_connections = budget.peers;
    boost::asio::io_context ioc(1);
    NodeHost host(ioc, cfg);
    host.on_fatal = [&ioc] { ioc.stop(); };
    if (!host.start(&error)) {
        std::fprintf(stderr, "raftbook serve: %s\n", error.c_str());
        return 1;
    }

    // The first signal stops the node cleanly: queued writes reach the disk and peers
    // see a close frame. The grace timer lets those frames leave; a second signal ends
    // at once.
    boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
    boost::asio::steady_timer grace(ioc);
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        log_line("stopping (signal %d)", signo);
        host.stop();
        grace.expires_after(std::chrono::milliseconds(200));
        grace.async_wait([&ioc](const boost::system::error_code&) { ioc.stop(); });
        signals.async_wait([&ioc](const boost::system::error_code& again, int) {
            if (!again) ioc.stop();
        });
    });
    ioc.run();
    host.stop();
    log_line("stopped");
    return host.exit_code();
}

}  // namespace raftbook
