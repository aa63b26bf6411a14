// The wire codec: Frame <-> JSON object <-> JSON text or CBOR bytes.
//
// The fields of each message kind are listed once (entry_fields, message_fields,
// request_fields, reply_fields below), as calls on a visitor, and four visitors use
// those lists:
//  - JsonWriter builds the nlohmann::json object: JSON text on the wire (--wire json)
//    and the JSON views the playground shows, so it shows exactly what travels;
//  - CborWriter appends the same object's CBOR bytes directly, with no tree in
//    between (the hot path: a leader encodes every AppendEntries);
//  - DomReader reads a parsed nlohmann::json object back, checking every field and
//    naming the first bad one: the general decoder;
//  - CborReader reads CBOR bytes straight into a Frame (the hot path again, on every
//    follower). It accepts only the plain shapes CborWriter writes — definite lengths,
//    known fields once each — and gives up on anything else, which is then decoded
//    by the general decoder. So it never accepts what the general decoder refuses,
//    nor decodes a frame differently (tests and the fuzzer check both on every input),
//    and every refusal carries the general decoder's error.
//
// The general decoder never trusts its input and never lets nlohmann throw. Three
// limits are enforced before or while parsing, because nlohmann 3.11 does not:
//  - size: frames over kMaxFrameBytes are refused unread. A CBOR string, array or
//    map cannot then be longer than the frame, so every allocation is bounded.
//  - declared lengths: a CBOR array or map header declaring more elements than the
//    frame has bytes is refused before nlohmann sees it, because its DOM builder
//    throws out_of_range.408 on lengths over max_size() even with exceptions off.
//  - depth: nlohmann's CBOR reader recurses once per nesting level (its JSON text
//    parser does not), so 8 MB of 0x81 bytes would overflow the stack; nesting past
//    kMaxFrameDepth is refused as the parser enters it.
// The parsed object is then read field by field: every integer must be an unsigned
// integer (not negative, float, string, bool or overflowing), every string UTF-8 and
// within kMaxStringBytes. Unknown fields are ignored, so a later version can add some.
// Last, an AppendEntries must have the shape of a leader's log (malformed_append in
// core/raft/message.h): both decoders refuse one whose entries skip an index, whose
// terms decrease or exceed the message's term.
#include "core/codec/codec.h"

#include <cstring>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace raftbook {

using nlohmann::json;

