// A small HTTP/1.1 client on Boost.Beast, for the client subcommands, the benchmark
// and test drivers that talk to a node's --http address the way any outside client
// would.
//
// HttpConnection is one keep-alive connection to one server, driven asynchronously on
// the caller's io_context (the benchmark runs many of them on one thread): request()
// sends one request and calls back once, with the response or an error. Requests on
// one connection go one at a time. The connection is made on first use and made again
// after an error, a "Connection: close" answer, or when the server has closed it while
// idle. Every request has one deadline covering connect, send and receive.
//
// A request that fails is never sent again behind the caller's back: a PUT the server
// may have applied must not be applied a second time. HttpResult says how far it got
// instead — `sent` is false when the server cannot have seen the request (the connect
// failed), so a caller that records a history (lincheck) knows a failed request from
// one whose outcome is unknown.
//
// HttpClient is the blocking face of the same connection: it owns a private
// io_context and runs it until the request is done.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace raftbook {

struct HttpResult {
    int status = 0;            // the HTTP status; 0 when there is no response (see error)
    std::string body;
    std::string content_type;
    std::map<std::string, std::string> headers;  // the response's, names in lower case
    std::string error;         // why there is no response, naming the server
    bool sent = false;         // whether the request may have reached the server
    bool ok() const { return error.empty(); }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// "/kv/" + KEY with every byte but A-Z a-z 0-9 - . _ ~ percent-encoded.
std::string kv_target(const std::string& key);
// `text` with every byte but A-Z a-z 0-9 - . _ ~ percent-encoded (a path segment or a
// query value).
std::string url_escape(const std::string& text);

class HttpConnection {
public:
    // `host` is an IPv4/IPv6 address or a name (resolved, blocking, on each connect).
    HttpConnection(boost::asio::io_context& ioc, std::string host, uint16_t port,
                   std::chrono::milliseconds timeout);
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    // Sends METHOD TARGET with `body` (sent with a Content-Length when non-empty or for
    // PUT/POST) and calls `done` once on the io_context's thread. One request at a time.
    void request(const std::string& method, const std::string& target, std::string body,
                 std::function<void(HttpResult)> done, const Headers& headers = {});
    // Closes the connection; a request in flight completes with an error.
    void close();
    // "host:port", as errors name it.
    const std::string& address() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

class HttpClient {
public:
    HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    HttpResult request(const std::string& method, const std::string& target, const std::string& body = "",
                       const Headers& headers = {});
    const std::string& address() const { return connection_.address(); }

private:
    boost::asio::io_context ioc_;
    HttpConnection connection_;
};

}  // namespace raftbook
