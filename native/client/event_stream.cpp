// Server-Sent Events over one HTTP/1.1 connection; see event_stream.h.
#include "native/client/event_stream.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

namespace raftbook {

using tcp = boost::asio::ip::tcp;

struct EventStream::Impl : std::enable_shared_from_this<EventStream::Impl> {
    Impl(boost::asio::io_context& ioc, std::string host, uint16_t port)
        : ioc(ioc), host(std::move(host)), port(port), socket(ioc) {
        address = this->host + ":" + std::to_string(port);
    }

    boost::asio::io_context& ioc;
    std::string host;
    uint16_t port;
    std::string address;
    tcp::socket socket;
    std::string request;
    char chunk[65536];
    std::string in;  // received, not yet a complete line
    std::function<void(const ServerEvent&)> on_event;
    std::function<void(const std::string&)> on_end;
    ServerEvent pending;
    bool in_body = false;
    int status = 0;
    std::string error_body;  // of a non-200 answer

    void start() {
        tcp::resolver resolver(ioc);
        boost::system::error_code ec;
        const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
        if (ec) return end("cannot resolve host '" + host + "': " + ec.message());
        boost::asio::async_connect(socket, endpoints, [self = shared_from_this()](boost::system::error_code ec, const tcp::endpoint&) {
            if (ec) return self->end("cannot reach " + self->address + ": " + ec.message());
            boost::system::error_code ignored;
            self->socket.set_option(tcp::no_delay(true), ignored);
            boost::asio::async_write(self->socket, boost::asio::buffer(self->request),
                                     [self](boost::system::error_code ec, size_t) {
                                         if (ec) return self->end("sending to " + self->address + " failed: " + ec.message());
                                         self->read_line();
                                     });
        });
    }

    // Reads what has arrived and handles every complete line in it (a watcher of a busy
    // prefix gets many events per read).
    void read_line() {
        socket.async_read_some(boost::asio::buffer(chunk), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
            if (ec) return self->finish_body(ec);
            self->in.append(self->chunk, n);
            size_t start = 0;
            for (size_t end; (end = self->in.find('\n', start)) != std::string::npos; start = end + 1) {
                size_t stop = end;
                if (stop > start && self->in[stop - 1] == '\r') stop--;
                if (!self->line(self->in.substr(start, stop - start))) return;
            }
            self->in.erase(0, start);
            self->read_line();
        });
    }

    // One line of the answer; false when the stream is over.
    bool line(const std::string& l) {
        if (!in_body) {
            if (status == 0) {
                const size_t sp = l.find(' ');
                status = sp == std::string::npos ? -1 : std::atoi(l.c_str() + sp + 1);
            } else if (l.empty()) {
                in_body = true;
            }
            return true;
        }
        if (status != 200) {
            error_body += l;
            return true;
        }
        if (l.empty()) {
            if (!pending.data.empty() || !pending.event.empty()) {
                const auto callback = on_event;  // it may close the stream, dropping on_event
                callback(pending);
            }
            pending.event.clear();
            pending.data.clear();
            pending.id.clear();
            return bool(on_event);
        }
        if (l[0] == ':') return true;  // a comment (keep-alive)
        const size_t colon = l.find(':');
        const std::string field = l.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : l.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        if (field == "id") pending.id = value;
        if (field == "event") pending.event = value;
        if (field == "data") pending.data += (pending.data.empty() ? "" : "\n") + value;
        return true;
    }

    void finish_body(const boost::system::error_code& ec) {
        if (status == 0) return end(address + " closed the connection before answering: " + ec.message());
        if (status != 200) {
            const auto j = nlohmann::json::parse(error_body, nullptr, false);
            const std::string why = j.is_object() && j.contains("error") && j["error"].is_string()
                                        ? j["error"].get<std::string>()
                                        : error_body.substr(0, 200);
            return end(address + " answered " + std::to_string(status) + ": " + why);
        }
        end(ec == boost::asio::error::eof ? "" : "the stream from " + address + " broke: " + ec.message());
    }

    void end(const std::string& error) {
        boost::system::error_code ignored;
        socket.close(ignored);
        on_event = nullptr;
        auto callback = std::move(on_end);
        on_end = nullptr;
        if (callback) callback(error);
    }
};

EventStream::EventStream(boost::asio::io_context& ioc, std::string host, uint16_t port)
    : impl_(std::make_shared<Impl>(ioc, std::move(host), port)) {}

EventStream::~EventStream() { close(); }

void EventStream::open(const std::string& target, const std::vector<std::pair<std::string, std::string>>& headers,
                       std::function<void(const ServerEvent&)> on_event, std::function<void(const std::string&)> on_end) {
    impl_->on_event = std::move(on_event);
    impl_->on_end = std::move(on_end);
    impl_->request = "GET " + target + " HTTP/1.1\r\nHost: " + impl_->address +
                     "\r\nUser-Agent: raftbook\r\nAccept: text/event-stream\r\n";
    for (const auto& [name, value] : headers) impl_->request += name + ": " + value + "\r\n";
    impl_->request += "\r\n";
    impl_->start();
}

void EventStream::close() {
    impl_->on_event = nullptr;
    impl_->on_end = nullptr;
    boost::system::error_code ignored;
    impl_->socket.close(ignored);
}

}  // namespace raftbook
