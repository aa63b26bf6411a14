// HttpClient and HttpConnection (native/client/http_client.h) against a scripted server on a
// loopback socket, which answers, closes or stays silent as a test tells it to, and
// counts the connections it accepted: keep-alive reuse, a new connection after the
// server closed an idle one or answered "Connection: close", the deadline, a refused
// connect (the request was never sent), and URL escaping of keys. The client against a
// real node is covered by cli_test.cpp.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "native/client/http_client.h"
#include "tests/native/process_cluster.h"

using namespace raftbook;
using raftbook::test::free_port;
using namespace std::chrono_literals;

namespace {

// What the scripted server does with the n-th request (0-based) it receives.
enum class Reply { KeepAlive, KeepAliveThenClose, ConnectionClose, Silence };

// Serves each connection on a thread of its own, so many clients can be connected.
class ScriptedServer {
public:
    explicit ScriptedServer(std::function<Reply(int)> script) : script_(std::move(script)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw std::runtime_error("cannot listen on 127.0.0.1");
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~ScriptedServer() {
        ::shutdown(fd_, SHUT_RDWR);
        acceptor_.join();
        ::close(fd_);
        {
            std::lock_guard<std::mutex> lock(mu_);  // not held while joining: the threads take it to end
            for (int c : open_) ::shutdown(c, SHUT_RDWR);
        }
        for (std::thread& t : connections_) t.join();
    }
    uint16_t port() const { return port_; }
    int connections() const { return accepted_; }

private:
    void accept_loop() {
        for (;;) {
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            accepted_++;
            std::lock_guard<std::mutex> lock(mu_);
            open_.push_back(c);
            connections_.emplace_back([this, c] { serve(c); });
        }
    }

    // Reads requests (headers, then Content-Length bytes of body) and answers each with
    // its own body as the script says.
    void serve(int c) {
        std::string buf;
        char chunk[4096];
        for (bool open = true; open;) {
            const size_t end = buf.find("\r\n\r\n");
            const size_t cl = buf.find("Content-Length: ");
            const size_t body = end != std::string::npos && cl < end ? size_t(std::stoul(buf.substr(cl + 16))) : 0;
            if (end == std::string::npos || buf.size() < end + 4 + body) {
                const ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
                if (n <= 0) break;
                buf.append(chunk, size_t(n));
                continue;
            }
            const std::string echo = buf.substr(end + 4, body);
            buf.erase(0, end + 4 + body);
            const Reply r = script_(requests_++);
            if (r == Reply::Silence) {
                while (::recv(c, chunk, sizeof chunk, 0) > 0) {}  // until the client gives up
                break;
            }
            const std::string res = std::string("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n") +
                                    (r == Reply::ConnectionClose ? "Connection: close\r\n" : "") +
                                    "Content-Length: " + std::to_string(echo.size()) + "\r\n\r\n" + echo;
            if (::send(c, res.data(), res.size(), MSG_NOSIGNAL) != ssize_t(res.size())) break;
            open = r == Reply::KeepAlive;
        }
        std::lock_guard<std::mutex> lock(mu_);
        open_.erase(std::find(open_.begin(), open_.end(), c));
        ::close(c);
    }

    std::function<Reply(int)> script_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<int> accepted_{0};
    std::atomic<int> requests_{0};
    std::mutex mu_;
    std::vector<int> open_;  // connections still open, shut down by the destructor
    std::vector<std::thread> connections_;
    std::thread acceptor_;
};

}  // namespace

TEST_CASE("HttpClient keeps one connection for many requests", "[http_client]") {
    ScriptedServer server([](int) { return Reply::KeepAlive; });
    HttpClient client("127.0.0.1", server.port());
    for (int i = 0; i < 5; i++) {
        const HttpResult r = client.request("PUT", "/kv/k", "value " + std::to_string(i));
        REQUIRE(r.ok());
        CHECK(r.status == 200);
        CHECK(r.body == "value " + std::to_string(i));
        CHECK(r.content_type == "text/plain");
        CHECK(r.sent);
    }
    CHECK(server.connections() == 1);
}

TEST_CASE("HttpClient reconnects after the server closed an idle connection or said close", "[http_client]") {
    // Request 0 is answered and then the server hangs up without saying so, as a server
    // does when a connection idles out; request 1 is answered with "Connection: close".
    ScriptedServer server([](int n) { return n == 0 ? Reply::KeepAliveThenClose : n == 1 ? Reply::ConnectionClose : Reply::KeepAlive; });
    HttpClient client("127.0.0.1", server.port());
    REQUIRE(client.request("GET", "/a").status == 200);
    std::this_thread::sleep_for(100ms);  // the server's close arrives
    const HttpResult second = client.request("GET", "/b");
    INFO(second.error);
    CHECK(second.status == 200);
    CHECK(client.request("GET", "/c").status == 200);
    CHECK(server.connections() == 3);
}

TEST_CASE("HttpClient gives up at its deadline and says the request was sent", "[http_client]") {
    ScriptedServer server([](int) { return Reply::Silence; });
    HttpClient client("127.0.0.1", server.port(), 300ms);
    const auto start = std::chrono::steady_clock::now();
    const HttpResult r = client.request("PUT", "/kv/k", "v");
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(r.status == 0);
    CHECK(r.sent);
    CHECK(r.error == "127.0.0.1:" + std::to_string(server.port()) + " did not answer within 300 ms");
    CHECK(took >= 250ms);
    CHECK(took < 3s);
}

TEST_CASE("A refused connect is an error that says the request was never sent", "[http_client]") {
    const uint16_t port = free_port();
    HttpClient client("127.0.0.1", port);
    const HttpResult r = client.request("GET", "/status");
    CHECK(r.status == 0);
    CHECK_FALSE(r.sent);
    CHECK(r.error == "cannot reach 127.0.0.1:" + std::to_string(port) + ": Connection refused");
    HttpClient unknown("no-such-host.invalid", port);
    const HttpResult u = unknown.request("GET", "/status");
    CHECK_FALSE(u.sent);
    CHECK(u.error.find("cannot resolve host 'no-such-host.invalid'") == 0);
}

TEST_CASE("HttpConnections share one io_context and each answers its own caller", "[http_client]") {
    ScriptedServer server([](int) { return Reply::KeepAlive; });
    boost::asio::io_context ioc;
    std::vector<std::unique_ptr<HttpConnection>> connections;
    std::vector<std::string> answers(8);
    for (size_t i = 0; i < answers.size(); i++) {
        connections.push_back(std::make_unique<HttpConnection>(ioc, "127.0.0.1", server.port(), 5s));
        connections.back()->request("PUT", "/kv/" + std::to_string(i), "from " + std::to_string(i),
                                    [&answers, i](HttpResult r) { answers[i] = r.body; });
    }
    ioc.run();
    for (size_t i = 0; i < answers.size(); i++) CHECK(answers[i] == "from " + std::to_string(i));
}

TEST_CASE("kv_target escapes every byte a URL path could misread", "[http_client]") {
    CHECK(kv_target("plain-key_1.x~") == "/kv/plain-key_1.x~");
    CHECK(kv_target("a/b?c#d%e f") == "/kv/a%2Fb%3Fc%23d%25e%20f");
    CHECK(kv_target("\xC3\xA9") == "/kv/%C3%A9");
}
