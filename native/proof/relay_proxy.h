// A TCP relay that a test harness can use to break the network between two nodes.
//
// `raftbook chaos` puts one relay on every directed pair of nodes: node A's --cluster
// names the relay for "A dials B" instead of B's real peer address, and the relay
// forwards every connection it accepts to B. The bytes of one connection flow both
// ways (a peer connection carries messages in both directions, whichever side
// dialled), so the relay controls each direction on its own:
//
//   Upstream     from the dialling side to the listening one (A to B)
//   Downstream   back (B to A)
//
// Two kinds of trouble, as a real network makes them:
//
//   hold(dir)    bytes in that direction wait in the relay (it stops reading them),
//                as TCP waits through a partition: nothing arrives, nothing is lost,
//                and everything held is delivered, late and at once, on release.
//                Holding one direction only is a one-way partition.
//   sever()      every connection through the relay is closed and new ones are
//                closed as soon as they are accepted, until restore(): the peers see
//                their connections drop and cannot make new ones.
//
// Everything runs on the caller's io_context. The control calls (hold, release, sever,
// restore, close) are for other threads, while the io_context runs: each waits until
// the io thread has acted, so when hold() returns no more bytes pass that way. Call
// close() before destroying a relay whose io_context still runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

namespace raftbook {

class RelayProxy {
public:
    enum class Direction { Upstream = 0, Downstream = 1 };

    // Relays to 127.0.0.1:upstream_port (or another numeric host).
    RelayProxy(boost::asio::io_context& ioc, std::string upstream_host, uint16_t upstream_port);
    ~RelayProxy();
    RelayProxy(const RelayProxy&) = delete;
    RelayProxy& operator=(const RelayProxy&) = delete;

    // Listens on 127.0.0.1:port (0: a free port). False with a message when it cannot.
    // Call before the io_context runs, or from its thread.
    bool listen(uint16_t port, std::string* error);
    uint16_t port() const;

    void hold(Direction d);
    void release(Direction d);
    void sever();
    // Lifts sever() and releases both directions.
    void restore();
    // Closes the listener and every connection.
    void close();

    // Connections accepted and relayed so far, and the bytes relayed each way.
    struct Counters {
        uint64_t connections = 0;
        uint64_t refused = 0;  // accepted while severed, closed at once
        uint64_t bytes[2] = {0, 0};
    };
    Counters counters() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace raftbook
