// The raftbook command line as a user meets it: `put`, `get`, `del` and `status`
// against a real 3-node cluster (ProcessCluster), their --json output, their exit
// statuses and error messages; `demo` starting a cluster, serving on its announced
// ports, restarting a killed node and leaving no process behind when it is stopped
// or killed; `bench` measuring a cluster of its own; and the --help / bad-flag
// convention of every subcommand.
//
// Every command runs as a child process (Cli below); a test that fails leaves nothing
// running: ProcessCluster and Background kill their children in their destructors,
// and demo's nodes die with the demo (PR_SET_PDEATHSIG).
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include "tests/native/process_cluster.h"

using namespace raftbook::test;

namespace {

std::string read_all(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Alive = exists and is not a zombie (a zombie is dead, merely not yet reaped).
bool process_alive(pid_t pid) {
    const std::string stat = read_all("/proc/" + std::to_string(pid) + "/stat");
    const size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

// `raftbook ARGS...` as a child process, its stdout and stderr in files of a temporary
// directory. The destructor kills it if it still runs.
class Background {
public:
    explicit Background(const std::vector<std::string>& args) {
        char tmpl[] = "/tmp/raftbook-cli-test-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        std::vector<std::string> argv = {RAFTBOOK_BINARY};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<char*> cargv;
        for (auto& a : argv) cargv.push_back(&a[0]);
        cargv.push_back(nullptr);
        const std::string out = dir_ + "/out", err = dir_ + "/err";
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            ::dup2(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
            ::dup2(::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
            ::execv(cargv[0], cargv.data());
            ::_exit(127);
        }
    }
    ~Background() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;

    pid_t pid() const { return pid_; }
    std::string out() const { return read_all(dir_ + "/out"); }
    std::string err() const { return read_all(dir_ + "/err"); }
    void signal(int sig) const { ::kill(pid_, sig); }
    // The exit status once it exits within `timeout`: 128+N after signal N, -1 when
    // it was still running (it is then killed).
    int wait(std::chrono::milliseconds timeout) {
        int status = 0;
        const bool exited = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
        if (!exited) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
        }
        pid_ = 0;
        if (!exited) return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

private:
    std::string dir_;
    pid_t pid_ = 0;
};

struct Cli {
    int exit_code;
    std::string out, err;
};

// Runs `raftbook ARGS...` to completion (killed after 60 s).
Cli cli(const std::vector<std::string>& args) {
    Background p(args);
    const int code = p.wait(60000ms);
    return {code, p.out(), p.err()};
}

// A base port P with P, P+1, ..., P+n-1 and P+100, ..., P+100+n-1 free on 127.0.0.1:
// the ports `raftbook demo --port P --nodes n` takes.
uint16_t free_demo_port(int nodes) {
    std::mt19937 rng(std::random_device{}());
    for (;;) {
        const uint16_t base = uint16_t(20000 + rng() % 30000);
        bool all_free = true;
        for (int i = 0; i < nodes && all_free; i++) {
            for (int port : {base + i, base + 100 + i}) {
                const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
                const int one = 1;
                ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                sockaddr_in addr{};
                addr.sin_family = AF_INET;
                addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                addr.sin_port = htons(uint16_t(port));
                if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) all_free = false;
                ::close(fd);
            }
        }
        if (all_free) return base;
    }
}

// The node pids demo prints in its table ("  1     http://127.0.0.1:P  127.0.0.1:Q  PID  LOG").
std::vector<pid_t> demo_pids(const std::string& out) {
    std::vector<pid_t> pids;
    const std::regex row(R"(\n  \d+\s+http://127\.0\.0\.1:\d+\s+127\.0\.0\.1:\d+\s+(\d+)\s)");
    for (std::sregex_iterator it(out.begin(), out.end(), row), end; it != end; ++it)
        pids.push_back(pid_t(std::stoi((*it)[1])));
    return pids;
}

// The data directory demo announces ("data: /tmp/raftbook-demo-XXXXXX (...)"), or "".
std::string demo_data_dir(const std::string& out) {
    std::smatch m;
    return std::regex_search(out, m, std::regex("\ndata: (/tmp/raftbook-demo-\\S+) ")) ? m[1].str() : "";
}

// Starts a 3-node cluster and waits for its leader.
int start_cluster(ProcessCluster& c) {
    c.start_all();
    for (int id = 1; id <= c.size(); id++) REQUIRE(c.wait_serving(id));
    const int leader = c.wait_for_leader(15000ms);
    INFO(c.logs());
    REQUIRE(leader != 0);
    return leader;
}

}  // namespace

TEST_CASE("Every subcommand prints its usage for --help and exits 0", "[cli]") {
    for (const char* command :
         {"sim", "serve", "put", "get", "del", "list", "watch", "status", "demo", "bench", "lincheck"}) {
        const Cli r = cli({command, "--help"});
        INFO(command << ": " << r.err);
        CHECK(r.exit_code == 0);
        CHECK(contains(r.out, std::string("usage: raftbook ") + command));
    }
}

TEST_CASE("A bad flag or a wrong argument count prints the usage and exits 2", "[cli]") {
    for (const char* command : {"put", "get", "del", "list", "watch", "status", "demo", "bench"}) {
        const Cli r = cli({command, "--no-such-flag"});
        INFO(command << ": " << r.err);
        CHECK(r.exit_code == 2);
        CHECK(contains(r.err, "unknown flag '--no-such-flag'"));
        CHECK(contains(r.err, std::string("usage: raftbook ") + command));
    }
    CHECK(cli({"put", "only-a-key"}).exit_code == 2);
    CHECK(cli({"get"}).exit_code == 2);
    CHECK(cli({"del", "a", "b"}).exit_code == 2);
    const Cli space = cli({"put", "a key", "v"});
    CHECK(space.exit_code == 2);
    CHECK(contains(space.err, "key may not contain spaces"));
    const Cli server = cli({"get", "x", "--server", "nowhere"});
    CHECK(server.exit_code == 2);
    CHECK(contains(server.err, "--server: 'nowhere' is not HOST:PORT"));
    CHECK(cli({"demo", "--nodes", "0"}).exit_code == 2);
    CHECK(cli({"bench", "--clients", "1,x"}).exit_code == 2);
}

TEST_CASE("put, get, del and status work through any node of a 3-node cluster", "[cli]") {
    ProcessCluster c(3);
    const int leader = start_cluster(c);
    const int follower = leader == 1 ? 2 : 1;
    const std::string via_follower = c.http_address(follower), via_leader = c.http_address(leader);

    const Cli put = cli({"put", "greeting", "hello, raft", "--server", via_follower});
    INFO(put.err << c.logs());
    REQUIRE(put.exit_code == 0);
    CHECK(std::regex_match(put.out, std::regex("ok \\(revision [1-9][0-9]*\\)\n")));
    // Keys with bytes that need escaping in a URL reach the node intact.
    REQUIRE(cli({"put", "a/b?c%d#é", "odd key", "--server", via_leader}).exit_code == 0);
    CHECK(c.get(leader, "a%2Fb%3Fc%25d%23%C3%A9").body == "odd key");

    const Cli get = cli({"get", "greeting", "--server", via_leader});
    CHECK(get.exit_code == 0);
    CHECK(get.out == "hello, raft\n");
    CHECK(cli({"get", "a/b?c%d#é", "--server", via_follower}).out == "odd key\n");

    const Cli del = cli({"del", "greeting", "--server", via_follower});
    CHECK(del.exit_code == 0);
    CHECK(std::regex_match(del.out, std::regex("ok \\(revision [1-9][0-9]*\\)\n")));
    const Cli missing = cli({"get", "greeting", "--server", via_follower});
    CHECK(missing.exit_code == 1);
    CHECK(missing.out.empty());
    CHECK(contains(missing.err, "greeting not found"));

    // The leader's status: its state and each member's match index.
    const Cli status = cli({"status", "--server", via_leader});
    REQUIRE(status.exit_code == 0);
    CHECK(std::regex_search(status.out, std::regex("\nrole +leader\n")));
    CHECK(std::regex_search(status.out, std::regex("\nleader +node " + std::to_string(leader) + "\n")));
    CHECK(std::regex_search(status.out, std::regex("\ncommit +[1-9]")));
    CHECK(std::regex_search(status.out, std::regex("\nsnapshot +none yet\n")));  // far below --snapshot-entries
    for (int id = 1; id <= 3; id++) {
        const std::string peer = c.peer_address(id);
        CHECK(std::regex_search(status.out, std::regex("\n" + std::to_string(id) + " +voter +native +" + peer + " +" +
                                                           c.http_address(id) + " +(yes|\\(this node\\)) +- +[1-9]")));
    }
    // A follower's status names the leader to ask for match indexes.
    const Cli fstatus = cli({"status", "--server", via_follower});
    CHECK(std::regex_search(fstatus.out, std::regex("\nrole +follower\n")));
    CHECK(contains(fstatus.out, "ask node " + std::to_string(leader)));
}

TEST_CASE("With --json the client commands print one JSON object, for errors too", "[cli]") {
    ProcessCluster c(3);
    const int leader = start_cluster(c);
    const std::string server = c.http_address(leader == 3 ? 1 : 3);

    const Cli put = cli({"put", "k", "v1", "--json", "--server", server});
    REQUIRE(put.exit_code == 0);
    const uint64_t rev = nlohmann::json::parse(put.out).value("revision", uint64_t(0));
    CHECK(rev > 0);
    CHECK(nlohmann::json::parse(put.out) == nlohmann::json({{"ok", true}, {"key", "k"}, {"revision", rev}}));
    const Cli get = cli({"get", "k", "--json", "--server", server});
    CHECK(get.exit_code == 0);
    CHECK(nlohmann::json::parse(get.out) ==
          nlohmann::json({{"key", "k"}, {"found", true}, {"value", "v1"}, {"revision", rev}}));
    const Cli del = cli({"del", "k", "--json", "--server", server});
    CHECK(nlohmann::json::parse(del.out)["ok"] == true);
    CHECK(nlohmann::json::parse(del.out)["revision"].get<uint64_t>() > rev);
    const Cli missing = cli({"get", "k", "--json", "--server", server});
    CHECK(missing.exit_code == 1);
    const nlohmann::json m = nlohmann::json::parse(missing.out);
    CHECK(m["found"] == false);
    CHECK(m["error"] == "k not found");

    const Cli status = cli({"status", "--json", "--server", c.http_address(leader)});
    REQUIRE(status.exit_code == 0);
    const nlohmann::json s = nlohmann::json::parse(status.out);
    CHECK(s["role"] == "leader");
    CHECK(s["id"] == leader);
    CHECK(s["members"].size() == 3);
}

TEST_CASE("An unreachable server is a clear error and exit 1", "[cli]") {
    const std::string nobody = "127.0.0.1:" + std::to_string(free_port());
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"put", "x", "1"}, {"get", "x"}, {"del", "x"}, {"status"}}) {
        std::vector<std::string> full = args;
        full.insert(full.end(), {"--server", nobody});
        const Cli r = cli(full);
        INFO(r.err);
        CHECK(r.exit_code == 1);
        CHECK(contains(r.err, "cannot reach " + nobody + ": Connection refused"));
        CHECK(contains(r.err, "raftbook demo"));
    }
    const Cli json = cli({"get", "x", "--json", "--server", nobody});
    CHECK(json.exit_code == 1);
    CHECK(contains(nlohmann::json::parse(json.out)["error"].get<std::string>(), "cannot reach"));
    const Cli bench = cli({"bench", "--server", nobody, "--seconds", "1"});
    CHECK(bench.exit_code == 1);
    CHECK(contains(bench.err, "cannot reach " + nobody));
}

