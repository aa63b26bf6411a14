// The native node: the portable node runtime (core/runtime/node_runtime.h) with real
// time, a real disk and real sockets.
//
// Everything a node decides — the Ready loop, client sessions, forwarding to the
// leader, retries, ReadIndex waits — is NodeRuntime's, the same code the simulator
// runs. This host only connects it to the machine, on one io_context thread:
//
//   clock      now() is the steady clock in ms; a 50 ms timer calls tick();
//   transport  send() hands frames to the PeerTransport, whose frames go to receive();
//   disk       write() queues a DiskWrite for the DiskWriter thread (group commit: one
//              fdatasync for everything queued meanwhile), whose Done comes back through
//              the io thread as persisted(last id);
//   clients    the HTTP API's submit() is the runtime's submit(); its watchers hear
//              each key change as the runtime applies it (on_apply -> WatchHub), and
//              hear that the stream is stale when the node knows no leader (each tick).
//
// After any input the host posts one process_ready pass (looping while the runtime has
// a Ready), rather than running it at once, so every input that arrives in the same turn
// of the event loop shares one Ready: many proposals become one AppendEntries and one
// disk write. /status is the runtime's status plus what only the host knows (cluster id,
// member addresses and connections); /metrics is RuntimeStats plus the host's counters;
// role and leader changes are logged from on_role_change.
//
// Identity. Every peer frame carries the cluster id, and a node refuses frames of
// another cluster; the data dir records the node id and the cluster id it belongs to
// (native/storage/identity.h), so a node never runs on another node's or another
// cluster's history. Where the id comes from, on a data dir that records none:
//   - `--cluster-id ID` given: ID is recorded at start (a dir recording another id
//     refuses to start, naming both; so does a dir of another --id);
//   - otherwise the lowest-numbered member of --cluster draws a random id
//     (random_cluster_id()) and records it: the cluster's first bootstrap;
//   - every other member starts without one, takes no part in Raft, and answers
//     clients 503, until a peer presents an id in its Hello: that id is recorded
//     durably (Storage::set_cluster_id) before any Raft traffic of that peer is
//     accepted, and announced to the other peers in a new Hello.
// So a fresh cluster started without --cluster-id gets one random id as soon as its
// lowest-numbered member is up; a replaced member with an empty dir must be given the
// cluster's id (--cluster-id, from any member's /status) if it is the lowest-numbered.
//
// Membership (core/raft/membership.h). The configuration a node starts from is kept in
// the data dir (native/storage/bootstrap.h): at the first start, the members --cluster
// names, with their peer and HTTP addresses, so every member learns every member's
// addresses; or none, for a node that joins a running cluster (--join HOST:PORT, any
// member's HTTP address). A joining node first asks that member's /status for the
// cluster id and whether its --id is free (not a member, never removed), refusing to
// start with the reason when not; then, serving, it asks the cluster (POST /members,
// again every half second until answered, trying the other members' addresses when
// that one does not answer) to add it as a learner. The leader then dials it and sends
// it a snapshot and the log; the runtime's promote_self asks for its promotion once it
// has caught up, unless --learner. A restart needs neither flag: the stored bootstrap
// and the log and snapshot say who the members are.
//
// The peer transport dials the native members of the configuration in force
// (on_membership -> PeerTransport::set_peers); the browser members (Member::browser)
// are never dialled but reached over the link they opened, here or relayed through
// another native member (set_browsers; /status shows each member's "kind" and, for a
// browser, "via": the native node it is reached through). A browser that is not a
// member yet is let in all the same: it joins through its link, asking to be added
// once connected (core/runtime/browser_node.h). A node the cluster removed is refused
// when it connects, with a close reason saying so; the removed node logs "this node
// was removed from the cluster" (once) and answers its clients the same.
//
// The commit index is a restart hint recorded with each batch (DiskWrite::commit_index);
// when only it has moved the runtime sends a write that carries nothing else, and a
// clean stop records the last one, so a node restarted alone (after a clean stop or a
// kill -9) shows the commit it had.
//
// Snapshots (Raft §7). The runtime decides when to take one (--snapshot-entries) and how
// much log to keep behind it (--catchup-entries); a DiskWrite carrying a snapshot goes to
// the disk thread like any other, which writes the file and then compacts the WAL
// (native/storage/disk_writer.h): the event loop never encodes or writes a snapshot of
// its own (it freezes the state, in O(shards): KvStore::freeze). On start the
// newest durable snapshot and the log after it (Storage::take_restored) go to the
// runtime. /status shows the snapshot's index and term, /metrics the snapshot files
// written (count, bytes, seconds) and the WAL segments deleted.
//
// A disk error (StorageError) stops the node for good: the host logs it, stops serving
// and the process exits with kExitDiskError, so a supervisor can tell it from a crash
// and not restart it into the same fault.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/runtime/node_runtime.h"
#include "native/node/http_server.h"
#include "native/node/metrics.h"
#include "native/node/peer_transport.h"
#include "native/node/watch_hub.h"
#include "native/storage/disk_writer.h"
#include "native/storage/storage.h"

