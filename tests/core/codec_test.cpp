// The wire codec: every message type survives a round trip in both formats, and
// decoding refuses truncated, random and hostile bytes with an error that names the
// problem, without throwing, crashing, recursing without bound or allocating hugely.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "core/codec/codec.h"
#include "core/raft/membership.h"

using namespace raftbook;
using nlohmann::json;

namespace {

const MessageType kPeerTypes[] = {
    MessageType::Vote,   MessageType::VoteResp,  MessageType::PreVote,
    MessageType::PreVoteResp, MessageType::Append, MessageType::AppendResp,
    MessageType::Heartbeat,   MessageType::HeartbeatResp, MessageType::Hello,
    MessageType::Snapshot,    MessageType::SnapshotResp,  MessageType::TimeoutNow,
    MessageType::Auth,
};
const WireFormat kFormats[] = {WireFormat::Json, WireFormat::Cbor};

const char* format_name(WireFormat f) { return f == WireFormat::Json ? "JSON" : "CBOR"; }

Entry command(Index index, Term term, std::string data) {
    Entry e;
    e.index = index;
    e.term = term;
    e.data = std::move(data);
    e.client_id = 77;
    e.seq = index * 3;
    return e;
}

// Binary, as a snapshot is: every byte value, NUL and invalid UTF-8 included.
std::string snapshot_chunk() {
    std::string s;
    for (int i = 0; i < 300; i++) s.push_back(char(i * 7));
    return s;
}

// A configuration with a learner and addresses, as a Config entry and a chunk hold it.
std::string configuration() {
    Membership m = Membership::of_voters({1, 2, 3});
    m.members.push_back(Member{5, false, "10.0.0.5:7000", "10.0.0.5:8000"});
    m.members.push_back(Member{1234, true, "", "", true});
    m.removed = {4};
    return m.encode();
}

// Every field non-default, so a field the codec forgets shows up as a mismatch.
Frame peer_frame(MessageType type) {
    Frame f;
    f.cluster = "raftbook-test";
    f.type = type;
    Message& m = f.peer;
    m.type = type;
    m.from = 1;
    m.to = 3;
    m.term = 7;
    m.index = 41;
    m.log_term = 6;
    m.commit = 40;
    m.reject = true;
    m.hint_index = 12;
    m.hint_term = 5;
    m.context = UINT64_MAX;
    Entry noop;
    noop.index = 42;
    noop.term = 7;
    noop.type = EntryType::NoOp;
    Entry config;
    config.index = 45;
    config.term = 7;
    config.type = EntryType::Config;
    config.data = configuration();
    m.entries = {noop, command(43, 7, "set x 5"), command(44, 7, "set clé \"värde\" \n\t"), config};
    m.chunk_mut().offset = 100;
    m.chunk_mut().data = snapshot_chunk();
    m.chunk_mut().total = m.chunk().offset + m.chunk().data.size();
    m.chunk_mut().done = true;
    m.chunk_mut().membership = configuration();
    if (type == MessageType::Hello) f.nonce = "00112233445566778899aabbccddeeff";
    if (type == MessageType::Auth) f.proof = std::string(64, 'e');
    return f;
}

Frame request_frame() {
    Frame f;
    f.cluster = "raftbook-test";
    f.type = MessageType::ClientRequest;
    f.request.client_id = 9;
    f.request.seq = 100;
    f.request.op = "put";
    f.request.key = "key/1";
    f.request.value = "value with spaces";
    f.request.condition = "value";
    f.request.prev_revision = 12;
    f.request.prev_value = "old value";
    f.request.idempotency_key = "retry-1";
    f.request.after = "key/0";
    f.request.limit = 50;
    f.request.node = 5;
    f.request.peer = "10.0.0.5:7000";
    f.request.http = "10.0.0.5:8000";
    f.request.browser = true;
    f.peer.from = 1234;  // a browser member's request, relayed to the leader
    f.peer.to = 2;
    return f;
}

Frame reply_frame() {
    Frame f;
    f.cluster = "raftbook-test";
    f.type = MessageType::ClientReply;
    f.reply.client_id = 9;
    f.reply.seq = 100;
    f.reply.ok = true;
    f.reply.found = true;
    f.reply.value = "v";
    f.reply.error = "not leader";
    f.reply.leader_hint = 2;
    f.reply.revision = 41;
    f.reply.condition_failed = true;
    f.reply.items = {{"a", "1", 3}, {"b", "", 0}, {"clé", "värde med mellanslag", UINT64_MAX}};
    f.reply.more = true;
    f.peer.from = 2;
    f.peer.to = 1234;
    return f;
}

Frame append_with(size_t n) {
    Frame f;
    f.cluster = "c";
    f.type = MessageType::Append;
    f.peer.type = MessageType::Append;
    f.peer.from = 1;
    f.peer.to = 2;
    f.peer.term = 3;
    for (size_t i = 1; i <= n; ++i) f.peer.entries.push_back(command(i, 3, "set k" + std::to_string(i) + " v"));
    return f;
}

// Decodes bytes that must be refused; returns the error.
std::string refusal(const std::string& bytes, WireFormat format) {
    Frame f;
    std::string error;
    const bool ok = decode_frame(bytes, format, &f, &error);
    INFO(format_name(format) << " input of " << bytes.size() << " bytes");
    REQUIRE_FALSE(ok);
    REQUIRE_FALSE(error.empty());
    REQUIRE(error.find('\n') == std::string::npos);
    return error;
}

// decode_frame's fast CBOR reader and its general decoder agree on `bytes`: the fast
// one accepts only what the general one accepts, as the same frame. Returns whether
// the fast one accepted.
bool fast_agrees_with_general(const std::string& bytes) {
    Frame fast, general;
    std::string error;
    if (!decode_frame_fast(bytes, &fast)) return false;
    INFO("the fast reader accepted " << bytes.size() << " bytes");
    REQUIRE(decode_frame_general(bytes, WireFormat::Cbor, &general, &error));
    REQUIRE(fast == general);
    return true;
}

// A frame given as a JSON object, in the chosen format: how tests write hostile frames.
std::string as_bytes(const json& j, WireFormat format) {
    if (format == WireFormat::Json) return j.dump();
    std::string bytes;
    json::to_cbor(j, bytes);
    return bytes;
}

json valid_append_json() {
    return json::parse(encode_frame(peer_frame(MessageType::Append), WireFormat::Json));
}

void require_round_trip(const Frame& f, WireFormat format) {
    Frame back;
    std::string error;
    INFO(message_type_name(f.type) << " in " << format_name(format));
    REQUIRE(decode_frame(encode_frame(f, format), format, &back, &error));
    REQUIRE(error.empty());
    REQUIRE(back == f);
    if (format == WireFormat::Cbor) REQUIRE(fast_agrees_with_general(encode_frame(f, format)));
}

}  // namespace