TEST_CASE("A cluster without a quorum makes put fail with the node's reason", "[cli]") {
    ProcessCluster c(3, {"--request-timeout-ms", "500"});
    c.start(1);
    REQUIRE(c.wait_serving(1));
    const Cli r = cli({"put", "x", "1", "--server", c.http_address(1)});
    CHECK(r.exit_code == 1);
    CHECK(contains(r.err, "the cluster could not serve it: no leader elected within 500 ms"));
}

TEST_CASE("demo starts a cluster on its announced ports and SIGTERM stops every node", "[cli][demo]") {
    const uint16_t port = free_demo_port(3);
    Background demo({"demo", "--port", std::to_string(port)});
    REQUIRE(wait_until([&] { return contains(demo.out(), "Ctrl-C stops every node"); }, 30000ms));
    const std::string out = demo.out();
    INFO(out << demo.err());
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
    CHECK(contains(out, "Playground: " + url));
    CHECK(contains(out, "put x 1 --server 127.0.0.1:" + std::to_string(port)));
    CHECK(contains(out, "curl -X PUT --data 1 http://127.0.0.1:" + std::to_string(port) + "/kv/x"));
    const std::vector<pid_t> pids = demo_pids(out);
    REQUIRE(pids.size() == 3);

    int leaders = 0;
    for (int i = 0; i < 3; i++) {
        const HttpResponse s = http_request("127.0.0.1:" + std::to_string(port + i), "GET", "/status");
        REQUIRE(s.status == 200);
        const nlohmann::json j = nlohmann::json::parse(s.body);
        CHECK(j["id"] == i + 1);
        CHECK(j["members"][0]["peer"] == "127.0.0.1:" + std::to_string(port + 100));
        CHECK(j["members"][0]["http"] == "127.0.0.1:" + std::to_string(port));
        leaders += j["role"] == "leader";
    }
    CHECK(leaders == 1);
    const Cli put = cli({"put", "x", "1", "--server", "127.0.0.1:" + std::to_string(port + 2)});
    CHECK(put.exit_code == 0);

    demo.signal(SIGTERM);
    CHECK(demo.wait(15000ms) == 0);
    CHECK(contains(demo.out(), "stopped."));
    for (pid_t pid : pids) CHECK_FALSE(process_alive(pid));
    const std::string data = demo_data_dir(out);
    REQUIRE(!data.empty());
    CHECK_FALSE(std::filesystem::exists(data));  // the fresh data dir is removed
}

