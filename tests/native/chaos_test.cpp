// Tests of the attack tools: the relay that cuts links, the rule that judges a node's
// final state against a history (cas included), the check of a watcher's stream
// (watch_problems), the power-loss cut (the durability log the storage
// helpers keep, and undoing what it shows was not fsynced), `raftbook soak` (passing, and catching a broken rule
// with a replay that really replays), and short `raftbook chaos` runs against real
// nodes, with cas, retries, watchers and snapshots, and with nodes joining and leaving
// (--membership), which must pass (tagged [slow]: about 45 s each).
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>

#include "native/proof/chaos.h"
#include "core/lincheck/lincheck.h"
#include "native/proof/power_loss.h"
#include "native/proof/relay_proxy.h"
#include "native/storage/durability_log.h"
#include "native/storage/storage_io.h"
#include "native/storage/wal.h"
#include "tests/native/process_cluster.h"

using namespace raftbook;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

struct Run {
    int status = -1;
    std::string out;  // stdout only
};

Run run_raftbook(const std::string& args) {
    const std::string command = std::string(RAFTBOOK_BINARY) + " " + args + " 2>/dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe);
    Run run;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) run.out.append(buf, n);
    const int status = ::pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

// An echo server on the given io_context: every byte it receives goes back.
class EchoServer {
public:
    explicit EchoServer(asio::io_context& ioc) : acceptor_(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
        accept();
    }
    uint16_t port() const { return acceptor_.local_endpoint().port(); }
    size_t received() const { return received_; }

private:
    struct Conn {
        explicit Conn(tcp::socket s) : socket(std::move(s)) {}
        tcp::socket socket;
        std::array<char, 4096> buf;
    };
    void accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
            if (ec) return;
            echo(std::make_shared<Conn>(std::move(s)));
            accept();
        });
    }
    void echo(std::shared_ptr<Conn> c) {
        c->socket.async_read_some(asio::buffer(c->buf), [this, c](boost::system::error_code ec, size_t n) {
            if (ec) return;
            received_ += n;
            asio::async_write(c->socket, asio::buffer(c->buf.data(), n), [this, c](boost::system::error_code ec, size_t) {
                if (!ec) echo(c);
            });
        });
    }
    tcp::acceptor acceptor_;
    std::atomic<size_t> received_{0};
};

HistoryEvent event(int64_t process, HistoryEvent::Type type, HistoryEvent::Fn f, const std::string& key,
                   std::optional<std::string> value, int64_t time) {
    HistoryEvent e;
    e.process = process;
    e.type = type;
    e.f = f;
    e.key = key;
    e.value = std::move(value);
    e.time = time;
    return e;
}

using T = HistoryEvent::Type;
using F = HistoryEvent::Fn;

// A write of `value` to key x by `process` from `start` to `end`, ending as `outcome`.
void write_op(std::vector<HistoryEvent>* h, int64_t process, const std::string& value, int64_t start, int64_t end,
              T outcome) {
    h->push_back(event(process, T::Invoke, F::Write, "x", value, start));
    h->push_back(event(process, outcome, F::Write, "x", value, end));
}

// The history sorted by time, as a recorder would have written it.
std::vector<HistoryEvent> by_time(std::vector<HistoryEvent> h) {
    std::stable_sort(h.begin(), h.end(), [](const HistoryEvent& a, const HistoryEvent& b) { return a.time < b.time; });
    return h;
}

}  // namespace