TEST_CASE("every message type round-trips in JSON and CBOR", "[codec]") {
    for (WireFormat format : kFormats) {
        for (MessageType type : kPeerTypes) require_round_trip(peer_frame(type), format);
        require_round_trip(request_frame(), format);
        require_round_trip(reply_frame(), format);
    }
}

TEST_CASE("frames with only default fields round-trip, and defaults are left out", "[codec]") {
    for (WireFormat format : kFormats) {
        for (MessageType type : kPeerTypes) {
            Frame f;
            f.type = type;
            f.peer.type = type;
            f.peer.chunk_mut().done = type == MessageType::Snapshot;  // (an empty chunk ends an empty snapshot)
            require_round_trip(f, format);
        }
        Frame get = request_frame();
        get.request = ClientRequest();
        get.request.op = "get";
        get.request.key = "k";
        require_round_trip(get, format);
        Frame reply;
        reply.type = MessageType::ClientReply;
        require_round_trip(reply, format);
    }
    Frame heartbeat;
    heartbeat.cluster = "c";
    heartbeat.type = MessageType::Heartbeat;
    heartbeat.peer.type = MessageType::Heartbeat;
    heartbeat.peer.commit = 5;
    REQUIRE(encode_frame(heartbeat, WireFormat::Json) ==
            R"({"cluster":"c","commit":5,"type":"Heartbeat","v":1})");
}