TEST_CASE("demo restarts a node that is killed, and its nodes die with it", "[cli][demo]") {
    const uint16_t port = free_demo_port(3);
    Background demo({"demo", "--port", std::to_string(port)});
    REQUIRE(wait_until([&] { return contains(demo.out(), "Ctrl-C stops every node"); }, 30000ms));
    const std::vector<pid_t> pids = demo_pids(demo.out());
    REQUIRE(pids.size() == 3);

    ::kill(pids[1], SIGKILL);
    const bool restarted = wait_until([&] { return contains(demo.out(), "node 2 was killed by signal 9"); }, 10000ms);
    INFO(demo.out() << demo.err());
    REQUIRE(restarted);
    std::smatch m;
    const std::string out = demo.out();
    REQUIRE(std::regex_search(out, m, std::regex("restarted it as pid (\\d+)")));
    const pid_t restarted_pid = pid_t(std::stoi(m[1]));
    CHECK(wait_until([&] { return http_request("127.0.0.1:" + std::to_string(port + 1), "GET", "/status").status == 200; },
                     10000ms));

    demo.signal(SIGKILL);  // no chance to clean up: the nodes must die on their own
    CHECK(demo.wait(5000ms) == 128 + SIGKILL);
    CHECK(wait_until([&] { return !process_alive(pids[0]) && !process_alive(pids[2]) && !process_alive(restarted_pid); },
                     5000ms));
    std::error_code ignored;
    std::filesystem::remove_all(demo_data_dir(out), ignored);  // the killed demo could not
}