TEST_CASE("the relay passes bytes both ways, holds each direction on its own, and severs", "[chaos][relay]") {
    asio::io_context ioc;
    EchoServer echo(ioc);
    RelayProxy relay(ioc, "127.0.0.1", echo.port());
    std::string error;
    REQUIRE(relay.listen(0, &error));
    std::thread io([&] {
        auto work = asio::make_work_guard(ioc);
        ioc.run();
    });
    const std::string address = "127.0.0.1:" + std::to_string(relay.port());
    {
        test::RawSocket client(address, 300ms);
        REQUIRE(client.connected());
        REQUIRE(client.send_all("ping"));
        CHECK(client.recv_exact(4) == "ping");

        // Upstream held: the server hears nothing until the release, then all of it.
        relay.hold(RelayProxy::Direction::Upstream);
        const size_t before = echo.received();
        REQUIRE(client.send_all("held"));
        CHECK(client.recv_some().empty());
        CHECK_FALSE(client.closed());
        CHECK(echo.received() == before);
        relay.release(RelayProxy::Direction::Upstream);
        CHECK(client.recv_exact(4) == "held");

        // Downstream held: the server gets the bytes, its answer waits in the relay.
        relay.hold(RelayProxy::Direction::Downstream);
        REQUIRE(client.send_all("back"));
        REQUIRE(test::wait_until([&] { return echo.received() == before + 8; }, 2000ms));
        CHECK(client.recv_some().empty());
        relay.release(RelayProxy::Direction::Downstream);
        CHECK(client.recv_exact(4) == "back");

        // Severed: the open connection is closed, and so is every new one.
        relay.sever();
        CHECK(client.recv_some().empty());
        CHECK(client.closed());
    }
    {
        test::RawSocket refused(address, 300ms);
        REQUIRE(refused.connected());  // accepted by the kernel, then closed by the relay
        refused.send_all("x");
        CHECK(refused.recv_some().empty());
        CHECK(refused.closed());
    }
    relay.restore();
    {
        test::RawSocket again(address, 300ms);
        REQUIRE(again.connected());
        REQUIRE(again.send_all("again"));
        CHECK(again.recv_exact(5) == "again");
    }
    // A write is counted when it completes, which may be just after the bytes arrived.
    const size_t relayed = 4 + 4 + 4 + 5;
    CHECK(test::wait_until([&] { return relay.counters().bytes[1] == relayed; }, 1000ms));
    const RelayProxy::Counters c = relay.counters();
    CHECK(c.connections == 2);
    CHECK(c.refused == 1);
    CHECK(c.bytes[0] == relayed);
    CHECK(c.bytes[1] == relayed);
    relay.close();
    ioc.stop();
    io.join();
}

TEST_CASE("a node's final state must keep the last acknowledged write or a later one", "[chaos]") {
    std::vector<HistoryEvent> h;
    write_op(&h, 1, "a", 0, 10, T::Ok);
    write_op(&h, 1, "b", 20, 30, T::Ok);

    SECTION("the last acknowledged value is fine, an earlier one lost a write") {
        CHECK(final_state_problems(h, {{"x", "b"}}).empty());
        const auto p = final_state_problems(h, {{"x", "a"}});
        REQUIRE(p.size() == 1);
        CHECK(p[0].find("'b'") != std::string::npos);
        CHECK(p[0].find("lost") != std::string::npos);
        CHECK(final_state_problems(h, {}).size() == 1);  // absent after an acknowledged write
    }
    SECTION("of two overlapping acknowledged writes either may be last") {
        write_op(&h, 2, "c", 25, 40, T::Ok);
        h = by_time(h);
        CHECK(final_state_problems(h, {{"x", "b"}}).empty());
        CHECK(final_state_problems(h, {{"x", "c"}}).empty());
    }
    SECTION("a write of unknown outcome may be last, even long after") {
        h.push_back(event(2, T::Invoke, F::Write, "x", "u", 50));
        h.push_back(event(2, T::Info, F::Write, "x", "u", 60));
        write_op(&h, 3, "d", 70, 80, T::Ok);
        CHECK(final_state_problems(h, {{"x", "u"}}).empty());
        CHECK(final_state_problems(h, {{"x", "d"}}).empty());
        CHECK(final_state_problems(h, {{"x", "b"}}).size() == 1);  // completed before d began
    }
    SECTION("a failed write's value, or one never written, is a problem") {
        write_op(&h, 2, "f", 50, 60, T::Fail);
        CHECK(final_state_problems(h, {{"x", "f"}}).size() == 1);
        CHECK(final_state_problems(h, {{"x", "zzz"}}).size() == 1);
        CHECK(final_state_problems(h, {{"x", "b"}, {"y", "1"}}).size() == 1);  // y: never written
    }
    SECTION("with nothing acknowledged, absent is fine") {
        std::vector<HistoryEvent> unsure;
        write_op(&unsure, 1, "a", 0, 10, T::Fail);
        CHECK(final_state_problems(unsure, {}).empty());
    }
}

