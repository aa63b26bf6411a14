// A minimal WebSocket client (RFC 6455) over a RawSocket, for tests: enough to speak to
// a node's peer port (/raft) as a peer or a browser node would, and to send it what no
// peer should. hello() is the first frame a peer sends.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "core/codec/codec.h"
#include "tests/native/process_cluster.h"

namespace raftbook::test {

class TestWebSocket {
public:
    explicit TestWebSocket(const std::string& host_port) : sock_(host_port, 3000ms) {
        sock_.send_all("GET /raft HTTP/1.1\r\nHost: " + host_port +
                       "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        std::string head;
        while (head.find("\r\n\r\n") == std::string::npos) {
            const std::string part = sock_.recv_exact(1);
            if (part.empty()) break;
            head += part;
        }
        open_ = head.compare(0, 12, "HTTP/1.1 101") == 0;
    }
    bool open() const { return open_; }

    // One unfragmented client frame (clients must mask; the mask here is zero).
    bool send_frame(uint8_t opcode, const std::string& payload) {
        return sock_.send_all(header(opcode, payload.size()) + payload);
    }
    // Only a header claiming `length` payload bytes: what a frame over the limit looks like.
    bool send_header(uint8_t opcode, uint64_t length) { return sock_.send_all(header(opcode, length)); }
    bool send(const Frame& f) { return send_frame(0x2, encode_frame(f, WireFormat::Cbor)); }

    struct Incoming {
        int opcode = -1;  // -1: the connection ended
        std::string payload;
    };
    Incoming read() {
        Incoming in;
        const std::string h = sock_.recv_exact(2);
        if (h.size() < 2) return in;
        uint64_t len = uint8_t(h[1]) & 0x7f;
        if (len >= 126) {
            const std::string ext = sock_.recv_exact(len == 126 ? 2 : 8);
            len = 0;
            for (unsigned char c : ext) len = (len << 8) | c;
        }
        in.payload = sock_.recv_exact(size_t(len));
        in.opcode = uint8_t(h[0]) & 0x0f;
        return in;
    }
    // Reads until a close frame: its status code and reason (code 0 when the
    // connection ended without one).
    std::pair<int, std::string> read_close() {
        for (;;) {
            const Incoming in = read();
            if (in.opcode < 0) return {0, ""};
            if (in.opcode == 0x8) {
                if (in.payload.size() < 2) return {1005, ""};
                return {(uint8_t(in.payload[0]) << 8) | uint8_t(in.payload[1]), in.payload.substr(2)};
            }
        }
    }

private:
    static std::string header(uint8_t opcode, uint64_t n) {
        std::string h(1, char(0x80 | opcode));
        if (n < 126) {
            h += char(0x80 | n);
        } else if (n < 65536) {
            h += char(0x80 | 126);
            h += char(n >> 8);
            h += char(n & 0xff);
        } else {
            h += char(0x80 | 127);
            for (int i = 7; i >= 0; i--) h += char((n >> (8 * i)) & 0xff);
        }
        return h + std::string(4, '\0');  // the mask key
    }

    RawSocket sock_;
    bool open_ = false;
};

inline Frame hello(NodeId from, const std::string& cluster = "raftbook") {
    Frame f;
    f.cluster = cluster;
    f.type = MessageType::Hello;
    f.peer.type = MessageType::Hello;
    f.peer.from = from;
    return f;
}

}  // namespace raftbook::test
