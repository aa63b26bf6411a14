// The native node: NodeRuntime on asio, the WAL thread and WebSocket peers; see node_host.h.
#include "native/node/node_host.h"

#include <algorithm>
#include <cerrno>
#include <random>
#include <set>

#include <boost/asio/post.hpp>

#include "native/client/http_client.h"
#include "native/node/log.h"
#include "native/storage/bootstrap.h"
#include "native/storage/identity.h"

namespace raftbook {

namespace {

constexpr auto kJoinRetry = std::chrono::milliseconds(500);
constexpr auto kJoinTimeout = std::chrono::milliseconds(3000);

std::string host_port(const std::string& host, uint16_t port) { return host + ":" + std::to_string(port); }

// "host:port" -> host and port; false when it is not that.
bool split_host_port(const std::string& address, std::string* host, uint16_t* port) {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon + 1 >= address.size()) return false;
    const std::string digits = address.substr(colon + 1);
    if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
    const unsigned long p = std::stoul(digits);
    if (p == 0 || p > 65535) return false;
    *host = address.substr(0, colon);
    *port = uint16_t(p);
    return true;
}

// The error of a JSON error body ({"error": ...}), else the body itself.
std::string error_of(const HttpResult& r) {
    const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
    return r.body.substr(0, 200);
}

uint64_t random_u64() {
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ rd();
}

}  // namespace

NodeHost::NodeHost(boost::asio::io_context& ioc, NodeConfig config)
    : ioc_(ioc),
      cfg_(std::move(config)),
      watches_(cfg_.watch_history, cfg_.max_watchers, "node " + std::to_string(cfg_.id)),
      tick_timer_(ioc),
      join_timer_(ioc) {}

NodeHost::~NodeHost() {
    if (disk_) disk_->stop();
}

