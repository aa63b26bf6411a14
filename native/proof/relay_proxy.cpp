#include "native/proof/relay_proxy.h"

#include <array>
#include <atomic>
#include <future>
#include <set>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace raftbook {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// One relayed connection: the accepted socket, the one to the upstream server, and a
// pipe per direction that reads from one and writes what it read to the other.
struct Link : std::enable_shared_from_this<Link> {
    Link(tcp::socket accepted, asio::io_context& ioc) : sockets{{std::move(accepted), tcp::socket(ioc)}} {}

    // sockets[0] is the dialling side, sockets[1] the upstream server; the Upstream
    // pipe reads sockets[0] and writes sockets[1], Downstream the other way round.
    std::array<tcp::socket, 2> sockets;
    struct Pipe {
        std::array<char, 16384> buffer;
        size_t pending = 0;   // bytes read and not yet written
        bool parked = false;  // stopped by a hold; resumed on release
    };
    std::array<Pipe, 2> pipes;
    bool closed = false;

    void close() {
        if (closed) return;
        closed = true;
        for (tcp::socket& s : sockets) {
            error_code ignored;
            s.shutdown(tcp::socket::shutdown_both, ignored);
            s.close(ignored);
        }
    }
};

}  // namespace

struct RelayProxy::Impl : std::enable_shared_from_this<RelayProxy::Impl> {
    Impl(asio::io_context& ioc, std::string host, uint16_t port) : ioc(ioc), acceptor(ioc), host(std::move(host)), upstream_port(port) {}

    asio::io_context& ioc;
    tcp::acceptor acceptor;
    std::string host;
    uint16_t upstream_port;
    std::set<std::shared_ptr<Link>> links;
    bool held[2] = {false, false};
    bool severed = false;
    bool closed = false;
    std::atomic<uint64_t> connections{0}, refused{0}, bytes_up{0}, bytes_down{0};

    void accept() {
        acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
            if (self->closed) return;
            if (!ec) self->on_accept(std::move(socket));
            self->accept();
        });
    }

    void on_accept(tcp::socket socket) {
        if (severed) {
            refused++;
            error_code ignored;
            socket.close(ignored);
            return;
        }
        error_code ec;
        const auto addr = asio::ip::make_address(host, ec);
        if (ec) return;
        auto link = std::make_shared<Link>(std::move(socket), ioc);
        links.insert(link);
        connections++;
        link->sockets[1].async_connect(tcp::endpoint(addr, upstream_port), [self = shared_from_this(), link](error_code ec) {
            if (link->closed) return;
            if (ec) {
                self->drop(link);
                return;
            }
            error_code ignored;
            link->sockets[1].set_option(tcp::no_delay(true), ignored);
            link->sockets[0].set_option(tcp::no_delay(true), ignored);
            self->pump(link, 0);
            self->pump(link, 1);
        });
    }

    void drop(const std::shared_ptr<Link>& link) {
        link->close();
        links.erase(link);
    }

    // Moves the next chunk in direction `d`: writes what is pending, else reads more,
    // unless the direction is held (then it parks until release()).
    void pump(const std::shared_ptr<Link>& link, int d) {
        Link::Pipe& p = link->pipes[size_t(d)];
        if (link->closed) return;
        if (held[d]) {
            p.parked = true;
            return;
        }
        if (p.pending > 0) {
            asio::async_write(link->sockets[size_t(1 - d)], asio::buffer(p.buffer.data(), p.pending),
                              [self = shared_from_this(), link, d](error_code ec, size_t n) {
                                  (d == 0 ? self->bytes_up : self->bytes_down) += n;  // delivered, even if closed since
                                  if (link->closed) return;
                                  if (ec) {
                                      self->drop(link);
                                      return;
                                  }
                                  link->pipes[size_t(d)].pending = 0;
                                  self->pump(link, d);
                              });
            return;
        }
        link->sockets[size_t(d)].async_read_some(asio::buffer(p.buffer),
                                                 [self = shared_from_this(), link, d](error_code ec, size_t n) {
                                                     if (link->closed) return;
                                                     if (ec) {
                                                         self->drop(link);
                                                         return;
                                                     }
                                                     link->pipes[size_t(d)].pending = n;
                                                     self->pump(link, d);
                                                 });
    }

    void set_hold(int d, bool on) {
        held[d] = on;
        if (on) return;
        for (const auto& link : std::set<std::shared_ptr<Link>>(links)) {
            Link::Pipe& p = link->pipes[size_t(d)];
            if (!p.parked) continue;
            p.parked = false;
            pump(link, d);
        }
    }

    void sever_all() {
        severed = true;
        for (const auto& link : links) link->close();
        links.clear();
    }

    // Runs `f` on the io thread and waits for it.
    template <class F>
    void run(F f) {
        std::promise<void> done;
        asio::post(ioc, [&] {
            f();
            done.set_value();
        });
        done.get_future().wait();
    }
};

RelayProxy::RelayProxy(asio::io_context& ioc, std::string upstream_host, uint16_t upstream_port)
    : impl_(std::make_shared<Impl>(ioc, std::move(upstream_host), upstream_port)) {}

RelayProxy::~RelayProxy() = default;

bool RelayProxy::listen(uint16_t port, std::string* error) {
    const tcp::endpoint ep(asio::ip::address_v4::loopback(), port);
    error_code ec;
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(ep, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        *error = "relay cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + ec.message();
        return false;
    }
    impl_->accept();
    return true;
}

uint16_t RelayProxy::port() const {
    error_code ec;
    return impl_->acceptor.local_endpoint(ec).port();
}

void RelayProxy::hold(Direction d) {
    impl_->run([impl = impl_.get(), d] { impl->set_hold(int(d), true); });
}

void RelayProxy::release(Direction d) {
    impl_->run([impl = impl_.get(), d] { impl->set_hold(int(d), false); });
}

void RelayProxy::sever() {
    impl_->run([impl = impl_.get()] { impl->sever_all(); });
}

void RelayProxy::restore() {
    impl_->run([impl = impl_.get()] {
        impl->severed = false;
        impl->set_hold(0, false);
        impl->set_hold(1, false);
    });
}

void RelayProxy::close() {
    impl_->run([impl = impl_.get()] {
        impl->closed = true;
        error_code ignored;
        impl->acceptor.close(ignored);
        impl->sever_all();
    });
}

RelayProxy::Counters RelayProxy::counters() const {
    Counters c;
    c.connections = impl_->connections;
    c.refused = impl_->refused;
    c.bytes[0] = impl_->bytes_up;
    c.bytes[1] = impl_->bytes_down;
    return c;
}

}  // namespace raftbook
