// Operating errors of the storage core. Every failure a caller can meet carries a stable code
// (the same strings as src/errors.ts) so that JavaScript can switch on it; programmer errors
// are assertions (SANMQ_ASSERT) and abort the operation with E_INTERNAL instead.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sanmq {

// The codes, one per failure kind. src/errors.ts declares the same list; a test compares
// the two through binding.errorCodes so they cannot drift apart.
#define SANMQ_ERROR_CODES(X) \
  X(E_INVALID_ARGUMENT)      \
  X(E_NOT_A_LUN)             \
  X(E_BAD_VERSION)           \
  X(E_CHECKSUM)              \
  X(E_CORRUPT)               \
  X(E_GEOMETRY)              \
  X(E_FOREIGN_DATA)          \
  X(E_LUN_BUSY)              \
  X(E_LUN_FULL)              \
  X(E_NO_SPACE)              \
  X(E_IO)                    \
  X(E_FAILED)                \
  X(E_CRASHED)               \
  X(E_CLOSED)                \
  X(E_READ_ONLY)             \
  X(E_NOT_WRITER)            \
  X(E_NOT_LIVE)              \
  X(E_RECORD_TOO_LARGE)      \
  X(E_BUSY)                  \
  X(E_INTERNAL)

namespace code {
#define SANMQ_DECLARE_CODE(name) inline constexpr const char* name = #name;
SANMQ_ERROR_CODES(SANMQ_DECLARE_CODE)
#undef SANMQ_DECLARE_CODE
}  // namespace code

class LunError : public std::runtime_error {
 public:
  LunError(const char* code, const std::string& message, int sysErrno = 0)
      : std::runtime_error(message), code_(code), errno_(sysErrno) {}
  const char* code() const { return code_; }
  int sysErrno() const { return errno_; }

 private:
  const char* code_;
  int errno_;
};

// An I/O failure from the operating system, mapped to E_NO_SPACE for ENOSPC and E_IO otherwise.
[[noreturn]] inline void throwSystem(const std::string& what, int err) {
  const char* kind = err == ENOSPC ? code::E_NO_SPACE : code::E_IO;
  throw LunError(kind, what + ": " + std::strerror(err), err);
}

[[noreturn]] void assertFailed(const char* expr, const char* file, int line);

}  // namespace sanmq

// Assertions stay on in release builds: they guard the on-disk format against our own bugs.
#define SANMQ_ASSERT(expr) \
  ((expr) ? static_cast<void>(0) : ::sanmq::assertFailed(#expr, __FILE__, __LINE__))
