#include "native/proof/chaos.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/kv/kv_store.h"
#include "core/sim/rng.h"
#include "native/client/event_stream.h"
#include "native/client/http_client.h"
#include "native/proof/local_cluster.h"
#include "native/proof/power_loss.h"
#include "native/proof/relay_proxy.h"
#include "native/storage/storage.h"

namespace raftbook {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using Fn = HistoryEvent::Fn;
using Type = HistoryEvent::Type;
using Direction = RelayProxy::Direction;

constexpr auto kClientTimeout = 5s;      // longer than a node's own request timeout (3 s)
constexpr auto kStatusTimeout = 1s;
constexpr auto kLeaderWithin = 20s;
constexpr auto kConvergeWithin = 30s;
constexpr int kMaxThinkMs = 10;          // a client's pause between operations
constexpr int kFinalReadTries = 5;

// The history, as the clients make it. Each event gets its time under the lock, so the
// order of the list is the order of the times, and an invoke is recorded before its
// request leaves and a completion after its answer came.
class Recorder {
public:
    explicit Recorder(Clock::time_point t0) : t0_(t0) {}
    void add(HistoryEvent e) {
        std::lock_guard<std::mutex> lock(mu_);
        e.time = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0_).count();
        events_.push_back(std::move(e));
    }
    std::vector<HistoryEvent> events() const {
        std::lock_guard<std::mutex> lock(mu_);
        return events_;
    }
    // A process id never used before (after an info, a client continues under a new one).
    int64_t new_process() { return next_process_++; }
    size_t size() const {
        std::lock_guard<std::mutex> lock(mu_);
        return events_.size();
    }
    // A write the cluster acknowledged at `revision` (its 200's {"revision"}).
    void acknowledged(Index revision, SeenChange change) {
        std::lock_guard<std::mutex> lock(mu_);
        acked_.emplace(revision, std::move(change));
    }
    std::multimap<Index, SeenChange> acknowledged() const {
        std::lock_guard<std::mutex> lock(mu_);
        return acked_;
    }

private:
    Clock::time_point t0_;
    mutable std::mutex mu_;
    std::vector<HistoryEvent> events_;
    std::multimap<Index, SeenChange> acked_;
    std::atomic<int64_t> next_process_{1000};
};

struct Counts {
    std::atomic<uint64_t> writes_ok{0}, writes_failed{0}, writes_unknown{0}, reads_ok{0}, reads_failed{0};
    std::atomic<uint64_t> cas_ok{0}, cas_failed{0}, retries{0}, retries_settled{0};
};

constexpr int kBurstWrites = 16;   // writes sent to a leader as it is cut off (write_burst_to)
constexpr int kWriteAttempts = 3;  // a write of unknown outcome is sent up to this often

// One client operation. A cas carries `expected` (nullopt: the key must be absent) and
// is sent as ?prev_value=, or, when `prev_revision` is set, as ?prev_revision= (the
// revision at which the client saw `expected`).
struct Operation {
    Fn f = Fn::Read;
    std::string key, value;
    std::optional<std::string> expected;
    std::optional<Index> prev_revision;
    std::string idempotency_key;
};

// What a read or a successful write told the client: the key's value and revision.
struct Seen {
    std::optional<std::string> value;
    Index revision = 0;
};

// "1,3": a partition side.
std::string join(const std::vector<int>& ids) {
    std::string s;
    for (int id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
    return s;
}

// Sends one operation and records it: invoke, then ok, fail or info. A write of unknown
// outcome goes again, with the same Idempotency-Key, to a node `pick` gives (up to
// kWriteAttempts in all); the last answer settles it. Returns the completion's type, and
// in *seen what an ok told about the key.
Type run_operation(const std::function<HttpClient&()>& pick, Recorder& rec, Counts& counts, int64_t process,
                   const Operation& op, Seen* seen = nullptr) {
    HistoryEvent e;
    e.process = process;
    e.f = op.f;
    e.key = op.key;
    if (op.f != Fn::Read) e.value = op.value;
    if (op.f == Fn::Cas) e.expected = op.expected;
    e.type = Type::Invoke;
    rec.add(e);
    if (op.f == Fn::Read) {
        // A read changes nothing, so a read without an answer simply failed.
        const HttpResult r = pick().request("GET", kv_target(op.key));
        if (r.status == 200 || r.status == 404) {
            e.type = Type::Ok;
            if (r.status == 200) e.value = r.body;
            counts.reads_ok++;
            if (seen) {
                seen->value = e.value;
                const auto revision = r.headers.find("raftbook-revision");
                seen->revision = revision == r.headers.end() ? 0 : std::strtoull(revision->second.c_str(), nullptr, 10);
            }
        } else {
            e.type = Type::Fail;
            counts.reads_failed++;
        }
        rec.add(e);
        return e.type;
    }
    std::string target = kv_target(op.key);
    if (op.prev_revision) {
        target += "?prev_revision=" + std::to_string(*op.prev_revision);
    } else if (op.f == Fn::Cas) {
        target += op.expected ? "?prev_value=" + url_escape(*op.expected) : "?prev_revision=0";
    }
    bool maybe_applied = false;  // some attempt may have reached a node
    e.type = Type::Info;
    for (int attempt = 0; attempt < kWriteAttempts && e.type == Type::Info; attempt++) {
        if (attempt > 0) {
            counts.retries++;
            std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
        }
        const HttpResult r = pick().request("PUT", target, op.value, {{"Idempotency-Key", op.idempotency_key}});
        maybe_applied = maybe_applied || r.sent;
        if (r.status == 200) {
            // Committed (by this attempt or, for a retry, by an earlier one: then the node
            // answers the first one's result and applies nothing).
            e.type = Type::Ok;
            const nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
            const Index revision = body.is_object() ? body.value("revision", Index(0)) : 0;
            rec.acknowledged(revision, SeenChange{op.key, op.value});
            if (seen) *seen = Seen{op.value, revision};
        } else if (r.status == 412 && op.f == Fn::Cas) {
            e.type = Type::Fail;  // compared, found another value, changed nothing
        } else if (r.status >= 400 && r.status < 500 && !maybe_applied) {
            // Refused before any effect (and no earlier attempt may have applied). A cas
            // refused before it was compared is no "fail" (lincheck.h): leave it unknown.
            e.type = op.f == Fn::Cas ? Type::Info : Type::Fail;
            break;
        } else if (!r.sent && attempt == kWriteAttempts - 1 && !maybe_applied && op.f == Fn::Write) {
            e.type = Type::Fail;  // never reached any node
        }
        if (attempt > 0 && e.type != Type::Info) counts.retries_settled++;
    }
    if (e.type == Type::Ok) {
        counts.writes_ok++;
        if (op.f == Fn::Cas) counts.cas_ok++;
    } else if (e.type == Type::Fail) {
        counts.writes_failed++;
        if (op.f == Fn::Cas) counts.cas_failed++;
    } else {
        counts.writes_unknown++;
    }
    rec.add(e);
    return e.type;
}

// A watcher of every key ("k" prefix), on its own io thread: a GET /watch stream on one
// node; when the stream ends (the node killed, restarted), the same watch on the next
// node, resumed with Last-Event-ID; after `compacted`, a re-listing (GET /kv/?prefix=k)
// and a watch from the listing's revision + 1. Everything it sees goes into its WatchLog.
class ChaosWatcher {
public:
    // Starts watching from revision 1 after `delay`, on the `first`th of the HTTP ports
    // `ports` gives (the current members'), on the next one each time a stream ends.
    ChaosWatcher(std::function<std::vector<uint16_t>()> ports, size_t first, Clock::duration delay)
        : ports_(std::move(ports)), turn_(first), port_(pick_port()) {
        thread_ = std::thread([this] {
            auto work = boost::asio::make_work_guard(ioc_);
            ioc_.run();
        });
        boost::asio::post(ioc_, [this, delay] {
            timer_.expires_after(delay);
            timer_.async_wait([this](const boost::system::error_code& ec) {
                if (!ec) connect();
            });
        });
    }
    ~ChaosWatcher() { stop(); }
    void stop() {
        boost::asio::post(ioc_, [this] {
            stopped_ = true;
            stream_.reset();
            ioc_.stop();
        });
        if (thread_.joinable()) thread_.join();
    }
    // The revision up to which it has seen everything (events or a listing).
    Index last() const {
        std::lock_guard<std::mutex> lock(mu_);
        return last_;
    }
    WatchLog log() const {
        std::lock_guard<std::mutex> lock(mu_);
        return log_;
    }
    uint64_t resumes = 0, relists = 0, stale = 0;  // read after stop()

private:
    void connect() {
        if (stopped_) return;
        auto stream = std::make_unique<EventStream>(ioc_, "127.0.0.1", port_);
        stream->open("/watch/?prefix=k", {{"Last-Event-ID", std::to_string(last())}},
                     [this](const ServerEvent& e) { on_event(e); }, [this](const std::string&) { on_end(); });
        stream_ = std::move(stream);
    }
    void on_event(const ServerEvent& e) {
        if (e.event == "compacted") {
            must_relist_ = true;
        } else if (e.event == "stale") {
            stale++;
        } else if (e.event.empty() && !e.id.empty()) {
            const nlohmann::json data = nlohmann::json::parse(e.data, nullptr, false);
            // An event that is not {"key": string, "value": string | "deleted": true} is kept
            // with an empty key, so that the check names its revision.
            WatchLog::Item item;
            item.revision = std::strtoull(e.id.c_str(), nullptr, 10);
            const auto text = [&](const char* field) {
                return data.is_object() && data.contains(field) && data[field].is_string()
                           ? std::optional<std::string>(data[field].get<std::string>())
                           : std::nullopt;
            };
            item.change.key = text("key").value_or("");
            const bool deleted = data.is_object() && data.contains("deleted") && data["deleted"] == true;
            if (!deleted) item.change.value = text("value").value_or("");
            std::lock_guard<std::mutex> lock(mu_);
            log_.items.push_back(item);
            last_ = std::max(last_, item.revision);
        }
    }
    // The stream ended: on to the next node, after a moment (and a re-listing if told).
    void on_end() {
        timer_.expires_after(200ms);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec || stopped_) return;
            stream_.reset();
            turn_++;
            port_ = pick_port();
            if (must_relist_ && !relist()) return on_end();  // try again on the next node
            must_relist_ = false;
            resumes++;
            connect();
        });
    }
    bool relist() {
        HttpClient http("127.0.0.1", port_, kClientTimeout);
        WatchLog::Item item;
        item.relist.emplace();
        std::string after;
        for (bool more = true; more;) {
            const HttpResult r = http.request("GET", "/kv/?prefix=k&limit=1000" + (after.empty() ? "" : "&after=" + url_escape(after)));
            const nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
            if (r.status != 200 || !body.is_object() || !body.contains("items")) return false;
            try {  // a listing of another shape is no listing (json throws on a wrong type)
                if (item.revision == 0) item.revision = body.value("revision", Index(0));
                for (const nlohmann::json& i : body.at("items")) {
                    after = i.at("key").get<std::string>();
                    (*item.relist)[after] = i.at("value").get<std::string>();
                }
                more = body.value("more", false);
            } catch (const nlohmann::json::exception&) {
                return false;
            }
        }
        relists++;
        std::lock_guard<std::mutex> lock(mu_);
        last_ = std::max(last_, item.revision);
        log_.items.push_back(std::move(item));
        return true;
    }

    uint16_t pick_port() const {
        const std::vector<uint16_t> ports = ports_();
        return ports[turn_ % ports.size()];
    }

    std::function<std::vector<uint16_t>()> ports_;
    size_t turn_;
    uint16_t port_;
    boost::asio::io_context ioc_;
    boost::asio::steady_timer timer_{ioc_};
    std::unique_ptr<EventStream> stream_;
    bool stopped_ = false, must_relist_ = false;
    mutable std::mutex mu_;
    WatchLog log_;
    Index last_ = 0;
    std::thread thread_;
};

