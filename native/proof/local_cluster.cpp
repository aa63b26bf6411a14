#include "native/proof/local_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "native/client/http_client.h"

namespace raftbook {

namespace {

// A socket bound to 127.0.0.1:port (0: any) as a node's listener would be, with
// SO_REUSEADDR, and in *bound the port; -1 when the bind fails (errno says why).
int bound_loopback_socket(uint16_t port, uint16_t* bound) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        *bound = ntohs(addr.sin_port);
        return fd;
    }
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
}

// Binds 127.0.0.1:port (0: any) and returns the bound port; 0 when the bind fails.
uint16_t bind_loopback(uint16_t port) {
    uint16_t bound = 0;
    const int fd = bound_loopback_socket(port, &bound);
    if (fd < 0) return 0;
    ::close(fd);
    return bound;
}

std::string describe_exit(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    return "stopped";
}

}  // namespace

std::string self_executable() {
    std::error_code ec;
    const std::string path = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    const std::string deleted = " (deleted)";
    if (ec || (path.size() > deleted.size() && path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0))
        return "/proc/self/exe";
    return path;
}

std::vector<uint16_t> free_loopback_ports(size_t count) {
    std::vector<uint16_t> ports;
    while (ports.size() < count) {
        const uint16_t p = bind_loopback(0);
        if (p == 0) throw std::runtime_error(std::string("cannot find a free port on 127.0.0.1: ") + strerror(errno));
        if (std::find(ports.begin(), ports.end(), p) == ports.end()) ports.push_back(p);
    }
    return ports;
}

int reserve_loopback_port(uint16_t port) {
    uint16_t bound = 0;
    return bound_loopback_socket(port, &bound);
}

LocalCluster::LocalCluster(std::vector<LocalNodePorts> ports, std::string root) : root_(std::move(root)) {
    for (const LocalNodePorts& p : ports) {
        Node n;
        n.ports = p;
        nodes_.push_back(n);
    }
    std::error_code ignored;
    std::filesystem::create_directories(root_, ignored);
}

LocalCluster::~LocalCluster() { stop_all(); }

std::string LocalCluster::http_address(int id) const { return "127.0.0.1:" + std::to_string(node(id).ports.http); }
std::string LocalCluster::peer_address(int id) const { return "127.0.0.1:" + std::to_string(node(id).ports.peer); }
std::string LocalCluster::data_dir(int id) const { return root_ + "/node" + std::to_string(id); }
std::string LocalCluster::log_path(int id) const { return root_ + "/node" + std::to_string(id) + ".log"; }

std::string LocalCluster::cluster_arg() const {
    std::string s;
    for (int id = 1; id <= size(); id++)
        if (node(id).join.empty())
            s += (s.empty() ? "" : ",") + std::to_string(id) + "=" + peer_address(id) + "/" + http_address(id);
    return s;
}

bool LocalCluster::check_ports(std::string* error) const {
    for (int id = 1; id <= size(); id++) {
        const std::pair<uint16_t, const char*> ports[] = {{node(id).ports.http, "HTTP"}, {node(id).ports.peer, "peer"}};
        for (const auto& [port, what] : ports) {
            if (bind_loopback(port) != 0) continue;
            *error = "port " + std::to_string(port) + " (node " + std::to_string(id) + "'s " + what +
                     " port) is not free on 127.0.0.1: " + strerror(errno) +
                     ". Is another demo or node running? Stop it, or choose other ports with --port";
            return false;
        }
    }
    return true;
}

