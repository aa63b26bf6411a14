// libFuzzer target for the wire codec: whatever the bytes, decode_frame() must return
// a frame or a non-empty error in both formats, and any frame it returns must survive
// being encoded and decoded again, in both formats, unchanged. A decoded JSON frame
// re-encoded as CBOR also feeds the CBOR decoder valid input the fuzzer would take long
// to find. And decode_frame's fast CBOR reader must agree with its general decoder: it
// accepts only what the general decoder accepts, as the same frame. Build and run: see
// CMakeLists.txt in this directory.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/codec/codec.h"

using namespace raftbook;

namespace {

const WireFormat kFormats[] = {WireFormat::Json, WireFormat::Cbor};

const char* format_name(WireFormat f) { return f == WireFormat::Json ? "JSON" : "CBOR"; }

void require_round_trip(const Frame& f, WireFormat decoded_from) {
    Frame fast;
    if (!decode_frame_fast(encode_frame(f, WireFormat::Cbor), &fast) || !(fast == f)) {
        std::fprintf(stderr, "the fast CBOR reader does not read back what the encoder wrote\n");
        std::abort();
    }
    for (WireFormat format : kFormats) {
        Frame again;
        std::string error;
        if (!decode_frame(encode_frame(f, format), format, &again, &error)) {
            std::fprintf(stderr, "a frame decoded from %s does not decode after encoding as %s: %s\n",
                         format_name(decoded_from), format_name(format), error.c_str());
            std::abort();
        }
        if (!(again == f)) {
            std::fprintf(stderr, "a frame decoded from %s changed after a round trip through %s\n",
                         format_name(decoded_from), format_name(format));
            std::abort();
        }
    }
}

// The fast reader never accepts what the general decoder refuses, nor reads it differently.
void require_fast_agrees(const std::string& cbor) {
    Frame fast, general;
    std::string error;
    if (!decode_frame_fast(cbor, &fast)) return;
    if (!decode_frame_general(cbor, WireFormat::Cbor, &general, &error)) {
        std::fprintf(stderr, "the fast CBOR reader accepted a frame the general decoder refuses: %s\n", error.c_str());
        std::abort();
    }
    if (!(fast == general)) {
        std::fprintf(stderr, "the fast CBOR reader and the general decoder read a frame differently\n");
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    require_fast_agrees(bytes);
    for (WireFormat format : kFormats) {
        Frame f;
        std::string error;
        if (decode_frame(bytes, format, &f, &error)) {
            require_round_trip(f, format);
        } else if (error.empty()) {
            std::fprintf(stderr, "decode_frame(%s) refused a frame without saying why\n",
                         format_name(format));
            std::abort();
        }
    }
    return 0;
}