// A direction between two nodes: the bytes `from` sends to `to`.
struct Link {
    int from, to;
};

// The configuration as a member tells it (GET /members).
struct ClusterView {
    bool ok = false;  // some member answered
    int leader = 0;
    std::set<int> voters, learners, removed;
};

// With --membership the nemesis keeps the cluster between these many voters (or
// --nodes, when more), and gives each node that may join an id of its own up front:
// one per this many seconds of the run, within bounds.
constexpr size_t kMinVoters = 3, kMaxVoters = 5;
constexpr int kSecondsPerSlot = 8, kMinJoinSlots = 4, kMaxJoinSlots = 24;

class Harness {
public:
    explicit Harness(const ChaosConfig& cfg) : cfg_(cfg), rng_(cfg.seed ^ 0x6368616F73ULL) {}

    ChaosReport run();

private:
    bool setup();
    void client_loop(int index);
    void nemesis();
    void heal_everything();
    bool converge();
    void final_reads();
    void check_logs(const std::vector<HistoryEvent>& history);
    void judge_history(const std::vector<HistoryEvent>& history);

    // Faults.
    int leader_now();
    bool isolate_leaders_in_turn(const std::set<int>& busy);
    void write_burst_to(int id);
    int pick_node(const std::set<int>& busy);
    void kill_nodes(const std::vector<int>& ids);
    void restart_node(int id);
    void pause_node(int id);
    void resume_node(int id);
    void cut(const Link& l, bool sever);
    void say(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
    void wait(Clock::duration d);
    void check_exits();
    // Membership (--membership).
    std::vector<int> members() const;
    uint16_t http_port(int id) const { return http_ports_[size_t(id - 1)]; }
    ClusterView view();
    void change_membership(std::set<int>& busy);
    void transfer_leadership();
    void add_node(std::set<int>& busy);
    bool remove_member(int id, const std::set<int>& busy);
    void replace_dead_node(std::set<int>& busy);
    void retire(int id);
    bool start_node(int id, int via = 0);
    int join_via(int id);
    std::string durability_log_path(int id) const { return dir_ + "/node" + std::to_string(id) + ".durability"; }

    const ChaosConfig cfg_;
    ChaosReport report_;
    Rng rng_;
    std::string dir_;
    bool temp_dir_ = false;
    Clock::time_point t0_;
    std::vector<uint16_t> http_ports_;  // node i's at [i-1], for every id a node may have
    int slots_ = 0;                     // node ids 1..slots_: the founders, then those that may join
    int next_slot_ = 0;                 // the id the next node to join gets
    mutable std::mutex members_mu_;
    std::set<int> members_;             // the nodes in play: started, and not (known to be) removed
    std::set<int> retired_;             // removed from the cluster, and stopped
    size_t membership_turn_ = 0;
    std::map<int, std::vector<int>> reserved_;  // sockets holding the ports of ids not started yet
    std::unique_ptr<LocalCluster> cluster_;
    boost::asio::io_context ioc_;
    std::map<std::pair<int, int>, std::unique_ptr<RelayProxy>> relays_;  // (a, b): a dials b through it
    std::thread io_thread_;
    std::unique_ptr<Recorder> rec_;
    Counts counts_;
    std::atomic<bool> stop_clients_{false};
    std::vector<std::thread> burst_writers_;  // write_burst_to's, joined with the clients
    int bursts_ = 0;
    std::set<int> killed_, paused_;
    std::map<std::string, std::string> final_state_;  // the first member's, rebuilt from its data dir
    std::vector<std::unique_ptr<ChaosWatcher>> watchers_;
    void check_watchers();
    void check_links();
    Index last_change() const;
    Clock::time_point next_progress_;
};

void Harness::say(const char* fmt, ...) {
    if (!cfg_.verbose) return;
    char line[512];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    const double t = std::chrono::duration<double>(Clock::now() - t0_).count();
    std::fprintf(stderr, "[%6.1f s] %s\n", t, line);
}

bool Harness::setup() {
    if (cfg_.dir.empty()) {
        char tmpl[] = "/tmp/raftbook-chaos-XXXXXX";
        if (!::mkdtemp(tmpl)) {
            report_.problems.push_back(std::string("cannot create a temp dir: ") + std::strerror(errno));
            return false;
        }
        dir_ = tmpl;
        temp_dir_ = true;
    } else {
        dir_ = cfg_.dir;
    }
    report_.dir = dir_;
    io_thread_ = std::thread([this] {
        auto work = boost::asio::make_work_guard(ioc_);
        ioc_.run();
    });
    const int n = cfg_.nodes;
    const int seconds = int(std::chrono::duration_cast<std::chrono::seconds>(cfg_.duration).count());
    slots_ = n + (cfg_.membership ? std::clamp(seconds / kSecondsPerSlot, kMinJoinSlots, kMaxJoinSlots) : 0);
    next_slot_ = n + 1;
    std::vector<LocalNodePorts> ports;
    std::vector<uint16_t> free;
    try {
        free = free_loopback_ports(size_t(2 * slots_));
    } catch (const std::exception& e) {
        report_.problems.push_back(e.what());
        return false;
    }
    for (int i = 0; i < slots_; i++) {
        ports.push_back({free[size_t(2 * i)], free[size_t(2 * i + 1)]});
        http_ports_.push_back(ports.back().http);
        // Held until the node starts: the relays' listeners and the clients' connections
        // would otherwise be given them meanwhile.
        for (uint16_t port : {ports.back().http, ports.back().peer}) {
            const int fd = reserve_loopback_port(port);
            if (fd >= 0) reserved_[i + 1].push_back(fd);
        }
    }
    cluster_ = std::make_unique<LocalCluster>(ports, dir_);
    // A relay for every pair of ids, those of nodes that may join included: a joining
    // node dials its peers through relays, and they dial it through theirs
    // (serve --test-dial), so that every link can be cut.
    for (int a = 1; a <= slots_; a++) {
        for (int b = 1; b <= slots_; b++) {
            if (a == b) continue;
            auto relay = std::make_unique<RelayProxy>(ioc_, "127.0.0.1", ports[size_t(b - 1)].peer);
            std::string error;
            if (!relay->listen(0, &error)) {
                report_.problems.push_back(error);
                return false;
            }
            relays_[{a, b}] = std::move(relay);
        }
    }
    // Node a's --cluster (a founder's): its own real address, and a relay for every
    // peer; with --membership, a relay for every other id (--test-dial). And the
    // test-only flags: its durability log, its rule faults.
    for (int a = 1; a <= slots_; a++) {
        std::string members, dial;
        for (int b = 1; b <= slots_; b++) {
            const std::string relay = a == b ? "" : "127.0.0.1:" + std::to_string(relays_[{a, b}]->port());
            if (b <= n)
                members += (b > 1 ? "," : "") + std::to_string(b) + "=" + (a == b ? cluster_->peer_address(a) : relay) +
                           "/" + cluster_->http_address(b);
            if (a != b) dial += (dial.empty() ? "" : ",") + std::to_string(b) + "=" + relay;
        }
        std::vector<std::string> args;
        if (a <= n) args.insert(args.end(), {"--cluster", members});
        if (cfg_.membership) args.insert(args.end(), {"--test-dial", dial});
        if (cfg_.watch_history > 0) args.insert(args.end(), {"--watch-history", std::to_string(cfg_.watch_history)});
        if (cfg_.snapshot_entries > 0)
            args.insert(args.end(), {"--snapshot-entries", std::to_string(cfg_.snapshot_entries), "--catchup-entries",
                                     std::to_string(cfg_.catchup_entries)});
        if (cfg_.power_loss) args.insert(args.end(), {"--test-durability-log", durability_log_path(a)});
        if (cfg_.slow_disk_ms > 0) args.insert(args.end(), {"--test-slow-disk", std::to_string(cfg_.slow_disk_ms)});
        std::string faults;
        for (const std::string& name : Faults::names())
            if (cfg_.faults.count(a) && cfg_.faults.at(a).get(name)) faults += (faults.empty() ? "" : ",") + name;
        if (!faults.empty()) args.insert(args.end(), {"--test-fault", faults});
        cluster_->set_extra_args(a, args);
    }
    for (int id = 1; id <= n; id++) {
        if (!start_node(id)) return false;
        members_.insert(id);
    }
    const auto deadline = Clock::now() + kLeaderWithin;
    while (cluster_->agreed_leader(kStatusTimeout) == 0) {
        if (Clock::now() > deadline) {
            report_.problems.push_back("the cluster elected no leader within 20 s of starting; see the node logs in " +
                                       dir_);
            return false;
        }
        std::this_thread::sleep_for(100ms);
        check_exits();
    }
    return report_.problems.empty();
}

// Each client picks a key and a member at random: a read (35 %), a write (30 %) or a cas
// (35 %) of what it last saw of the key (by value or by revision, half each; a read
// first when it has seen nothing of the key yet).
void Harness::client_loop(int index) {
    Rng rng(cfg_.seed * 0x9E3779B97F4A7C15ULL + uint64_t(index) + 1);
    std::vector<std::unique_ptr<HttpClient>> http;
    for (uint16_t port : http_ports_) http.push_back(std::make_unique<HttpClient>("127.0.0.1", port, kClientTimeout));
    const std::function<HttpClient&()> pick = [&]() -> HttpClient& {
        const std::vector<int> ids = members();
        return *http[size_t(ids[size_t(rng.range(0, int64_t(ids.size()) - 1))] - 1)];
    };
    int64_t process = index;
    uint64_t written = 0;
    std::map<std::string, Seen> seen;  // by key
    while (!stop_clients_) {
        Operation op;
        op.key = "k" + std::to_string(rng.range(0, cfg_.keys - 1));
        const int64_t dice = rng.range(0, 99);
        const auto known = seen.find(op.key);
        op.f = dice < 35 || (dice >= 65 && known == seen.end()) ? Fn::Read : dice < 65 ? Fn::Write : Fn::Cas;
        if (op.f != Fn::Read) {
            op.value = "c" + std::to_string(index) + "-" + std::to_string(++written);
            op.idempotency_key = "chaos-" + op.value;
        }
        if (op.f == Fn::Cas) {
            op.expected = known->second.value;
            if (rng.chance(0.5)) op.prev_revision = known->second.value ? known->second.revision : 0;
        }
        Seen now;
        const Type t = run_operation(pick, *rec_, counts_, process, op, &now);
        if (t == Type::Ok) {
            seen[op.key] = now;
        } else if (op.f != Fn::Read) {
            seen.erase(op.key);  // it may have changed; read it again before the next cas
        }
        if (t == Type::Info) process = rec_->new_process();
        std::this_thread::sleep_for(std::chrono::milliseconds(rng.range(0, kMaxThinkMs)));
    }
}

// Nodes that ended without the nemesis killing them are bugs: noted, and restarted so
// that the run (and its checks) can go on.
void Harness::check_exits() {
    for (const auto& [id, how] : cluster_->reap()) {
        if (killed_.count(id) || retired_.count(id)) continue;
        report_.problems.push_back("node " + std::to_string(id) + " " + how + " without being killed; its log ends:\n" +
                                   cluster_->log_tail(id));
        say("node %d %s on its own", id, how.c_str());
        paused_.erase(id);
        start_node(id);
    }
}

// A voter that runs, for node `id` to join through; 0 when none answers.
int Harness::join_via(int id) {
    const ClusterView v = view();
    std::vector<int> up;
    for (int m : members())
        if (m != id && v.voters.count(m) && cluster_->running(m) && !paused_.count(m)) up.push_back(m);
    return up.empty() ? 0 : up[size_t(rng_.range(0, int64_t(up.size()) - 1))];
}

// Starts node `id` on its reserved ports (again: same ports, same data). One that
// joins goes through `via`, or else through join_via: serve --join asks it whom to
// join (on a restart after it joined, serve ignores --join). False, noted as a
// problem, when the process cannot be created.
bool Harness::start_node(int id, int via) {
    if (id > cfg_.nodes && via == 0) via = join_via(id);
    if (via > 0) cluster_->set_join(id, cluster_->http_address(via));
    for (int fd : reserved_[id]) ::close(fd);
    reserved_.erase(id);
    std::string error;
    if (!cluster_->start(id, &error)) {
        report_.problems.push_back(error);
        return false;
    }
    return true;
}

void Harness::wait(Clock::duration d) {
    const auto until = Clock::now() + d;
    while (Clock::now() < until) {
        std::this_thread::sleep_for(std::min<Clock::duration>(100ms, until - Clock::now()));
        check_exits();
        if (cfg_.verbose && Clock::now() >= next_progress_) {
            next_progress_ = Clock::now() + 5s;
            say("%llu operations: writes %llu ok, %llu failed, %llu unknown; reads %llu ok, %llu failed%s",
                static_cast<unsigned long long>(counts_.writes_ok + counts_.writes_failed + counts_.writes_unknown +
                                                counts_.reads_ok + counts_.reads_failed),
                static_cast<unsigned long long>(counts_.writes_ok.load()),
                static_cast<unsigned long long>(counts_.writes_failed.load()),
                static_cast<unsigned long long>(counts_.writes_unknown.load()),
                static_cast<unsigned long long>(counts_.reads_ok.load()),
                static_cast<unsigned long long>(counts_.reads_failed.load()),
                cfg_.membership ? ("; nodes " + join(members())).c_str() : "");
        }
    }
}

// The leader as any answering node sees it, 0 when none is known.
int Harness::leader_now() {
    for (int id : members()) {
        if (!cluster_->running(id) || paused_.count(id)) continue;
        const nlohmann::json s = cluster_->status(id, 300ms);
        if (s.is_object() && s.value("leader", 0) > 0) return s.value("leader", 0);
    }
    return 0;
}

// Half of the time the leader (when it is free), else a random free node.
int Harness::pick_node(const std::set<int>& busy) {
    const int leader = rng_.chance(0.5) ? leader_now() : 0;
    if (leader > 0 && !busy.count(leader)) return leader;
    std::vector<int> free;
    for (int id : members())
        if (!busy.count(id)) free.push_back(id);
    return free[size_t(rng_.range(0, int64_t(free.size()) - 1))];
}

// SIGKILL to every node in `ids` at once; then, with --power-loss, each loses what it
// had not fsynced.
void Harness::kill_nodes(const std::vector<int>& ids) {
    std::vector<int> killed;
    for (int id : ids) {
        if (!cluster_->running(id)) continue;  // pid 0 would signal our own process group
        killed_.insert(id);
        killed.push_back(id);
        ::kill(cluster_->pid(id), SIGKILL);
    }
    const auto deadline = Clock::now() + 5s;
    for (int id : killed) {
        while (cluster_->running(id) && Clock::now() < deadline) {
            std::this_thread::sleep_for(10ms);
            check_exits();
        }
        if (!cfg_.power_loss) continue;
        try {
            const PowerLossCut cut = lose_unsynced(durability_log_path(id));
            say("power loss on node %d: %s", id, cut.describe().c_str());
        } catch (const std::exception& e) {
            report_.problems.push_back(std::string("node ") + std::to_string(id) + ": " + e.what());
        }
    }
}

void Harness::restart_node(int id) {
    start_node(id);
    killed_.erase(id);
}

void Harness::pause_node(int id) {
    if (!cluster_->running(id)) return;
    paused_.insert(id);
    ::kill(cluster_->pid(id), SIGSTOP);
    report_.faults["pause"]++;
}

void Harness::resume_node(int id) {
    if (cluster_->running(id)) ::kill(cluster_->pid(id), SIGCONT);
    paused_.erase(id);
}

// Stops the bytes from l.from to l.to on both relays between them: held, or (when
// `sever`) every connection between the two closed and refused.
void Harness::cut(const Link& l, bool sever) {
    RelayProxy& dialled_by_from = *relays_[{l.from, l.to}];
    RelayProxy& dialled_by_to = *relays_[{l.to, l.from}];
    if (sever) {
        dialled_by_from.sever();
        dialled_by_to.sever();
    } else {
        dialled_by_from.hold(Direction::Upstream);
        dialled_by_to.hold(Direction::Downstream);
    }
}

void Harness::nemesis() {
    const auto end = t0_ + cfg_.duration;
    // With --power-loss, a sixth kind: every node loses power at once (a rack's), which
    // a node that acknowledges before it fsyncs cannot survive even when its leader can.
    // With --membership, one more kind: a membership change (change_membership).
    std::vector<std::string> kinds_available = {"kill", "pause", "partition", "one-way", "isolate-leader"};
    const int power_off = int(kinds_available.size());
    if (cfg_.power_loss) kinds_available.push_back("power-off");
    if (cfg_.membership) kinds_available.push_back("membership");
    const int kinds_in_use = int(kinds_available.size());
    while (true) {
        wait(std::chrono::milliseconds(rng_.range(500, 2000)));
        if (Clock::now() >= end) break;
        // One fault, or now and then two of different kinds at once.
        // Under --power-loss, a power-off a third of the time: it is what the mode is for.
        // Under --membership, a membership change half of the time, for the same reason.
        const int membership = kinds_in_use - 1;
        std::vector<int> kinds = {cfg_.power_loss && rng_.chance(1.0 / 3)   ? power_off
                                  : cfg_.membership && rng_.chance(1.0 / 2) ? membership
                                                                            : int(rng_.range(0, kinds_in_use - 1))};
        if (rng_.chance(0.25)) kinds.push_back((kinds[0] + int(rng_.range(1, kinds_in_use - 1))) % kinds_in_use);
        std::set<int> busy;  // nodes killed or paused by this step
        bool relays_touched = false;
        for (int kind : kinds) {
            const std::string name = kinds_available[size_t(kind)];
            if (name == "power-off") {
                say("power off: every node at once");
                kill_nodes(members());
                report_.faults["power off (every node at once)"]++;
            } else if (name == "kill" || name == "pause") {
                const int id = pick_node(busy);
                busy.insert(id);
                const bool leader = id == leader_now();
                if (name == "kill") {
                    say("kill -9 node %d%s", id, leader ? " (the leader)" : "");
                    kill_nodes({id});
                    report_.faults[cfg_.power_loss ? "power loss (kill -9, unsynced writes lost)" : "kill -9"]++;
                } else {
                    pause_node(id);
                    say("pause node %d%s (SIGSTOP)", id, leader ? " (the leader)" : "");
                }
            } else if (name == "membership") {
                change_membership(busy);
            } else if (name == "partition") {
                // A random minority (half of the time holding the leader) against the rest.
                std::vector<int> order = members();
                const int n = int(order.size());
                for (int i = n - 1; i > 0; i--) std::swap(order[size_t(i)], order[size_t(rng_.range(0, i))]);
                const int leader = rng_.chance(0.5) ? leader_now() : 0;
                const auto at = std::find(order.begin(), order.end(), leader);
                if (at != order.end()) std::swap(order[0], *at);
                const auto split = order.begin() + rng_.range(1, n / 2);
                const std::vector<int> minority(order.begin(), split), majority(split, order.end());
                const bool sever = rng_.chance(0.5);
                for (int a : minority) {
                    for (int b : majority) {
                        cut({a, b}, sever);
                        cut({b, a}, sever);
                    }
                }
                relays_touched = true;
                report_.faults[sever ? "partition (connections severed)" : "partition (bytes held)"]++;
                say("partition %s | %s, %s%s", join(minority).c_str(), join(majority).c_str(),
                    sever ? "connections severed" : "bytes held", at != order.end() ? " (the leader cut off)" : "");
            } else if (name == "isolate-leader") {
                if (isolate_leaders_in_turn(busy)) relays_touched = true;
            } else {
                const std::vector<int> ids = members();
                const int n = int(ids.size());
                const int from_at = int(rng_.range(0, n - 1));
                const int from = ids[size_t(from_at)], to = ids[size_t((from_at + rng_.range(1, n - 1)) % n)];
                cut({from, to}, false);
                relays_touched = true;
                report_.faults["one-way cut"]++;
                say("one-way cut: node %d's bytes to node %d held", from, to);
            }
        }
        wait(std::chrono::milliseconds(rng_.range(1000, 4000)));
        for (int id : std::set<int>(killed_)) {
            restart_node(id);
            say("restart node %d", id);
        }
        for (int id : std::set<int>(paused_)) {
            resume_node(id);
            say("resume node %d (SIGCONT)", id);
        }
        if (relays_touched) {
            for (auto& [link, relay] : relays_) relay->restore();
            say("network healed");
        }
    }
}

// Leaders cut off one after another, so that logs diverge the way Figure 7 of the Raft
// paper draws them. The leader alone is cut off; it goes on accepting writes (into its
// log, never to commit) until check-quorum deposes it, while the others elect a second
// leader. As soon as they have one, the first rejoins and the second is cut off in its
// place; the rest elect a third, whose log ends with the second's few entries. Its
// first AppendEntries to the first leader then lands inside that node's longer,
// divergent suffix, at an index where the two logs hold entries of different terms:
// exactly where the consistency check (§5.3) must refuse it. (A single isolation does
// not get there: the next leader's first probe starts where its log and the old
// leader's still agree.)
bool Harness::isolate_leaders_in_turn(const std::set<int>& busy) {
    int isolated = leader_now();
    if (isolated == 0 || busy.count(isolated)) return false;
    // Cut a node off; then (second leader) rejoin the previous one — in that order, or
    // the second leader would repair the first's log before it is cut off.
    const std::vector<int> ids = members();
    const auto cut_off = [&](int node) {
        for (int b : ids)
            if (b != node) cut({node, b}, true), cut({b, node}, true);
    };
    const auto rejoin = [&](int node, int still_cut) {
        for (int b : ids)
            if (b != node && b != still_cut) relays_[{node, b}]->restore(), relays_[{b, node}]->restore();
    };
    // The term of the newest leader cut off: the next one must be of a later term (a
    // leader cut off a moment ago still says "leader" until check-quorum deposes it).
    const nlohmann::json first = cluster_->status(isolated, 200ms);
    uint64_t term = first.is_object() ? first.value("term", uint64_t(0)) : 0;
    cut_off(isolated);
    write_burst_to(isolated);
    say("isolate the leader, node %d, until the others elect another; %d clients write to it", isolated, kBurstWrites);
    for (int round = 0; round < 2; round++) {
        const auto give_up = Clock::now() + 5s;
        int elected = 0;
        while (elected == 0 && Clock::now() < give_up) {
            std::this_thread::sleep_for(10ms);
            for (int b : ids) {
                if (elected != 0) break;
                if (b == isolated || !cluster_->running(b) || paused_.count(b)) continue;
                const nlohmann::json s = cluster_->status(b, 200ms);
                if (s.is_object() && s.value("role", "") == std::string("leader") && s.value("term", uint64_t(0)) > term) {
                    elected = b;
                    term = s.value("term", uint64_t(0));
                }
            }
        }
        const bool again = round == 0 && elected > 0 && !busy.count(elected);
        if (again) cut_off(elected);
        rejoin(isolated, again ? elected : 0);
        if (!again) break;
        say("node %d leads and is isolated in turn; node %d rejoins", elected, isolated);
        isolated = elected;
    }
    report_.faults["leaders isolated in turn"]++;
    return true;
}

// Clients that know node `id` as the leader keep writing to it, as clients bound to one
// node do (Jepsen's): kBurstWrites of them at once, each an ordinary operation of its own
// process in the history. Cut off, the node appends them all, so its log grows a suffix
// the others never see, longer than what the next leader commits before it is cut off
// in turn (isolate_leaders_in_turn).
void Harness::write_burst_to(int id) {
    const int burst = ++bursts_;
    for (int i = 0; i < kBurstWrites; i++) {
        Operation op;
        op.f = Fn::Write;
        op.key = "k" + std::to_string(rng_.range(0, cfg_.keys - 1));
        op.value = "b" + std::to_string(burst) + "-" + std::to_string(i);
        op.idempotency_key = "chaos-" + op.value;
        const int64_t process = rec_->new_process();
        burst_writers_.emplace_back([this, id, op, process] {
            HttpClient http("127.0.0.1", http_port(id), kClientTimeout);
            run_operation([&http]() -> HttpClient& { return http; }, *rec_, counts_, process, op);
        });
    }
}

std::vector<int> Harness::members() const {
    std::lock_guard<std::mutex> lock(members_mu_);
    return std::vector<int>(members_.begin(), members_.end());
}

// GET /members of the leader, or else of the first member that answers.
ClusterView Harness::view() {
    ClusterView v;
    std::vector<int> ask = members();
    const int leader = leader_now();
    if (leader > 0) ask.insert(ask.begin(), leader);
    for (int id : ask) {
        if (!cluster_->running(id) || paused_.count(id)) continue;
        HttpClient http("127.0.0.1", http_port(id), kStatusTimeout);
        const HttpResult r = http.request("GET", "/members");
        const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
        if (r.status != 200 || !j.is_object() || !j.contains("members") || !j["members"].is_array()) continue;
        try {  // an answer of another shape is no answer (json throws on a wrong type)
            for (const nlohmann::json& m : j.at("members"))
                (m.at("voter").get<bool>() ? v.voters : v.learners).insert(m.at("id").get<int>());
            for (const nlohmann::json& id : j.value("removed", nlohmann::json::array())) v.removed.insert(id.get<int>());
            v.leader = j.value("leader", 0);
        } catch (const nlohmann::json::exception&) {
            v = ClusterView{};
            continue;
        }
        v.ok = true;
        break;
    }
    return v;
}

// One membership change, the kinds in turn (one that cannot be made now passes its turn
// on): add a node, replace a dead node (remove it, add one under a new id), hand
// leadership to another member, remove a member (the leader half of the time, a node
// that is down when there is one). Adds and removes keep the voters between kMinVoters
// and kMaxVoters; nodes still joining count as voters to be. (In this order a cluster
// of 3 grows to 4, replaces one, and shrinks back.)
void Harness::change_membership(std::set<int>& busy) {
    const ClusterView v = view();
    if (!v.ok) {
        say("membership change skipped: no member answers GET /members");
        return;
    }
    size_t joining = 0;
    for (int id : members())
        if (!v.voters.count(id) && !v.learners.count(id)) joining++;
    const size_t most = std::max(kMaxVoters, size_t(cfg_.nodes));
    const bool can_add = v.voters.size() + v.learners.size() + joining < most && next_slot_ <= slots_;
    const bool can_remove = v.voters.size() > kMinVoters;
    for (int tries = 0; tries < 4; tries++) {
        switch (membership_turn_++ % 4) {
            case 0:
                if (!can_add) break;
                return add_node(busy);
            case 1:
                if (!can_remove || next_slot_ > slots_) break;
                return replace_dead_node(busy);
            case 2:
                return transfer_leadership();
            case 3: {
                if (!can_remove) break;
                std::vector<int> down, voters;
                for (int id : v.voters)
                    if (members_.count(id)) (killed_.count(id) ? down : voters).push_back(id);
                const int leader = leader_now();
                const bool can_leader = leader > 0 && v.voters.count(leader) && !busy.count(leader);
                if (!down.empty() && rng_.chance(0.5)) {
                    remove_member(down[size_t(rng_.range(0, int64_t(down.size()) - 1))], busy);
                } else if (can_leader && (voters.empty() || rng_.chance(0.5))) {
                    remove_member(leader, busy);
                } else if (!voters.empty()) {
                    remove_member(voters[size_t(rng_.range(0, int64_t(voters.size()) - 1))], busy);
                } else {
                    break;
                }
                return;
            }
        }
    }
}

// The leader hands leadership to a random other member (a learner refuses: 409).
void Harness::transfer_leadership() {
    const int leader = leader_now();
    std::vector<int> others;
    for (int id : members())
        if (id != leader) others.push_back(id);
    if (leader == 0 || others.empty()) return;
    const int target = others[size_t(rng_.range(0, int64_t(others.size()) - 1))];
    HttpClient http("127.0.0.1", http_port(leader), kClientTimeout);
    const HttpResult r = http.request("POST", "/transfer-leader", "{\"id\": " + std::to_string(target) + "}");
    report_.faults[r.status == 200 ? "leadership transfer" : "leadership transfer (refused or abandoned)"]++;
    say("transfer leadership %d -> %d: %s", leader, target,
        r.status == 200 ? "done" : (r.ok() ? r.body.substr(0, 120) : r.error).c_str());
}

// A new node under the next unused id: fresh ports and data dir, `serve --join` through
// a voter that runs; it is added as a learner and asks for its promotion once caught up.
void Harness::add_node(std::set<int>& busy) {
    const int id = next_slot_;
    const int via = join_via(id);
    if (via == 0) return;
    next_slot_++;
    // `via` must answer while the new node asks it whom to join (serve exits when it
    // cannot): no other fault of this step takes it, and the step goes on once the new
    // node serves (it asked by then).
    busy.insert(via);
    if (!start_node(id, via)) return;
    const auto serving = Clock::now() + 3s;
    while (Clock::now() < serving && cluster_->running(id) && !cluster_->status(id, 200ms).is_object())
        std::this_thread::sleep_for(20ms);
    {
        std::lock_guard<std::mutex> lock(members_mu_);
        members_.insert(id);
    }
    report_.faults["node added (serve --join)"]++;
    say("add node %d: serve --join through node %d (a learner until caught up, then a voter)", id, via);
}

// DELETE /members/ID through another running member (forwarded to the leader), asked
// again while the answer is 503 or none, for up to 10 s. Once the configuration no
// longer holds the node, it is stopped and leaves the run. True when it was removed.
bool Harness::remove_member(int id, const std::set<int>& busy) {
    const bool leader = id == leader_now();
    const bool down = killed_.count(id) > 0;
    const auto deadline = Clock::now() + 10s;
    HttpResult r;
    do {
        std::vector<int> up;
        for (int m : members())
            if (m != id && cluster_->running(m) && !paused_.count(m) && !busy.count(m)) up.push_back(m);
        if (up.empty()) break;
        HttpClient http("127.0.0.1", http_port(up[size_t(rng_.range(0, int64_t(up.size()) - 1))]), kClientTimeout);
        r = http.request("DELETE", "/members/" + std::to_string(id));
        if (r.status == 200 || (r.status >= 400 && r.status < 500)) break;
        std::this_thread::sleep_for(300ms);
    } while (Clock::now() < deadline);
    const bool removed = r.status == 200 || view().removed.count(id) > 0;
    if (removed) retire(id);
    const char* what = down ? " (down)" : leader ? " (the leader)" : "";
    report_.faults[!removed ? "removal refused or unsettled"
                   : down   ? "node removed while down"
                   : leader ? "leader removed"
                            : "node removed"]++;
    say("remove node %d%s: %s", id, what,
        removed ? "removed, and stopped" : (r.ok() ? r.body.substr(0, 120) : r.error).c_str());
    return removed;
}

// A dead node replaced: one that is down (killed for it when none is), removed, and a
// new node added under a new id.
void Harness::replace_dead_node(std::set<int>& busy) {
    std::vector<int> down;
    for (int id : members())
        if (killed_.count(id)) down.push_back(id);
    int dead = down.empty() ? 0 : down[size_t(rng_.range(0, int64_t(down.size()) - 1))];
    if (dead == 0) {
        dead = pick_node(busy);
        busy.insert(dead);
        kill_nodes({dead});
    }
    say("replace dead node %d: remove it, then add a node under a new id", dead);
    if (!remove_member(dead, busy)) return;
    report_.faults["dead node replaced"]++;
    add_node(busy);
}

// A node the configuration removed leaves the run: stopped (woken first if paused), its
// data dir kept, never restarted, no longer a target of clients, watchers or faults.
void Harness::retire(int id) {
    {
        std::lock_guard<std::mutex> lock(members_mu_);
        members_.erase(id);
    }
    retired_.insert(id);
    killed_.erase(id);
    if (paused_.count(id)) resume_node(id);
    cluster_->stop(id, 2s);
}

void Harness::heal_everything() {
    for (int id : std::set<int>(paused_)) resume_node(id);
    for (int id : std::set<int>(killed_)) restart_node(id);
    for (auto& [link, relay] : relays_) relay->restore();
}

// Waits until the nodes agree: one leader, and every node at the same commit index,
// applied index and last log index, the same in two polls in a row. With --membership,
// on one configuration too: its voters are the nodes in play, and it has no learner
// left (a node still joining is added and promoted meanwhile); a node it removed (whose
// removal went unanswered) leaves the run.
bool Harness::converge() {
    const auto deadline = Clock::now() + kConvergeWithin;
    std::string last_seen, previous;
    while (Clock::now() < deadline) {
        check_exits();
        std::string seen;
        bool settled = true;
        if (cfg_.membership) {
            const ClusterView v = view();
            for (int id : members())
                if (v.removed.count(id)) retire(id);
            const std::vector<int> ids = members();
            settled = v.ok && v.learners.empty() && std::set<int>(ids.begin(), ids.end()) == v.voters;
            seen = " voters " + join(std::vector<int>(v.voters.begin(), v.voters.end())) +
                   (v.learners.empty() ? "" : ", learners " + join(std::vector<int>(v.learners.begin(), v.learners.end()))) +
                   (settled ? "" : ", nodes in play " + join(ids)) + ";";
        }
        const int leader = cluster_->agreed_leader(kStatusTimeout);
        bool agree = settled && leader > 0;
        uint64_t commit = 0;
        const std::vector<int> ids = members();
        for (int id : ids) {
            if (!agree) break;
            const nlohmann::json s = cluster_->status(id, kStatusTimeout);
            if (!s.is_object()) {
                agree = false;
                seen += " node " + std::to_string(id) + " not answering;";
                break;
            }
            const uint64_t c = s.value("commit_index", uint64_t(0)), a = s.value("applied_index", uint64_t(0)),
                           l = s.value("log_last_index", uint64_t(0));
            seen += " node " + std::to_string(id) + " commit " + std::to_string(c) + " applied " + std::to_string(a) +
                    " last " + std::to_string(l) + ";";
            if (id == ids.front()) commit = c;
            agree = agree && c == commit && a == c && l == c;
        }
        if (agree && seen == previous) {
            report_.commit_index = commit;
            return true;
        }
        previous = agree ? seen : "";
        last_seen = leader > 0 || !settled ? seen : " no agreed leader;" + seen;
        std::this_thread::sleep_for(300ms);
    }
    report_.problems.push_back("the cluster did not converge within 30 s of healing:" + last_seen);
    return false;
}

// Every two members at the end were connected through their relays (one dials the
// other; the connection carries both ways), those that joined too (serve --test-dial):
// a link that bypassed them was out of the faults' reach.
void Harness::check_links() {
    const std::vector<int> ids = members();
    for (int a : ids)
        for (int b : ids)
            if (a < b && relays_[{a, b}]->counters().connections + relays_[{b, a}]->counters().connections == 0)
                report_.problems.push_back("nodes " + std::to_string(a) + " and " + std::to_string(b) +
                                           " never connected through their relays: the faults could not reach "
                                           "that link");
}

// A read of every key through every node, after everything else: each must see the
// final value (the linearizability check includes them).
void Harness::final_reads() {
    for (int id : members()) {
        HttpClient http("127.0.0.1", http_port(id), kClientTimeout);
        const std::function<HttpClient&()> pick = [&]() -> HttpClient& { return http; };
        for (int k = 0; k < cfg_.keys; k++) {
            Operation read;
            read.key = "k" + std::to_string(k);
            for (int attempt = 0; attempt < kFinalReadTries; attempt++) {
                report_.final_reads++;
                if (run_operation(pick, *rec_, counts_, rec_->new_process(), read) == Type::Ok) break;
            }
        }
    }
}

// Stops the nodes and reads the members' logs from disk: each one's snapshot, then its entries
// up to the commit index (the converged one, else the node's own). Where two nodes both
// hold a committed entry it must be the same; converged, they must build the same state,
// and it must keep every acknowledged write. Every acknowledged write must be the entry
// at its revision, on every node that committed that far and still holds the entry; and
// no write (values are unique) may take effect twice.
void Harness::check_logs(const std::vector<HistoryEvent>& history) {
    cluster_->stop_all();
    const bool converged = report_.commit_index > 0;
    const std::multimap<Index, SeenChange> acked = rec_->acknowledged();
    std::map<Index, std::pair<int, Entry>> reference;  // a committed entry, and the first node that holds it
    std::optional<std::pair<int, uint64_t>> reference_state;  // (node, fingerprint)
    const std::vector<int> ids = members();
    for (int id : ids) {
        const std::string who = "node " + std::to_string(id);
        std::string error;
        auto storage = Storage::open(cluster_->data_dir(id), &error);
        if (!storage) {
            report_.problems.push_back(who + "'s data dir does not open after the run: " + error);
            continue;
        }
        const Restored& r = storage->restored();
        const Index last = r.first_index + r.entries.size() - 1;
        const Index commit = converged ? report_.commit_index : std::min(r.hard_state.commit_index, last);
        if (converged && (r.first_index > commit + 1 || last < commit)) {
            report_.problems.push_back(who + "'s log on disk holds entries " + std::to_string(r.first_index) + ".." +
                                       std::to_string(last) + ", but it reported commit index " + std::to_string(commit));
            continue;
        }
        KvStore kv;
        if (r.snapshot && !KvStore::decode(*r.snapshot->data, &kv, &error)) {
            report_.problems.push_back(who + "'s snapshot does not decode: " + error);
            continue;
        }
        std::map<std::string, std::map<std::string, Index>> applied;  // key -> value -> revision
        bool diverged = false;
        for (const Entry& e : r.entries) {
            if (e.index > commit) break;
            auto [it, first] = reference.emplace(e.index, std::make_pair(id, e));
            if (!first && it->second.second != e && !diverged) {
                const Entry& other = it->second.second;
                report_.problems.push_back(who + "'s committed log differs from node " + std::to_string(it->second.first) +
                                           "'s at index " + std::to_string(e.index) + ": term " + std::to_string(e.term) +
                                           " '" + e.data + "' against term " + std::to_string(other.term) + " '" +
                                           other.data + "'");
                diverged = true;
            }
            kv.apply(e);
            const Applied& a = kv.last_applied();
            if (!a.changed || a.deleted) continue;
            const std::string value = *kv.get(a.key);
            const auto [at, fresh] = applied[a.key].emplace(value, e.index);
            if (!fresh)
                report_.problems.push_back(who + " applied the write of '" + value + "' to key " + a.key +
                                           " twice: at revisions " + std::to_string(at->second) + " and " +
                                           std::to_string(e.index));
        }
        // Every acknowledged write is the entry at its revision, where this node holds it.
        for (const auto& [revision, change] : acked) {
            if (revision < r.first_index || revision > commit) continue;
            const Entry& e = r.entries[size_t(revision - r.first_index)];
            Command c;
            std::string ignored;
            if (parse_command(e.data, &c, &ignored) && c.key == change.key && c.op == Command::Op::Set &&
                c.value == *change.value)
                continue;
            report_.problems.push_back(who + "'s committed entry " + std::to_string(revision) + " is '" +
                                       e.data.substr(0, 120) + "' (term " + std::to_string(e.term) +
                                       "), but the write of '" + *change.value + "' to key " + change.key +
                                       " was acknowledged at revision " + std::to_string(revision) + ": it was lost");
        }
        if (!converged) continue;
        if (!reference_state) {
            reference_state = {id, kv.fingerprint()};
        } else if (reference_state->second != kv.fingerprint() && !diverged) {
            report_.problems.push_back(who + "'s state at commit index " + std::to_string(commit) +
                                       " (snapshot and log) differs from node " + std::to_string(reference_state->first) +
                                       "'s");
        }
        for (const std::string& p : final_state_problems(history, kv.sorted()))
            report_.problems.push_back(who + " (state rebuilt from its snapshot and log): " + p);
        if (id == ids.front()) final_state_ = kv.sorted();
    }
}

// The highest revision of a change anyone knows of: an acknowledged write, or an event.
Index Harness::last_change() const {
    const auto acked = rec_->acknowledged();
    Index last = acked.empty() ? 0 : acked.rbegin()->first;
    for (const auto& w : watchers_) {
        const WatchLog log = w->log();
        for (const WatchLog::Item& i : log.items)
            if (!i.relist) last = std::max(last, i.revision);
    }
    return last;
}

// Every watcher against the changes known: acknowledged writes, and every event any
// watcher saw (two watchers that disagree on a revision are a problem of their own).
void Harness::check_watchers() {
    std::map<Index, SeenChange> truth;
    std::map<Index, std::string> told_by;
    for (const auto& [revision, change] : rec_->acknowledged()) {
        truth.emplace(revision, change);
        told_by.emplace(revision, "an acknowledged write");
    }
    std::vector<WatchLog> logs;
    for (size_t w = 0; w < watchers_.size(); w++) {
        logs.push_back(watchers_[w]->log());
        for (const WatchLog::Item& i : logs.back().items) {
            if (i.relist) continue;
            report_.watch_events++;
            const auto [it, fresh] = truth.emplace(i.revision, i.change);
            if (fresh) {
                told_by[i.revision] = "watcher " + std::to_string(w + 1);
            } else if (!(it->second == i.change)) {
                const auto show = [](const SeenChange& c) {
                    return c.key + (c.value ? " = '" + *c.value + "'" : std::string(" deleted"));
                };
                report_.problems.push_back("watcher " + std::to_string(w + 1) + " saw revision " +
                                           std::to_string(i.revision) + " as " + show(i.change) + ", but " +
                                           told_by[i.revision] + " says " + show(it->second));
            }
        }
        report_.watch_resumes += watchers_[w]->resumes;
        report_.watch_relists += watchers_[w]->relists;
        report_.watch_stale += watchers_[w]->stale;
    }
    for (const std::string& p : writes_applied_twice(truth)) report_.problems.push_back(p);
    const Index last = truth.empty() ? 0 : truth.rbegin()->first;
    for (size_t w = 0; w < logs.size(); w++)
        for (const std::string& p : watch_problems("watcher " + std::to_string(w + 1), logs[w], truth, final_state_, last))
            report_.problems.push_back(p);
}

void Harness::judge_history(const std::vector<HistoryEvent>& history) {
    report_.lincheck = check_linearizable(history);
    const LincheckResult& r = report_.lincheck;
    switch (r.verdict) {
        case LincheckResult::Verdict::Linearizable: break;
        case LincheckResult::Verdict::NotLinearizable: {
            std::string p = "the history is not linearizable (key " + r.failing_keys.front() + "); a minimal violating sub-history:";
            // A cas chain can keep the shrunk sub-history long: show its start only.
            constexpr size_t kShown = 40;
            for (size_t i = 0; i < r.violation.size() && i < kShown; i++) p += "\n    " + history_event_json(r.violation[i]);
            if (r.violation.size() > kShown)
                p += "\n    ... and " + std::to_string(r.violation.size() - kShown) +
                     " more events (run with --history FILE, then raftbook lincheck FILE)";
            report_.problems.push_back(p);
            break;
        }
        case LincheckResult::Verdict::Unknown:
            report_.problems.push_back("the linearizability checker could not decide " +
                                       std::to_string(r.undecided_keys.size()) + " key(s) within its bounds");
            break;
        case LincheckResult::Verdict::Malformed:
            report_.problems.push_back("the recorded history is malformed at event " + std::to_string(r.error.line) + ": " +
                                       r.error.message);
            break;
    }
}

ChaosReport Harness::run() {
    t0_ = Clock::now();
    next_progress_ = t0_ + 5s;
    if (setup()) {
        say("%d nodes up, leader elected; %d clients on %d keys for %lld s", cfg_.nodes, cfg_.clients, cfg_.keys,
            static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(cfg_.duration).count()));
        t0_ = Clock::now();
        rec_ = std::make_unique<Recorder>(t0_);
        // The last watcher (of two or more) comes late, at half time, from revision 1: the
        // nodes hold the last --watch-history changes only, so it is told `compacted` and
        // must re-list.
        for (int w = 0; w < cfg_.watchers; w++)
            watchers_.push_back(std::make_unique<ChaosWatcher>(
                [this] {
                    std::vector<uint16_t> ports;
                    for (int id : members()) ports.push_back(http_port(id));
                    return ports;
                },
                size_t(w),
                w > 0 && w == cfg_.watchers - 1 ? Clock::duration(cfg_.duration / 2) : Clock::duration(0)));
        std::vector<std::thread> clients;
        for (int c = 0; c < cfg_.clients; c++) clients.emplace_back([this, c] { client_loop(c); });
        nemesis();
        heal_everything();
        say("healing; stopping the clients");
        stop_clients_ = true;
        for (std::thread& t : clients) t.join();
        for (std::thread& t : burst_writers_) t.join();
        if (converge()) {
            say("converged at commit index %llu; final reads", static_cast<unsigned long long>(report_.commit_index));
            final_reads();
            check_links();
        }
        const std::vector<HistoryEvent> history = rec_->events();
        if (!cfg_.history_path.empty()) {
            std::ofstream out(cfg_.history_path);
            for (const HistoryEvent& e : history) out << history_event_json(e) << "\n";
            if (!out) report_.problems.push_back("cannot write the history to " + cfg_.history_path);
        }
        const bool converged = report_.commit_index > 0;
        if (converged) {
            // The watchers catch up with the last change (the commit index may be past it:
            // no-op entries), then stop before the nodes do.
            const auto deadline = Clock::now() + 10s;
            for (auto& w : watchers_)
                while (w->last() < last_change() && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
        }
        for (auto& w : watchers_) w->stop();
        check_logs(history);
        if (converged) check_watchers();
        say("checking linearizability of %zu events", history.size());
        judge_history(history);
    }
    report_.members = members();
    for (const auto& [id, fds] : reserved_)
        for (int fd : fds) ::close(fd);
    report_.writes_ok = counts_.writes_ok;
    report_.writes_failed = counts_.writes_failed;
    report_.writes_unknown = counts_.writes_unknown;
    report_.reads_ok = counts_.reads_ok;
    report_.cas_ok = counts_.cas_ok;
    report_.cas_failed = counts_.cas_failed;
    report_.retries = counts_.retries;
    report_.retries_settled = counts_.retries_settled;
    report_.reads_failed = counts_.reads_failed;
    for (auto& w : watchers_) w->stop();
    if (cluster_) cluster_->stop_all();
    for (auto& [link, relay] : relays_) relay->close();
    ioc_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    if (temp_dir_ && report_.passed()) {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
        report_.dir.clear();
    }
    return report_;
}

}  // namespace

