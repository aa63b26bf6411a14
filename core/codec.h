// The one wire codec: every byte that crosses a socket between raftbook processes
// (peer messages, client requests and replies, the connection hello) is a Frame,
// encoded as a JSON object, either as JSON text (for debugging) or in its CBOR form
// (the default: same structure, compact binary).
//
// Every frame carries "v" (the codec version, 1), "cluster" (frames for another
// cluster are refused by the host) and "type" (a MessageType name).
//
// decode_frame() accepts untrusted bytes: anything at all — truncated, random,
// hostile (huge lengths, wrong types, negative or overflowing indexes) — yields either
// a valid Frame or an error string. It never throws, asserts or crashes.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "message.h"

namespace raftbook {

enum class WireFormat : uint8_t { Json, Cbor };

constexpr int kCodecVersion = 1;
constexpr size_t kMaxFrameBytes = 8 * 1024 * 1024;   // larger frames are refused unread
constexpr size_t kMaxEntriesPerFrame = 100000;
constexpr size_t kMaxStringBytes = 1024 * 1024;      // any single string field

struct Frame {
    std::string cluster;
    MessageType type = MessageType::Hello;
    Message peer;            // peer message types and Hello (peer.from = sender)
    ClientRequest request;   // type == ClientRequest
    ClientReply reply;       // type == ClientReply
};

std::string encode_frame(const Frame& f, WireFormat format);
// Returns true and fills *out, or returns false with a one-line *error.
bool decode_frame(const std::string& bytes, WireFormat format, Frame* out, std::string* error);

// JSON views shared by the codec, the playground state and tools.
nlohmann::json to_json(const Entry& e);
nlohmann::json to_json(const Message& m);

}  // namespace raftbook
