// A fault-injecting device for tests, driven by a seed. It wraps a FileDevice and keeps every
// write since the last sync in memory (reads see them), like SQLite's crash VFS: data reaches
// the file only at sync. At a simulated crash the unsynced writes are dropped, applied, applied
// in part, torn at sector size or trashed with garbage, and every later call fails with
// E_CRASHED. It can also fail the k-th I/O (EIO, ENOSPC, a short write), fail fdatasync,
// flip bits of stored data, and lie about fdatasync (the negative control: a "sync" that makes
// nothing durable, so a crash loses acknowledged data and the checkers must notice).
#pragma once

#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "device.h"

namespace sanmq {

enum class CrashMode { Drop, Apply, Partial, Tear, Trash };
enum class FailKind { Eio, Enospc, ShortWrite };
enum class FailOn { Any, Read, Write, Sync };

struct FaultOptions {
  uint64_t seed = 1;
  uint64_t crashAtMutation = 0;  // crash before the k-th write or sync (1-based); 0 = never
  CrashMode crashMode = CrashMode::Drop;
  uint32_t sectorBytes = 512;    // unit of tearing and trashing
  uint64_t failAtIo = 0;         // fail the k-th I/O of kind failOn (1-based); 0 = never
  FailOn failOn = FailOn::Any;
  FailKind failKind = FailKind::Eio;
  bool failPersistent = false;   // keep failing after the k-th
  bool lyingSync = false;        // negative control: sync() makes nothing durable
  bool realSync = false;         // also fdatasync the file under the simulation
};

struct FaultCounters {
  uint64_t ios = 0;        // reads + writes + syncs
  uint64_t mutations = 0;  // writes + syncs
  uint64_t syncs = 0;
  uint64_t pendingWrites = 0;
  bool crashed = false;
};

class FaultyDevice final : public Device {
 public:
  FaultyDevice(std::unique_ptr<FileDevice> base, const FaultOptions& options);

  void read(void* buffer, size_t length, uint64_t offset) override;
  void writev(const iovec* vector, int count, uint64_t offset) override;
  void sync() override;
  void zero(uint64_t offset, uint64_t length) override;
  bool punchHole(uint64_t, uint64_t) override { return false; }
  bool lock(uint64_t start, uint64_t length, bool exclusive, bool wait) override {
    return base_->lock(start, length, exclusive, wait);
  }
  void unlock(uint64_t start, uint64_t length) override { base_->unlock(start, length); }
  const DeviceInfo& info() const override { return base_->info(); }

  // Crashes now, damaging the unsynced writes as `mode` says.
  void crash(CrashMode mode);
  // Flips one bit of the stored data (pending or on the file) at `offset`.
  void flipBit(uint64_t offset, unsigned bit);
  // Replaces the failure plan (failAtIo counts from the next I/O).
  void armFailure(uint64_t afterIos, FailOn on, FailKind kind, bool persistent);
  FaultCounters counters();

 private:
  struct Pending {
    uint64_t offset;
    std::vector<uint8_t> bytes;
  };
  // Counts the I/O, crashes or throws an injected failure; true asks for a short write.
  bool beginIo(FailOn kind, bool mutation);
  void crashLocked(CrashMode mode);
  void applyPending(const Pending& w);

  std::unique_ptr<FileDevice> base_;
  FaultOptions options_;
  std::mutex mutex_;
  std::mt19937_64 random_;
  std::vector<Pending> pending_;
  FaultCounters counters_;
  uint64_t failCounter_ = 0;  // I/Os of kind failOn since the failure plan was armed
};

}  // namespace sanmq
