// `raftbook demo`: a whole cluster on loopback in one command — the README's "run".
//
// It starts --nodes `raftbook serve` children (LocalCluster) with predictable ports —
// node i serves HTTP on PORT+i-1 and peers on PORT+100+i-1 — checks first that every
// port is free, waits for a leader, then prints the playground URL and the commands
// to try, and keeps one status line up to date (rewritten in place on a terminal; a
// new line only when the leader, the term or the set of live nodes changes
// otherwise).
//
// A node that dies while the demo runs (say someone kill -9s it to watch a failover)
// is reported and restarted from its data dir, as an operator's supervisor would; a
// node that dies three times within 30 seconds is crash-looping, and the demo stops
// with the end of its log instead. A node that stopped itself after a disk error
// (exit status kExitDiskError) is not restarted at all: it would meet the same fault,
// so the demo prints the node's own line saying what failed and what to do, and the
// others go on serving while they are a majority.
//
// The nodes share one cluster id (--cluster-id): the one their data dirs record when
// --data names a kept directory, else a fresh random one. Ctrl-C, SIGTERM or SIGHUP stop every node (SIGTERM,
// then SIGKILL after 5 s) and the demo exits 0; if the demo itself is killed, the
// nodes die with it (PR_SET_PDEATHSIG). Signals are blocked and taken synchronously
// with sigtimedwait in the one loop, so no handler runs in the middle of anything.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "native/cli/commands.h"
#include "native/node/node_host.h"
#include "native/proof/local_cluster.h"
#include "native/storage/identity.h"
#include "native/storage/storage_io.h"
#include "native/cli/options.h"

namespace raftbook {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr auto kLeaderWait = std::chrono::seconds(30);
constexpr auto kStatusTimeout = std::chrono::milliseconds(300);
constexpr int kCrashLoopExits = 3;
constexpr auto kCrashLoopWindow = std::chrono::seconds(30);

// How to run this binary in the printed commands: "raftbook" when that is what PATH
// finds, else its full path.
std::string self_command() {
    const fs::path self = self_executable();
    const char* path = std::getenv("PATH");
    const std::string dirs = path ? path : "";
    std::error_code ec;
    for (size_t start = 0; start <= dirs.size();) {
        const size_t end = std::min(dirs.find(':', start), dirs.size());
        const fs::path candidate = fs::path(dirs.substr(start, end - start)) / "raftbook";
        if (end > start && fs::equivalent(candidate, self, ec)) return "raftbook";
        start = end + 1;
    }
    return self.string();
}

// The cluster as one line: "leader node 1 · term 2 · commit 17 · nodes up: 1 2 3".
// *key is the same without the commit index (what is worth a new line in a log).
std::string status_line(LocalCluster& cluster, std::string* key) {
    std::string up, down, leader = "none", term = "?", commit = "?";
    for (int id = 1; id <= cluster.size(); id++) {
        const nlohmann::json s = cluster.running(id) ? cluster.status(id, kStatusTimeout) : nlohmann::json();
        if (!s.is_object()) {
            down += " " + std::to_string(id);
            continue;
        }
        up += " " + std::to_string(id);
        if (s.value("role", "") == "leader") {
            leader = "node " + std::to_string(id);
            term = std::to_string(s.value("term", 0ull));
            commit = std::to_string(s.value("commit_index", 0ull));
        }
    }
    const std::string nodes = " · nodes up:" + (up.empty() ? " none" : up) + (down.empty() ? "" : " · down:" + down);
    *key = "leader " + leader + " · term " + term + nodes;
    return "leader " + leader + " · term " + term + " · commit " + commit + nodes;
}

// The id the nodes' data dirs record (a kept --data), else a new random one.
std::string demo_cluster_id(const LocalCluster& cluster) {
    for (int id = 1; id <= cluster.size(); id++) {
        try {
            const std::optional<Identity> recorded = read_identity(cluster.data_dir(id));
            if (recorded && !recorded->cluster_id.empty()) return recorded->cluster_id;
        } catch (const StorageError&) {
            // A damaged identity file: that node refuses to start and says so.
        }
    }
    return random_cluster_id();
}

// The line in which node `id` said why it stopped after a disk error.
std::string fatal_line(const LocalCluster& cluster, int id) {
    std::ifstream f(cluster.log_path(id));
    std::string line, fatal = "(no 'fatal:' line in " + cluster.log_path(id) + ")";
    while (std::getline(f, line))
        if (line.find("fatal: ") != std::string::npos) fatal = line;
    return fatal;
}

class Demo {
public:
    Demo(LocalCluster& cluster, bool tty) : cluster_(cluster), tty_(tty) {}