namespace raftbook {

// `raftbook serve` exit codes: 0 after a clean stop, 1 when it cannot start (the data
// dir refuses, a port is taken, ...), 2 for bad flags, and this one after a disk error
// stopped a running node. Restarting it will not help until the disk is fixed.
constexpr int kExitDiskError = 3;

constexpr size_t kDefaultWatchHistory = 100000;  // recent changes a watcher can start or resume from
constexpr size_t kDefaultMaxWatchers = 1000;     // watchers served at once (each holds a client connection)

class HttpConnection;

struct NodeConfig {
    NodeId id = kNoNode;
    // --cluster: the founding members, voters with their peer ("host:port") and HTTP
    // addresses, self included. Empty on a restart (the data dir has it) or with join.
    Membership bootstrap;
    std::string join;      // --join HOST:PORT: a member's HTTP address, to join through
    bool learner = false;  // --learner: stay a learner (else ask to be promoted once caught up)
    std::string listen_host = "127.0.0.1";
    uint16_t listen_port = 0;
    std::string http_host = "127.0.0.1";
    uint16_t http_port = 0;
    std::string data_dir;
    std::string cluster_id;  // --cluster-id; "" to use the recorded one or learn it (above)
    WireFormat wire = WireFormat::Cbor;
    // --token-file / --token: the cluster's shared secret, "" for none. Peers prove they
    // know it (peer_transport.h); HTTP writes carry it as a bearer token (http_server.h).
    std::string token;
    std::string web_dir;
    std::chrono::milliseconds tick{50};
    int election_tick = 10;   // election timeout 0.5-1 s at 50 ms ticks
    int heartbeat_tick = 1;   // a heartbeat every tick
    std::chrono::milliseconds request_timeout{3000};
    uint64_t snapshot_entries = 10000;  // RuntimeConfig::snapshot_entries (0: never)
    uint64_t catchup_entries = 5000;    // RuntimeConfig::catchup_entries
    // RuntimeConfig::remove_absent_browsers_after_ms (0: never) and min_voters.
    std::chrono::milliseconds remove_absent_browsers_after{60000};
    size_t min_voters = 3;
    // The connection caps of the descriptor budget (cmd_serve.cpp): what is left of the
    // open-file limit after the node's own descriptors, which connections cannot take.
    size_t max_clients = kDefaultMaxClients;  // open HTTP connections at most; more get 503
    size_t max_peer_connections = 64;         // accepted peer connections at most; more are closed
    size_t watch_history = kDefaultWatchHistory;
    size_t max_watchers = kDefaultMaxWatchers;  // --max-watchers: one more is answered 503
    Faults faults;  // test-only rule switches (serve --test-fault); all off in normal operation
    std::map<NodeId, std::string> test_dial;  // test only (serve --test-dial): dial these members here
};

class NodeHost : public ClientApi, private RuntimeHost {
public:
    NodeHost(boost::asio::io_context& ioc, NodeConfig config);
    ~NodeHost() override;