TEST_CASE("the JSON views are the objects frames carry", "[codec]") {
    const Frame f = peer_frame(MessageType::Append);
    const json view = to_json(f.peer);
    REQUIRE(view["type"] == "Append");
    REQUIRE(view["log_term"] == 6);
    REQUIRE(view["entries"].size() == 4);
    REQUIRE(view["entries"][3]["type"] == "Config");
    REQUIRE(view["entries"][0] == json({{"index", 42}, {"term", 7}, {"type", "NoOp"}}));
    REQUIRE(to_json(f.peer.entries[1]) ==
            json({{"index", 43}, {"term", 7}, {"data", "set x 5"}, {"client", 77}, {"seq", 129}}));
    json frame = valid_append_json();
    REQUIRE(frame["v"] == 1);
    REQUIRE(frame["cluster"] == "raftbook-test");
    frame.erase("v");
    frame.erase("cluster");
    REQUIRE(frame == view);
}

TEST_CASE("the CBOR bytes and the JSON text hold the same object", "[codec]") {
    // The CBOR writer emits bytes directly; nlohmann reads them back to exactly the
    // object the JSON form holds, for every message type and for big values.
    std::vector<Frame> frames = {request_frame(), reply_frame(), append_with(300)};
    for (MessageType type : kPeerTypes) frames.push_back(peer_frame(type));
    Frame big = peer_frame(MessageType::Append);
    big.peer.context = 0x1234567890ull;  // 8-byte integer head
    big.peer.hint_index = 70000;        // 4-byte head
    big.peer.entries[1].data = std::string(300, 'x');    // 2-byte string length
    big.peer.entries[2].data = std::string(70000, 'y');  // 4-byte string length
    frames.push_back(big);
    for (const Frame& f : frames) {
        INFO(message_type_name(f.type));
        json from_cbor = json::from_cbor(encode_frame(f, WireFormat::Cbor));
        // and nlohmann's own CBOR encoder would have written the same number of bytes
        REQUIRE(encode_frame(f, WireFormat::Cbor).size() == json::to_cbor(from_cbor).size());
        json from_json = json::parse(encode_frame(f, WireFormat::Json));
        if (from_cbor.contains("data")) {  // bytes: a byte string in CBOR, base64 text in JSON
            const auto& b = from_cbor["data"].get_binary();
            REQUIRE(std::string(b.begin(), b.end()) == f.peer.chunk().data);
            from_cbor.erase("data");
            from_json.erase("data");
        }
        REQUIRE(from_cbor == from_json);
    }
}

TEST_CASE("CBOR is more compact than JSON text", "[codec]") {
    const Frame f = append_with(100);
    const size_t cbor = encode_frame(f, WireFormat::Cbor).size();
    const size_t text = encode_frame(f, WireFormat::Json).size();
    INFO("CBOR " << cbor << " bytes, JSON " << text << " bytes");
    REQUIRE(cbor < text);
}

TEST_CASE("every truncation of a valid frame is refused", "[codec]") {
    const Frame f = peer_frame(MessageType::Append);
    for (WireFormat format : kFormats) {
        const std::string bytes = encode_frame(f, format);
        for (size_t n = 0; n < bytes.size(); ++n) {
            const std::string error = refusal(bytes.substr(0, n), format);
            INFO(error);
            REQUIRE(error.rfind(std::string("frame is not valid ") + format_name(format) + ": ", 0) == 0);
            // A short CBOR prefix ends early, or is too short for the map it declares.
            if (format == WireFormat::Cbor)
                REQUIRE((error.find("unexpected end of input") != std::string::npos ||
                         error.find("elements in a frame of") != std::string::npos));
        }
    }
}

TEST_CASE("random bytes are refused", "[codec]") {
    std::mt19937 rng(20240601);
    for (int i = 0; i < 3000; ++i) {
        std::string bytes(rng() % 300, '\0');
        for (char& c : bytes) c = static_cast<char>(rng());
        for (WireFormat format : kFormats) refusal(bytes, format);
        REQUIRE_FALSE(fast_agrees_with_general(bytes));
    }
}

TEST_CASE("mutated frames are refused or decode to a frame that round-trips", "[codec]") {
    std::mt19937 rng(7);
    int decoded = 0, fast_accepted = 0;
    for (WireFormat format : kFormats) {
        const std::string valid = encode_frame(peer_frame(MessageType::Append), format);
        for (int i = 0; i < 3000; ++i) {
            std::string bytes = valid;
            for (int flips = 1 + rng() % 3; flips > 0; --flips)
                bytes[rng() % bytes.size()] = static_cast<char>(rng());
            if (format == WireFormat::Cbor) fast_accepted += fast_agrees_with_general(bytes);
            Frame f;
            std::string error;
            if (!decode_frame(bytes, format, &f, &error)) {
                REQUIRE_FALSE(error.empty());
                continue;
            }
            ++decoded;
            for (WireFormat again : kFormats) require_round_trip(f, again);
        }
    }
    REQUIRE(decoded > 0);  // the mutations did reach the field checks and the encoder
    REQUIRE(fast_accepted > 0);  // and the fast reader was compared on some it accepted
}

