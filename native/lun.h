// A LUN as the rest of the addon sees it: format, open (exclusive writer, read-only, or shared
// for slot access only), recovery, reads, and the writer and slot table of an open LUN.
// Nothing here touches JavaScript; addon.cc wraps it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "device.h"
#include "errors.h"
#include "faulty_device.h"
#include "report.h"
#include "segments.h"
#include "slots.h"
#include "superblock.h"
#include "writer.h"

namespace sanmq {

enum class OpenMode { Exclusive, ReadOnly, Shared };

struct OpenOptions {
  OpenMode mode = OpenMode::Exclusive;
  bool direct = false;
  bool salvage = false;  // open despite corruption (it stays listed in the report)
  uint32_t lockTimeoutMs = 30000;
  WriterOptions writer;
  bool faulty = false;
  FaultOptions faults;
};

struct FormatOptions {
  GeometryRequest geometry;  // lunBytes 0: the whole block device or existing file
  bool force = false;
  bool prefill = false;
  bool direct = false;
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// Thrown by open() when recovery found corruption and salvage was not asked for.
class CorruptLunError : public LunError {
 public:
  CorruptLunError(const std::string& message, RecoveryReport report)
      : LunError(code::E_CORRUPT, message), report_(std::move(report)) {}
  const RecoveryReport& report() const { return report_; }

 private:
  RecoveryReport report_;
};

Geometry formatLun(const std::string& path, const FormatOptions& options);

struct ReadResult {
  AlignedBytes buffer;
  size_t offset = 0;
  uint32_t length = 0;
  uint16_t pageSet = 0;
  uint64_t seq = 0;
};

struct LiveRecord {
  uint64_t seq;
  uint64_t address;
  uint32_t length;
};

class Lun {
 public:
  // `notify` is called from the writer thread whenever completions are ready.
  static std::unique_ptr<Lun> open(const std::string& path, const OpenOptions& options,
                                   std::function<void()> notify);
  ~Lun();

  const Geometry& geometry() const { return geometry_; }
  const RecoveryReport& report() const { return report_; }
  OpenMode mode() const { return mode_; }
  uint32_t uuidCrc() const { return uuidCrc_; }
  Device& device() { return *device_; }
  Writer* writer() { return writer_.get(); }
  SlotTable& slots() { return *slots_; }
  SegmentTable* table() { return table_.get(); }
  FaultyDevice* faults() { return faulty_; }

  ReadResult read(uint64_t address);
  // The page set a live record belongs to; throws E_NOT_LIVE.
  uint16_t pageSetOf(uint64_t address);
  std::vector<LiveRecord> liveRecords(uint16_t pageSet);
  // Reads the live records at `addresses`, verifies each whole record as read() does, and
  // copies the first `headBytes` of each payload to `heads` (stride headBytes, zero-padded)
  // and each payload's length to `lengths`. Neighbouring records are read together, in
  // windows of up to kHeadWindowBytes, so that mount reads the log at sequential speed.
  void readHeads(const std::vector<uint64_t>& addresses, uint32_t headBytes, uint8_t* heads,
                 uint32_t* lengths);
  // Stops the writer (completing what it holds) and releases the LUN.
  void close();

 private:
  Lun() = default;
  void readSuperblocks(const std::string& path, bool repair);
  void acquire(const std::string& path);

  OpenMode mode_ = OpenMode::Exclusive;
  std::unique_ptr<Device> device_;
  FaultyDevice* faulty_ = nullptr;
  Geometry geometry_;
  uint32_t uuidCrc_ = 0;
  RecoveryReport report_;
  std::unique_ptr<SegmentTable> table_;
  std::unique_ptr<SlotTable> slots_;
  std::unique_ptr<Writer> writer_;
  bool locked_ = false;
  bool closed_ = false;
};

}  // namespace sanmq
