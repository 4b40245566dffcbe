// CRC32C (Castagnoli), as used by iSCSI (RFC 3720) and by every checksum on the LUN.
// A hardware path (SSE4.2 on x86-64, the CRC extension on AArch64) is used when a known-answer
// self-test passes on this machine; otherwise a portable slicing-by-8 table path.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sanmq::crc32c {

// Extends `crc` (the value of a previous call, or 0 to start) over `data`.
uint32_t extend(uint32_t crc, const void* data, size_t size);

inline uint32_t value(const void* data, size_t size) { return extend(0, data, size); }

// Stored checksums are masked so that a CRC computed over data that itself embeds CRCs does
// not degenerate (the same rotation and constant as leveldb's log format).
inline constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

// "hardware" or "portable": which path extend() takes on this machine.
const char* implementation();

// The portable path on its own, so tests can compare both paths on the same data.
uint32_t extendPortable(uint32_t crc, const void* data, size_t size);

}  // namespace sanmq::crc32c
