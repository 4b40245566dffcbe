// FaultyDevice: see faulty_device.h. One mutex serialises every call, which keeps the
// simulation deterministic for a given seed and a deterministic caller.
#include "faulty_device.h"

#include <algorithm>
#include <cstring>

#include "errors.h"

namespace sanmq {

FaultyDevice::FaultyDevice(std::unique_ptr<FileDevice> base, const FaultOptions& options)
    : base_(std::move(base)), options_(options), random_(options.seed) {
  SANMQ_ASSERT(base_ != nullptr);
  SANMQ_ASSERT(options_.sectorBytes >= 1);
}

bool FaultyDevice::beginIo(FailOn kind, bool mutation) {
  if (counters_.crashed) throw LunError(code::E_CRASHED, "the simulated LUN has crashed");
  counters_.ios++;
  if (mutation) {
    counters_.mutations++;
    if (options_.crashAtMutation != 0 && counters_.mutations >= options_.crashAtMutation) {
      crashLocked(options_.crashMode);
      throw LunError(code::E_CRASHED, "simulated crash before mutation " +
                                          std::to_string(counters_.mutations));
    }
  }
  if (options_.failAtIo == 0) return false;
  if (options_.failOn != FailOn::Any && options_.failOn != kind) return false;
  failCounter_++;
  bool hit = options_.failPersistent ? failCounter_ >= options_.failAtIo
                                     : failCounter_ == options_.failAtIo;
  if (!hit) return false;
  if (options_.failKind == FailKind::ShortWrite && kind == FailOn::Write) return true;
  int err = options_.failKind == FailKind::Enospc ? ENOSPC : EIO;
  throwSystem("injected failure of I/O " + std::to_string(counters_.ios), err);
}

void FaultyDevice::read(void* buffer, size_t length, uint64_t offset) {
  std::lock_guard<std::mutex> guard(mutex_);
  beginIo(FailOn::Read, false);
  base_->read(buffer, length, offset);
  // Unsynced writes are visible to reads, in the order they were made.
  auto* out = static_cast<uint8_t*>(buffer);
  for (const Pending& w : pending_) {
    uint64_t from = std::max(offset, w.offset);
    uint64_t to = std::min(offset + length, w.offset + w.bytes.size());
    if (from < to) std::memcpy(out + (from - offset), w.bytes.data() + (from - w.offset), to - from);
  }
}

void FaultyDevice::writev(const iovec* vector, int count, uint64_t offset) {
  std::lock_guard<std::mutex> guard(mutex_);
  bool shortWrite = beginIo(FailOn::Write, true);
  Pending w{offset, {}};
  for (int i = 0; i < count; i++) {
    const auto* p = static_cast<const uint8_t*>(vector[i].iov_base);
    w.bytes.insert(w.bytes.end(), p, p + vector[i].iov_len);
  }
  if (shortWrite) {
    // A short write that keeps failing is how a full file system looks to pwrite: keep half
    // of it, as the kernel would, and report the rest as ENOSPC.
    w.bytes.resize(w.bytes.size() / 2);
    pending_.push_back(std::move(w));
    counters_.pendingWrites = pending_.size();
    throwSystem("injected short write of I/O " + std::to_string(counters_.ios), ENOSPC);
  }
  pending_.push_back(std::move(w));
  counters_.pendingWrites = pending_.size();
}

void FaultyDevice::applyPending(const Pending& w) {
  if (!w.bytes.empty()) base_->write(w.bytes.data(), w.bytes.size(), w.offset);
}

void FaultyDevice::sync() {
  std::lock_guard<std::mutex> guard(mutex_);
  beginIo(FailOn::Sync, true);
  counters_.syncs++;
  if (options_.lyingSync) return;
  for (const Pending& w : pending_) applyPending(w);
  pending_.clear();
  counters_.pendingWrites = 0;
  if (options_.realSync) base_->sync();
}

void FaultyDevice::zero(uint64_t offset, uint64_t length) {
  std::vector<uint8_t> zeros(static_cast<size_t>(std::min<uint64_t>(length, 1u << 20)));
  uint64_t done = 0;
  while (done < length) {
    size_t piece = static_cast<size_t>(std::min<uint64_t>(zeros.size(), length - done));
    write(zeros.data(), piece, offset + done);
    done += piece;
  }
}

void FaultyDevice::crashLocked(CrashMode mode) {
  uint32_t sector = options_.sectorBytes;
  for (Pending& w : pending_) {
    switch (mode) {
      case CrashMode::Drop:
        break;
      case CrashMode::Apply:
        applyPending(w);
        break;
      case CrashMode::Partial:
        if (random_() & 1) applyPending(w);
        break;
      case CrashMode::Tear:
      case CrashMode::Trash: {
        // Trash follows SQLite's crash VFS: 3/8 applied, 3/8 dropped, 1/4 garbage sectors.
        unsigned fate = static_cast<unsigned>(random_() % 8);
        if (mode == CrashMode::Trash && fate < 3) {
          applyPending(w);
          break;
        }
        if (mode == CrashMode::Trash && fate < 6) break;
        uint64_t first = w.offset / sector * sector;
        uint64_t end = w.offset + w.bytes.size();
        for (uint64_t s = first; s < end; s += sector) {
          uint64_t from = std::max(s, w.offset);
          uint64_t to = std::min(s + sector, end);
          std::vector<uint8_t> piece(w.bytes.begin() + (from - w.offset),
                                     w.bytes.begin() + (to - w.offset));
          if (mode == CrashMode::Trash) {
            for (auto& b : piece) b = static_cast<uint8_t>(random_());
          } else if (random_() & 1) {
            continue;  // this sector keeps its old contents
          }
          base_->write(piece.data(), piece.size(), from);
        }
        break;
      }
    }
  }
  pending_.clear();
  counters_.pendingWrites = 0;
  counters_.crashed = true;
}

void FaultyDevice::crash(CrashMode mode) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (!counters_.crashed) crashLocked(mode);
}

void FaultyDevice::flipBit(uint64_t offset, unsigned bit) {
  std::lock_guard<std::mutex> guard(mutex_);
  SANMQ_ASSERT(bit < 8);
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    if (offset >= it->offset && offset < it->offset + it->bytes.size()) {
      it->bytes[offset - it->offset] ^= static_cast<uint8_t>(1u << bit);
      return;
    }
  }
  uint8_t byte;
  base_->read(&byte, 1, offset);
  byte ^= static_cast<uint8_t>(1u << bit);
  base_->write(&byte, 1, offset);
}

void FaultyDevice::armFailure(uint64_t afterIos, FailOn on, FailKind kind, bool persistent) {
  std::lock_guard<std::mutex> guard(mutex_);
  options_.failAtIo = afterIos;
  options_.failOn = on;
  options_.failKind = kind;
  options_.failPersistent = persistent;
  failCounter_ = 0;
}

FaultCounters FaultyDevice::counters() {
  std::lock_guard<std::mutex> guard(mutex_);
  return counters_;
}

}  // namespace sanmq