TEST_CASE("demo refuses a port that is taken, naming it and the way out", "[cli][demo]") {
    const uint16_t port = free_demo_port(3);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(uint16_t(port + 101));  // node 2's peer port
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    const Cli r = cli({"demo", "--port", std::to_string(port)});
    ::close(fd);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(contains(r.err, "port " + std::to_string(port + 101) + " (node 2's peer port) is not free"));
    CHECK(contains(r.err, "--port"));
}

TEST_CASE("bench --start measures writes on a cluster of its own and prints a table", "[cli][bench]") {
    const Cli r = cli({"bench", "--start", "--seconds", "1", "--warmup", "0", "--clients", "1,4", "--kinds",
                       "plain,cas,idempotent", "--watchers", "3", "--watch-rate", "300"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.out, "| write | clients | writes/s | p50 ms | p99 ms | errors | entries/fsync |"));
    CHECK(std::regex_search(r.out, std::regex("node [123] of 3, the leader")));
    for (const char* kind : {"plain", "cas", "idempotent"}) {
        for (const char* clients : {"1", "4"}) {
            std::smatch m;
            INFO(kind << " with " << clients << " clients");
            REQUIRE(std::regex_search(r.out, m, std::regex(std::string("\n\\| ") + kind + " \\| " + clients +
                                                           R"( \| (\d+) \| [0-9.]+ \| [0-9.]+ \| 0 \|)")));
            CHECK(std::stoi(m[1]) > 10);
        }
    }
    // Watch fan-out: without watchers, then with 3, each seeing every write.
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex(R"(\n\| 3 \| (\d+) \| [0-9.]+ \| [0-9.]+ \| (\d+) \| [0-9.]+ \| [0-9.]+ \|)")));
    CHECK(std::stoi(m[1]) > 10);
    CHECK(std::stoi(m[2]) >= 3 * std::stoi(m[1]) * 9 / 10);  // ~ 3 watchers x the writes of the second
}

