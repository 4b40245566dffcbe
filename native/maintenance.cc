// Maintenance work of the writer: the prefill thread, which zero-fills free segments ahead of
// use, and the disk measurement the benchmark asks for, run in free segments of the LUN.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "errors.h"
#include "writer_flush.h"

namespace sanmq {

using namespace format;

void Writer::prefillLoop() {
  for (;;) {
    int64_t target;
    {
      std::unique_lock<std::mutex> lock(table_.mutex());
      prefillWake_.wait(lock, [this] {
        return prefillStopping_ || (table_.freePrefilledCount() < options_.prefillAhead &&
                                    table_.nextToPrefill() >= 0);
      });
      if (prefillStopping_) return;
      target = table_.nextToPrefill();
      table_.at(uint32_t(target)).busy = true;
    }
    bool ok = true;
    try {
      device_.zero(g_.segmentOffset(uint32_t(target)), g_.segmentBytes);
      device_.sync();
    } catch (const LunError&) {
      ok = false;  // not fatal: the log simply writes into blocks that are not prefilled
    }
    {
      std::lock_guard<std::mutex> lock(table_.mutex());
      Segment& seg = table_.at(uint32_t(target));
      seg.busy = false;
      if (ok) {
        table_.removeFree(uint32_t(target));
        seg.flags |= kSegmentPrefilled;
        table_.addFree(uint32_t(target));
        table_.markDirty(uint32_t(target));
      }
    }
    {
      std::lock_guard<std::mutex> lock(queueMutex_);
      if (ok) {
        stats_.prefills++;
        descriptorsDirty_ = true;
      }
    }
    wake_.notify_one();
    if (!ok) return;
  }
}

void Writer::measure(Request* r) {
  MeasureResult& m = r->measured;
  std::vector<uint32_t> scratch;
  {
    std::lock_guard<std::mutex> lock(table_.mutex());
    uint64_t want = std::max<uint64_t>(1, r->measure.scratchBytes / g_.segmentBytes);
    // Leave the reserve and one more segment for the log.
    while (scratch.size() < want && table_.freeCount() > reserveSegments_ + 1) {
      int64_t s = table_.takeFree();
      if (s < 0) break;
      table_.at(uint32_t(s)).busy = true;
      scratch.push_back(uint32_t(s));
    }
  }
  if (scratch.empty()) {
    r->errorCode = code::E_LUN_FULL;
    r->errorMessage = "no free segment to measure the disk with";
    return;
  }
  m.scratchBytes = uint64_t(scratch.size()) * g_.segmentBytes;
  auto addressOf = [&](uint64_t offset) {
    offset %= m.scratchBytes;
    return g_.segmentOffset(scratch[offset / g_.segmentBytes]) + offset % g_.segmentBytes;
  };
  auto budget = std::chrono::milliseconds(r->measure.durationMs);
  try {
    AlignedBytes block = allocateAligned(1u << 20);
    std::memset(block.get(), 0x5a, 1u << 20);
    std::vector<double> latencies;
    auto begin = std::chrono::steady_clock::now();
    uint64_t offset = 0;
    while (std::chrono::steady_clock::now() - begin < budget) {
      auto t0 = std::chrono::steady_clock::now();
      device_.write(block.get(), 4096, addressOf(offset));
      device_.sync();
      latencies.push_back(seconds(std::chrono::steady_clock::now() - t0) * 1e6);
      offset += 4096;
    }
    m.syncOps = latencies.size();
    m.syncSeconds = seconds(std::chrono::steady_clock::now() - begin);
    std::sort(latencies.begin(), latencies.end());
    m.syncP50Us = latencies[latencies.size() / 2];
    m.syncP99Us = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
    begin = std::chrono::steady_clock::now();
    offset = 0;
    uint32_t piece = std::min<uint32_t>(1u << 20, g_.segmentBytes);
    while (std::chrono::steady_clock::now() - begin < budget) {
      device_.write(block.get(), piece, addressOf(offset));
      device_.sync();
      m.sequentialBytes += piece;
      offset += piece;
    }
    m.sequentialSeconds = seconds(std::chrono::steady_clock::now() - begin);
    if (r->measure.sparse && !device_.info().blockDevice) {
      for (uint32_t s : scratch) device_.punchHole(g_.segmentOffset(s), g_.segmentBytes);
      begin = std::chrono::steady_clock::now();
      for (offset = 0; offset < m.scratchBytes; offset += 4096) {
        if (std::chrono::steady_clock::now() - begin >= budget) break;
        device_.write(block.get(), 4096, addressOf(offset));
        device_.sync();
        m.sparseOps++;
      }
      m.sparseSeconds = seconds(std::chrono::steady_clock::now() - begin);
      for (uint32_t s : scratch) device_.zero(g_.segmentOffset(s), g_.segmentBytes);
      device_.sync();
    }
  } catch (const LunError& e) {
    r->errorCode = e.code();
    r->errorMessage = e.what();
  }
  std::lock_guard<std::mutex> lock(table_.mutex());
  for (uint32_t s : scratch) {
    table_.at(s).busy = false;
    table_.addFree(s);
  }
}


}  // namespace sanmq