bool NodeHost::start(std::string* error) {
    StorageOptions so;
    so.node_id = cfg_.id;
    so.cluster_id = cfg_.cluster_id;
    storage_ = Storage::open(cfg_.data_dir, error, so);  // refuses another node's or cluster's dir
    if (!storage_) return false;
    if (!storage_->recovery_note().empty()) log_line("%s", storage_->recovery_note().c_str());
    if (const std::string e = load_bootstrap(); !e.empty()) {
        *error = e;
        return false;
    }
    if (storage_->cluster_id().empty() && cfg_.id == first_member()) {
        try {
            storage_->set_cluster_id(random_cluster_id());
        } catch (const std::exception& e) {
            *error = std::string("cannot record a new cluster id in the data dir: ") + e.what();
            return false;
        }
        log_line("new cluster: drew the cluster id '%s' (the lowest-numbered member does on a fresh data dir)",
                 storage_->cluster_id().c_str());
    }
    cluster_id_ = storage_->cluster_id();

    RuntimeConfig rc;
    rc.raft.id = cfg_.id;
    rc.raft.members = bootstrap_;
    // A node that joined asks to become a voter once caught up, unless it is to stay a
    // learner. (A founding member is a voter from the start.)
    rc.promote_self = bootstrap_.empty() && !cfg_.learner;
    rc.raft.election_tick = cfg_.election_tick;
    rc.raft.heartbeat_tick = cfg_.heartbeat_tick;
    rc.raft.random_seed = random_u64();
    rc.request_timeout_ms = cfg_.request_timeout.count();
    rc.no_leader_retry_ms = cfg_.tick.count();
    rc.session_seed = random_u64();  // a restarted node never reuses a client id
    rc.snapshot_entries = cfg_.snapshot_entries;
    rc.catchup_entries = cfg_.catchup_entries;
    rc.remove_absent_browsers_after_ms = cfg_.remove_absent_browsers_after.count();
    rc.min_voters = cfg_.min_voters;
    // A real network carries a snapshot in big chunks: 1 MiB frames (the codec takes up
    // to 8), four in flight. At the core's 64 KiB default a follower caught up at ~10 MB/s,
    // held back by round trips rather than by the disk or the network.
    rc.raft.snapshot_chunk_bytes = 1024 * 1024;
    snapshot_ = storage_->snapshot_meta();
    runtime_ = std::make_unique<NodeRuntime>(rc, storage_->take_restored(), static_cast<RuntimeHost*>(this));
    runtime_->raft_mut().faults = cfg_.faults;
    for (const std::string& name : Faults::names())
        if (cfg_.faults.get(name)) log_line("TEST ONLY: the rule fault %s is on", name.c_str());
    const Raft& raft = runtime_->raft();
    log_line("starting: term %llu, snapshot at %llu (term %llu), log [%llu, %llu], commit %llu, %zu members",
             (unsigned long long)raft.current_term(), (unsigned long long)snapshot_.index,
             (unsigned long long)snapshot_.term, (unsigned long long)raft.log().first_index(),
             (unsigned long long)raft.log().last_index(), (unsigned long long)raft.commit_index(),
             raft.membership().members.size());

    disk_ = std::make_unique<DiskWriter>(
        storage_.get(),
        [this](DiskWriter::Done d) {
            boost::asio::post(ioc_, [this, d = std::move(d)] { on_persisted(d); });
        },
        [this](const std::exception& e) {
            const auto* storage_error = dynamic_cast<const StorageError*>(&e);
            const int error_number = storage_error ? storage_error->error_number() : 0;
            boost::asio::post(ioc_, [this, what = std::string(e.what()), error_number] {
                on_disk_error(what, error_number);
            });
        });

    PeerTransportConfig tc;
    tc.self = cfg_.id;
    tc.cluster_id = cluster_id_;
    tc.listen_host = cfg_.listen_host;
    tc.listen_port = cfg_.listen_port;
    tc.wire = cfg_.wire;
    tc.max_accepted = cfg_.max_peer_connections;
    tc.token = cfg_.token;
    tc.refuse_peer = [this](NodeId id) -> std::string {
        // As the runtime hears them: refused once the removal has committed (a leader
        // that removed itself still leads, and may reconnect, until then).
        const Raft& raft = runtime_->raft();
        if (!raft.membership().was_removed(id) || raft.membership_index() > raft.commit_index()) return "";
        return "node " + std::to_string(id) + " was removed from this cluster; start it with a new --id and --join";
    };
    tc.on_removed = [this](const std::string& reason) { report_removed("a member refused it: " + reason); };
    transport_ = std::make_unique<PeerTransport>(
        ioc_, tc, &metrics_,
        [this](const Frame& f, NodeId link) {
            if (stopped_) return;
            runtime_->receive(f, link);
            schedule_ready();
        },
        [this](const std::string& id) { return adopt_cluster_id(id); });
    if (!transport_->start(error)) return false;
    on_membership(runtime_->raft().membership());

    http_ = std::make_unique<HttpServer>(ioc_, this, &metrics_, cfg_.web_dir, cfg_.token);
    if (!http_->listen(cfg_.http_host, cfg_.http_port, cfg_.max_clients, error)) return false;
    log_line("serving peers on %s:%u (/raft), clients on http://%s:%u", cfg_.listen_host.c_str(),
             unsigned(cfg_.listen_port), cfg_.http_host.c_str(), unsigned(cfg_.http_port));
    if (!joined())
        log_line("waiting for the cluster id: a fresh member learns it from the first peer that presents one "
                 "(node %llu draws it at the cluster's first start; or pass --cluster-id)",
                 (unsigned long long)first_member());

    on_tick();
    if (joining_) request_add();
    return true;
}

NodeId NodeHost::first_member() const { return bootstrap_.empty() ? kNoNode : bootstrap_.members.front().id; }

std::string NodeHost::load_bootstrap() {
    std::optional<Membership> stored;
    try {
        stored = read_bootstrap(cfg_.data_dir);
    } catch (const std::exception& e) {
        return e.what();
    }
    if (stored) {
        bootstrap_ = *stored;
        if (!cfg_.bootstrap.empty() && cfg_.bootstrap != bootstrap_)
            log_line("--cluster ignored: the data dir records the configuration this node first started with "
                     "(its log holds every change since)");
        if (!cfg_.join.empty()) log_line("--join ignored: this node joined its cluster already (its data dir says so)");
        return "";
    }
    if (!cfg_.bootstrap.empty()) {
        try {
            write_bootstrap(cfg_.data_dir, cfg_.bootstrap);
        } catch (const std::exception& e) {
            return std::string("cannot record the configuration in the data dir: ") + e.what();
        }
        bootstrap_ = cfg_.bootstrap;
        return "";
    }
    if (cfg_.join.empty())
        return "the data dir " + cfg_.data_dir +
               " records no configuration: start a new cluster with --cluster ID=PEER/HTTP,..., or join a running "
               "one with --join HOST:PORT (any member's --http address)";
    joining_ = true;
    return ask_to_join();
}

