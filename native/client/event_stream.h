// A Server-Sent Events client: one GET whose answer is a stream of events (a node's
// /watch, http_server.h), read asynchronously on the caller's io_context.
//
// open() connects, sends the request and calls on_event for each event as it arrives
// ("id:", "event:" and "data:" lines up to a blank line; comments are skipped), then
// on_end once, with "" when the server ended the stream, else what went wrong (a
// refused connect, an HTTP error status with the server's JSON error, a broken
// connection). `raftbook watch` and the benchmark's watchers use it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace raftbook {

struct ServerEvent {
    std::string id;     // "" when the event has none
    std::string event;  // "" for the default ("message")
    std::string data;
};

class EventStream {
public:
    EventStream(boost::asio::io_context& ioc, std::string host, uint16_t port);
    ~EventStream();
    EventStream(const EventStream&) = delete;
    EventStream& operator=(const EventStream&) = delete;

    void open(const std::string& target, const std::vector<std::pair<std::string, std::string>>& headers,
              std::function<void(const ServerEvent&)> on_event, std::function<void(const std::string&)> on_end);
    void close();

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace raftbook