namespace {

// ---- The fields of each message kind, once. ----
//
// A visitor V has uint, boolean, string, bytes, entry_type and entries, each taking a
// field name and the field (const when writing). Writers leave out zero, false and
// empty fields; readers leave a missing field at its default. `bytes` is binary data
// (a snapshot chunk): a CBOR byte string, and in JSON a base64 text string.

const char* entry_type_name(EntryType t) {
    switch (t) {
        case EntryType::NoOp: return "NoOp";
        case EntryType::Config: return "Config";
        case EntryType::Command: break;
    }
    return "Command";
}

// Reads an entry type's name; false when it names none.
bool entry_type_from_name(std::string_view name, EntryType* out) {
    for (EntryType t : {EntryType::Command, EntryType::NoOp, EntryType::Config}) {
        if (name == entry_type_name(t)) {
            *out = t;
            return true;
        }
    }
    return false;
}

template <class V, class E>
void entry_fields(V& v, E& e) {
    v.uint("index", e.index);
    v.uint("term", e.term);
    v.entry_type("type", e.type);
    v.string("data", e.data);
    v.uint("client", e.client_id);
    v.uint("seq", e.seq);
}

template <class V, class C>
void chunk_fields(V& v, C& c) {
    v.uint("offset", c.offset);
    v.uint("total", c.total);
    v.bytes("data", c.data);
    v.boolean("done", c.done);
    v.string("membership", c.membership);
}

template <class V, class M>
void message_fields(V& v, M& m) {
    v.uint("from", m.from);
    v.uint("to", m.to);
    v.uint("term", m.term);
    v.uint("index", m.index);
    v.uint("log_term", m.log_term);
    v.uint("commit", m.commit);
    v.boolean("reject", m.reject);
    v.uint("hint_index", m.hint_index);
    v.uint("hint_term", m.hint_term);
    v.uint("context", m.context);
    v.entries("entries", m.entries);
    if constexpr (std::is_const_v<M>) {
        chunk_fields(v, m.chunk());
    } else {  // a reader (maybe of one field at a time): a chunk only for a message that has one
        SnapshotChunk c = m.chunk();
        chunk_fields(v, c);
        if (!(c == m.chunk())) m.snapshot_chunk = std::make_shared<const SnapshotChunk>(std::move(c));
    }
}

template <class V, class R>
void request_fields(V& v, R& r) {
    v.uint("client", r.client_id);
    v.uint("seq", r.seq);
    v.string("op", r.op);
    v.string("key", r.key);
    v.string("value", r.value);
    v.string("condition", r.condition);
    v.uint("prev_revision", r.prev_revision);
    v.string("prev_value", r.prev_value);
    v.string("idempotency_key", r.idempotency_key);
    v.string("after", r.after);
    v.uint("limit", r.limit);
    v.uint("node", r.node);
    v.string("peer", r.peer);
    v.string("http", r.http);
    v.boolean("browser", r.browser);
}

template <class V, class I>
void item_fields(V& v, I& i) {
    v.string("key", i.key);
    v.string("value", i.value);
    v.uint("revision", i.revision);
}

// The field list of an element of an array field (entries, items), by its type.
template <class V> void element_fields(V& v, const Entry& e) { entry_fields(v, e); }
template <class V> void element_fields(V& v, Entry& e) { entry_fields(v, e); }
template <class V> void element_fields(V& v, const KeyValue& i) { item_fields(v, i); }
template <class V> void element_fields(V& v, KeyValue& i) { item_fields(v, i); }

template <class V, class R>
void reply_fields(V& v, R& r) {
    v.uint("client", r.client_id);
    v.uint("seq", r.seq);
    v.boolean("ok", r.ok);
    v.boolean("found", r.found);
    v.string("value", r.value);
    v.string("error", r.error);
    v.uint("leader", r.leader_hint);
    v.uint("revision", r.revision);
    v.boolean("condition_failed", r.condition_failed);
    v.items("items", r.items);
    v.boolean("more", r.more);
}

// A client frame's sender and addressee (0 when not set: the node at either end of the
// connection), so that it can be relayed like a Raft message.
template <class V, class M>
void address_fields(V& v, M& m) {
    v.uint("from", m.from);
    v.uint("to", m.to);
}

// The fields after "v", "cluster" and "type", which every frame has.
template <class V, class F>
void frame_fields(V& v, F& f) {
    switch (f.type) {
        case MessageType::ClientRequest:
            request_fields(v, f.request);
            address_fields(v, f.peer);
            break;
        case MessageType::ClientReply:
            reply_fields(v, f.reply);
            address_fields(v, f.peer);
            break;
        case MessageType::Hello:
            message_fields(v, f.peer);
            v.string("nonce", f.nonce);
            break;
        case MessageType::Auth:
            message_fields(v, f.peer);
            v.string("proof", f.proof);
            break;
        default: message_fields(v, f.peer);
    }
}

bool valid_op(const std::string& op) {
    return op == "put" || op == "get" || op == "del" || op == "list" || op == "add_learner" || op == "promote" ||
           op == "remove" || op == "transfer_leader";
}

const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    for (size_t i = 0; i < in.size(); i += 3) {
        uint32_t n = uint32_t(uint8_t(in[i])) << 16;
        if (i + 1 < in.size()) n |= uint32_t(uint8_t(in[i + 1])) << 8;
        if (i + 2 < in.size()) n |= uint8_t(in[i + 2]);
        out.push_back(kBase64[n >> 18 & 63]);
        out.push_back(kBase64[n >> 12 & 63]);
        out.push_back(i + 1 < in.size() ? kBase64[n >> 6 & 63] : '=');
        out.push_back(i + 2 < in.size() ? kBase64[n & 63] : '=');
    }
    return out;
}

// Strict: padded, no whitespace. Returns false on anything else.
bool base64_decode(std::string_view in, std::string* out) {
    if (in.size() % 4 != 0) return false;
    out->clear();
    out->reserve(in.size() / 4 * 3);
    for (size_t i = 0; i < in.size(); i += 4) {
        uint32_t n = 0;
        int pad = 0;
        for (size_t k = 0; k < 4; ++k) {
            const char c = in[i + k];
            const char* p = c == '=' ? nullptr : std::strchr(kBase64, c);
            if (c == '=') {
                if (i + 4 != in.size() || k < 2) return false;
                pad++;
            } else if (p == nullptr || c == '\0' || pad > 0) {
                return false;
            }
            n = n << 6 | uint32_t(p ? p - kBase64 : 0);
        }
        out->push_back(char(n >> 16));
        if (pad < 2) out->push_back(char(n >> 8 & 0xFF));
        if (pad < 1) out->push_back(char(n & 0xFF));
    }
    return true;
}