bool LocalCluster::start(int id, std::string* error) {
    Node& n = node(id);
    if (n.pid > 0) return true;
    n.exit_status = -1;
    std::vector<std::string> args = {"raftbook", "serve", "--id", std::to_string(id)};
    if (n.join.empty()) {
        args.insert(args.end(), {"--cluster", cluster_arg()});
    } else {
        args.insert(args.end(), {"--listen", peer_address(id), "--join", n.join});
    }
    args.insert(args.end(), {"--http", http_address(id), "--data", data_dir(id)});
    if (!cluster_id_.empty()) args.insert(args.end(), {"--cluster-id", cluster_id_});
    args.insert(args.end(), n.extra_args.begin(), n.extra_args.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    const std::string log = log_path(id);
    const std::string exe = self_executable();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        *error = std::string("cannot start node ") + std::to_string(id) + ": fork failed: " + strerror(errno);
        return false;
    }
    if (pid == 0) {  // the child: only async-signal-safe calls until exec
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);  // the parent died before the prctl
        const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        const int in = ::open("/dev/null", O_RDONLY);
        if (out >= 0) {
            ::dup2(out, 1);
            ::dup2(out, 2);
        }
        if (in >= 0) ::dup2(in, 0);
        ::execv(exe.c_str(), argv.data());
        static const char kExecFailed[] = "raftbook: cannot run this binary again (raftbook serve)\n";
        if (::write(2, kExecFailed, sizeof kExecFailed - 1) < 0) ::_exit(127);
        ::_exit(127);
    }
    n.pid = pid;
    return true;
}

std::vector<std::pair<int, std::string>> LocalCluster::reap() {
    std::vector<std::pair<int, std::string>> ended;
    for (int id = 1; id <= size(); id++) {
        Node& n = node(id);
        int status = 0;
        if (n.pid > 0 && ::waitpid(n.pid, &status, WNOHANG) == n.pid) {
            n.pid = 0;
            n.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            ended.emplace_back(id, describe_exit(status));
        }
    }
    return ended;
}

nlohmann::json LocalCluster::status(int id, std::chrono::milliseconds timeout) {
    HttpClient client("127.0.0.1", node(id).ports.http, timeout);
    const HttpResult r = client.request("GET", "/status");
    if (r.status != 200) return nullptr;
    return nlohmann::json::parse(r.body, nullptr, false);
}

int LocalCluster::agreed_leader(std::chrono::milliseconds timeout) {
    int leader = 0;
    for (int id = 1; id <= size(); id++) {
        if (!running(id)) continue;
        const nlohmann::json s = status(id, timeout);
        if (!s.is_object() || !s["leader"].is_number_unsigned()) return 0;
        const int l = s["leader"].get<int>();
        if (l == 0 || (leader != 0 && l != leader)) return 0;
        leader = l;
    }
    if (leader == 0 || leader > size() || !running(leader)) return 0;
    const nlohmann::json s = status(leader, timeout);
    return s.is_object() && s.value("role", "") == "leader" ? leader : 0;
}

void LocalCluster::stop(int id, std::chrono::milliseconds grace) {
    Node& n = node(id);
    if (n.pid <= 0) return;
    ::kill(n.pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (::waitpid(n.pid, nullptr, WNOHANG) != n.pid) {
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(n.pid, SIGKILL);
            ::waitpid(n.pid, nullptr, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    n.pid = 0;
}

void LocalCluster::stop_all(std::chrono::milliseconds grace) {
    for (Node& n : nodes_)
        if (n.pid > 0) ::kill(n.pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    for (Node& n : nodes_) {
        while (n.pid > 0) {
            if (::waitpid(n.pid, nullptr, WNOHANG) == n.pid) {
                n.pid = 0;
            } else if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(n.pid, SIGKILL);
                ::waitpid(n.pid, nullptr, 0);
                n.pid = 0;
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        }
    }
}

std::string LocalCluster::log_tail(int id, size_t lines) const {
    std::ifstream f(log_path(id));
    std::deque<std::string> tail;
    std::string line;
    while (std::getline(f, line)) {
        tail.push_back(line);
        if (tail.size() > lines) tail.pop_front();
    }
    std::string out;
    for (const std::string& l : tail) out += "    " + l + "\n";
    return out.empty() ? "    (the log is empty)\n" : out;
}

}  // namespace raftbook
