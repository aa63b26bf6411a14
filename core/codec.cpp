// The wire codec: Frame <-> JSON object <-> JSON text or CBOR bytes.
//
// Encoding builds one nlohmann::json object per frame; the same helpers give the
// JSON views of entries and messages, so the playground shows exactly what travels.
//
// Decoding never trusts its input and never lets nlohmann throw. Three limits are
// enforced before or while parsing, because nlohmann 3.11 does not enforce them:
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
#include "codec.h"

#include <utility>

namespace raftbook {

using nlohmann::json;

namespace {

// ---- Encoding: zero, false and empty fields are left out. ----

void put_uint(json& j, const char* key, uint64_t v) {
    if (v != 0) j[key] = v;
}

void put_bool(json& j, const char* key, bool v) {
    if (v) j[key] = true;
}

void put_string(json& j, const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
}

const char* entry_type_name(EntryType t) { return t == EntryType::NoOp ? "NoOp" : "Command"; }

void put_message_fields(json& j, const Message& m) {
    put_uint(j, "from", m.from);
    put_uint(j, "to", m.to);
    put_uint(j, "term", m.term);
    put_uint(j, "index", m.index);
    put_uint(j, "log_term", m.log_term);
    put_uint(j, "commit", m.commit);
    put_bool(j, "reject", m.reject);
    put_uint(j, "hint_index", m.hint_index);
    put_uint(j, "hint_term", m.hint_term);
    put_uint(j, "context", m.context);
    if (!m.entries.empty()) {
        json entries = json::array();
        for (const Entry& e : m.entries) entries.push_back(to_json(e));
        j["entries"] = std::move(entries);
    }
}

void put_request_fields(json& j, const ClientRequest& r) {
    put_uint(j, "client", r.client_id);
    put_uint(j, "seq", r.seq);
    put_string(j, "op", r.op);
    put_string(j, "key", r.key);
    put_string(j, "value", r.value);
}

void put_reply_fields(json& j, const ClientReply& r) {
    put_uint(j, "client", r.client_id);
    put_uint(j, "seq", r.seq);
    put_bool(j, "ok", r.ok);
    put_bool(j, "found", r.found);
    put_string(j, "value", r.value);
    put_string(j, "error", r.error);
    put_uint(j, "leader", r.leader_hint);
}

// ---- Parsing: nlohmann's DOM builder behind a SAX layer that enforces the limits. ----

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

// ---- Reading fields: each checked for type and size; a missing one keeps its default. ----

class FieldReader {
public:
    // `where` prefixes field names in errors ("entries[3].") so an error names the
    // exact field.
    FieldReader(const json& object, std::string where, std::string* error)
        : object_(object), where_(std::move(where)), error_(error) {}

    bool has(const char* key) const { return object_.find(key) != object_.end(); }

    bool require(const char* key) const {
        return has(key) || fail(key, "is missing");
    }

    bool read(const char* key, uint64_t* out) const {
        const auto it = object_.find(key);
        if (it == object_.end()) return true;
        if (!it->is_number_unsigned()) return fail(key, "must be a non-negative integer");
        *out = it->get<uint64_t>();
        return true;
    }

    bool read(const char* key, bool* out) const {
        const auto it = object_.find(key);
        if (it == object_.end()) return true;
        if (!it->is_boolean()) return fail(key, "must be true or false");
        *out = it->get<bool>();
        return true;
    }

    bool read(const char* key, std::string* out) const {
        const auto it = object_.find(key);
        if (it == object_.end()) return true;
        if (!it->is_string()) return fail(key, "must be a string");
        const std::string& s = it->get_ref<const std::string&>();
        if (s.size() > kMaxStringBytes)
            return fail(key, "is longer than " + std::to_string(kMaxStringBytes) + " bytes");
        if (!is_utf8(s)) return fail(key, "is not valid UTF-8");
        *out = s;
        return true;
    }

    // Entries as an array; `at` is the array itself, for reading each element.
    bool read_array(const char* key, const json** at) const {
        const auto it = object_.find(key);
        *at = nullptr;
        if (it == object_.end()) return true;
        if (!it->is_array()) return fail(key, "must be an array");
        if (it->size() > kMaxEntriesPerFrame)
            return fail(key, "has " + std::to_string(it->size()) + " elements, more than " +
                                 std::to_string(kMaxEntriesPerFrame));
        *at = &*it;
        return true;
    }