TEST_CASE("a cas that swapped counts as a write of its new value, one that failed as nothing", "[chaos]") {
    std::vector<HistoryEvent> h;
    write_op(&h, 1, "a", 0, 10, T::Ok);
    const auto cas = [&](int64_t process, const std::string& expected, const std::string& value, int64_t start,
                         int64_t end, T outcome) {
        HistoryEvent e = event(process, T::Invoke, F::Cas, "x", value, start);
        e.expected = expected;
        h.push_back(e);
        e.type = outcome;
        e.time = end;
        h.push_back(e);
    };
    SECTION("a swapped cas is the last acknowledged write") {
        cas(2, "a", "b", 20, 30, T::Ok);
        CHECK(final_state_problems(h, {{"x", "b"}}).empty());
        const auto p = final_state_problems(h, {{"x", "a"}});
        REQUIRE(p.size() == 1);
        CHECK(p[0].find("'b'") != std::string::npos);
        CHECK(p[0].find("lost") != std::string::npos);
        CHECK(final_state_problems(h, {}).size() == 1);  // not a delete: absent loses 'b'
    }
    SECTION("a failed cas changed nothing: its value is a problem, the earlier one is fine") {
        cas(2, "z", "b", 20, 30, T::Fail);
        CHECK(final_state_problems(h, {{"x", "a"}}).empty());
        CHECK(final_state_problems(h, {{"x", "b"}}).size() == 1);
    }
    SECTION("a cas of unknown outcome may have swapped") {
        cas(2, "a", "b", 20, 30, T::Info);
        CHECK(final_state_problems(h, {{"x", "a"}}).empty());
        CHECK(final_state_problems(h, {{"x", "b"}}).empty());
    }
}