TEST_CASE("a frame of another codec version is refused", "[codec]") {
    for (WireFormat format : kFormats) {
        json j = valid_append_json();
        j["v"] = 2;
        REQUIRE(refusal(as_bytes(j, format), format) ==
                "frame has codec version 2 but this node speaks version 1; run the same "
                "raftbook release on every node");
        j.erase("v");
        REQUIRE(refusal(as_bytes(j, format), format) == "field 'v' is missing");
        j["v"] = "1";
        REQUIRE(refusal(as_bytes(j, format), format) == "field 'v' must be a non-negative integer");
    }
}

TEST_CASE("an unknown message type, a missing type or cluster is refused", "[codec]") {
    for (WireFormat format : kFormats) {
        json j = valid_append_json();
        j["type"] = "InstallSnapshot";
        REQUIRE(refusal(as_bytes(j, format), format) == "unknown message type 'InstallSnapshot'");
        j["type"] = 5;
        REQUIRE(refusal(as_bytes(j, format), format) == "field 'type' must be a string");
        j.erase("type");
        REQUIRE(refusal(as_bytes(j, format), format) == "field 'type' is missing");
        j = valid_append_json();
        j.erase("cluster");
        REQUIRE(refusal(as_bytes(j, format), format) == "field 'cluster' is missing");
    }
}

TEST_CASE("integer fields accept only non-negative integers that fit 64 bits", "[codec]") {
    const std::string error = "field 'index' must be a non-negative integer";
    for (WireFormat format : kFormats) {
        json j = valid_append_json();
        for (const json& bad : {json(-1), json(INT64_MIN), json(1.5), json(41.0), json("41"),
                                json(true), json(nullptr), json::array({41}), json::object()}) {
            j["index"] = bad;
            INFO("index = " << bad.dump());
            REQUIRE(refusal(as_bytes(j, format), format) == error);
        }
        j["index"] = UINT64_MAX;
        j.erase("entries");  // no entry can follow the largest index
        Frame f;
        std::string why;
        REQUIRE(decode_frame(as_bytes(j, format), format, &f, &why));
        REQUIRE(f.peer.index == UINT64_MAX);
    }
    // One past UINT64_MAX, and -0, can only be written as JSON text.
    std::string text = valid_append_json().dump();
    const std::string overflow = text.replace(text.find("\"index\":41"), 10, "\"index\":18446744073709551616");
    REQUIRE(refusal(overflow, WireFormat::Json) == error);
    REQUIRE(refusal(R"({"v":1,"cluster":"c","type":"Vote","index":-0})", WireFormat::Json) == error);
    REQUIRE(refusal(R"({"v":1,"cluster":"c","type":"Vote","index":1e400})", WireFormat::Json)
                .find("frame is not valid JSON") == 0);
}

TEST_CASE("strings, booleans and entries are type-checked, naming the field", "[codec]") {
    for (WireFormat format : kFormats) {
        json j = valid_append_json();
        j["reject"] = 1;
        REQUIRE(refusal(as_bytes(j, format), format) == "field 'reject' must be true or false");

        j = valid_append_json();
        j["cluster"] = json::array();
        REQUIRE(refusal(as_bytes(j, format), format) == "field 'cluster' must be a string");

        j = valid_append_json();
        j["entries"] = json::object();
        REQUIRE(refusal(as_bytes(j, format), format) == "field 'entries' must be an array");

        j = valid_append_json();
        j["entries"][1]["term"] = -3;
        REQUIRE(refusal(as_bytes(j, format), format) ==
                "field 'entries[1].term' must be a non-negative integer");

        j = valid_append_json();
        j["entries"][2]["type"] = "Membership";
        REQUIRE(refusal(as_bytes(j, format), format) ==
                "field 'entries[2].type' must be \"Command\", \"NoOp\" or \"Config\"");

        j = valid_append_json();
        j["entries"][0] = json::array({json::array({json::array()})});
        REQUIRE(refusal(as_bytes(j, format), format) == "field 'entries[0]' must be an object");

        j = json::parse(encode_frame(request_frame(), WireFormat::Json));
        j["op"] = "drop";
        REQUIRE(refusal(as_bytes(j, format), format) ==
                "field 'op' must be \"put\", \"get\", \"del\", \"list\", \"add_learner\", \"promote\", \"remove\" "
                "or \"transfer_leader\"");

        j = json::parse(encode_frame(reply_frame(), WireFormat::Json));
        j["leader"] = "2";
        REQUIRE(refusal(as_bytes(j, format), format) == "field 'leader' must be a non-negative integer");

        REQUIRE(refusal(as_bytes(json::array({1, "v"}), format), format) ==
                "frame must be a JSON object, not array");
        REQUIRE(refusal(as_bytes(json("Append"), format), format) ==
                "frame must be a JSON object, not string");
    }
}