std::string NodeHost::ask_to_join() {
    const std::string target = cfg_.join;
    std::string host;
    uint16_t port = 0;
    if (!split_host_port(target, &host, &port)) return "--join '" + target + "' is not HOST:PORT";
    HttpClient client(host, port, kJoinTimeout);
    const HttpResult r = client.request("GET", "/members");
    if (!r.ok())
        return "cannot reach --join " + target + " (" + r.error +
               "); give the HTTP (--http) address of a running member of the cluster";
    if (r.status != 200)
        return "--join " + target + " answered " + std::to_string(r.status) + " to GET /members: " + error_of(r) +
               "; give the HTTP (--http) address of a running member of the cluster";
    const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("members") || !j["members"].is_array())
        return "--join " + target + " did not answer GET /members with a configuration; is it a raftbook node?";
    if (!j.contains("cluster_id") || !j["cluster_id"].is_string())
        return "--join " + target + " has not learned its cluster id yet; give another member's address";
    const std::string cluster_id = j["cluster_id"].get<std::string>();
    const std::string me = "node " + std::to_string(cfg_.id);
    for (const nlohmann::json& id : j.value("removed", nlohmann::json::array()))
        if (id == cfg_.id)
            return me + " was removed from this cluster and ids are never reused; start it with a new --id";
    join_targets_ = {target};
    for (const nlohmann::json& m : j["members"]) {
        if (!m.is_object()) continue;
        if (m.value("id", NodeId(0)) == cfg_.id) {
            if (m.value("peer", "") != host_port(cfg_.listen_host, cfg_.listen_port))
                return me + " is already a member of the cluster (peer address " + m.value("peer", "") +
                       "); pick a new --id, or restart that member with its own data dir";
            joining_ = false;  // our own add, retried after a crash: it took effect
        }
        const std::string http = m.value("http", "");
        if (!http.empty() && http != target) join_targets_.push_back(http);
    }
    if (!cfg_.cluster_id.empty() && cfg_.cluster_id != cluster_id)
        return "--cluster-id " + cfg_.cluster_id + " but --join " + target + " is in cluster " + cluster_id;
    try {
        storage_->set_cluster_id(cluster_id);
        if (!joining_) write_bootstrap(cfg_.data_dir, Membership{});
    } catch (const std::exception& e) {
        return std::string("cannot record the cluster id in the data dir: ") + e.what();
    }
    log_line("joining cluster '%s' through %s", cluster_id.c_str(), target.c_str());
    return "";
}

void NodeHost::request_add() {
    if (stopped_ || !joining_) return;
    const std::string target = join_targets_[join_attempt_ % join_targets_.size()];
    std::string host;
    uint16_t port = 0;
    split_host_port(target, &host, &port);
    join_http_ = std::make_unique<HttpConnection>(ioc_, host, port, kJoinTimeout);
    const nlohmann::json body = {{"id", cfg_.id},
                                 {"peer", host_port(cfg_.listen_host, cfg_.listen_port)},
                                 {"http", host_port(cfg_.http_host, cfg_.http_port)},
                                 {"learner", true}};
    Headers headers;
    if (!cfg_.token.empty()) headers.push_back({"Authorization", "Bearer " + cfg_.token});
    join_http_->request("POST", "/members", body.dump(), [this, target](HttpResult r) {
        if (stopped_) return;
        const std::string error = r.ok() ? error_of(r) : r.error;
        const bool added = r.ok() && r.status == 200;
        // A retry of our own add that took effect (an earlier attempt timed out) is
        // refused as "already a member": ask_to_join saw that this id was free.
        const bool ours = r.ok() && r.status == 409 && error.find("already a member") != std::string::npos;
        if (added || ours) {
            joining_ = false;
            try {
                write_bootstrap(cfg_.data_dir, Membership{});  // a restart needs no --join now
            } catch (const StorageError& e) {
                on_disk_error(e.what(), e.error_number());
                return;
            }
            log_line("added to the cluster as a learner%s; catching up", cfg_.learner ? "" : ", to be promoted once caught up");
            return;
        }
        if (r.ok() && r.status >= 400 && r.status < 500) {
            log_line("fatal: the cluster refused to add this node: %s", error.c_str());
            exit_code_ = 1;
            stop_serving();
            if (on_fatal) on_fatal();
            return;
        }
        log_line("asking %s to add this node: %s; retrying", target.c_str(), error.c_str());
        join_attempt_++;
        join_timer_.expires_after(kJoinRetry);
        join_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) request_add();
        });
    }, headers);
}