TEST_CASE("a watcher must see every change once, in revision order, and end at the final state", "[chaos][watch]") {
    const auto change = [](Index revision, const std::string& key, const std::string& value) {
        WatchLog::Item i;
        i.revision = revision;
        i.change = SeenChange{key, value};
        return i;
    };
    const std::map<Index, SeenChange> truth = {
        {3, {"k0", "a"}}, {5, {"k1", "b"}}, {6, {"k0", "c"}}, {9, {"k1", "d"}}};
    const std::map<std::string, std::string> final_state = {{"k0", "c"}, {"k1", "d"}};
    WatchLog log;
    for (const auto& [revision, c] : truth) log.items.push_back(change(revision, c.key, *c.value));
    const auto problems = [&] { return watch_problems("watcher 1", log, truth, final_state, 9); };
    const auto one_problem_with = [&](const std::string& words) {
        const auto p = problems();
        INFO(Catch::Detail::stringify(p));
        return p.size() == 1 && p[0].find(words) != std::string::npos;
    };

    SECTION("every change once, in order: fine") { CHECK(problems().empty()); }
    SECTION("a gap is named, with the change missed") {
        log.items.erase(log.items.begin() + 1);
        CHECK(one_problem_with("missed revision 5 (key k1 = 'b')"));
    }
    SECTION("the last change missed: named, and the final view is wrong too") {
        log.items.pop_back();
        const auto p = problems();
        REQUIRE(p.size() == 2);
        CHECK(p[0].find("missed revision 9") != std::string::npos);
        CHECK(p[1].find("last view of key k1 is 'b', but its final value is 'd'") != std::string::npos);
    }
    SECTION("a duplicate is named") {
        log.items.insert(log.items.begin() + 2, change(5, "k1", "b"));
        CHECK(one_problem_with("saw revision 5 twice"));
    }
    SECTION("an event out of order is named") {
        std::swap(log.items[1], log.items[2]);
        const auto p = problems();
        INFO(Catch::Detail::stringify(p));
        REQUIRE(p.size() == 1);
        CHECK(p[0].find("saw revision 5 (key k1 = 'b') out of order, after revision 6") != std::string::npos);
    }
    SECTION("an event with another value than the change at its revision is named") {
        log.items[1].change.value = "x";
        const auto p = problems();
        REQUIRE(p.size() >= 1);
        CHECK(p[0].find("saw revision 5 as key k1 = 'x', but it was key k1 = 'b'") != std::string::npos);
    }
    SECTION("after compacted, a re-listing may skip the changes it covers, not later ones") {
        WatchLog::Item relist;
        relist.revision = 6;
        relist.relist = std::map<std::string, std::string>{{"k0", "c"}, {"k1", "b"}};
        log.items = {change(3, "k0", "a"), relist, change(9, "k1", "d")};
        CHECK(problems().empty());
        log.items = {change(3, "k0", "a"), relist};
        CHECK(!problems().empty());
        relist.revision = 5;  // a listing at 5 does not cover the change at 6
        log.items = {change(3, "k0", "a"), relist, change(9, "k1", "d")};
        CHECK(one_problem_with("missed revision 6"));
    }
}

TEST_CASE("a write whose value changed its key at two revisions was applied twice", "[chaos][watch]") {
    std::map<Index, SeenChange> changes = {{3, {"k0", "a"}}, {5, {"k1", "a"}}, {6, {"k0", "b"}}};
    CHECK(writes_applied_twice(changes).empty());  // the same value on another key is another write
    changes[8] = {"k0", "a"};
    const auto p = writes_applied_twice(changes);
    REQUIRE(p.size() == 1);
    CHECK(p[0] == "the write of 'a' to key k0 took effect twice: at revisions 3 and 8");
}

TEST_CASE("raftbook soak runs seeds in parallel and passes", "[chaos][soak]") {
    const Run r = run_raftbook("soak --seconds 3 --jobs 2");
    INFO(r.out);
    CHECK(r.status == 0);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("soak: (\\d+) seeds")));
    CHECK(std::stoul(m[1]) > 10);
    CHECK(r.out.find("every seed safe") != std::string::npos);
}

TEST_CASE("raftbook soak catches a broken rule and prints a replay that replays it", "[chaos][soak]") {
    const Run r = run_raftbook("soak --seconds 3 --jobs 2 --nodes 3 --fault vote_without_log_check");
    INFO(r.out);
    REQUIRE(r.status == 1);
    CHECK(r.out.find("FAILED") != std::string::npos);
    // A failing seed: its replay command (which settles the same way) must find the
    // same violation with the same trace hash.
    const std::regex failure(
        "seed (\\d+): ([A-Za-z ]+) at \\d+ ms[^\\n]*\\n"
        "  replay:     raftbook (sim [^\\n]+)\\n"
        "  trace hash  ([0-9a-f]{16}) after the settle phase[^\\n]*\\n"
        "  playground: [^\\n]*\\n +(#nodes=3&seed=\\d+&do=[^\\n]+&at=\\d+&t=\\d+)\\n");
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, failure));
    const std::string seed = m[1], rule = m[2], command = m[3], hash = m[4], link = m[5];
    CHECK(link.find("seed=" + seed + "&") != std::string::npos);
    CHECK(link.find("fault+1+vote_without_log_check") != std::string::npos);
    const Run replay = run_raftbook(command);
    INFO(replay.out);
    CHECK(replay.status == 1);
    CHECK(replay.out.find("VIOLATED") != std::string::npos);
    CHECK(replay.out.find(rule) != std::string::npos);
    CHECK(replay.out.find("trace hash  " + hash) != std::string::npos);
}