    // Opens the data dir, starts the disk thread, the peer transport and the HTTP API.
    // Returns false with a message naming what failed and what to do.
    bool start(std::string* error);
    // Stops serving, writes what is queued for the disk, closes connections.
    void stop();
    // 0 after a clean stop, kExitDiskError after a disk error (the node stopped itself).
    int exit_code() const { return exit_code_; }
    // Called once the node has stopped itself (fatal error); the owner ends the loop.
    std::function<void()> on_fatal;

    // ClientApi
    void submit(ClientRequest request, std::function<void(const ClientReply&)> done) override;
    nlohmann::json status() const override;
    std::string metrics_text() const override;
    WatchHub* watch_hub() override { return &watches_; }

private:
    // RuntimeHost
    bool send(NodeId to, Frame frame) override;
    void write(DiskWrite w) override;
    TimeMs now() const override;
    bool encodes_snapshots() const override { return true; }  // on the disk thread
    void on_role_change(const Raft& raft, Role was_role, NodeId was_leader) override;
    void on_apply(const Entry& e, bool took_effect, const KvStore& kv) override;  // feeds watchers
    // An installed or restored snapshot replaced the state: watchers' history restarts above it.
    void on_snapshot(const SnapshotMeta& meta, const KvStore& kv, bool installed) override;
    // The configuration changed: dial its members; say so when this node was removed.
    void on_membership(const Membership& membership) override;

    // The configuration this node starts from (bootstrap.h): read from the data dir, or
    // recorded there from --cluster, or (--join) asked of the cluster. "" or the error.
    std::string load_bootstrap();
    std::string ask_to_join();  // --join: the cluster id, and whether this --id is free
    void request_add();         // --join: POST /members until the cluster answers
    void report_removed(const std::string& how);
    NodeId first_member() const;  // the lowest-numbered founding member (kNoNode: joined)
    bool joined() const { return !cluster_id_.empty(); }
    // The transport met a peer presenting `id` while this node had none: records it
    // durably and starts taking part. Returns "" or why the id is refused.
    std::string adopt_cluster_id(const std::string& id);
    void schedule_ready();
    void process_ready();
    void on_tick();
    void on_persisted(const DiskWriter::Done& done);
    void on_disk_error(const std::string& error, int error_number);
    void stop_serving();  // no more ticks, peers or clients (stop and a disk error alike)

    boost::asio::io_context& ioc_;
    NodeConfig cfg_;
    std::string cluster_id_;  // "" until known
    Metrics metrics_;
    bool took_snapshot_ = false;  // the runtime took a snapshot in this process_ready pass
    WatchHub watches_;  // before http_: its watchers unsubscribe from it
    std::unique_ptr<Storage> storage_;
    std::unique_ptr<NodeRuntime> runtime_;
    std::unique_ptr<DiskWriter> disk_;
    std::unique_ptr<PeerTransport> transport_;
    std::unique_ptr<HttpServer> http_;
    boost::asio::steady_timer tick_timer_;
    SnapshotMeta snapshot_;  // the newest durable snapshot
    Membership bootstrap_;   // as recorded in the data dir
    bool joining_ = false;   // a fresh --join: the add request is not answered yet
    std::vector<std::string> join_targets_;  // HTTP addresses to ask, the --join one first
    size_t join_attempt_ = 0;
    std::unique_ptr<HttpConnection> join_http_;
    boost::asio::steady_timer join_timer_;
    bool removed_ = false;   // this node was removed from the cluster
    bool ready_scheduled_ = false;
    bool stopped_ = false;
    int exit_code_ = 0;
};

}  // namespace raftbook