// ---- Writers ----

class JsonWriter {
public:
    explicit JsonWriter(json& j) : j_(j) {}
    void uint(const char* key, uint64_t v) {
        if (v != 0) j_[key] = v;
    }
    void boolean(const char* key, bool v) {
        if (v) j_[key] = true;
    }
    void string(const char* key, const std::string& v) {
        if (!v.empty()) j_[key] = v;
    }
    void bytes(const char* key, const std::string& v) {
        if (!v.empty()) j_[key] = base64_encode(v);
    }
    void always(const char* key, std::string_view v) { j_[key] = std::string(v); }  // even when empty
    void entry_type(const char* key, EntryType t) {
        if (t != EntryType::Command) j_[key] = entry_type_name(t);
    }
    void entries(const char* key, const std::vector<Entry>& es) { objects(key, es); }
    void items(const char* key, const std::vector<KeyValue>& items) { objects(key, items); }
    template <class T>
    void objects(const char* key, const std::vector<T>& xs) {
        if (xs.empty()) return;
        json a = json::array();
        for (const T& x : xs) {
            json o = json::object();
            JsonWriter w(o);
            element_fields(w, x);
            a.push_back(std::move(o));
        }
        j_[key] = std::move(a);
    }

private:
    json& j_;
};

// RFC 8949: definite-length maps and arrays, shortest integer heads, text strings.
// The map's field count is patched into its one-byte head when the writer is
// destroyed: maps here have fewer than 24 fields, the most a one-byte head states.
class CborWriter {
public:
    explicit CborWriter(std::string& out) : out_(out), map_head_(out.size()) { out_.push_back(char(0xA0)); }
    ~CborWriter() { out_[map_head_] = char(0xA0 + fields_); }
    void uint(const char* key, uint64_t v) {
        if (v == 0) return;
        put_key(key);
        head(0, v);
    }
    void boolean(const char* key, bool v) {
        if (!v) return;
        put_key(key);
        out_.push_back(char(0xF5));
    }
    void string(const char* key, std::string_view v) {
        if (v.empty()) return;
        put_key(key);
        text(v);
    }
    void bytes(const char* key, std::string_view v) {
        if (v.empty()) return;
        put_key(key);
        head(2, v.size());
        out_.append(v.data(), v.size());
    }
    void always(const char* key, std::string_view v) {  // a string written even when empty
        put_key(key);
        text(v);
    }
    void entry_type(const char* key, EntryType t) {
        if (t != EntryType::Command) string(key, entry_type_name(t));
    }
    void entries(const char* key, const std::vector<Entry>& es) { objects(key, es); }
    void items(const char* key, const std::vector<KeyValue>& items) { objects(key, items); }
    template <class T>
    void objects(const char* key, const std::vector<T>& xs) {
        if (xs.empty()) return;
        put_key(key);
        head(4, xs.size());
        for (const T& x : xs) {
            CborWriter w(out_);
            element_fields(w, x);
        }
    }

private:
    void put_key(const char* key) {
        ++fields_;
        text(key);
    }
    void text(std::string_view s) {
        head(3, s.size());
        out_.append(s.data(), s.size());
    }
    void head(uint8_t major, uint64_t v) {
        const char m = char(major << 5);
        int bytes = 0;
        if (v < 24) {
            out_.push_back(char(m | v));
        } else if (v <= 0xFF) {
            out_.push_back(char(m | 24));
            bytes = 1;
        } else if (v <= 0xFFFF) {
            out_.push_back(char(m | 25));
            bytes = 2;
        } else if (v <= 0xFFFFFFFFull) {
            out_.push_back(char(m | 26));
            bytes = 4;
        } else {
            out_.push_back(char(m | 27));
            bytes = 8;
        }
        for (int i = bytes - 1; i >= 0; --i) out_.push_back(char(v >> (8 * i)));
    }

    std::string& out_;
    size_t map_head_;
    int fields_ = 0;
};

// ---- The general decoder: nlohmann's DOM builder behind a SAX layer that enforces the limits. ----