TEST_CASE("soak and chaos refuse bad flags with exit 2 and say what is wrong", "[chaos][cli]") {
    const std::pair<const char*, const char*> cases[] = {
        {"soak --nodes 4", "--nodes must be 3 or 5"},
        {"soak --fault no_such_rule", "not a rule fault"},
        {"soak --seconds 0", "--seconds"},
        {"chaos --duration 10ms", "--duration must be at least 1s"},
        {"chaos --nodes 2", "--nodes"},
        {"chaos --no-such-flag", "unknown flag"},
        {"chaos --fault 4:skip_prev_log_check", "--fault takes NODE:NAME with a node from 1 to 3"},
        {"chaos --fault 1:no_such_rule", "and a name among: skip_prev_log_check"},
    };
    const std::string used_dir = std::filesystem::temp_directory_path() / ("raftbook-chaos-used-" + std::to_string(::getpid()));
    std::filesystem::create_directories(used_dir);
    std::ofstream(used_dir + "/node1.log") << "an earlier run";
    const std::string used_dir_args = "chaos --dir " + used_dir;
    std::vector<std::pair<const char*, const char*>> all(std::begin(cases), std::end(cases));
    all.push_back({used_dir_args.c_str(), "is not empty"});
    for (const auto& [args, message] : all) {
        const std::string command = std::string(RAFTBOOK_BINARY) + " " + args + " 2>&1";
        FILE* pipe = ::popen(command.c_str(), "r");
        REQUIRE(pipe);
        std::string out;
        char buf[4096];
        for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
        const int status = ::pclose(pipe);
        INFO(args << ": " << out);
        CHECK(WEXITSTATUS(status) == 2);
        CHECK(out.find(message) != std::string::npos);
        CHECK(out.find("usage: raftbook") != std::string::npos);
    }
    std::filesystem::remove_all(used_dir);
}

TEST_CASE("a short chaos run against real nodes loses nothing and stays linearizable", "[chaos][slow]") {
    const std::string history = std::filesystem::temp_directory_path() /
                                ("raftbook-chaos-test-" + std::to_string(::getpid()) + ".jsonl");
    const Run r = run_raftbook("chaos --nodes 3 --duration 30s --seed 7 --quiet --history " + history);
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("verdict     PASS") != std::string::npos);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("faults      (\\d+)")));
    CHECK(std::stoul(m[1]) >= 5);
    // The workload swapped and was refused, retried, and the watchers followed along.
    REQUIRE(std::regex_search(r.out, m, std::regex("cas (\\d+) swapped, (\\d+) refused")));
    CHECK(std::stoul(m[1]) > 0);
    CHECK(std::stoul(m[2]) > 0);
    REQUIRE(std::regex_search(r.out, m, std::regex("watchers    3 saw (\\d+) events.* (\\d+) re-listed")));
    CHECK(std::stoul(m[1]) > 100);
    CHECK(std::stoul(m[2]) >= 1);  // the latecomer, at least

    // The history it wrote is well-formed, substantial and linearizable on its own.
    std::ifstream in(history);
    std::vector<HistoryEvent> events;
    HistoryError error;
    REQUIRE(read_history(in, &events, &error));
    const LincheckResult check = check_linearizable(events);
    CHECK(check.verdict == LincheckResult::Verdict::Linearizable);
    CHECK(check.operations > 200);
    CHECK(std::count_if(events.begin(), events.end(), [](const HistoryEvent& e) {
              return e.f == HistoryEvent::Fn::Cas && e.type == HistoryEvent::Type::Ok;
          }) > 0);
    std::filesystem::remove(history);
}

