// CRC32C: a portable slicing-by-8 path and a hardware path, the latter chosen only when it
// reproduces the RFC 3720 check values on this machine (a known-answer self-test).
#include "crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#elif defined(__aarch64__)
#include <arm_acle.h>
#include <sys/auxv.h>
#endif

namespace sanmq::crc32c {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78u;  // reflected Castagnoli polynomial

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables makeTables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++) {
    for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
  return t;
}

constexpr Tables kTables = makeTables();
static_assert(kTables[0][1] == 0xf26b8303u, "CRC32C table generation is wrong");

uint32_t portable(uint32_t crc, const uint8_t* p, size_t n) {
  crc = ~crc;
  while (n >= 8) {
    uint32_t lo = crc ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
                         uint32_t(p[3]) << 24);
    uint32_t hi = uint32_t(p[4]) | uint32_t(p[5]) << 8 | uint32_t(p[6]) << 16 |
                  uint32_t(p[7]) << 24;
    crc = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^
          kTables[5][(lo >> 16) & 0xff] ^ kTables[4][lo >> 24] ^ kTables[3][hi & 0xff] ^
          kTables[2][(hi >> 8) & 0xff] ^ kTables[1][(hi >> 16) & 0xff] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) crc = kTables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t hardware(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = ~crc;
  while (n && (reinterpret_cast<uintptr_t>(p) & 7)) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    n--;
  }
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  while (n--) c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
  return ~static_cast<uint32_t>(c);
}
bool hardwarePresent() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2);
}
#elif defined(__aarch64__)
__attribute__((target("+crc"))) uint32_t hardware(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t c = ~crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = __crc32cd(c, word);
    p += 8;
    n -= 8;
  }
  while (n--) c = __crc32cb(c, *p++);
  return ~c;
}
bool hardwarePresent() { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }
#else
uint32_t hardware(uint32_t crc, const uint8_t* p, size_t n) { return portable(crc, p, n); }
bool hardwarePresent() { return false; }
#endif

using Function = uint32_t (*)(uint32_t, const uint8_t*, size_t);

// RFC 3720 section B.4 vectors plus an unaligned odd-length case; the hardware path is used
// only if it agrees on all of them.
bool passesKnownAnswers(Function f) {
  uint8_t buffer[48];
  std::memset(buffer, 0, 32);
  if (f(0, buffer, 32) != 0x8a9136aau) return false;
  std::memset(buffer, 0xff, 32);
  if (f(0, buffer, 32) != 0x62a8ab43u) return false;
  for (int i = 0; i < 32; i++) buffer[i] = static_cast<uint8_t>(i);
  if (f(0, buffer, 32) != 0x46dd794eu) return false;
  for (int i = 0; i < 32; i++) buffer[i] = static_cast<uint8_t>(31 - i);
  if (f(0, buffer, 32) != 0x113fdb5cu) return false;
  const char* digits = "123456789";
  if (f(0, reinterpret_cast<const uint8_t*>(digits), 9) != 0xe3069283u) return false;
  for (int i = 0; i < 48; i++) buffer[i] = static_cast<uint8_t>(i * 7 + 3);
  return f(0, buffer + 1, 45) == portable(0, buffer + 1, 45);
}

// Chosen once per process; immutable afterwards, so sharing it between worker threads is safe.
Function chosen() {
  static const Function f = (hardwarePresent() && passesKnownAnswers(hardware)) ? hardware
                                                                                : portable;
  return f;
}

}  // namespace

uint32_t extend(uint32_t crc, const void* data, size_t size) {
  return chosen()(crc, static_cast<const uint8_t*>(data), size);
}

uint32_t extendPortable(uint32_t crc, const void* data, size_t size) {
  return portable(crc, static_cast<const uint8_t*>(data), size);
}

const char* implementation() { return chosen() == portable ? "portable" : "hardware"; }

}  // namespace sanmq::crc32c