    bool fail(const std::string& key, const std::string& problem) const {
        *error_ = "field '" + where_ + key + "' " + problem;
        return false;
    }

private:
    const json& object_;
    std::string where_;
    std::string* error_;
};

bool read_entry(const json& j, const std::string& where, Entry* e, std::string* error) {
    if (!j.is_object()) {
        *error = "field '" + where + "' must be an object";
        return false;
    }
    const FieldReader r(j, where + ".", error);
    std::string type = entry_type_name(EntryType::Command);
    if (!(r.read("index", &e->index) && r.read("term", &e->term) && r.read("type", &type) &&
          r.read("data", &e->data) && r.read("client", &e->client_id) && r.read("seq", &e->seq)))
        return false;
    if (type == entry_type_name(EntryType::NoOp)) {
        e->type = EntryType::NoOp;
    } else if (type != entry_type_name(EntryType::Command)) {
        return r.fail("type", "must be \"Command\" or \"NoOp\"");
    }
    return true;
}

bool read_message(const FieldReader& r, Message* m, std::string* error) {
    const json* entries = nullptr;
    if (!(r.read("from", &m->from) && r.read("to", &m->to) && r.read("term", &m->term) &&
          r.read("index", &m->index) && r.read("log_term", &m->log_term) &&
          r.read("commit", &m->commit) && r.read("reject", &m->reject) &&
          r.read("hint_index", &m->hint_index) && r.read("hint_term", &m->hint_term) &&
          r.read("context", &m->context) && r.read_array("entries", &entries)))
        return false;
    if (entries == nullptr) return true;
    m->entries.resize(entries->size());
    for (size_t i = 0; i < entries->size(); ++i) {
        const std::string where = "entries[" + std::to_string(i) + "]";
        if (!read_entry((*entries)[i], where, &m->entries[i], error)) return false;
    }
    return true;
}

bool read_request(const FieldReader& r, ClientRequest* req) {
    if (!(r.read("client", &req->client_id) && r.read("seq", &req->seq) &&
          r.read("op", &req->op) && r.read("key", &req->key) && r.read("value", &req->value)))
        return false;
    if (req->op != "put" && req->op != "get" && req->op != "del")
        return r.fail("op", "must be \"put\", \"get\" or \"del\"");
    return true;
}

bool read_reply(const FieldReader& r, ClientReply* rep) {
    return r.read("client", &rep->client_id) && r.read("seq", &rep->seq) &&
           r.read("ok", &rep->ok) && r.read("found", &rep->found) &&
           r.read("value", &rep->value) && r.read("error", &rep->error) &&
           r.read("leader", &rep->leader_hint);
}

bool read_frame(const json& j, Frame* f, std::string* error) {
    if (!j.is_object()) {
        *error = "frame must be a JSON object, not " + std::string(j.type_name());
        return false;
    }
    const FieldReader r(j, "", error);
    uint64_t version = 0;
    std::string type;
    if (!(r.require("v") && r.read("v", &version))) return false;
    if (version != kCodecVersion) {
        *error = "frame has codec version " + std::to_string(version) +
                 " but this node speaks version " + std::to_string(kCodecVersion) +
                 "; run the same raftbook release on every node";
        return false;
    }
    if (!(r.require("cluster") && r.read("cluster", &f->cluster) && r.require("type") &&
          r.read("type", &type)))
        return false;
    if (!message_type_from_name(type, &f->type)) {
        *error = "unknown message type '" + type + "'";
        return false;
    }
    switch (f->type) {
        case MessageType::ClientRequest:
            return read_request(r, &f->request);
        case MessageType::ClientReply:
            return read_reply(r, &f->reply);
        default:
            f->peer.type = f->type;
            return read_message(r, &f->peer, error);
    }
}

}  // namespace

json to_json(const Entry& e) {
    json j = json::object();
    put_uint(j, "index", e.index);
    put_uint(j, "term", e.term);
    if (e.type != EntryType::Command) j["type"] = entry_type_name(e.type);
    put_string(j, "data", e.data);
    put_uint(j, "client", e.client_id);
    put_uint(j, "seq", e.seq);
    return j;
}

json to_json(const Message& m) {
    json j = json::object();
    j["type"] = message_type_name(m.type);
    put_message_fields(j, m);
    return j;
}

std::string encode_frame(const Frame& f, WireFormat format) {
    json j = json::object();
    j["v"] = kCodecVersion;
    j["cluster"] = f.cluster;
    j["type"] = message_type_name(f.type);
    switch (f.type) {
        case MessageType::ClientRequest:
            put_request_fields(j, f.request);
            break;
        case MessageType::ClientReply:
            put_reply_fields(j, f.reply);
            break;
        default:
            put_message_fields(j, f.peer);
    }
    if (format == WireFormat::Json) return j.dump(-1, ' ', false, json::error_handler_t::replace);
    std::string bytes;
    json::to_cbor(j, bytes);
    return bytes;
}

bool decode_frame(const std::string& bytes, WireFormat format, Frame* out, std::string* error) {
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

bool is_utf8(const std::string& s) {
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