// nlohmann's exception texts start with "[json.exception.parse_error.101] "; the
// rest is the useful part.
std::string without_exception_id(const std::string& what) {
    const size_t end = what.find("] ");
    return end == std::string::npos ? what : what.substr(end + 2);
}

class BoundedDomBuilder {
public:
    BoundedDomBuilder(json* result, size_t frame_bytes)
        : dom_(*result, /*allow_exceptions=*/false), frame_bytes_(frame_bytes) {}

    const std::string& error() const { return error_; }

    bool null() { return dom_.null(); }
    bool boolean(bool v) { return dom_.boolean(v); }
    bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
    bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
    bool number_float(json::number_float_t v, const json::string_t& s) {
        return dom_.number_float(v, s);
    }
    bool string(json::string_t& s) { return dom_.string(s); }
    bool binary(json::binary_t& b) { return dom_.binary(b); }
    bool key(json::string_t& k) { return dom_.key(k); }
    bool start_object(size_t len) { return enter(len) && dom_.start_object(len); }
    bool end_object() {
        --depth_;
        return dom_.end_object();
    }
    bool start_array(size_t len) { return enter(len) && dom_.start_array(len); }
    bool end_array() {
        --depth_;
        return dom_.end_array();
    }
    template <class Exception>
    bool parse_error(size_t, const std::string&, const Exception& ex) {
        error_ = without_exception_id(ex.what());
        return false;
    }

private:
    // `len` is the element count a CBOR header declares, or -1 when unknown (JSON
    // text, CBOR indefinite length). Each element takes at least one byte.
    bool enter(size_t len) {
        if (++depth_ > kMaxFrameDepth) {
            error_ = "arrays/objects nested deeper than " + std::to_string(kMaxFrameDepth) +
                     " levels";
            return false;
        }
        if (len != static_cast<size_t>(-1) && len > frame_bytes_) {
            error_ = "an array/object declares " + std::to_string(len) +
                     " elements in a frame of " + std::to_string(frame_bytes_) + " bytes";
            return false;
        }
        return true;
    }

    nlohmann::detail::json_sax_dom_parser<json> dom_;
    size_t frame_bytes_;
    size_t depth_ = 0;
    std::string error_;
};

bool parse(const std::string& bytes, WireFormat format, json* out, std::string* error) {
    BoundedDomBuilder builder(out, bytes.size());
    const bool cbor = format == WireFormat::Cbor;
    const bool ok = json::sax_parse(bytes.begin(), bytes.end(), &builder,
                                    cbor ? json::input_format_t::cbor : json::input_format_t::json,
                                    /*strict=*/true);
    if (!ok) *error = std::string("frame is not valid ") + (cbor ? "CBOR" : "JSON") + ": " +
                      builder.error();
    return ok;
}

// Reads fields from a parsed object, each checked for type and size. The first bad
// field sets the error, naming it with its path ("entries[3].term"), and the rest
// are skipped.
class DomReader {
public:
    DomReader(const json& object, std::string where, std::string* error)
        : object_(object), where_(std::move(where)), error_(error) {}

    bool ok() const { return ok_; }

    bool require(const char* key) {
        if (ok_ && object_.find(key) == object_.end()) fail(key, "is missing");
        return ok_;
    }

    void uint(const char* key, uint64_t& out) {
        if (const json* v = find(key)) {
            if (!v->is_number_unsigned()) return fail(key, "must be a non-negative integer");
            out = v->get<uint64_t>();
        }
    }

    void boolean(const char* key, bool& out) {
        if (const json* v = find(key)) {
            if (!v->is_boolean()) return fail(key, "must be true or false");
            out = v->get<bool>();
        }
    }

    void string(const char* key, std::string& out) {
        if (const json* v = find(key)) {
            if (!v->is_string()) return fail(key, "must be a string");
            const std::string& s = v->get_ref<const std::string&>();
            if (s.size() > kMaxStringBytes)
                return fail(key, "is longer than " + std::to_string(kMaxStringBytes) + " bytes");
            if (!is_utf8(s)) return fail(key, "is not valid UTF-8");
            out = s;
        }
    }