void NodeHost::on_membership(const Membership& membership) {
    if (membership.was_removed(cfg_.id)) report_removed("its configuration says so");
    if (!transport_) return;  // on start, before the transport exists: start() calls again
    // A founding member is dialled where this node's --cluster said (a relay, in chaos
    // runs, which cuts links one way); any other where the configuration says, unless
    // --test-dial names it (chaos's relays for members that joined).
    // Browser members are never dialled: they are reached over the link they opened,
    // here or at another native member (relayed: peer_transport.h).
    std::map<NodeId, std::string> peers;
    std::set<NodeId> browsers;
    for (const Member& m : membership.members) {
        const Member* founder = bootstrap_.find(m.id);
        const auto dial = cfg_.test_dial.find(m.id);
        const std::string& address = dial != cfg_.test_dial.end() ? dial->second : founder ? founder->peer : m.peer;
        if (m.browser) {
            browsers.insert(m.id);
        } else if (m.id != cfg_.id && !address.empty()) {
            peers[m.id] = address;
        }
    }
    transport_->set_browsers(browsers);
    transport_->set_peers(peers);
}

void NodeHost::report_removed(const std::string& how) {
    if (removed_) return;
    removed_ = true;
    log_line("this node was removed from the cluster (%s); start it with a new --id and --join", how.c_str());
}

std::string NodeHost::adopt_cluster_id(const std::string& id) {
    if (stopped_) return "node " + std::to_string(cfg_.id) + " is stopping";
    // Safe on this thread: a node that has not joined issues no disk writes (it neither
    // ticks nor takes frames or requests), so the disk thread is idle.
    try {
        storage_->set_cluster_id(id);  // durable before any Raft traffic of the cluster
    } catch (const StorageError& e) {
        on_disk_error(e.what(), e.error_number());
        return "node " + std::to_string(cfg_.id) + " cannot record it: " + e.what();
    } catch (const std::exception& e) {
        return e.what();
    }
    cluster_id_ = id;
    log_line("joined cluster '%s' (learned from a peer's Hello, recorded in %s)", id.c_str(), cfg_.data_dir.c_str());
    schedule_ready();
    return "";
}

void NodeHost::stop() {
    if (stopped_) return;
    stop_serving();
    if (!disk_) return;
    disk_->stop();
    // The commit index rides with the next batch of entries (no fsync of its own); at a
    // clean stop there is none, so the disk thread being done, record it now: a node
    // restarted alone then still knows what it had seen committed.
    try {
        storage_->record_commit(runtime_->raft().commit_index());
        storage_->sync();  // also fails if a write queued before the stop did
    } catch (const StorageError& e) {
        on_disk_error(e.what(), e.error_number());
    }
}

void NodeHost::on_disk_error(const std::string& error, int error_number) {
    if (exit_code_ == kExitDiskError) return;  // said once
    // Out of descriptors is no fault of the disk: say which limit to raise.
    const char* what_to_do =
        error_number == EMFILE   ? "the node is out of file descriptors: raise its open-file limit (ulimit -n)"
        : error_number == ENFILE ? "the system is out of file descriptors: raise fs.file-max or stop what holds them"
                                 : "fix the disk";
    log_line("fatal: cannot write to the data dir %s: %s. Stopping; %s and restart the node "
             "(it recovers from what is durable).",
             cfg_.data_dir.c_str(), error.c_str(), what_to_do);
    exit_code_ = kExitDiskError;
    if (stopped_) return;  // already stopping
    stop_serving();
    if (on_fatal) on_fatal();
}