ChaosReport run_chaos(const ChaosConfig& config) { return Harness(config).run(); }

std::vector<std::string> final_state_problems(const std::vector<HistoryEvent>& history,
                                              const std::map<std::string, std::string>& state) {
    struct Write {
        std::optional<std::string> value;  // nullopt: a delete
        int64_t invoke = 0, complete = INT64_MAX;  // complete stays INT64_MAX for info and pending
        Type outcome = Type::Info;
    };
    std::map<std::string, std::vector<Write>> writes;
    std::map<int64_t, std::pair<std::string, Write>> pending;  // by process
    for (const HistoryEvent& e : history) {
        if (e.f == Fn::Read) continue;
        if (e.type == Type::Invoke) {
            pending[e.process] = {e.key, Write{e.f == Fn::Delete ? std::nullopt : e.value, e.time}};
            continue;
        }
        auto it = pending.find(e.process);
        if (it == pending.end()) continue;
        Write w = it->second.second;
        w.outcome = e.type;
        if (e.type != Type::Info) w.complete = e.time;
        writes[it->second.first].push_back(w);
        pending.erase(it);
    }
    for (auto& [process, kw] : pending) writes[kw.first].push_back(kw.second);

    std::vector<std::string> problems;
    for (const auto& [key, ws] : writes) {
        const Write* last_ack = nullptr;  // the acknowledged write invoked last
        for (const Write& w : ws)
            if (w.outcome == Type::Ok && (!last_ack || w.invoke > last_ack->invoke)) last_ack = &w;
        auto found = state.find(key);
        const std::optional<std::string> value =
            found == state.end() ? std::nullopt : std::optional<std::string>(found->second);
        bool explained = !last_ack && !value;  // never acknowledged, still absent (the initial state)
        const Write* source = nullptr;         // a write that could have left this value
        for (const Write& w : ws) {
            if (w.outcome == Type::Fail || w.value != value) continue;
            source = &w;
            if (!last_ack || w.complete >= last_ack->invoke) explained = true;
        }
        if (explained) continue;
        const auto show = [](const std::optional<std::string>& v) { return v ? "'" + *v + "'" : std::string("absent"); };
        std::string p = "key " + key + " is " + show(value);
        if (!source && value) {
            p += ", a value no write that could have succeeded wrote";
        } else if (source) {
            p += ", left by a write that completed at " + std::to_string(source->complete) +
                 " ns, before the acknowledged write of " + show(last_ack->value) + " began at " +
                 std::to_string(last_ack->invoke) + " ns: that write was lost";
        } else {
            p += ", but the write of " + show(last_ack->value) + " was acknowledged: it was lost";
        }
        problems.push_back(p);
    }
    for (const auto& [key, value] : state)
        if (!writes.count(key)) problems.push_back("key " + key + " is '" + value + "' but no client ever wrote it");
    return problems;
}

