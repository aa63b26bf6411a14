// A cluster of `raftbook serve` child processes on loopback, for `raftbook demo` and
// `raftbook bench --start`.
//
// Node i (ids 1..N) runs this same binary again (`raftbook serve ...`) with its
// HTTP and peer ports on 127.0.0.1, its data in ROOT/nodeI and its output appended to
// ROOT/nodeI.log. Every node founds the cluster (--cluster names them all), except one
// given set_join: it starts with --join instead, and is left out of the others' --cluster. The children are tied to this process: each has PR_SET_PDEATHSIG,
// so it dies with the parent even when the parent is killed with SIGKILL, and each
// runs in a process group of its own, so that a Ctrl-C in the terminal reaches only
// the parent, which then stops them in order (SIGTERM, SIGKILL after a grace period).
// The parent is single-threaded while children run: PR_SET_PDEATHSIG follows the
// thread that forked. With set_cluster_id every node gets the same --cluster-id;
// without, the nodes settle it themselves (node_host.h).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
namespace raftbook {

struct LocalNodePorts {
    uint16_t http = 0;
    uint16_t peer = 0;
};

// This binary's path, so that children show up as "raftbook" in top and ps; or
// /proc/self/exe when the file was replaced (say, rebuilt) since it started.
std::string self_executable();

// `count` distinct ports on 127.0.0.1 that were free a moment ago (the kernel's
// choice). Throws std::runtime_error when none can be had.
std::vector<uint16_t> free_loopback_ports(size_t count);

// Keeps 127.0.0.1:port bound (not listening), so that the kernel gives it to no one
// else meanwhile (as a listener's port 0, or a connection's local port); close() the
// returned socket just before a node is to listen there. -1 when the port is taken.
int reserve_loopback_port(uint16_t port);

class LocalCluster {
public:
    // Node i gets ports[i-1]; `root` is created if missing.
    LocalCluster(std::vector<LocalNodePorts> ports, std::string root);
    // Stops every child still running.
    ~LocalCluster();
    LocalCluster(const LocalCluster&) = delete;
    LocalCluster& operator=(const LocalCluster&) = delete;

    int size() const { return int(nodes_.size()); }
    std::string http_address(int id) const;
    std::string peer_address(int id) const;
    std::string data_dir(int id) const;
    std::string log_path(int id) const;
    pid_t pid(int id) const { return node(id).pid; }
    bool running(int id) const { return node(id).pid > 0; }

    // Every node is started with --cluster-id `id` ("": none, the nodes find their own).
    void set_cluster_id(std::string id) { cluster_id_ = std::move(id); }
    // More `raftbook serve` flags for node `id`, after the standard ones; a repeated flag
    // overrides (`raftbook chaos` gives each node a --cluster of relay addresses).
    void set_extra_args(int id, std::vector<std::string> args) { node(id).extra_args = std::move(args); }
    // Node `id` joins the running cluster through `http` (a member's HTTP address): it
    // starts with --listen and --join (on a restart serve ignores --join).
    void set_join(int id, std::string http) { node(id).join = std::move(http); }
    // Fails, naming the node and the port, when another process listens on a port.
    bool check_ports(std::string* error) const;
    // Starts node `id` (again: same ports, same data). False with a message when the
    // process cannot be created.
    bool start(int id, std::string* error);
    // Children that ended since the last call: (id, "exited with status 1", "killed
    // by signal 9", ...). Never blocks.
    std::vector<std::pair<int, std::string>> reap();
    // The exit status of node `id`'s last process, once reap() saw it end; -1 when it
    // was killed by a signal (or has not ended).
    int exit_status(int id) const { return node(id).exit_status; }
    // GET /status of node `id`; null when it does not answer within `timeout`.
    nlohmann::json status(int id, std::chrono::milliseconds timeout);
    // One poll of every running node: the leader they all name, once every one answers
    // and the named node says it leads; else 0.
    int agreed_leader(std::chrono::milliseconds timeout);
    // SIGTERM to node `id`, SIGKILL when it still runs after `grace`.
    void stop(int id, std::chrono::milliseconds grace = std::chrono::seconds(5));
    // SIGTERM to every child, SIGKILL to those still running after `grace`.
    void stop_all(std::chrono::milliseconds grace = std::chrono::seconds(5));
    // The last `lines` lines of node `id`'s log, each indented, for an error message.
    std::string log_tail(int id, size_t lines = 10) const;

private:
    struct Node {
        LocalNodePorts ports;
        std::vector<std::string> extra_args;
        std::string join;  // set_join's address; "" for a founding member
        pid_t pid = 0;
        int exit_status = -1;
    };
    Node& node(int id) { return nodes_.at(size_t(id - 1)); }
    const Node& node(int id) const { return nodes_.at(size_t(id - 1)); }
    std::string cluster_arg() const;

    std::vector<Node> nodes_;
    std::string root_;
    std::string cluster_id_;
};

}  // namespace raftbook
