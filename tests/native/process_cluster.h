// Real `raftbook serve` processes on loopback, for integration tests.
//
// ProcessCluster starts N nodes of one cluster as child processes, each with free
// loopback ports (peer and HTTP) and a data dir in a temporary directory, and can kill
// (-9), stop (SIGTERM) and restart any of them with its data intact. Each node's stderr
// goes to a log file the test can print when something fails. The destructor kills
// every child still running and removes the temporary directory, so a failing test
// leaves nothing behind; children also die with the test process (PR_SET_PDEATHSIG).
//
// The HTTP helpers are a tiny blocking HTTP/1.1 client over a socket (one request per
// connection), so the tests exercise the node exactly as any outside client would.
// Node ids are 1..N, as in `raftbook serve --id`: the founding members, started with
// --cluster. add_node() reserves ports for one more id (N+1, ...), which join() starts
// with --join, and start_bare() (re)starts a node with neither flag, as a restarted
// member needs.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace raftbook::test {

using namespace std::chrono_literals;

// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
inline uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (fd >= 0) ::close(fd);
        throw std::runtime_error(std::string("cannot find a free port: ") + std::strerror(errno));
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

// A blocking TCP connection to 127.0.0.1:PORT (or HOST:PORT with a numeric host).
class RawSocket {
public:
    // receive_buffer > 0 caps the socket's receive buffer (SO_RCVBUF), for a client that
    // reads slowly.
    RawSocket(const std::string& host_port, std::chrono::milliseconds timeout = 5000ms, int receive_buffer = 0) {
        const size_t colon = host_port.rfind(':');
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(uint16_t(std::stoi(host_port.substr(colon + 1))));
        ::inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr);
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        timeval tv{};
        tv.tv_sec = timeout.count() / 1000;
        tv.tv_usec = (timeout.count() % 1000) * 1000;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            error_ = std::string("connect to ") + host_port + ": " + std::strerror(errno);
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~RawSocket() {
        if (fd_ >= 0) ::close(fd_);
    }
    RawSocket(const RawSocket&) = delete;
    RawSocket& operator=(const RawSocket&) = delete;

    bool connected() const { return fd_ >= 0; }
    const std::string& error() const { return error_; }

    bool send_all(const std::string& bytes) {
        size_t off = 0;
        while (fd_ >= 0 && off < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return false;
            off += size_t(n);
        }
        return fd_ >= 0;
    }
    // Up to `max` bytes; "" on EOF, timeout or error (see closed()).
    std::string recv_some(size_t max = 65536) {
        std::string buf(max, '\0');
        const ssize_t n = fd_ >= 0 ? ::recv(fd_, &buf[0], max, 0) : -1;
        if (n <= 0) {
            closed_ = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
            return "";
        }
        buf.resize(size_t(n));
        return buf;
    }
    // Exactly n bytes, or fewer when the peer closed or the timeout passed.
    std::string recv_exact(size_t n) {
        std::string out;
        while (out.size() < n) {
            const std::string part = recv_some(n - out.size());
            if (part.empty()) break;
            out += part;
        }
        return out;
    }
    // Everything until the peer closes (or the timeout passes).
    std::string recv_all() {
        std::string out;
        for (;;) {
            const std::string part = recv_some();
            if (part.empty()) break;
            out += part;
        }
        return out;
    }
    // Whether the last receive saw the connection end (not merely a timeout).
    bool closed() const { return closed_; }

    // What the other end has done so far, seen without waiting or reading: sent nothing
    // and kept the connection open, sent bytes (perhaps closing after them), or closed
    // it without sending any.
    enum class Heard { Nothing, Bytes, Closed };
    Heard heard() const {
        char c;
        const ssize_t n = fd_ >= 0 ? ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) : 0;
        if (n > 0) return Heard::Bytes;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Heard::Nothing;
        return Heard::Closed;
    }

private:
    int fd_ = -1;
    bool closed_ = false;
    std::string error_;
};

struct HttpResponse {
    int status = 0;      // 0: no answer (see error)
    std::string body;
    std::string headers; // raw header block
    std::string error;
};

// Parses "HTTP/1.1 200 OK\r\n...\r\n\r\nbody" (the whole response, connection closed).
inline HttpResponse parse_http_response(const std::string& raw) {
    HttpResponse r;
    const size_t end = raw.find("\r\n\r\n");
    if (raw.compare(0, 5, "HTTP/") != 0 || end == std::string::npos) {
        r.error = "not an HTTP response: '" + raw.substr(0, 80) + "'";
        return r;
    }
    r.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
    r.headers = raw.substr(0, end);
    r.body = raw.substr(end + 4);
    return r;
}