TEST_CASE("an AppendEntries not shaped like a leader's log is refused by both decoders, naming the rule",
          "[codec]") {
    // peer_frame's Append: term 7, prevLogIndex 41, prevLogTerm 6, entries 42..44 of term 7.
    struct Shape {
        const char* what;
        void (*spoil)(Message&);
        const char* error;
    };
    const Shape shapes[] = {
        {"a gap between entries", [](Message& m) { m.entries[2].index = 45; },
         "Append's entries[2] has index 45 but must follow index 43: entries follow prevLogIndex without gaps"},
        {"a first entry not right after prevLogIndex", [](Message& m) { m.entries[0].index = 43; },
         "Append's entries[0] has index 43 but must follow index 41: entries follow prevLogIndex without gaps"},
        {"an entry after the largest index", [](Message& m) { m.index = UINT64_MAX; },
         "Append's entries[0] has index 42 but must follow index 18446744073709551615: entries follow "
         "prevLogIndex without gaps"},
        {"a decreasing entry term", [](Message& m) { m.entries[1].term = 5; },
         "Append's entries[1] has term 5, below the term 7 before it: terms in a log never decrease"},
        {"a first entry term below prevLogTerm", [](Message& m) { m.entries[0].term = m.entries[1].term = m.entries[2].term = 5; },
         "Append's entries[0] has term 5, below the term 6 before it: terms in a log never decrease"},
        {"an entry term above the message's term", [](Message& m) { m.entries[2].term = 8; },
         "Append's entries[2] has term 8, above the message's term 7"},
        {"prevLogTerm above the message's term", [](Message& m) { m.log_term = 8; },
         "Append's prevLogTerm 8 is above its term 7"},
    };
    for (const Shape& shape : shapes) {
        INFO(shape.what);
        Frame f = peer_frame(MessageType::Append);
        shape.spoil(f.peer);
        for (WireFormat format : kFormats)
            REQUIRE(refusal(encode_frame(f, format), format) == std::string("malformed frame: ") + shape.error);
        Frame fast;
        REQUIRE_FALSE(decode_frame_fast(encode_frame(f, WireFormat::Cbor), &fast));
    }
    // The same fields in another message type mean nothing and are accepted.
    Frame vote = peer_frame(MessageType::Vote);
    vote.peer.entries[2].index = 45;
    vote.peer.log_term = 8;
    require_round_trip(vote, WireFormat::Cbor);
}

TEST_CASE("membership: a Config entry or a snapshot chunk's membership that holds no configuration is refused",
          "[codec]") {
    Frame append = peer_frame(MessageType::Append);
    append.peer.entries[3].data = "member 1 voter";
    Frame chunk = peer_frame(MessageType::Snapshot);
    chunk.peer.chunk_mut().membership = "RBCONF 1\nmember 0 voter - -\n";
    for (WireFormat format : kFormats) {
        CHECK(refusal(encode_frame(append, format), format) ==
              "malformed frame: Append's entries[3] has index 45, a Config entry that holds no configuration: not a "
              "configuration (expected \"RBCONF 1\")");
        CHECK(refusal(encode_frame(chunk, format), format) ==
              "malformed frame: Snapshot chunk's membership is no configuration: bad member id in \"member 0 voter - "
              "-\"");
    }
    // The membership requests are client ops.
    for (const char* op : {"add_learner", "promote", "remove", "transfer_leader"}) {
        Frame r = request_frame();
        r.request.op = op;
        for (WireFormat format : kFormats) require_round_trip(r, format);
    }
}