TEST_CASE("chaos --membership adds and removes nodes under the faults, and still passes",
          "[chaos][slow][membership]") {
    const Run r = run_raftbook("chaos --nodes 3 --duration 25s --seed 8 --quiet --membership");
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("verdict     PASS") != std::string::npos);
    // A node joined (serve --join) and a member left, during the faults of the run.
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("node added \\(serve --join\\) (\\d+)")));
    CHECK(std::stoul(m[1]) >= 1);
    CHECK(std::regex_search(r.out, std::regex("(leader removed|node removed|node removed while down) [1-9]")));
    // The checks covered the members at the end, a joined node among them: an id past
    // the three founders.
    REQUIRE(std::regex_search(r.out, m, std::regex("members     ([0-9,]+) at the end")));
    const std::string members = m[1];
    CHECK(std::count(members.begin(), members.end(), ',') >= 2);
    CHECK(std::regex_search(members, std::regex("(^|,)([4-9]|\\d\\d)(,|$)")));
}

namespace {

// A fresh directory with a durability log running into DIR.log; stops it and removes
// both at the end.
struct LoggedDir {
    std::string dir = std::filesystem::temp_directory_path() / ("raftbook-power-loss-" + std::to_string(::getpid()));
    std::string log = dir + ".log";
    LoggedDir() {
        std::filesystem::remove_all(dir);
        std::filesystem::remove(log);
        make_dirs(dir);
        durability_log::start(log);
    }
    ~LoggedDir() {
        durability_log::stop();
        std::filesystem::remove_all(dir);
        std::filesystem::remove(log);
    }
    // The log without its last line that starts with `op`: as if the node was killed
    // just before it (a sync not yet returned, say).
    void drop_last(const std::string& op) {
        std::ifstream in(log);
        std::vector<std::string> lines;
        for (std::string l; std::getline(in, l);) lines.push_back(l);
        for (size_t i = lines.size(); i-- > 0;) {
            if (lines[i].rfind(op + "\t", 0) != 0) continue;
            lines.erase(lines.begin() + long(i));
            break;
        }
        std::ofstream out(log, std::ios::trunc);
        for (const std::string& l : lines) out << l << "\n";
    }
};

std::vector<Entry> entries(Index from, Index to) {
    std::vector<Entry> out;
    for (Index i = from; i <= to; i++) out.push_back(Entry{i, 1, EntryType::Command, "set k v" + std::to_string(i), 0, 0});
    return out;
}

size_t wal_entries_after_power_loss(LoggedDir& d, bool kill_before_last_sync) {
    {
        WalLog log;
        auto wal = Wal::open(d.dir + "/wal", Wal::kDefaultSegmentBytes, &log);
        wal->append(entries(1, 3));
        wal->sync();
        wal->append(entries(4, 5));
        wal->sync();
    }
    durability_log::stop();
    if (kill_before_last_sync) d.drop_last("sync");
    const PowerLossCut cut = lose_unsynced(d.log);
    CHECK_FALSE(std::filesystem::exists(d.log));  // the restarted node starts a new one
    if (kill_before_last_sync) {
        CHECK(cut.files >= 1);
        CHECK(cut.bytes > 0);
    }
    WalLog log;
    Wal::open(d.dir + "/wal", Wal::kDefaultSegmentBytes, &log);
    return log.entries.size();
}

}  // namespace

TEST_CASE("a power loss takes back the WAL records written after the last fsync", "[chaos][power-loss]") {
    LoggedDir d;
    CHECK(wal_entries_after_power_loss(d, true) == 3);
}

TEST_CASE("a power loss keeps every WAL record an fsync made durable", "[chaos][power-loss]") {
    LoggedDir d;
    CHECK(wal_entries_after_power_loss(d, false) == 5);
}