namespace {

// A tmpfs of `size` mounted on `dir` (created) while this lives: a disk that fills up.
// mounted() is false where this process may not mount one (not root).
class SmallDisk {
public:
    SmallDisk(std::string dir, const std::string& size) : dir_(std::move(dir)) {
        std::filesystem::create_directories(dir_);
        mounted_ = std::system(("mount -t tmpfs -o size=" + size + " raftbook-test " + dir_ + " 2>/dev/null").c_str()) == 0;
    }
    ~SmallDisk() {
        if (mounted_ && std::system(("umount " + dir_).c_str()) != 0) std::fprintf(stderr, "cannot unmount %s\n", dir_.c_str());
    }
    SmallDisk(const SmallDisk&) = delete;
    SmallDisk& operator=(const SmallDisk&) = delete;
    bool mounted() const { return mounted_; }

private:
    std::string dir_;
    bool mounted_ = false;
};

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/raftbook-cli-test-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

}  // namespace

TEST_CASE("demo does not restart a node that stopped after a disk error, and says why", "[cli][demo]") {
    TempDir root;
    SmallDisk disk(root.path + "/node2", "1536k");  // node 2's data dir: its WAL runs out of room
    if (!disk.mounted()) {
        WARN("cannot mount a tmpfs here (needs root); the disk-error path is not tested");
        return;
    }
    const uint16_t port = free_demo_port(3);
    Background demo({"demo", "--port", std::to_string(port), "--data", root.path});
    REQUIRE(wait_until([&] { return contains(demo.out(), "Ctrl-C stops every node"); }, 30000ms));
    const std::vector<pid_t> pids = demo_pids(demo.out());
    REQUIRE(pids.size() == 3);

    const std::string node1 = "127.0.0.1:" + std::to_string(port), big(60000, 'v');
    const bool stopped = wait_until(
        [&] {
            http_request(node1, "PUT", "/kv/big", big, 5000ms);
            return contains(demo.out(), "node 2 stopped after a disk error");
        },
        60000ms);
    INFO(demo.out() << demo.err());
    REQUIRE(stopped);
    // The node's own line, then what to do; and it stays down.
    CHECK(contains(demo.out(), "node 2: fatal: cannot write to the data dir " + root.path + "/node2"));
    CHECK(contains(demo.out(), "No space left on device"));
    CHECK(contains(demo.out(), "Fix that, then stop the demo and start it again"));
    std::this_thread::sleep_for(2500ms);  // two turns of the demo's loop
    CHECK_FALSE(contains(demo.out(), "restarted it"));
    CHECK_FALSE(process_alive(pids[1]));
    CHECK(http_request("127.0.0.1:" + std::to_string(port + 1), "GET", "/status", "", 1000ms).status == 0);
    // The other two are a majority and keep serving.
    CHECK(http_request(node1, "PUT", "/kv/after", "still serving").status == 200);

    demo.signal(SIGTERM);
    CHECK(demo.wait(15000ms) == 0);
}