    // Prints a line of its own, above the status line on a terminal.
    void say(const std::string& text) {
        if (tty_ && status_shown_) std::printf("\r\033[K");
        std::printf("%s\n", text.c_str());
        status_shown_ = false;
        std::fflush(stdout);
    }

    void show_status() {
        std::string key;
        const std::string line = status_line(cluster_, &key);
        if (tty_) {
            std::printf("\r\033[K%s", line.c_str());
            status_shown_ = true;
        } else if (key != last_key_) {
            std::printf("%s\n", line.c_str());
        }
        last_key_ = key;
        std::fflush(stdout);
    }

    // Restarts a node that ended on its own; false when it is crash-looping. A node that
    // stopped for a disk error stays down: the demo says why and what to do.
    bool restart(int id, const std::string& how, std::string* error) {
        if (cluster_.exit_status(id) == kExitDiskError) {
            say("node " + std::to_string(id) + " stopped after a disk error; the demo does not restart it, as it "
                "would meet the same fault. It said:\n  " + fatal_line(cluster_, id) +
                "\nFix that, then stop the demo and start it again (with --data DIR it resumes from the same "
                "data). Meanwhile the other nodes serve while they are a majority.");
            return true;
        }
        auto& exits = exits_[id];
        exits.push_back(Clock::now());
        while (exits.front() < Clock::now() - kCrashLoopWindow) exits.pop_front();
        if (exits.size() >= size_t(kCrashLoopExits)) {
            *error = "node " + std::to_string(id) + " " + how + " (" + std::to_string(exits.size()) + " exits within " +
                     std::to_string(kCrashLoopWindow.count()) + " s: it cannot keep running); stopping the demo. " +
                     "The end of its log (" + cluster_.log_path(id) + "):\n" + cluster_.log_tail(id);
            return false;
        }
        if (!cluster_.start(id, error)) return false;
        say("node " + std::to_string(id) + " " + how + "; restarted it as pid " + std::to_string(cluster_.pid(id)) +
            " (log: " + cluster_.log_path(id) + ")");
        return true;
    }

private:
    LocalCluster& cluster_;
    bool tty_;
    bool status_shown_ = false;
    std::string last_key_;
    std::map<int, std::deque<Clock::time_point>> exits_;
};

void print_banner(const LocalCluster& cluster, uint16_t port, int leader) {
    const std::string self = self_command();
    const std::string server = port == kDemoPort ? "" : " --server 127.0.0.1:" + std::to_string(port);
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    std::printf("\nnode %d is the leader. The cluster is ready.\n\n", leader);
    std::printf("Playground: %s/\n\n", url.c_str());
    std::printf("Try:\n");
    std::printf("  %s put x 1%s\n", self.c_str(), server.c_str());
    std::printf("  %s get x%s\n", self.c_str(), server.c_str());
    std::printf("  %s status%s\n", self.c_str(), server.c_str());
    std::printf("  %s status --server %s\n", self.c_str(), cluster.http_address(cluster.size()).c_str());
    std::printf("  curl -X PUT --data 1 %s/kv/x\n", url.c_str());
    std::printf("  curl %s/kv/x\n", url.c_str());
    std::printf("  curl %s/status\n", url.c_str());
    std::printf("  kill -9 <a node's pid>       (the demo restarts it; watch the leader change)\n\n");
    std::printf("Ctrl-C stops every node.\n\n");
    std::fflush(stdout);
}

}  // namespace