    void bytes(const char* key, std::string& out) {
        if (const json* v = find(key)) {
            if (v->is_binary()) {
                if (v->get_binary().size() > kMaxStringBytes)
                    return fail(key, "is longer than " + std::to_string(kMaxStringBytes) + " bytes");
                out.assign(v->get_binary().begin(), v->get_binary().end());
            } else if (v->is_string()) {
                const std::string& s = v->get_ref<const std::string&>();
                if (s.size() > kMaxStringBytes / 3 * 4 + 4)
                    return fail(key, "is longer than " + std::to_string(kMaxStringBytes) + " bytes");
                if (!base64_decode(s, &out)) return fail(key, "must be base64 (padded, no whitespace)");
            } else {
                return fail(key, "must be a byte string (CBOR) or base64 text (JSON)");
            }
        }
    }

    void entry_type(const char* key, EntryType& out) {
        std::string name = entry_type_name(EntryType::Command);
        string(key, name);
        if (ok_ && !entry_type_from_name(name, &out)) fail(key, "must be \"Command\", \"NoOp\" or \"Config\"");
    }

    void entries(const char* key, std::vector<Entry>& out) { objects(key, out); }
    void items(const char* key, std::vector<KeyValue>& out) { objects(key, out); }
    template <class T>
    void objects(const char* key, std::vector<T>& out) {
        const json* a = find(key);
        if (a == nullptr) return;
        if (!a->is_array()) return fail(key, "must be an array");
        if (a->size() > kMaxEntriesPerFrame)
            return fail(key, "has " + std::to_string(a->size()) + " elements, more than " +
                                 std::to_string(kMaxEntriesPerFrame));
        out.resize(a->size());
        for (size_t i = 0; i < a->size() && ok_; ++i) {
            const std::string element = key + ("[" + std::to_string(i) + "]");
            if (!(*a)[i].is_object()) return fail(element, "must be an object");
            DomReader r((*a)[i], where_ + element + ".", error_);
            element_fields(r, out[i]);
            ok_ = r.ok();
        }
    }

    void fail(const std::string& key, const std::string& problem) {
        *error_ = "field '" + where_ + key + "' " + problem;
        ok_ = false;
    }

private:
    // The field, or null when it is absent or an earlier field failed.
    const json* find(const char* key) const {
        if (!ok_) return nullptr;
        const auto it = object_.find(key);
        return it == object_.end() ? nullptr : &*it;
    }

    const json& object_;
    std::string where_;
    std::string* error_;
    bool ok_ = true;
};

bool read_frame(const json& j, Frame* f, std::string* error) {
    if (!j.is_object()) {
        *error = "frame must be a JSON object, not " + std::string(j.type_name());
        return false;
    }
    DomReader r(j, "", error);
    uint64_t version = 0;
    std::string type;
    if (r.require("v")) r.uint("v", version);
    if (!r.ok()) return false;
    if (version != kCodecVersion) {
        *error = "frame has codec version " + std::to_string(version) +
                 " but this node speaks version " + std::to_string(kCodecVersion) +
                 "; run the same raftbook release on every node";
        return false;
    }
    if (r.require("cluster")) r.string("cluster", f->cluster);
    if (r.require("type")) r.string("type", type);
    if (!r.ok()) return false;
    if (!message_type_from_name(type, &f->type)) {
        *error = "unknown message type '" + type + "'";
        return false;
    }
    frame_fields(r, *f);
    if (!r.ok()) return false;
    if (f->type == MessageType::ClientRequest && !valid_op(f->request.op)) {
        r.fail("op", "must be \"put\", \"get\", \"del\", \"list\", \"add_learner\", \"promote\", \"remove\" or "
                     "\"transfer_leader\"");
        return false;
    }
    if (f->type != MessageType::ClientRequest && f->type != MessageType::ClientReply) f->peer.type = f->type;
    if (f->nonce.size() > kMaxAuthText || f->proof.size() > kMaxAuthText) {
        *error = "malformed frame: nonce or proof over " + std::to_string(kMaxAuthText) + " bytes";
        return false;
    }
    std::string malformed = malformed_append(f->peer);
    if (malformed.empty()) malformed = malformed_snapshot(f->peer);
    if (!malformed.empty()) {
        *error = "malformed frame: " + malformed;
        return false;
    }
    return true;
}

// ---- The fast CBOR reader: CborWriter's shapes only; anything else gives up. ----

class CborCursor {
public:
    explicit CborCursor(const std::string& bytes)
        : p_(reinterpret_cast<const unsigned char*>(bytes.data())), end_(p_ + bytes.size()) {}

    size_t left() const { return size_t(end_ - p_); }

