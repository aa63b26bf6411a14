// The peer transport: codec Frames between nodes over WebSocket, addressed by node id.
//
// Every node listens on its peer address (`--listen`, path /raft) and dials the peers it
// has no connection to, retrying with backoff (100 ms, doubling to 2 s) so that a peer
// that is down never blocks the others: a frame for a peer with no connection is simply
// dropped, and Raft's own retries cover the loss.
//
// Messages are addressed by node id, not by connection. The first frame each side
// sends on a connection is a Hello naming its id; from then on (once the token step
// below is done) the connection is a route to that node whichever side dialled it (a
// direct route). That matters for
// browser nodes, which can only dial out: a node reaches them over the connection they
// opened.
//
// Routing to browser members (set_browsers, from the configuration). A browser is never
// dialled; it keeps one link, to one native member, and every frame it sends goes up
// that link whatever node it is for. So a frame travels:
//   send(to)   over a direct route to `to`; for a browser `to` without one, over the
//              learned route (below) while fresh, else flooded: sent to every connected
//              native member (set_peers), one of which has the browser's link;
//   relaying   a frame whose `to` is another node is sent on unchanged: over a direct
//              route only, except a frame that arrived on a browser's link, which may
//              also take a learned route or be flooded. So a frame takes at most two
//              relay hops (browser -> native -> native -> browser) and never loops: a
//              native never passes on what a native handed it except to its addressee.
// A learned route is what a native node knows of a browser connected elsewhere: "B via
// N" when a frame from B arrived on native peer N's connection (N relayed it), held
// kLearnedRouteFresh (1 s) after the last such frame. A browser that moves to another
// native node (its link broke) is therefore found again by flooding within a second,
// and from its first answer on it is reached through its new link. via() says which
// native node a browser is reached through, for /status.
//
// A peer socket is untrusted input. A frame over kMaxFrameBytes is refused unread
// (websocketpp's message size limit), and bytes that do not decode, an unknown message
// type, a frame for another cluster, or a first frame that is not Hello close the
// connection with a close reason saying which; the event is logged once per peer
// address (rate-limited) and the node keeps serving everyone else. Every accepted
// connection holds a file descriptor from accept until it closes, Hello or not (one that
// never completes its WebSocket handshake lasts up to websocketpp's 5 s timeout), so at
// most `max_accepted` are open at once: one more is closed at once, before any
// handshake, and logged at most once a minute with a count. The connections this node
// dials are not counted: the node's own descriptor reserve covers them.
//
// The cluster id. Every frame carries one, and a frame for another cluster closes the
// connection, naming both ids. A node that does not know its cluster's id yet (a fresh
// member, node_host.h) has cluster_id "" and sends Hellos without one; it takes part in
// nothing until a peer's Hello presents an id, which it adopts through `adopt` (the host
// records it durably first; an id the host refuses closes that connection with the
// host's reason) and then announces in a new Hello on every open connection, so the
// fresh members it is connected to learn it too. A node that knows its id accepts a
// Hello without one (a fresh member about to learn it from this node's Hello) but no
// other frame without it.
//
// The token (core/auth/auth.h). Every Hello carries a fresh random nonce (from the OS,
// std::random_device; one per connection). A node with a token (`--token-file`) answers
// the other side's Hello with an Auth frame, the proof for that nonce, and takes nothing
// from the connection but Hello and Auth until the other side's Auth proves it knows
// the token for our nonce: only then is the connection a route, and only then does a
// node without a cluster id adopt the one that side's Hello presented. Both ends check,
// whichever dialled. A wrong proof closes the connection with policy_violation and the
// reason "wrong token: ..."; any other frame first, "this cluster needs a token: ...";
// both say to start the node with the cluster's --token-file. A node without a token
// ignores Auth frames (so it is refused by its peers that have one, not the reverse).
//
// Membership. The peers dialled are the members of the configuration in force
// (set_peers, called by the host whenever it changes): a new member is dialled at once,
// a member that left is no longer dialled (a connection already open stays until the
// other side closes it: a leader that removed itself still needs it to commit that
// change). A node the cluster removed that connects anyway is refused with the close
// code kCloseRemoved and a reason saying so (`refuse_peer` decides); the node at the
// other end hears that code and reports it through `on_removed`.
//
// Frames are CBOR in binary WebSocket messages by default, or JSON text (`--wire json`)
// for debugging; the receiver decodes by the message opcode, so both mix freely.
// Everything runs on the caller's io_context thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/codec/codec.h"
#include "native/node/log.h"
#include "native/node/metrics.h"

namespace raftbook {

struct PeerTransportConfig {
    NodeId self = kNoNode;
    std::string cluster_id;  // "" while not known: learned from the first peer that presents one
    std::string listen_host = "127.0.0.1";
    uint16_t listen_port = 0;
    std::map<NodeId, std::string> peers;  // id -> "host:port" to dial (self excluded)
    size_t max_accepted = 64;             // accepted connections open at once, at most
    WireFormat wire = WireFormat::Cbor;
    // "" to accept a Hello from node `id`, else why it is refused (a removed member).
    std::function<std::string(NodeId id)> refuse_peer;
    // A peer refused this node with kCloseRemoved; `reason` is the peer's.
    std::function<void(const std::string& reason)> on_removed;
    // The cluster's token ("" for none): see core/auth/auth.h. With one, a connection
    // carries nothing but Hello and Auth until the other side proved it knows it.
    std::string token;
};

// The WebSocket close code (application range 4000-4999) for "you were removed from
// this cluster".
constexpr int kCloseRemoved = 4001;

class PeerTransport {
public:
    // Called for every valid frame addressed to this node (Hello frames excluded), with
    // the id of the node at the other end of the connection it came in on. Client
    // frames carry no address of their own: they are for the node that receives them,
    // and their answer goes back over the same connection (to `link_peer`).
    using OnFrame = std::function<void(const Frame& frame, NodeId link_peer)>;
    // Called when this node has no cluster id and a peer's Hello presents one; returns
    // "" once the host has taken it as its own, else why not.
    using Adopt = std::function<std::string(const std::string& cluster_id)>;

    PeerTransport(boost::asio::io_context& ioc, PeerTransportConfig config, Metrics* metrics, OnFrame on_frame,
                  Adopt adopt);
    ~PeerTransport();

    // Starts listening and dialling. Returns false with a message when the listen fails.
    bool start(std::string* error);
    // Closes every connection and stops dialling.
    void stop();

    // Sends `frame` to node `to` (cluster and sender filled in), routed as the top says.
    // Returns false and drops the frame when there is no route to that node (for a
    // browser: no native peer connected either), or its send queue is over a limit (a
    // stalled peer must not make this node buffer without bound).
    bool send(NodeId to, Frame frame);
    bool connected(NodeId id) const;
    // The peers to dial from now on (id -> "host:port", self excluded; see the top).
    void set_peers(const std::map<NodeId, std::string>& peers);
    // The browser members (never dialled; reached through the native node they are
    // connected to, relayed: see the top). Call it before set_peers.
    void set_browsers(const std::set<NodeId>& browsers);
    // The node a browser member is reached through: this node's own id when it is
    // connected here, the native peer of a fresh learned route, or kNoNode when not
    // known (it would be flooded to).
    NodeId via(NodeId browser) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace raftbook
