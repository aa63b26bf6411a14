// The peer connections of real nodes, inspected from outside: every TCP connection a
// node holds to another node's peer port must have TCP_NODELAY set. Without it a
// small frame (an AppendEntries response, a forwarded client request or its reply)
// can sit in the kernel for up to a delayed-ACK timeout (40 ms on Linux) waiting for
// the previous one to be acknowledged — measured before the fix: writes through a
// follower at 16 clients had p90 42 ms and p99 50 ms, against 5 and 31 ms after.
//
// The test takes a copy of each socket of a `raftbook serve` process with
// pidfd_getfd(2) and asks it for its options.
#include <catch2/catch.hpp>

#include <netinet/tcp.h>
#include <sys/syscall.h>

#include <set>

#include "tests/native/process_cluster.h"

using namespace raftbook::test;

namespace {

// The pid of the `raftbook serve --id ID` child whose --data is `data_dir`.
pid_t serve_pid(const std::string& data_dir) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::ifstream f(entry.path() / "cmdline");
        std::string cmdline((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        if (cmdline.find(" serve ") != std::string::npos && cmdline.find(" " + data_dir + " ") != std::string::npos)
            return pid_t(std::stoi(entry.path().filename().string()));
    }
    return 0;
}

struct PeerSocket {
    uint16_t local_port, remote_port;
    bool nodelay;
};

// The connected TCP sockets of process `pid` with one end on a port in `ports`.
std::vector<PeerSocket> peer_sockets(pid_t pid, const std::set<uint16_t>& ports) {
    std::vector<PeerSocket> out;
    const int pidfd = int(::syscall(SYS_pidfd_open, pid, 0));
    REQUIRE(pidfd >= 0);
    for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        std::error_code ec;
        if (std::filesystem::read_symlink(entry.path(), ec).string().compare(0, 7, "socket:") != 0) continue;
        const int fd = int(::syscall(SYS_pidfd_getfd, pidfd, std::stoi(entry.path().filename().string()), 0));
        INFO("pidfd_getfd: " << std::strerror(errno));
        REQUIRE(fd >= 0);
        sockaddr_in local{}, remote{};
        socklen_t llen = sizeof local, rlen = sizeof remote;
        int nodelay = 0;
        socklen_t nlen = sizeof nodelay;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0 && local.sin_family == AF_INET &&
            ::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &rlen) == 0 &&
            ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &nlen) == 0 &&
            (ports.count(ntohs(local.sin_port)) || ports.count(ntohs(remote.sin_port))))
            out.push_back({ntohs(local.sin_port), ntohs(remote.sin_port), nodelay != 0});
        ::close(fd);
    }
    ::close(pidfd);
    return out;
}

}  // namespace

TEST_CASE("Every peer connection has TCP_NODELAY, both the dialled and the accepted end", "[serve][transport]") {
    ProcessCluster c(3);
    c.start_all();
    INFO(c.logs());
    REQUIRE(c.wait_for_leader(15000ms) != 0);
    REQUIRE(wait_until([&] {
        for (int id = 1; id <= 3; id++) {
            const nlohmann::json s = c.status(id);
            if (!s.is_object()) return false;
            for (const auto& m : s["members"])
                if (m.contains("connected") && m["connected"] != true) return false;
        }
        return true;
    }, 10000ms));
    std::set<uint16_t> peer_ports;
    for (int id = 1; id <= 3; id++) peer_ports.insert(uint16_t(std::stoi(c.peer_address(id).substr(10))));
    for (int id = 1; id <= 3; id++) {
        const pid_t pid = serve_pid(c.data_dir(id));
        REQUIRE(pid > 0);
        const std::vector<PeerSocket> sockets = peer_sockets(pid, peer_ports);
        CHECK(sockets.size() >= 2);  // a connection to each of the other two nodes
        for (const PeerSocket& s : sockets) {
            INFO("node " << id << ": connection " << s.local_port << " -> " << s.remote_port);
            CHECK(s.nodelay);
        }
    }
}