    // A head of major type `major` with a definite argument (no indefinite lengths).
    bool head(int major, uint64_t* v) {
        if (p_ == end_ || *p_ >> 5 != major) return false;
        const int info = *p_++ & 31;
        if (info < 24) {
            *v = uint64_t(info);
            return true;
        }
        const size_t bytes = info == 24 ? 1 : info == 25 ? 2 : info == 26 ? 4 : info == 27 ? 8 : 0;
        if (bytes == 0 || left() < bytes) return false;
        *v = 0;
        for (size_t i = 0; i < bytes; ++i) *v = (*v << 8) | *p_++;
        return true;
    }

    bool text(std::string_view* out, int major = 3) {
        uint64_t n;
        if (!head(major, &n) || n > left()) return false;
        *out = std::string_view(reinterpret_cast<const char*>(p_), size_t(n));
        p_ += n;
        return true;
    }

    // A text field's value: within kMaxStringBytes and UTF-8, as DomReader demands.
    bool text_value(std::string_view* out) { return text(out) && out->size() <= kMaxStringBytes && is_utf8(*out); }

    bool boolean(bool* out) {
        if (p_ == end_ || (*p_ != 0xF4 && *p_ != 0xF5)) return false;
        *out = *p_++ == 0xF5;
        return true;
    }

private:
    const unsigned char* p_;
    const unsigned char* end_;
};

// Reads a definite-length map; `field(key)` reads each value and says whether it
// knew the key. A repeated key gives up (the general decoder keeps the last one).
template <class Field>
bool read_cbor_map(CborCursor& c, Field field) {
    constexpr uint64_t kMaxFields = 24;
    uint64_t n;
    if (!c.head(5, &n) || n > kMaxFields) return false;
    std::string_view seen[kMaxFields];
    for (uint64_t i = 0; i < n; ++i) {
        if (!c.text(&seen[i])) return false;
        for (uint64_t k = 0; k < i; ++k)
            if (seen[k] == seen[i]) return false;
        if (!field(seen[i])) return false;
    }
    return true;
}

// Visits the field list with one key: the field of that name reads its value.
class CborReader {
public:
    CborReader(CborCursor& c, std::string_view key) : c_(c), key_(key) {}

    // Whether the key named a field of the list and its value was read.
    bool ok() const { return matched_ && ok_; }

    void uint(const char* key, uint64_t& out) {
        if (mine(key)) ok_ = c_.head(0, &out);
    }
    void boolean(const char* key, bool& out) {
        if (mine(key)) ok_ = c_.boolean(&out);
    }
    void string(const char* key, std::string& out) {
        std::string_view t;
        if (mine(key) && (ok_ = c_.text_value(&t))) out.assign(t);
    }
    void bytes(const char* key, std::string& out) {
        std::string_view t;
        if (mine(key) && (ok_ = c_.text(&t, 2) && t.size() <= kMaxStringBytes)) out.assign(t);
    }
    void entry_type(const char* key, EntryType& out) {
        std::string_view t;
        if (!mine(key)) return;
        ok_ = c_.text(&t) && entry_type_from_name(t, &out);
    }
    void entries(const char* key, std::vector<Entry>& out) { objects(key, out); }
    void items(const char* key, std::vector<KeyValue>& out) { objects(key, out); }
    template <class T>
    void objects(const char* key, std::vector<T>& out) {
        uint64_t n;
        if (!mine(key)) return;
        ok_ = c_.head(4, &n) && n <= kMaxEntriesPerFrame && n <= c_.left();
        if (!ok_) return;
        out.resize(size_t(n));
        for (size_t i = 0; i < out.size() && ok_; ++i) {
            ok_ = read_cbor_map(c_, [&](std::string_view k) {
                CborReader r(c_, k);
                element_fields(r, out[i]);
                return r.ok();
            });
        }
    }

private:
    bool mine(const char* key) {
        if (matched_ || key_ != key) return false;
        matched_ = true;
        return true;
    }

    CborCursor& c_;
    std::string_view key_;
    bool matched_ = false;
    bool ok_ = true;
};