TEST_CASE("unknown fields are ignored", "[codec]") {
    for (WireFormat format : kFormats) {
        json j = valid_append_json();
        j["added_in_a_later_version"] = {{"nested", json::array({1, 2.5, "x", nullptr})}};
        j["entries"][0]["weight"] = -1;
        Frame f;
        std::string error;
        REQUIRE(decode_frame(as_bytes(j, format), format, &f, &error));
        REQUIRE(f == peer_frame(MessageType::Append));
    }
}

TEST_CASE("strings over the size limit or not UTF-8 are refused", "[codec]") {
    for (WireFormat format : kFormats) {
        json j = valid_append_json();
        j["entries"][1]["data"] = std::string(kMaxStringBytes + 1, 'x');
        REQUIRE(refusal(as_bytes(j, format), format) ==
                "field 'entries[1].data' is longer than 1048576 bytes");
    }
    // JSON text's parser refuses bad UTF-8 itself; CBOR's does not, so the codec must.
    json j = valid_append_json();
    j["entries"][1]["data"] = std::string("set x \xff\xfe");
    REQUIRE(refusal(as_bytes(j, WireFormat::Cbor), WireFormat::Cbor) ==
            "field 'entries[1].data' is not valid UTF-8");
    j["entries"][1]["data"] = std::string("\xed\xa0\x80");  // a UTF-16 surrogate
    REQUIRE(refusal(as_bytes(j, WireFormat::Cbor), WireFormat::Cbor) ==
            "field 'entries[1].data' is not valid UTF-8");
    REQUIRE(refusal("{\"v\":1,\"cluster\":\"\xc0\xaf\",\"type\":\"Vote\"}", WireFormat::Json)
                .find("frame is not valid JSON") == 0);

    // Encoding a string that is not UTF-8 does not throw.
    Frame f = request_frame();
    f.request.value = "\xff";
    REQUIRE(encode_frame(f, WireFormat::Json).find("\xef\xbf\xbd") != std::string::npos);
}

TEST_CASE("a Hello's nonce and an Auth's proof over the auth limit are refused by both decoders", "[codec]") {
    for (WireFormat format : kFormats) {
        for (MessageType type : {MessageType::Hello, MessageType::Auth}) {
            Frame f = peer_frame(type);
            (type == MessageType::Hello ? f.nonce : f.proof) = std::string(kMaxAuthText, 'a');
            require_round_trip(f, format);
            (type == MessageType::Hello ? f.nonce : f.proof) = std::string(kMaxAuthText + 1, 'a');
            REQUIRE(refusal(encode_frame(f, format), format) == "malformed frame: nonce or proof over 128 bytes");
            if (format == WireFormat::Cbor) REQUIRE_FALSE(fast_agrees_with_general(encode_frame(f, format)));
        }
    }
}

