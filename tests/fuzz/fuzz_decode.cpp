// libFuzzer target for the wire codec: whatever the bytes, decode_frame() must return
// a frame or a non-empty error in both formats, and any frame it returns must survive
// being encoded and decoded again, in both formats, unchanged. A decoded JSON frame
// re-encoded as CBOR also feeds the CBOR decoder valid input the fuzzer would take long
// to find. Build and run: see CMakeLists.txt in this directory.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/codec.h"

using namespace raftbook;

namespace {

const WireFormat kFormats[] = {WireFormat::Json, WireFormat::Cbor};

const char* format_name(WireFormat f) { return f == WireFormat::Json ? "JSON" : "CBOR"; }

void require_round_trip(const Frame& f, WireFormat decoded_from) {
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
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