void NodeHost::stop_serving() {
    stopped_ = true;
    tick_timer_.cancel();
    if (http_) http_->stop();
    if (transport_) transport_->stop();
}

// ---------------------------------------------------------------- the runtime's host

bool NodeHost::send(NodeId to, Frame frame) { return transport_->send(to, std::move(frame)); }

void NodeHost::write(DiskWrite w) {
    DiskWriter::Job job;
    job.id = w.id;
    job.hard_state = std::move(w.hard_state);
    job.snapshot = std::move(w.snapshot);
    if (w.snapshot_to_encode) job.encode_snapshot = [own = std::move(w.snapshot_to_encode)] { return own->encode(); };
    job.snapshot_resets_log = w.snapshot_resets_log;
    job.entries = std::move(w.entries);
    job.commit_index = w.commit_index;
    job.compact_to = w.compact_to;
    disk_->push(std::move(job));
}

TimeMs NodeHost::now() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void NodeHost::on_role_change(const Raft& raft, Role was_role, NodeId was_leader) {
    const Role role = raft.role();
    const NodeId leader = raft.leader_id();
    const auto term = (unsigned long long)raft.current_term();
    if (role != was_role && (role == Role::Leader || role == Role::Candidate || was_role == Role::Leader))
        log_line("%s in term %llu", role == Role::Leader ? "became leader" : role_name(role), term);
    if (leader != was_leader && leader != kNoNode && role != Role::Leader)
        log_line("following leader %llu in term %llu", (unsigned long long)leader, term);
}

void NodeHost::on_snapshot(const SnapshotMeta& meta, const KvStore&, bool installed) {
    if (installed)
        watches_.reset(meta.index);  // the changes it covers never pass through on_apply
    else
        took_snapshot_ = true;
}

void NodeHost::on_apply(const Entry& e, bool, const KvStore& kv) {
    const Applied& a = kv.last_applied();
    if (!a.changed) return;
    WatchEvent event;
    event.revision = e.index;
    event.key = a.key;
    event.deleted = a.deleted;
    if (!a.deleted) event.value = *kv.get(a.key);
    watches_.record(std::move(event));
}

// ---------------------------------------------------------------- inputs and the Ready loop

void NodeHost::schedule_ready() {
    if (ready_scheduled_ || stopped_) return;
    ready_scheduled_ = true;
    // Posted, not run now: inputs already queued in this turn of the loop join the Ready.
    boost::asio::post(ioc_, [this] { process_ready(); });
}

void NodeHost::process_ready() {
    ready_scheduled_ = false;
    if (stopped_ || !joined()) return;
    while (runtime_->has_ready()) {
        const auto start = std::chrono::steady_clock::now();
        took_snapshot_ = false;
        runtime_->process_ready();
        if (took_snapshot_)  // the event loop's share of a snapshot: the disk thread encodes it
            metrics_.snapshot_take_seconds.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
}

void NodeHost::on_tick() {
    if (stopped_) return;
    if (joined()) {
        runtime_->tick();
        schedule_ready();
    }
    watches_.observe_leader(joined() && runtime_->raft().leader_id() != kNoNode, std::chrono::steady_clock::now());
    tick_timer_.expires_after(cfg_.tick);
    tick_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) on_tick();
    });
}

void NodeHost::on_persisted(const DiskWriter::Done& done) {
    if (stopped_) return;
    if (done.synced) {
        metrics_.fsyncs++;
        metrics_.entries_persisted += done.entries;
        metrics_.fsync_seconds.observe(done.seconds);
    }
    if (done.snapshots > 0) {
        metrics_.snapshot_writes += done.snapshots;
        metrics_.snapshot_bytes_written += done.snapshot_bytes;
        metrics_.snapshot_write_seconds.observe(done.snapshot_seconds);
        if (done.snapshots_encoded > 0) metrics_.snapshot_encode_seconds.observe(done.encode_seconds);
        snapshot_ = done.snapshot;
    }
    metrics_.wal_segments_deleted += done.segments_deleted;
    runtime_->persisted(done.last_id);
    schedule_ready();
}