TEST_CASE("demo gives its nodes one cluster id, and a kept --data keeps it", "[cli][demo]") {
    TempDir root;
    const uint16_t port = free_demo_port(3);
    const auto cluster_ids = [&] {
        std::set<std::string> ids;
        for (int i = 0; i < 3; i++) {
            const HttpResponse s = http_request("127.0.0.1:" + std::to_string(port + i), "GET", "/status");
            const nlohmann::json j = nlohmann::json::parse(s.body, nullptr, false);
            ids.insert(j.is_object() && j["cluster_id"].is_string() ? j["cluster_id"].get<std::string>() : "");
        }
        return ids;
    };
    std::set<std::string> first;
    {
        Background demo({"demo", "--port", std::to_string(port), "--data", root.path});
        REQUIRE(wait_until([&] { return contains(demo.out(), "Ctrl-C stops every node"); }, 30000ms));
        first = cluster_ids();
        INFO(demo.out());
        REQUIRE(first.size() == 1);
        CHECK(first.begin()->size() == 16);
        CHECK(contains(demo.out(), "cluster id: " + *first.begin()));
        demo.signal(SIGTERM);
        REQUIRE(demo.wait(15000ms) == 0);
    }
    Background again({"demo", "--port", std::to_string(port), "--data", root.path});
    const bool ready = wait_until([&] { return contains(again.out(), "Ctrl-C stops every node"); }, 30000ms);
    INFO(again.out() << again.err());
    REQUIRE(ready);
    CHECK(cluster_ids() == first);
    again.signal(SIGTERM);
    CHECK(again.wait(15000ms) == 0);
}

TEST_CASE("put --help says what a failed write means and how to retry it safely", "[cli]") {
    const Cli r = cli({"put", "--help"});
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "may\nstill take effect later"));
    CHECK(contains(r.out, "--idempotency-key"));
    CHECK(contains(r.out, "--prev-revision N"));
    CHECK(cli({"put", "k", "v", "--prev-value", "a", "--prev-revision", "1"}).exit_code == 2);
    CHECK(contains(cli({"put", "k", "v", "--idempotency-key", "a b"}).err, "may not contain spaces"));
}

TEST_CASE("put with --prev-revision / --prev-value is a compare-and-swap, and list and watch show revisions", "[cli]") {
    ProcessCluster c(3);
    const int leader = start_cluster(c);
    const std::string server = c.http_address(leader == 1 ? 2 : 1);
    Background watch({"watch", "cfg/", "--prefix", "--server", server});
    REQUIRE(wait_until([&] { return c.status(leader == 1 ? 2 : 1).is_object(); }, 5000ms));
    std::this_thread::sleep_for(300ms);  // the watch is subscribed (it starts with the next change)

    const Cli first = cli({"put", "cfg/lock", "a", "--prev-revision", "0", "--json", "--server", server});
    REQUIRE(first.exit_code == 0);
    const uint64_t rev = nlohmann::json::parse(first.out)["revision"].get<uint64_t>();
    const Cli taken = cli({"put", "cfg/lock", "b", "--prev-revision", "0", "--server", server});
    CHECK(taken.exit_code == 1);
    CHECK(contains(taken.err, "condition failed: cfg/lock is at revision " + std::to_string(rev) + " with the value 'a'"));
    const Cli swapped = cli({"put", "cfg/lock", "b c", "--prev-value", "a", "--idempotency-key", "t-1", "--server", server});
    CHECK(swapped.exit_code == 0);
    const Cli again = cli({"put", "cfg/lock", "b c", "--prev-value", "a", "--idempotency-key", "t-1", "--server", server});
    CHECK(again.exit_code == 0);  // the retry: the first result, though the condition no longer holds
    CHECK(again.out == swapped.out);
    CHECK(cli({"del", "cfg/lock", "--prev-revision", std::to_string(rev), "--server", server}).exit_code == 1);
    REQUIRE(cli({"put", "cfg/x", "1", "--server", server}).exit_code == 0);

    const Cli list = cli({"list", "cfg/", "--server", server});
    CHECK(list.exit_code == 0);
    CHECK(std::regex_match(list.out, std::regex("cfg/lock = b c  \\(revision [0-9]+\\)\ncfg/x = 1  \\(revision [0-9]+\\)\n")));
    CHECK(nlohmann::json::parse(cli({"list", "cfg/", "--limit", "1", "--json", "--server", server}).out)["items"].size() == 1);

    REQUIRE(wait_until(
        [&] {
            const std::string out = watch.out();
            return std::count(out.begin(), out.end(), '\n') >= 3;
        },
        5000ms));
    CHECK(std::regex_search(watch.out(), std::regex("^" + std::to_string(rev) + " put cfg/lock a\n[0-9]+ put cfg/lock b c\n[0-9]+ put cfg/x 1\n")));
}
