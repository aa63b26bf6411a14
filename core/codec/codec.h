// The one wire codec: every byte that crosses a socket between raftbook processes
// (peer messages, client requests and replies, the connection hello) is a Frame,
// encoded as a JSON object, either as JSON text (for debugging) or in its CBOR form
// (the default: same structure, compact binary).
//
// Every frame carries "v" (the codec version, 1), "cluster" (frames for another
// cluster are refused by the host) and "type" (a MessageType name), then the fields
// of its message under their struct names ("term", "log_term", "entries", ...; a
// client's id is "client", a reply's leader_hint is "leader"). Fields that are zero,
// false or empty are left out, and read back as that default. An entry is an object
// {"index", "term", "type" ("Command", "NoOp" or "Config"), "data", "client", "seq"},
// again without its default fields. A Hello may carry "nonce" and an Auth "proof"
// (hex text, at most kMaxAuthText bytes); a client request or reply "from" and "to"
// (Frame::peer's, for relaying). A Snapshot chunk's "data" is binary: a CBOR byte
// string, or base64 text in JSON; its "membership" is the configuration text
// (Membership::encode). A Config entry or a chunk membership that is no configuration
// is refused, as a malformed frame.
//
// decode_frame() accepts untrusted bytes: anything at all — truncated, random,
// hostile (huge lengths, wrong types, negative or overflowing indexes, deep nesting)
// — yields either a valid Frame or a one-line error. It never throws, asserts or
// crashes. Strings must be UTF-8 in both formats, so any decoded frame can be shown
// as JSON (the playground, tools) and re-encoded in either format unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/raft/membership.h"
#include "core/raft/message.h"

namespace raftbook {

enum class WireFormat : uint8_t { Json, Cbor };

constexpr int kCodecVersion = 1;
constexpr size_t kMaxFrameBytes = 8 * 1024 * 1024;   // larger frames are refused unread
constexpr size_t kMaxEntriesPerFrame = 100000;
constexpr size_t kMaxStringBytes = 1024 * 1024;      // any single string field
constexpr size_t kMaxFrameDepth = 16;                // nested arrays/objects; frames use 3
constexpr size_t kMaxAuthText = 128;                 // a Hello's nonce, an Auth's proof
// The WebSocket close code (application range 4000-4999) a node closes a peer link with
// when the cluster removed the node at the other end: "you were removed from this cluster".
constexpr int kCloseRemoved = 4001;

struct Frame {
    std::string cluster;
    MessageType type = MessageType::Hello;
    Message peer;            // peer message types and Hello (peer.from = sender);
                             // decode sets peer.type = type
    ClientRequest request;   // type == ClientRequest; op as in message.h
    ClientReply reply;       // type == ClientReply
    std::string nonce;       // type == Hello: a challenge for the other side (hex, may be "")
    std::string proof;       // type == Auth: the answer to the other side's nonce (hex)

    bool operator==(const Frame& o) const {
        return cluster == o.cluster && type == o.type && peer == o.peer &&
               request == o.request && reply == o.reply &&
               nonce == o.nonce && proof == o.proof;
    }
};

// Never throws. Strings that are not UTF-8 cannot be sent: the JSON form replaces
// their bad bytes with U+FFFD and decoders refuse them in CBOR; check with is_utf8().
std::string encode_frame(const Frame& f, WireFormat format);
// Returns true and fills *out, or returns false with a one-line *error.
bool decode_frame(const std::string& bytes, WireFormat format, Frame* out, std::string* error);
// decode_frame's two halves, for tests and the fuzzer, which check that the fast one
// never accepts what the general one refuses nor decodes it differently:
//  - the fast CBOR reader: true for the plain shapes encode_frame writes, false for
//    anything else (false is "not that shape", not "invalid");
//  - the general decoder: any input, with the error of a refusal.
bool decode_frame_fast(const std::string& cbor_bytes, Frame* out);
bool decode_frame_general(const std::string& bytes, WireFormat format, Frame* out, std::string* error);

// Whether `s` is well-formed UTF-8, as every string in a frame must be (hosts check
// client keys and values with it before they reach a frame).
bool is_utf8(std::string_view s);

// JSON views shared by the codec, the playground state and tools: the same objects
// the frames carry (a Message's view holds "type" and its non-default fields).
nlohmann::json to_json(const Entry& e);
nlohmann::json to_json(const Message& m);
// A member as /status lists it: id, peer, http, voter, kind ("native" or "browser").
nlohmann::json to_json(const Member& m);

}  // namespace raftbook
