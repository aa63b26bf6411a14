// `raftbook serve`: run one member of a cluster until SIGINT or SIGTERM.
//
// This file only turns the command line into a NodeConfig, runs the io_context that
// NodeHost lives on, and stops it cleanly on a signal (queued disk writes finish,
// connections are closed with a "going away" reason). Restarting with the same --id
// and --data resumes the member from its disk. Every client connection costs a file
// descriptor, so the node first raises its open-file limit as far as it may.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "native/commands.h"
#include "native/log.h"
#include "native/node_host.h"
#include "native/options.h"

namespace raftbook {

namespace {

// Parses "1=HOST:PORT,2=HOST:PORT,...". Returns false with a message.
bool parse_cluster(const std::string& text, std::map<NodeId, std::string>* out, std::string* error) {
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        const size_t eq = item.find('=');
        char* end = nullptr;
        const unsigned long long id = eq == std::string::npos ? 0 : std::strtoull(item.c_str(), &end, 10);
        if (eq == std::string::npos || id == 0 || end != item.c_str() + eq) {
            *error = "--cluster entry '" + item + "' is not ID=HOST:PORT with a positive ID";
            return false;
        }
        std::string host;
        uint16_t port = 0;
        if (!parse_host_port(item.substr(eq + 1), &host, &port, error)) {
            *error = "--cluster entry '" + item + "': " + *error;
            return false;
        }
        if (!out->emplace(id, item.substr(eq + 1)).second) {
            *error = "--cluster names node " + std::to_string(id) + " twice";
            return false;
        }
    }
    if (out->empty()) {
        *error = "--cluster is empty; list every member as ID=HOST:PORT,...";
        return false;
    }
    return true;
}

// Descriptors the node needs besides client connections: the log and data dir, the
// listeners, peer connections (dialled and accepted), the event loop's own.
constexpr uint64_t kReservedFds = 64;

// Raises the soft open-file limit to the hard limit, and says so when even that is too
// low for --max-clients: the node keeps running, but past the limit accept() fails and
// clients wait in the listen queue.
void raise_open_file_limit(uint64_t max_clients) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    const uint64_t needed = max_clients + kReservedFds;
    if (rl.rlim_cur < needed)
        log_line("the open-file limit is %llu (hard limit %llu), below the %llu that --max-clients %llu needs "
                 "(one per client connection plus %llu); raise it (ulimit -n, LimitNOFILE=) or lower --max-clients",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, (unsigned long long)needed,
                 (unsigned long long)max_clients, (unsigned long long)kReservedFds);
}

}  // namespace

int cmd_serve(int argc, char** argv) {
    Options opts("serve", "Start (or restart) one member of a cluster: Raft over WebSocket with the other\n"
                          "members, a durable log in --data, and the client HTTP API on --http.");
    opts.flag("id", "ID", "this node's id; must be one of the ids in --cluster");
    opts.flag("cluster", "ID=HOST:PORT,...", "every member's peer (--listen) address, this node's included");
    opts.flag("listen", "HOST:PORT", "address for peer connections (default: this node's --cluster address)");
    opts.flag("http", "HOST:PORT", "address for the client HTTP API and the playground page");
    opts.flag("data", "DIR", "data directory (write-ahead log, hard state); created if missing");
    opts.flag("cluster-id", "NAME", "cluster name every peer frame carries; others are refused", "raftbook");
    opts.flag("wire", "FORMAT", "peer frame encoding: cbor, or json for debugging", "cbor");
    opts.flag("web", "DIR", "directory of the playground's static files", RAFTBOOK_WEB_DIR);
    opts.flag("request-timeout-ms", "MS", "answer 503 when a client request is not served by then", "3000");
    opts.flag("max-clients", "N", "open client connections at most; one more is answered 503 and closed",
              std::to_string(kDefaultMaxClients));
    int exit_code = 0;
    if (!opts.parse(argc, argv, &exit_code)) return exit_code;

    NodeConfig cfg;
    uint64_t id = 0, timeout_ms = 0, max_clients = 0;
    if (!opts.get_uint("id", 1, UINT64_MAX, &id, &exit_code)) return exit_code;
    if (!opts.get_uint("request-timeout-ms", 1, 3600 * 1000, &timeout_ms, &exit_code)) return exit_code;
    if (!opts.get_uint("max-clients", 1, 1 << 24, &max_clients, &exit_code)) return exit_code;
    cfg.id = id;
    cfg.request_timeout = std::chrono::milliseconds(timeout_ms);
    cfg.max_clients = max_clients;
    std::string error;
    if (!opts.given("cluster")) return opts.usage_error("--cluster is required");
    if (!parse_cluster(opts.get("cluster"), &cfg.members, &error)) return opts.usage_error(error);
    if (!cfg.members.count(cfg.id))
        return opts.usage_error("--id " + std::to_string(cfg.id) + " is not in --cluster " + opts.get("cluster"));
    const std::string listen = opts.given("listen") ? opts.get("listen") : cfg.members[cfg.id];
    if (!parse_host_port(listen, &cfg.listen_host, &cfg.listen_port, &error))
        return opts.usage_error("--listen: " + error);
    if (!opts.given("http")) return opts.usage_error("--http is required");
    if (!parse_host_port(opts.get("http"), &cfg.http_host, &cfg.http_port, &error))
        return opts.usage_error("--http: " + error);
    if (!opts.given("data")) return opts.usage_error("--data is required");
    cfg.data_dir = opts.get("data");
    cfg.cluster_id = opts.get("cluster-id");
    if (cfg.cluster_id.empty()) return opts.usage_error("--cluster-id may not be empty");
    if (opts.get("wire") == "json") {
        cfg.wire = WireFormat::Json;
    } else if (opts.get("wire") != "cbor") {
        return opts.usage_error("--wire must be cbor or json, got '" + opts.get("wire") + "'");
    }
    cfg.web_dir = opts.get("web");

    set_log_prefix("node " + std::to_string(cfg.id));
    std::signal(SIGPIPE, SIG_IGN);
    raise_open_file_limit(cfg.max_clients);
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
