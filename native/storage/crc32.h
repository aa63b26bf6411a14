// CRC-32 (the IEEE 802.3 polynomial, as in zlib, gzip and PNG) over a byte span.
//
// The write-ahead log stamps every record with it so that a record damaged on disk,
// or only half written when the machine crashed, is recognised on restart. It is the
// classic table-driven form: one 256-entry table built once, one lookup per byte,
// which is fast enough for a log that is written at fsync speed and read on restart.
#pragma once

#include <cstddef>
#include <cstdint>

namespace raftbook {

// Continues a CRC: crc32(b, crc32(a)) == crc32(a followed by b). Start with 0.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace raftbook