// One request on a fresh connection with "Connection: close"; `headers` are more header
// lines, each ending in "\r\n".
inline HttpResponse http_request(const std::string& host_port, const std::string& method, const std::string& target,
                                 const std::string& body = "", std::chrono::milliseconds timeout = 10000ms,
                                 const std::string& headers = "") {
    RawSocket s(host_port, timeout);
    if (!s.connected()) {
        HttpResponse r;
        r.error = s.error();
        return r;
    }
    std::ostringstream req;
    req << method << " " << target << " HTTP/1.1\r\nHost: " << host_port << "\r\nConnection: close\r\n";
    req << headers;
    if (!body.empty() || method == "PUT" || method == "POST") req << "Content-Length: " << body.size() << "\r\n";
    req << "\r\n" << body;
    if (!s.send_all(req.str())) {
        HttpResponse r;
        r.error = "send to " + host_port + " failed";
        return r;
    }
    return parse_http_response(s.recv_all());
}

// Polls `done` every 50 ms until it returns true or `timeout` passes.
// Runs `raftbook ARGS` and returns its exit status, with stdout and stderr in *out.
inline int run_raftbook(const std::string& args, std::string* out) {
    FILE* p = ::popen((std::string(RAFTBOOK_BINARY) + " " + args + " 2>&1").c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
    const int status = ::pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
}

class ProcessCluster {
public:
    // `extra_args` go to every node's `raftbook serve` command line.
    explicit ProcessCluster(int nodes, std::vector<std::string> extra_args = {})
        : extra_args_(std::move(extra_args)) {
        char tmpl[] = "/tmp/raftbook-test-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        std::vector<uint16_t> ports;
        while (ports.size() < size_t(2 * nodes)) {
            const uint16_t p = free_port();
            if (std::find(ports.begin(), ports.end(), p) == ports.end()) ports.push_back(p);
        }
        founders_ = nodes;
        for (int i = 0; i < nodes; i++) {
            Node n;
            n.peer_port = ports[size_t(2 * i)];
            n.http_port = ports[size_t(2 * i + 1)];
            nodes_.push_back(n);
        }
    }
    // Reserves ports for a node that is no founding member; returns its id.
    int add_node() {
        Node n;
        for (;;) {
            n.peer_port = free_port();
            n.http_port = free_port();
            bool taken = n.peer_port == n.http_port;
            for (const Node& o : nodes_)
                taken = taken || o.peer_port == n.peer_port || o.http_port == n.http_port ||
                        o.peer_port == n.http_port || o.http_port == n.peer_port;
            if (!taken) break;
        }
        n.boot = {"--listen", "127.0.0.1:" + std::to_string(n.peer_port)};
        nodes_.push_back(n);
        return size();
    }
    // Starts node `id` on a fresh data dir with --join (node `through`'s HTTP address).
    void join(int id, int through, const std::vector<std::string>& args = {}) {
        node(id).boot = {"--listen", peer_address(id), "--join", http_address(through)};
        start(id, args);
    }
    // (Re)starts node `id` with neither --cluster nor --join.
    void start_bare(int id, const std::vector<std::string>& args = {}) {
        node(id).boot = {"--listen", peer_address(id)};
        start(id, args);
    }
    ~ProcessCluster() {
        for (int id = 1; id <= size(); id++) kill9(id);
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    ProcessCluster(const ProcessCluster&) = delete;
    ProcessCluster& operator=(const ProcessCluster&) = delete;

    int size() const { return int(nodes_.size()); }
    std::string peer_address(int id) const { return "127.0.0.1:" + std::to_string(node(id).peer_port); }
    std::string http_address(int id) const { return "127.0.0.1:" + std::to_string(node(id).http_port); }
    std::string data_dir(int id) const { return dir_ + "/node" + std::to_string(id); }
    std::string log_path(int id) const { return dir_ + "/node" + std::to_string(id) + ".log"; }
    // "1=127.0.0.1:P1,2=127.0.0.1:P2,..."
    std::string cluster_arg() const {
        std::string s;
        for (int id = 1; id <= founders_; id++)
            s += (id > 1 ? "," : "") + std::to_string(id) + "=" + peer_address(id) + "/" + http_address(id);
        return s;
    }
    std::string log(int id) const {
        std::ifstream f(log_path(id));
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }
    // Every node's log, for a failure message.
    std::string logs() const {
        std::string out;
        for (int id = 1; id <= size(); id++) out += "---- node " + std::to_string(id) + " ----\n" + log(id);
        return out;
    }

    // Starts node `id` (again, after a kill: same ports, same data dir). `args` are
    // appended after the standard ones, so a repeated flag overrides.
    void start(int id, const std::vector<std::string>& args = {}) {
        Node& n = node(id);
        if (n.pid > 0) return;
        std::vector<std::string> argv = {RAFTBOOK_BINARY, "serve", "--id", std::to_string(id), "--http",
                                         http_address(id), "--data", data_dir(id)};
        if (n.boot.empty()) {
            argv.insert(argv.end(), {"--cluster", cluster_arg()});
        } else {
            argv.insert(argv.end(), n.boot.begin(), n.boot.end());
        }
        argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<char*> cargv;
        for (auto& a : argv) cargv.push_back(&a[0]);
        cargv.push_back(nullptr);
        const std::string log = log_path(id);
        const rlimit nofile{open_file_limit_, open_file_limit_};
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {  // child: only async-signal-safe calls until exec
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
                if (fd > 2) ::close(fd);
            }
            if (nofile.rlim_cur > 0) ::setrlimit(RLIMIT_NOFILE, &nofile);
            ::execv(cargv[0], cargv.data());
            ::_exit(127);
        }
        n.pid = pid;
    }
    void start_all() {
        for (int id = 1; id <= size(); id++) start(id);
    }
    bool running(int id) const { return node(id).pid > 0; }
    pid_t pid(int id) const { return node(id).pid; }
    // Nodes started from now on get this open-file limit (soft and hard, so the node
    // cannot raise it); 0: the test process's own.
    void limit_open_files(rlim_t limit) { open_file_limit_ = limit; }

    // kill -9: the node stops at once, losing whatever it had not fsynced.
    void kill9(int id) {
        Node& n = node(id);
        if (n.pid <= 0) return;
        ::kill(n.pid, SIGKILL);
        ::waitpid(n.pid, nullptr, 0);
        n.pid = 0;
    }
    // SIGTERM, then wait (SIGKILL after `timeout`). Returns the exit status, or -1 when
    // it had to be killed or did not exit normally.
    int stop(int id, std::chrono::milliseconds timeout = 10000ms) {
        if (node(id).pid <= 0) return -1;
        ::kill(node(id).pid, SIGTERM);
        return wait_exit(id, timeout);
    }
    // Waits for node `id` to exit (SIGKILL after `timeout`). Returns the exit status, or
    // -1 when it had to be killed or did not exit normally.
    int wait_exit(int id, std::chrono::milliseconds timeout = 10000ms) {
        Node& n = node(id);
        if (n.pid <= 0) return -1;
        int status = 0;
        const bool exited = wait_until([&] { return ::waitpid(n.pid, &status, WNOHANG) == n.pid; }, timeout);
        if (!exited) {
            ::kill(n.pid, SIGKILL);
            ::waitpid(n.pid, &status, 0);
        }
        n.pid = 0;
        return exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    // GET /status of node `id`; null when it does not answer.
    nlohmann::json status(int id) const {
        const HttpResponse r = http_request(http_address(id), "GET", "/status", "", 2000ms);
        if (r.status != 200) return nullptr;
        return nlohmann::json::parse(r.body, nullptr, false);
    }
    // Whether node `id` answers GET /status within `timeout` (it is up and listening).
    bool wait_serving(int id, std::chrono::milliseconds timeout = 10000ms) const {
        return wait_until([&] { return status(id).is_object(); }, timeout);
    }
    // The id of a leader that every running node agrees on, once there is one (0 when
    // none within `timeout`). A node in `exclude` is neither asked nor accepted as the
    // leader (it may be one that cannot know, e.g. on another cluster's data).
    int wait_for_leader(std::chrono::milliseconds timeout = 10000ms, std::vector<int> exclude = {}) const {
        int leader = 0;
        wait_until(
            [&] {
                leader = 0;
                for (int id = 1; id <= size(); id++) {
                    if (!running(id) || std::count(exclude.begin(), exclude.end(), id)) continue;
                    const nlohmann::json s = status(id);
                    if (!s.is_object()) return false;
                    const int l = s["leader"].get<int>();
                    if (l == 0 || (leader != 0 && l != leader)) return false;
                    leader = l;
                }
                if (leader == 0 || !running(leader) || std::count(exclude.begin(), exclude.end(), leader)) return false;
                const nlohmann::json s = status(leader);
                return s.is_object() && s.value("role", "") == "leader";
            },
            timeout);
        return leader;
    }

    HttpResponse put(int id, const std::string& key, const std::string& value) const {
        return http_request(http_address(id), "PUT", "/kv/" + key, value);
    }
    HttpResponse get(int id, const std::string& key) const { return http_request(http_address(id), "GET", "/kv/" + key); }
    HttpResponse del(int id, const std::string& key) const {
        return http_request(http_address(id), "DELETE", "/kv/" + key);
    }

private:
    struct Node {
        uint16_t peer_port = 0;
        uint16_t http_port = 0;
        pid_t pid = 0;
        std::vector<std::string> boot;  // how it starts: empty for --cluster
    };
    Node& node(int id) { return nodes_.at(size_t(id - 1)); }
    const Node& node(int id) const { return nodes_.at(size_t(id - 1)); }

    std::string dir_;
    int founders_ = 0;
    std::vector<std::string> extra_args_;
    rlim_t open_file_limit_ = 0;
    std::vector<Node> nodes_;
};

}  // namespace raftbook::test
