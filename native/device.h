// The storage interface every other part of the core writes through: whole reads and writes
// at byte offsets, a durability barrier, zero-filling, and byte-range locks. FileDevice is the
// real one (a regular file or a block device); FaultyDevice (faulty_device.h) wraps it to
// inject crashes and I/O errors, so the same core runs over both.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

namespace sanmq {

// Buffers for direct I/O are aligned to this many bytes (at least any sector size we accept).
inline constexpr size_t kMemoryAlign = 4096;

struct AlignedFree {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t[], AlignedFree>;
// Zero-filled, kMemoryAlign-aligned memory.
AlignedBytes allocateAligned(size_t bytes);

struct DeviceInfo {
  uint64_t sizeBytes = 0;
  uint32_t logicalSector = 512;
  uint32_t physicalSector = 512;
  bool blockDevice = false;
  bool direct = false;
  bool readOnly = false;
};

class Device {
 public:
  virtual ~Device() = default;
  // Reads exactly `length` bytes or throws (E_IO, E_CRASHED …).
  virtual void read(void* buffer, size_t length, uint64_t offset) = 0;
  // Writes every byte of the vector or throws; short writes are retried internally.
  virtual void writev(const iovec* vector, int count, uint64_t offset) = 0;
  void write(const void* buffer, size_t length, uint64_t offset) {
    iovec one{const_cast<void*>(buffer), length};
    writev(&one, 1, offset);
  }
  // fdatasync: everything written before the call is durable when it returns.
  virtual void sync() = 0;
  // Writes zeros over [offset, offset + length) so that later overwrites do not pay for
  // allocating blocks (not durable until sync()).
  virtual void zero(uint64_t offset, uint64_t length) = 0;
  // Returns [offset, offset + length) to the file system when it can (regular files only).
  virtual bool punchHole(uint64_t offset, uint64_t length) = 0;
  // Open-file-description byte-range locks: exclusive between every open() of the LUN, in
  // this process or another. Returns false when `wait` is false and the range is held.
  virtual bool lock(uint64_t start, uint64_t length, bool exclusive, bool wait) = 0;
  virtual void unlock(uint64_t start, uint64_t length) = 0;
  virtual const DeviceInfo& info() const = 0;
};

struct DeviceOptions {
  bool readOnly = false;
  bool direct = false;
  bool create = false;  // create a missing regular file
};

class FileDevice final : public Device {
 public:
  FileDevice(const std::string& path, const DeviceOptions& options);
  ~FileDevice() override;
  FileDevice(const FileDevice&) = delete;
  FileDevice& operator=(const FileDevice&) = delete;

  void read(void* buffer, size_t length, uint64_t offset) override;
  void writev(const iovec* vector, int count, uint64_t offset) override;
  void sync() override;
  void zero(uint64_t offset, uint64_t length) override;
  bool punchHole(uint64_t offset, uint64_t length) override;
  bool lock(uint64_t start, uint64_t length, bool exclusive, bool wait) override;
  void unlock(uint64_t start, uint64_t length) override;
  const DeviceInfo& info() const override { return info_; }

  // Grows a regular file to `bytes` (sparse). Block devices must already be large enough.
  void ensureSize(uint64_t bytes);
  // Sets a regular file's size to exactly `bytes` (format: the backup superblock goes last).
  void setFileSize(uint64_t bytes);
  // The offset of a non-zero byte below `end`, or -1. A regular file is read wherever it
  // holds data (holes are skipped); a block device is sampled: its first and last MiB and
  // 64 KiB at 63 evenly spaced places between them.
  int64_t findNonZero(uint64_t end);
  const std::string& path() const { return path_; }

 private:
  void checkAligned(const void* buffer, size_t length, uint64_t offset) const;

  std::string path_;
  int fd_ = -1;
  DeviceInfo info_;
  AlignedBytes zeros_;
};

}  // namespace sanmq
