// A browser node: the node runtime hosted in a web page, as a live member of a
// cluster of native nodes.
//
// A page cannot accept connections, and its memory dies with the tab. So a browser
// node has exactly one link at a time, an uplink: a WebSocket the page opens to one
// native member's peer address (path /raft). Every frame it sends goes up that link,
// whatever node it is for, and the native node relays it (peer_transport.h); every
// frame for it comes down the same link. When the link drops, the page opens one to
// another native member (the configuration lists their peer addresses) and says Hello
// again there; the native members learn the new route from the frames it sends.
//
// Identity. A browser node joins under a fresh id every time it starts and never
// reuses one: its hard state, log and snapshot live only in the tab's memory, so a
// reloaded tab has forgotten its vote and its log, and coming back under the old id
// could make it vote twice in a term or count toward a commit it no longer holds
// (Raft §5.2, §5.4 assume stable storage). A fresh id is a new member; the old one is
// gone for good, like a machine that died, and the leader removes it once it has been
// absent longer than RuntimeConfig::remove_absent_browsers_after_ms. Its writes are
// "durable" once in memory: persisted() follows each write within the same input.
//
// Joining. After the link's handshake (Hello, then Auth when the cluster has a token:
// core/auth/auth.h) the node asks to be added as a browser learner (an add_learner
// request with browser set, which the runtime forwards to the leader like any client
// request) until the configuration shows it; the leader then sends it a snapshot and
// the log. With promote_self it then asks to be promoted once caught up (the runtime's
// promote_self); leave() asks for its own removal.
//
// This class is the whole node; a host (the page's wasm glue, a native test) only
// moves bytes between the uplink and it, and passes the time in. No I/O here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/runtime/node_runtime.h"

namespace raftbook {

struct BrowserNodeConfig {
    NodeId id = kNoNode;      // fresh: never used in this cluster before (see the top)
    std::string cluster_id;   // from a member's /status
    std::string token;        // "" when the cluster has none
    uint64_t random_hi = 0, random_lo = 0;  // host randomness: the Hello nonces, session ids
    RuntimeConfig runtime;    // runtime.raft.id = id; promote_self: ask to become a voter
    Membership membership;    // the configuration as a member's /status showed it
};

class BrowserNode : private RuntimeHost {
public:
    BrowserNode(BrowserNodeConfig config, TimeMs now);
    ~BrowserNode() override;

    // --- The uplink ---
    // The page opened a link to native member `via`: the Hello goes out (take_outbox).
    void link_up(NodeId via, TimeMs now);
    // The link closed (or failed to open), with the WebSocket close code when the page
    // has one: kCloseRemoved (4001) says the cluster removed this node, which then stops.
    void link_down(TimeMs now, int close_code = 0);
    // A WebSocket message from the link: `text` for a text message (JSON), else binary
    // (CBOR). Returns "" or, when the link must be closed (undecodable bytes, a failed
    // proof, this node was removed), the close reason.
    std::string receive(const std::string& bytes, bool text, TimeMs now);
    // Frames to send up the link, in order, as JSON text messages.
    std::vector<std::string> take_outbox();

    // --- Time and clients ---
    void tick(TimeMs now);  // call every RaftConfig tick (the page: setInterval)
    // A request from the page ("put", "get", "del", "list", "promote", "remove",
    // "transfer_leader"); `done` is called exactly once.
    void submit(ClientRequest request, ReplyFn done, TimeMs now);
    // Asks to be promoted / to be removed (this node's own id).
    void promote(ReplyFn done, TimeMs now);
    void leave(ReplyFn done, TimeMs now);

    // --- Observation ---
    // The node as the native /status shows one (the runtime's status; "cluster_id";
    // "members" with id, peer, http, voter, kind; "removed" ids; "voter"; and
    // "removed_from_cluster" once this node was removed), plus "link": {"via", "up"}
    // (up: the handshake is done), "joined" (the configuration shows it), "join_error"
    // (why the last request to join failed, while not joined) and "log_tail" (the last
    // entries: index, term, type) and "recent_frames": the last 64 frames that went up
    // the link or came down it, oldest first, each {at_ms (the `now` of the call that
    // sent or received it), dir ("sent" | "received"), type, from, to, term, index,
    // log_term, commit, entries (how many), reject; a Snapshot's offset and total, a
    // SnapshotResp's offset, a ClientRequest's op and key, a ClientReply's ok}.
    nlohmann::json status() const;
    bool joined() const;
    bool removed() const;
    NodeId via() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    void maybe_join();  // asks to be added while the configuration does not show this node
    void settle();      // reports the in-memory writes durable, runs the Ready loop
    // RuntimeHost
    bool send(NodeId to, Frame frame) override;
    void write(DiskWrite w) override;
    TimeMs now() const override;
    NodeId uplink() const override;
    void on_membership(const Membership& membership) override;
};

}  // namespace raftbook
