// Tests of the attack tools: the relay that cuts links, the rule that judges a node's
// final state against a history, `raftbook soak` (passing, and catching a broken rule
// with a replay that really replays), and a short `raftbook chaos` run against real
// nodes, which must pass (tagged [slow]: it takes about 45 s).
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "native/proof/chaos.h"
#include "core/lincheck/lincheck.h"
#include "native/proof/relay_proxy.h"
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

    // The history it wrote is well-formed, substantial and linearizable on its own.
    std::ifstream in(history);
    std::vector<HistoryEvent> events;
    HistoryError error;
    REQUIRE(read_history(in, &events, &error));
    const LincheckResult check = check_linearizable(events);
    CHECK(check.verdict == LincheckResult::Verdict::Linearizable);
    CHECK(check.operations > 200);
    std::filesystem::remove(history);
}
