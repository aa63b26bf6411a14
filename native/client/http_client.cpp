#include "native/client/http_client.h"

#include <poll.h>

#include <cctype>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace raftbook {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

// Larger than anything a node sends (values are at most 64 KiB; /metrics and /status
// grow with the number of peers).
constexpr uint64_t kMaxResponseBytes = 16 * 1024 * 1024;

}  // namespace

std::string kv_target(const std::string& key) { return "/kv/" + url_escape(key); }

std::string url_escape(const std::string& text) {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out.push_back(char(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

struct HttpConnection::Impl : std::enable_shared_from_this<HttpConnection::Impl> {
    Impl(boost::asio::io_context& ioc, std::string host, uint16_t port, std::chrono::milliseconds timeout)
        : ioc(ioc), host(std::move(host)), port(port), timeout(timeout), stream(ioc) {
        address = (this->host.find(':') != std::string::npos ? "[" + this->host + "]" : this->host) + ":" +
                  std::to_string(port);
    }

    boost::asio::io_context& ioc;
    std::string host;
    uint16_t port;
    std::string address;
    std::chrono::milliseconds timeout;
    beast::tcp_stream stream;
    bool connected = false;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    std::optional<http::response_parser<http::string_body>> parser;
    std::function<void(HttpResult)> done;
    HttpResult result;

    std::string timeout_text() const { return std::to_string(timeout.count()) + " ms"; }

    // Whether the server closed the idle connection (or sent bytes nobody asked for):
    // either way it cannot carry the next request.
    bool unusable() {
        pollfd p{};
        p.fd = stream.socket().native_handle();
        p.events = POLLIN | POLLRDHUP;
        return ::poll(&p, 1, 0) != 0;
    }

    void start() {
        result = HttpResult();
        if (connected && unusable()) drop();
        stream.expires_after(timeout);  // one deadline for connect, send and receive
        if (connected) {
            write();
            return;
        }
        tcp::resolver resolver(ioc);
        beast::error_code ec;
        const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
        if (ec) {  // answered from the event loop, as every other outcome is
            boost::asio::post(ioc, [self = shared_from_this(), error = "cannot resolve host '" + host + "': " + ec.message()] {
                self->fail(error);
            });
            return;
        }
        stream.async_connect(endpoints, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
            if (ec) {
                self->fail("cannot reach " + self->address + ": " +
                           (ec == beast::error::timeout ? "no answer within " + self->timeout_text() : ec.message()));
                return;
            }
            self->connected = true;
            beast::error_code ignored;
            self->stream.socket().set_option(tcp::no_delay(true), ignored);
            self->write();
        });
    }

    void write() {
        result.sent = true;
        http::async_write(stream, req, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) {
                self->fail(ec == beast::error::timeout ? self->address + " did not answer within " + self->timeout_text()
                                                       : "sending to " + self->address + " failed: " + ec.message());
                return;
            }
            self->read();
        });
    }

    void read() {
        parser.emplace();
        parser->body_limit(kMaxResponseBytes);
        http::async_read(stream, buffer, *parser, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec == beast::error::timeout) {
                self->fail(self->address + " did not answer within " + self->timeout_text());
            } else if (ec == http::error::end_of_stream || ec == boost::asio::error::connection_reset) {
                self->fail(self->address + " closed the connection before answering");
            } else if (ec) {
                self->fail("reading the answer from " + self->address + " failed: " + ec.message());
            } else {
                self->succeed();
            }
        });
    }

    void succeed() {
        auto res = parser->release();
        result.status = res.result_int();
        result.content_type = std::string(res[http::field::content_type]);
        for (const auto& field : res) {
            std::string name(field.name_string());
            for (char& ch : name) ch = char(std::tolower((unsigned char)ch));
            result.headers[name] = std::string(field.value());
        }
        result.body = std::move(res.body());
        if (!res.keep_alive()) drop();
        finish();
    }

    void fail(std::string error) {
        result.error = std::move(error);
        drop();
        finish();
    }

    void drop() {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream.close();
        buffer.consume(buffer.size());
        connected = false;
    }

    void finish() {
        stream.expires_never();
        auto callback = std::move(done);
        done = nullptr;
        if (callback) callback(std::move(result));
    }
};

HttpConnection::HttpConnection(boost::asio::io_context& ioc, std::string host, uint16_t port,
                               std::chrono::milliseconds timeout)
    : impl_(std::make_shared<Impl>(ioc, std::move(host), port, timeout)) {}

HttpConnection::~HttpConnection() {
    impl_->done = nullptr;  // a request in flight must not call back into its owner
    close();
}

const std::string& HttpConnection::address() const { return impl_->address; }

void HttpConnection::close() {
    if (impl_->connected) impl_->drop();
}

void HttpConnection::request(const std::string& method, const std::string& target, std::string body,
                             std::function<void(HttpResult)> done, const Headers& headers) {
    Impl& c = *impl_;
    c.done = std::move(done);
    const http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) {
        boost::asio::post(c.ioc, [self = impl_, method] {
            self->result = HttpResult();
            self->result.error = "unknown HTTP method '" + method + "'";
            self->finish();
        });
        return;
    }
    c.req = {};
    c.req.method(verb);
    c.req.target(target);
    c.req.version(11);
    c.req.set(http::field::host, c.address);
    c.req.set(http::field::user_agent, "raftbook");
    c.req.keep_alive(true);
    for (const auto& [name, value] : headers) c.req.set(name, value);
    c.req.body() = std::move(body);
    c.req.prepare_payload();
    c.start();
}

HttpClient::HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : connection_(ioc_, std::move(host), port, timeout) {}

HttpResult HttpClient::request(const std::string& method, const std::string& target, const std::string& body,
                               const Headers& headers) {
    HttpResult out;
    connection_.request(method, target, body, [&out](HttpResult r) { out = std::move(r); }, headers);
    ioc_.restart();
    ioc_.run();
    return out;
}

}  // namespace raftbook