int cmd_demo(int argc, char** argv) {
    Options opts("demo",
                 "Starts a local cluster on 127.0.0.1 (child processes running 'raftbook serve'),\n"
                 "waits for a leader, and prints the playground URL and commands to try. Node i\n"
                 "serves HTTP on PORT+i-1 and peers on PORT+100+i-1. A node that dies is\n"
                 "restarted from its data (the demo gives up if one dies 3 times in 30 s).\n"
                 "Ctrl-C stops every node.");
    opts.flag("nodes", "N", "how many nodes (1 to 9)", "3");
    opts.flag("port", "PORT", "node 1's HTTP port", std::to_string(kDemoPort));
    opts.flag("data", "DIR", "keep the nodes' data and logs here (DIR/nodeI); default: a fresh /tmp dir, removed on exit");
    int exit_code = 0;
    if (!opts.parse(argc, argv, &exit_code)) return exit_code;
    uint64_t nodes = 0, port = 0;
    if (!opts.get_uint("nodes", 1, 9, &nodes, &exit_code)) return exit_code;
    if (!opts.get_uint("port", 1, 65535 - 100 - (nodes - 1), &port, &exit_code)) return exit_code;

    std::string root;
    const bool fresh = !opts.given("data");
    if (fresh) {
        char tmpl[] = "/tmp/raftbook-demo-XXXXXX";
        if (!::mkdtemp(tmpl)) {
            std::perror("raftbook demo: cannot create a data directory under /tmp");
            return 1;
        }
        root = tmpl;
    } else {
        std::error_code ec;
        root = fs::absolute(opts.get("data"), ec).string();
        fs::create_directories(root, ec);
        if (ec || !fs::is_directory(root)) {
            std::fprintf(stderr, "raftbook demo: cannot create the data directory %s: %s; pass another --data\n",
                         root.c_str(), ec ? ec.message().c_str() : "it is not a directory");
            return 1;
        }
    }
    auto remove_fresh = [&] {
        std::error_code ignored;
        if (fresh) fs::remove_all(root, ignored);
    };

    // Taken synchronously below; blocked before the first fork (children unblock them).
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&signals, s);
    sigprocmask(SIG_BLOCK, &signals, nullptr);

    std::vector<LocalNodePorts> ports;
    for (uint64_t i = 0; i < nodes; i++) ports.push_back({uint16_t(port + i), uint16_t(port + 100 + i)});
    LocalCluster cluster(ports, root);
    std::string error;
    const std::string cluster_id = demo_cluster_id(cluster);
    cluster.set_cluster_id(cluster_id);
    if (!cluster.check_ports(&error)) {
        std::fprintf(stderr, "raftbook demo: %s\n", error.c_str());
        remove_fresh();
        return 1;
    }
    for (int id = 1; id <= cluster.size(); id++) {
        if (!cluster.start(id, &error)) {
            std::fprintf(stderr, "raftbook demo: %s\n", error.c_str());
            cluster.stop_all();
            remove_fresh();
            return 1;
        }
    }
    std::printf("raftbook demo: %d node%s on 127.0.0.1\n\n", cluster.size(), cluster.size() == 1 ? "" : "s");
    std::printf("  node  http                    peer              pid      log\n");
    for (int id = 1; id <= cluster.size(); id++)
        std::printf("  %-5d http://%-16s %-17s %-8d %s\n", id, cluster.http_address(id).c_str(),
                    cluster.peer_address(id).c_str(), int(cluster.pid(id)), cluster.log_path(id).c_str());
    std::printf("\ncluster id: %s\n", cluster_id.c_str());
    std::printf("data: %s (%s)\n", root.c_str(),
                fresh ? "a fresh directory, removed on exit; pass --data DIR to keep it"
                      : "kept on exit; the next demo with this --data resumes from it");
    std::printf("waiting for a leader...\n");
    std::fflush(stdout);

    Demo demo(cluster, isatty(STDOUT_FILENO));
    const auto started = Clock::now();
    bool ready = false;
    for (;;) {
        const timespec wait = ready ? timespec{1, 0} : timespec{0, 200 * 1000 * 1000};
        const int sig = sigtimedwait(&signals, nullptr, &wait);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            demo.say("stopping " + std::to_string(cluster.size()) + (cluster.size() == 1 ? " node (" : " nodes (") +
                     strsignal(sig) + ")...");
            break;
        }
        for (const auto& [id, how] : cluster.reap()) {
            if (!ready && cluster.exit_status(id) != kExitDiskError) {
                error = "node " + std::to_string(id) + " " + how + " while starting. The end of its log (" +
                        cluster.log_path(id) + "):\n" + cluster.log_tail(id);
            } else if (demo.restart(id, how, &error)) {
                continue;
            }
            std::fprintf(stderr, "raftbook demo: %s", error.c_str());
            cluster.stop_all();
            remove_fresh();
            return 1;
        }
        if (ready) {
            demo.show_status();
        } else if (const int leader = cluster.agreed_leader(kStatusTimeout)) {
            print_banner(cluster, uint16_t(port), leader);
            ready = true;
            demo.show_status();
        } else if (Clock::now() - started > kLeaderWait) {
            std::fprintf(stderr, "raftbook demo: no leader elected within %lld s; the nodes' logs are in %s\n",
                         (long long)kLeaderWait.count(), root.c_str());
            for (int id = 1; id <= cluster.size(); id++)
                std::fprintf(stderr, "  node %d:\n%s", id, cluster.log_tail(id, 5).c_str());
            cluster.stop_all();
            return 1;
        }
    }
    cluster.stop_all();
    remove_fresh();
    std::printf("stopped.%s\n", fresh ? "" : (" The data is kept in " + root + ".").c_str());
    return 0;
}

}  // namespace raftbook