TEST_CASE("is_utf8 agrees with nlohmann's strict UTF-8 check", "[codec]") {
    REQUIRE(is_utf8("plain, ä, €, 𝄞"));
    REQUIRE_FALSE(is_utf8("\xe2\x82"));          // cut short
    REQUIRE_FALSE(is_utf8("\x80"));               // a lone continuation byte
    REQUIRE_FALSE(is_utf8("\xc0\xaf"));           // overlong '/'
    REQUIRE_FALSE(is_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
    // dump() throws type_error.316 exactly on invalid UTF-8.
    std::mt19937 rng(316);
    for (int i = 0; i < 20000; ++i) {
        std::string s(rng() % 6, '\0');
        for (char& c : s) c = static_cast<char>(rng() % 3 == 0 ? rng() % 0x80 : 0x80 + rng() % 0x80);
        bool dumps = true;
        try {
            json(s).dump();
        } catch (const json::type_error&) {
            dumps = false;
        }
        INFO(json(s).dump(-1, ' ', true, json::error_handler_t::replace));
        REQUIRE(is_utf8(s) == dumps);
    }
}

TEST_CASE("too many entries are refused", "[codec]") {
    std::string text = R"({"v":1,"cluster":"c","type":"Append","entries":[)";
    for (size_t i = 0; i <= kMaxEntriesPerFrame; ++i) text += i == 0 ? "{}" : ",{}";
    text += "]}";
    REQUIRE(refusal(text, WireFormat::Json) == "field 'entries' has 100001 elements, more than 100000");
}

TEST_CASE("CBOR headers declaring huge lengths are refused without allocating them", "[codec]") {
    // Each header declares 2^60 elements or bytes, then ends. nlohmann 3.11's
    // from_cbor would throw out_of_range.408 on the array and map even with
    // exceptions off; the string ones must stop at the end of input.
    const std::string huge_len("\x10\x00\x00\x00\x00\x00\x00\x00", 8);
    const std::string array_error = "frame is not valid CBOR: an array/object declares "
                                    "1152921504606846976 elements in a frame of 9 bytes";
    REQUIRE(refusal("\x9b" + huge_len, WireFormat::Cbor) == array_error);
    REQUIRE(refusal("\xbb" + huge_len, WireFormat::Cbor) == array_error);
    for (const char* head : {"\x7b", "\x5b"}) {
        const std::string error = refusal(head + huge_len + "abc", WireFormat::Cbor);
        REQUIRE(error.find("unexpected end of input") != std::string::npos);
    }
    // The same inside an otherwise valid frame: {"v":1,"cluster":<2^60-byte string>}.
    const std::string prefix = "\xa2\x61v\x01\x67" "cluster";
    REQUIRE(refusal(prefix + "\x7b" + huge_len + "x", WireFormat::Cbor).find("unexpected end of input") !=
            std::string::npos);
    REQUIRE(refusal(prefix + "\x9b" + huge_len, WireFormat::Cbor).find("declares 1152921504606846976") !=
            std::string::npos);
    // An indefinite-length string whose chunks never end.
    REQUIRE(refusal("\x7f\x61" "a\x61" "b", WireFormat::Cbor).find("unexpected end of input") !=
            std::string::npos);
}

TEST_CASE("deep nesting is refused without deep recursion", "[codec]") {
    const size_t depth = 1000000;
    const std::string error = "arrays/objects nested deeper than 16 levels";
    REQUIRE(refusal(std::string(depth, '['), WireFormat::Json) == "frame is not valid JSON: " + error);
    std::string objects;
    for (size_t i = 0; i < depth / 10; ++i) objects += "{\"a\":";
    REQUIRE(refusal(objects, WireFormat::Json) == "frame is not valid JSON: " + error);
    // 0x81: an array of one element; 0xa1 0x61 'a': a map of one entry keyed "a".
    REQUIRE(refusal(std::string(depth, '\x81'), WireFormat::Cbor) == "frame is not valid CBOR: " + error);
    std::string maps;
    for (size_t i = 0; i < depth / 3; ++i) maps += "\xa1\x61\x61";
    REQUIRE(refusal(maps, WireFormat::Cbor) == "frame is not valid CBOR: " + error);
    REQUIRE(refusal(std::string(depth, '\x9f'), WireFormat::Cbor) == "frame is not valid CBOR: " + error);

    // Nesting inside an unknown field counts too, but a few levels are fine.
    json j = valid_append_json();
    j["extra"] = json::array({json::array({json::array()})});
    Frame f;
    std::string why;
    REQUIRE(decode_frame(j.dump(), WireFormat::Json, &f, &why));
}

TEST_CASE("the fast CBOR reader leaves other shapes of valid CBOR to the general decoder", "[codec]") {
    const Frame f = peer_frame(MessageType::Append);
    const json j = json::parse(encode_frame(f, WireFormat::Json));
    std::vector<std::pair<const char*, std::string>> shapes;
    // nlohmann's own encoder: keys in sorted order, so "type" comes after other fields
    shapes.emplace_back("keys in another order", as_bytes(j, WireFormat::Cbor));
    json unknown = j;
    unknown["later_version_field"] = 1;
    shapes.emplace_back("an unknown field", as_bytes(unknown, WireFormat::Cbor));
    std::string indefinite = encode_frame(f, WireFormat::Cbor);  // 0xAn head -> 0xBF ... 0xFF
    indefinite[0] = char(0xBF);
    indefinite.push_back(char(0xFF));
    shapes.emplace_back("an indefinite-length map", indefinite);
    for (const auto& [what, bytes] : shapes) {
        INFO(what);
        Frame fast, general;
        std::string error;
        REQUIRE_FALSE(decode_frame_fast(bytes, &fast));
        REQUIRE(decode_frame_general(bytes, WireFormat::Cbor, &general, &error));
        REQUIRE(general == f);
        REQUIRE(decode_frame(bytes, WireFormat::Cbor, &general, &error));
    }
    // A repeated field: the general decoder keeps the last value; the fast one gives up.
    std::string twice = encode_frame(f, WireFormat::Cbor);
    twice[0] = char(twice[0] + 1);
    twice += std::string("\x64term\x09", 6);
    Frame fast, general;
    std::string error;
    REQUIRE_FALSE(decode_frame_fast(twice, &fast));
    REQUIRE(decode_frame(twice, WireFormat::Cbor, &general, &error));
    REQUIRE(general.peer.term == 9);
    // A non-shortest integer head means the same number to both.
    std::string padded = encode_frame(f, WireFormat::Cbor);  // "v": 1 as a 2-byte integer
    const size_t v = padded.find("\x61v\x01");
    REQUIRE(v != std::string::npos);
    padded.replace(v, 3, std::string("\x61v\x19\x00\x01", 5));
    REQUIRE(fast_agrees_with_general(padded));
}

TEST_CASE("frames over the size limit are refused unread", "[codec]") {
    const std::string big(kMaxFrameBytes + 1, ' ');
    for (WireFormat format : kFormats)
        REQUIRE(refusal(big, format) == "frame is 8388609 bytes, over the limit of 8388608");
}

TEST_CASE("trailing bytes, CBOR tags and byte strings are refused", "[codec]") {
    for (WireFormat format : kFormats) {
        const std::string valid = encode_frame(request_frame(), format);
        REQUIRE(refusal(valid + valid, format).find("frame is not valid") == 0);
    }
    const std::string cbor = encode_frame(request_frame(), WireFormat::Cbor);
    REQUIRE(refusal("\xc0" + cbor, WireFormat::Cbor).find("frame is not valid CBOR") == 0);
    json j = json::parse(encode_frame(request_frame(), WireFormat::Json));
    j["key"] = json::binary({1, 2, 3});
    REQUIRE(refusal(as_bytes(j, WireFormat::Cbor), WireFormat::Cbor) == "field 'key' must be a string");
}

TEST_CASE("a refused decode leaves the output frame untouched", "[codec]") {
    Frame f = reply_frame();
    std::string error;
    REQUIRE_FALSE(decode_frame("{", WireFormat::Json, &f, &error));
    REQUIRE(f == reply_frame());
}

TEST_CASE("a Snapshot chunk's data is binary: a CBOR byte string, base64 text in JSON", "[codec]") {
    const Frame f = peer_frame(MessageType::Snapshot);
    const json j = json::parse(encode_frame(f, WireFormat::Json));
    REQUIRE(j["data"].is_string());
    REQUIRE(j["data"].get<std::string>().size() == 400);  // 300 bytes in base64
    const std::string cbor = encode_frame(f, WireFormat::Cbor);
    REQUIRE(cbor.find(f.peer.chunk().data) != std::string::npos);  // the raw bytes, not text
    for (WireFormat format : kFormats) {
        json bad = j;
        bad["data"] = "not base64!";
        REQUIRE(refusal(as_bytes(bad, format), format) == "field 'data' must be base64 (padded, no whitespace)");
        bad["data"] = 5;
        REQUIRE(refusal(as_bytes(bad, format), format) ==
                "field 'data' must be a byte string (CBOR) or base64 text (JSON)");
        bad["data"] = "QUJD";  // 3 bytes: no longer reaches the total, yet says done
        REQUIRE(refusal(as_bytes(bad, format), format).find("malformed frame: Snapshot chunk's done flag") == 0);
        bad = j;
        bad["total"] = 50;
        REQUIRE(refusal(as_bytes(bad, format), format).find("malformed frame: Snapshot chunk at offset 100") == 0);
        bad = j;
        bad["log_term"] = 8;
        REQUIRE(refusal(as_bytes(bad, format), format) ==
                "malformed frame: Snapshot's term 8 is above the message's term 7");
    }
    std::string decoded;
    for (const char* text : {"QQ==", "QUI=", "QUJD"}) {
        json one = j;
        one["data"] = text;
        one["offset"] = 0;
        one["total"] = std::string(text).find("==") != std::string::npos ? 1 : std::string(text).find('=') != std::string::npos ? 2 : 3;
        Frame back;
        std::string error;
        INFO(text);
        REQUIRE(decode_frame(one.dump(), WireFormat::Json, &back, &error));
        decoded += back.peer.chunk().data + "|";
    }
    REQUIRE(decoded == "A|AB|ABC|");
}