// Decodes what CborWriter writes; false means "not that shape", never "invalid".
bool read_cbor_frame(const std::string& bytes, Frame* f) {
    CborCursor c(bytes);
    uint64_t version = 0;
    bool has_cluster = false, has_type = false;
    const bool ok = read_cbor_map(c, [&](std::string_view key) {
        std::string_view t;
        if (key == "v") return c.head(0, &version) && version == kCodecVersion;
        if (key == "cluster") {
            has_cluster = c.text_value(&t);
            f->cluster.assign(t);
            return has_cluster;
        }
        if (key == "type") return has_type = c.text(&t) && message_type_from_name(std::string(t), &f->type);
        if (!has_type) return false;  // CborWriter writes "v", "cluster" and "type" first
        CborReader r(c, key);
        frame_fields(r, *f);
        return r.ok();
    });
    if (!ok || c.left() != 0 || version != kCodecVersion || !has_cluster || !has_type) return false;
    if (f->type == MessageType::ClientRequest) return valid_op(f->request.op);
    if (f->type != MessageType::ClientReply) f->peer.type = f->type;
    if (f->nonce.size() > kMaxAuthText || f->proof.size() > kMaxAuthText) return false;
    return malformed_append(f->peer).empty() && malformed_snapshot(f->peer).empty();
}

template <class W>
void write_frame(W& w, const Frame& f) {
    w.uint("v", kCodecVersion);
    w.always("cluster", f.cluster);
    w.always("type", message_type_name(f.type));
    frame_fields(w, f);
}

}  // namespace

json to_json(const Entry& e) {
    json j = json::object();
    JsonWriter w(j);
    entry_fields(w, e);
    return j;
}

json to_json(const Member& m) {
    return {{"id", m.id}, {"peer", m.peer}, {"http", m.http}, {"voter", m.voter}, {"kind", m.browser ? "browser" : "native"}};
}

json to_json(const Message& m) {
    json j = json::object();
    j["type"] = message_type_name(m.type);
    JsonWriter w(j);
    message_fields(w, m);
    return j;
}

std::string encode_frame(const Frame& f, WireFormat format) {
    if (format == WireFormat::Cbor) {
        std::string bytes;
        bytes.reserve(64 + f.peer.entries.size() * 48);
        {
            CborWriter w(bytes);
            write_frame(w, f);
        }
        return bytes;
    }
    json j = json::object();
    JsonWriter w(j);
    write_frame(w, f);
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool decode_frame(const std::string& bytes, WireFormat format, Frame* out, std::string* error) {
    if (format == WireFormat::Cbor && decode_frame_fast(bytes, out)) return true;
    return decode_frame_general(bytes, format, out, error);
}

bool decode_frame_fast(const std::string& bytes, Frame* out) {
    Frame f;
    if (bytes.size() > kMaxFrameBytes || !read_cbor_frame(bytes, &f)) return false;
    *out = std::move(f);
    return true;
}

bool decode_frame_general(const std::string& bytes, WireFormat format, Frame* out, std::string* error) {
    std::string why;
    if (bytes.size() > kMaxFrameBytes) {
        why = "frame is " + std::to_string(bytes.size()) + " bytes, over the limit of " +
              std::to_string(kMaxFrameBytes);
    } else {
        json j;
        Frame f;
        if (parse(bytes, format, &j, &why) && read_frame(j, &f, &why)) {
            *out = std::move(f);
            return true;
        }
    }
    if (error != nullptr) *error = std::move(why);
    return false;
}

bool is_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto lead = static_cast<unsigned char>(s[i]);
        if (lead < 0x80) {
            ++i;
            continue;
        }
        // The lead byte gives the sequence length and the code point's top bits; a
        // code point below min_code_point would fit a shorter sequence (overlong).
        size_t len;
        uint32_t min_code_point;
        if ((lead & 0xE0) == 0xC0) {
            len = 2;
            min_code_point = 0x80;
        } else if ((lead & 0xF0) == 0xE0) {
            len = 3;
            min_code_point = 0x800;
        } else if ((lead & 0xF8) == 0xF0) {
            len = 4;
            min_code_point = 0x10000;
        } else {
            return false;
        }
        uint32_t code_point = lead & (0x7F >> len);
        if (s.size() - i < len) return false;
        for (size_t k = 1; k < len; ++k) {
            const auto cont = static_cast<unsigned char>(s[i + k]);
            if ((cont & 0xC0) != 0x80) return false;
            code_point = (code_point << 6) | (cont & 0x3F);
        }
        if (code_point < min_code_point || code_point > 0x10FFFF ||
            (code_point >= 0xD800 && code_point <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

}  // namespace raftbook