void NodeHost::submit(ClientRequest request, std::function<void(const ClientReply&)> done) {
    if (removed_) {
        ClientReply r;
        r.client_id = request.client_id;
        r.seq = request.seq;
        r.error = "node " + std::to_string(cfg_.id) +
                  " was removed from the cluster; ask another member (start this one with a new --id and --join)";
        done(r);
        return;
    }
    if (stopped_ || !joined()) {
        ClientReply r;
        r.client_id = request.client_id;
        r.seq = request.seq;
        r.error = stopped_ ? "node " + std::to_string(cfg_.id) + " is stopping; retry on another node"
                           : "node " + std::to_string(cfg_.id) +
                                 " has not joined its cluster yet: it is waiting to learn the cluster id from a "
                                 "peer (start node " +
                                 std::to_string(first_member()) + ", or pass --cluster-id)";
        done(r);
        return;
    }
    runtime_->submit(std::move(request), std::move(done));
    schedule_ready();
}

// ---------------------------------------------------------------- inspection

nlohmann::json NodeHost::status() const {
    const Raft& raft = runtime_->raft();
    const bool leader = raft.role() == Role::Leader;
    const Membership& config = raft.membership();
    nlohmann::json members = nlohmann::json::array();
    for (const Member& member : config.members) {
        nlohmann::json m = to_json(member);
        if (member.browser) {  // the native node it is reached through, as this node knows it
            const NodeId via = transport_->via(member.id);
            m["via"] = via == kNoNode ? nlohmann::json() : nlohmann::json(via);
        }
        if (member.id == cfg_.id) {
            m["self"] = true;
            m["connected"] = true;
            m["match_index"] = leader ? nlohmann::json(raft.log().persisted_index()) : nlohmann::json();
        } else {
            m["connected"] = transport_->connected(member.id);
            const Progress* pr = leader ? raft.progress(member.id) : nullptr;
            m["match_index"] = pr ? nlohmann::json(pr->match_index) : nlohmann::json();
        }
        members.push_back(m);
    }
    nlohmann::json s = runtime_->status();
    // The runtime's own snapshot when it reports one (it may have taken one not yet on
    // disk); else the newest durable one.
    if (!s.contains("snapshot_index")) {
        s["snapshot_index"] = snapshot_.index;
        s["snapshot_term"] = snapshot_.term;
    }
    s["cluster_id"] = joined() ? nlohmann::json(cluster_id_) : nlohmann::json();
    s["members"] = members;
    s["removed"] = config.removed;
    s["voter"] = config.is_voter(cfg_.id);
    if (removed_) s["removed_from_cluster"] = true;
    // For a page joining as a browser member: a browser that leads applies the same rule.
    s["remove_absent_browsers_after_ms"] = cfg_.remove_absent_browsers_after.count();
    s["min_voters"] = cfg_.min_voters;
    return s;
}

std::string NodeHost::metrics_text() const {
    const Raft& raft = runtime_->raft();
    return metrics_.render(runtime_->stats(),
                           {{"raftbook_term", double(raft.current_term())},
                            {"raftbook_is_leader", raft.role() == Role::Leader ? 1.0 : 0.0},
                            {"raftbook_commit_index", double(raft.commit_index())},
                            {"raftbook_applied_index", double(runtime_->kv().applied_index())},
                            {"raftbook_log_first_index", double(raft.log().first_index())},
                            {"raftbook_log_last_index", double(raft.log().last_index())},
                            {"raftbook_snapshot_durable_index", double(snapshot_.index)},
                            {"raftbook_pending_client_requests", double(runtime_->pending_requests())},
                            {"raftbook_disk_writes_in_flight", double(runtime_->writes_in_flight())},
                            {"raftbook_http_connections", double(http_ ? http_->open_connections() : 0)},
                            {"raftbook_watchers", double(watches_.watchers())}});
}

}  // namespace raftbook