TEST_CASE("a power loss undoes a rename until its directory is fsynced", "[chaos][power-loss]") {
    LoggedDir d;
    replace_file(d.dir, "state", "old");  // durable: written, fsynced, renamed, dir fsynced
    auto rename_new = [&] {
        const std::string temp = d.dir + "/state.tmp";
        UniqueFd fd = open_file(temp, O_WRONLY | O_CREAT | O_TRUNC);
        write_all(fd.get(), "new", 3, temp);
        sync_file(fd.get(), temp);
        rename_file(temp, d.dir + "/state");
    };
    SECTION("not fsynced: the old file is back") {
        rename_new();
        CHECK(read_file(d.dir + "/state") == "new");
        const PowerLossCut cut = lose_unsynced(d.log);
        CHECK(cut.names >= 1);
        CHECK(read_file(d.dir + "/state") == "old");
        CHECK_FALSE(std::filesystem::exists(durability_log::kept_name(d.dir + "/state")));
    }
    SECTION("fsynced: the new one stays") {
        rename_new();
        sync_dir(d.dir);
        CHECK_FALSE(std::filesystem::exists(durability_log::kept_name(d.dir + "/state")));
        lose_unsynced(d.log);
        CHECK(read_file(d.dir + "/state") == "new");
    }
}

TEST_CASE("a power loss removes a file created since its directory's last fsync", "[chaos][power-loss]") {
    LoggedDir d;
    const std::string path = d.dir + "/fresh";
    {
        UniqueFd fd = open_file(path, O_WRONLY | O_CREAT);
        write_all(fd.get(), "data", 4, path);
        sync_data(fd.get(), path);  // its bytes are durable, its name is not
    }
    lose_unsynced(d.log);
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("a power loss zeroes bytes written over a file since its last fsync", "[chaos][power-loss]") {
    LoggedDir d;
    const std::string path = d.dir + "/segment";
    {
        UniqueFd fd = open_file(path, O_WRONLY | O_CREAT);
        write_zeros_at(fd.get(), 0, 16, path);
        sync_data(fd.get(), path);
        sync_dir(d.dir);
        write_all_at(fd.get(), "abcd", 4, 4, path);   // over the synced zeros
        write_all_at(fd.get(), "efgh", 4, 16, path);  // past the synced end
    }
    const PowerLossCut cut = lose_unsynced(d.log);
    CHECK(cut.files == 1);
    CHECK(cut.bytes == 8);
    CHECK(read_file(path) == std::string(16, '\0'));
}

TEST_CASE("serve's test-only flags say so in the help and refuse an unknown rule fault or a bad relay address",
          "[chaos][cli]") {
    const auto run = [](const std::string& args, std::string* out) {
        FILE* p = ::popen((std::string(RAFTBOOK_BINARY) + " serve " + args + " 2>&1").c_str(), "r");
        char buf[4096];
        for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out->append(buf, n);
        const int status = ::pclose(p);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    };
    std::string help, bad;
    CHECK(run("--help", &help) == 0);
    CHECK(help.find("--test-fault NAME[,...]  TEST ONLY, breaks Raft") != std::string::npos);
    CHECK(help.find("TEST ONLY: note each write and fsync") != std::string::npos);
    CHECK(run("--id 1 --cluster 1=127.0.0.1:1 --http 127.0.0.1:2 --data /tmp/raftbook-never-created "
              "--test-fault skip_prev_log_check,nope",
              &bad) == 2);
    CHECK(bad.find("--test-fault: no rule fault is called 'nope'") != std::string::npos);
    CHECK(help.find("TEST ONLY: dial member ID at HOST:PORT") != std::string::npos);
    bad.clear();
    CHECK(run("--id 1 --cluster 1=127.0.0.1:1 --http 127.0.0.1:2 --data /tmp/raftbook-never-created "
              "--test-dial 2=127.0.0.1:3,relay",
              &bad) == 2);
    CHECK(bad.find("--test-dial entry 'relay' is not ID=HOST:PORT") != std::string::npos);
}