std::vector<std::string> writes_applied_twice(const std::map<Index, SeenChange>& changes) {
    std::vector<std::string> problems;
    std::map<std::pair<std::string, std::string>, Index> written;  // (key, value) -> first revision
    for (const auto& [revision, change] : changes) {
        if (!change.value) continue;
        const auto [it, fresh] = written.emplace(std::make_pair(change.key, *change.value), revision);
        if (!fresh)
            problems.push_back("the write of '" + *change.value + "' to key " + change.key +
                               " took effect twice: at revisions " + std::to_string(it->second) + " and " +
                               std::to_string(revision));
    }
    return problems;
}

std::vector<std::string> watch_problems(const std::string& who, const WatchLog& log,
                                        const std::map<Index, SeenChange>& truth,
                                        const std::map<std::string, std::string>& final_state, Index last) {
    const auto show = [](const SeenChange& c) {
        return "key " + c.key + (c.value ? " = '" + *c.value + "'" : std::string(" deleted"));
    };
    std::vector<std::string> problems;
    Index through = 0;  // everything up to here seen (or re-listed)
    std::set<Index> seen;  // (one seen late is out of order, not missed)
    for (const WatchLog::Item& i : log.items)
        if (!i.relist) seen.insert(i.revision);
    // Every known change in (from, to) the watcher did not see.
    const auto missed = [&](Index from, Index to) {
        for (auto it = truth.upper_bound(from); it != truth.end() && it->first < to; ++it)
            if (!seen.count(it->first)) problems.push_back(who + " missed revision " + std::to_string(it->first) + " (" + show(it->second) + ")");
    };
    std::map<std::string, std::string> view;
    for (const WatchLog::Item& i : log.items) {
        if (i.relist) {  // a re-listing: changes up to its revision may be skipped
            through = std::max(through, i.revision);
            view = *i.relist;
            continue;
        }
        if (i.revision == through && through > 0) {
            problems.push_back(who + " saw revision " + std::to_string(i.revision) + " twice (" + show(i.change) + ")");
            continue;
        }
        if (i.revision < through) {
            problems.push_back(who + " saw revision " + std::to_string(i.revision) + " (" + show(i.change) +
                               ") out of order, after revision " + std::to_string(through));
            continue;
        }
        missed(through, i.revision);
        const auto known = truth.find(i.revision);
        if (known != truth.end() && !(known->second == i.change))
            problems.push_back(who + " saw revision " + std::to_string(i.revision) + " as " + show(i.change) +
                               ", but it was " + show(known->second));
        through = i.revision;
        if (i.change.value) {
            view[i.change.key] = *i.change.value;
        } else {
            view.erase(i.change.key);
        }
    }
    missed(through, last + 1);
    if (view != final_state) {
        for (const auto& [key, value] : final_state) {
            const auto v = view.find(key);
            if (v == view.end() || v->second != value)
                problems.push_back(who + "'s last view of key " + key + " is " +
                                   (v == view.end() ? std::string("absent") : "'" + v->second + "'") +
                                   ", but its final value is '" + value + "'");
        }
        for (const auto& [key, value] : view)
            if (!final_state.count(key))
                problems.push_back(who + "'s last view of key " + key + " is '" + value + "', but the key ends absent");
    }
    return problems;
}

}  // namespace raftbook
