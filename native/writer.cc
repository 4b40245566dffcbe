// The writer: group commit. A flush goes through four steps:
//   plan   (table mutex held) place each request in its page set's chunk for this flush,
//          allocate segments, assign sequences and addresses, encode changed descriptors;
//   encode checksum every record and chunk header (no lock: only this thread owns them);
//   write  the chunks and descriptor blocks, then one fdatasync;
//   apply  (table mutex held) make records live, apply releases and moves, finish frees,
//          and complete the requests.
// A page set gets at most one chunk, in one segment, per flush: the recovery scan relies on it
// to tell a torn tail from lost synced data (see scan.cc). An I/O error makes the writer
// fail-stop: nothing after it is acknowledged, and reopening the LUN recovers from the disk.
#include "writer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <unordered_set>

#include "crc32c.h"
#include "endian.h"
#include "errors.h"
#include "scan.h"
#include "writer_flush.h"

namespace sanmq {

using namespace format;


Writer::Writer(Device& device, SegmentTable& table, uint32_t uuidCrc,
               const WriterOptions& options, std::function<void()> notify)
    : device_(device),
      table_(table),
      g_(table.geometry()),
      uuidCrc_(uuidCrc),
      options_(options),
      notify_(std::move(notify)),
      groupIndex_(kPageSetCount, -1) {}

Writer::~Writer() { stop(); }

void Writer::start() {
  // Segments that recovery found empty and unreferenced are freed by the first flushes.
  {
    std::lock_guard<std::mutex> lock(table_.mutex());
    for (uint32_t s = 0; s < g_.segmentCount; s++) {
      if (table_.freeable(s)) {
        table_.at(s).freeing = true;
        pendingFrees_.push_back(s);
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(table_.mutex());
    for (const DescriptorBlockState& block : table_.blocks()) {
      if (block.mirrorPending) mirrorBlocks_++;
    }
  }
  thread_ = std::thread([this] { run(); });
  prefillThread_ = std::thread([this] { prefillLoop(); });
  if (!pendingFrees_.empty()) kick();
}

void Writer::submit(std::unique_ptr<Request> request) {
  std::lock_guard<std::mutex> lock(queueMutex_);
  if (stopping_) throw LunError(code::E_CLOSED, "the LUN is closed");
  if (failed_) throw LunError(code::E_FAILED, "the LUN failed and accepts no writes: " + failure_);
  uint64_t bytes = request->stagedBytes + request->releases.size() * kReleaseEntryBytes;
  if (pendingBytes_ + bytes > options_.pendingBytesMax) {
    throw LunError(code::E_BUSY, "more than " + std::to_string(options_.pendingBytesMax) +
                                     " bytes are waiting to be written; wait for earlier " +
                                     "appends to complete");
  }
  pendingBytes_ += bytes;
  staged_.push_back(std::move(request));
}

void Writer::kick() {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(queueMutex_);
    for (auto& r : staged_) queue_.push_back(std::move(r));
    staged_.clear();
    if (awaitingJs_) {
      stats_.jsNs += uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now() - notifiedAt_)
                                  .count());
      stats_.jsRounds++;
    }
    awaitingJs_ = false;
    wake = sleeping_;
  }
  kicks_.fetch_add(1, std::memory_order_release);
  if (wake) wake_.notify_one();
}

template <typename Ready>
void Writer::waitFor(std::unique_lock<std::mutex>& lock, Ready ready,
                     std::chrono::steady_clock::time_point deadline) {
  using clock = std::chrono::steady_clock;
  if (ready()) return;
  uint64_t seen = kicks_.load(std::memory_order_acquire);
  auto spinUntil = std::min(deadline, clock::now() + std::chrono::microseconds(options_.spinUs));
  lock.unlock();
  while (clock::now() < spinUntil && kicks_.load(std::memory_order_acquire) == seen &&
         !stopFlag_.load(std::memory_order_acquire)) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  lock.lock();
  if (ready()) return;
  sleeping_ = true;
  if (deadline == clock::time_point::max()) {
    wake_.wait(lock, ready);
  } else {
    wake_.wait_until(lock, deadline, ready);
  }
  sleeping_ = false;
}

std::vector<std::unique_ptr<Request>> Writer::takeCompleted() {
  std::lock_guard<std::mutex> lock(queueMutex_);
  notified_ = false;
  std::vector<std::unique_ptr<Request>> out;
  out.swap(completed_);
  return out;
}

void Writer::stop() {
  {
    std::lock_guard<std::mutex> lock(queueMutex_);
    for (auto& r : staged_) queue_.push_back(std::move(r));
    staged_.clear();
    stopping_ = true;
  }
  stopFlag_.store(true, std::memory_order_release);
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(table_.mutex());
    prefillStopping_ = true;
  }
  prefillWake_.notify_one();
  if (prefillThread_.joinable()) prefillThread_.join();
}

WriterStats Writer::stats() {
  std::lock_guard<std::mutex> lock(queueMutex_);
  return stats_;
}

bool Writer::failed() {
  std::lock_guard<std::mutex> lock(queueMutex_);
  return failed_;
}

std::string Writer::failure() {
  std::lock_guard<std::mutex> lock(queueMutex_);
  return failure_;
}

void Writer::complete(std::unique_ptr<Request> r) {
  std::vector<std::unique_ptr<Request>> one;
  one.push_back(std::move(r));
  completeAll(one);
}

void Writer::completeAll(std::vector<std::unique_ptr<Request>>& done) {
  if (done.empty()) return;
  bool call = false;
  {
    std::lock_guard<std::mutex> lock(queueMutex_);
    for (auto& r : done) {
      pendingBytes_ -= std::min<uint64_t>(pendingBytes_,
                                          r->stagedBytes + r->releases.size() * kReleaseEntryBytes);
      completed_.push_back(std::move(r));
    }
    if (!notified_) {
      notified_ = true;
      awaitingJs_ = true;
      notifiedAt_ = std::chrono::steady_clock::now();
      call = true;
    }
  }
  if (call) notify_();
}

void Writer::failAll(std::deque<std::unique_ptr<Request>>& requests, const char* code,
                     const std::string& message) {
  for (auto& r : requests) {
    if (!r) continue;
    r->errorCode = code;
    r->errorMessage = message;
    complete(std::move(r));
  }
  requests.clear();
}

void Writer::run() {
  for (;;) {
    std::deque<std::unique_ptr<Request>> taken;
    {
      std::unique_lock<std::mutex> lock(queueMutex_);
      waitFor(lock, [this] {
        return !queue_.empty() || stopping_ || descriptorsDirty_ || !pendingFrees_.empty() ||
               mirrorBlocks_ > 0;
      }, std::chrono::steady_clock::time_point::max());
      // Group commit: let the callers of the flush just completed join this one.
      if (awaitingJs_ && !stopping_ && !queue_.empty()) {
        auto gatherStart = std::chrono::steady_clock::now();
        waitFor(lock, [this] { return !awaitingJs_ || stopping_; },
                notifiedAt_ + std::chrono::microseconds(options_.gatherUs));
        stats_.gatherNs += uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now() - gatherStart)
                                        .count());
      }
      if (failed_) {
        std::deque<std::unique_ptr<Request>> doomed;
        doomed.swap(queue_);
        std::string message = "the LUN failed and accepts no writes: " + failure_;
        lock.unlock();
        failAll(doomed, code::E_FAILED, message);
        lock.lock();
        if (stopping_) return;
        waitFor(lock, [this] { return !queue_.empty() || stopping_; },
                std::chrono::steady_clock::time_point::max());
        continue;
      }
      if (queue_.empty() && pendingFrees_.empty() && !descriptorsDirty_ && mirrorBlocks_ == 0 &&
          stopping_) {
        return;
      }
      if (!queue_.empty() && queue_.front()->kind == RequestKind::Measure) {
        std::unique_ptr<Request> r = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        measure(r.get());
        complete(std::move(r));
        continue;
      }
      uint64_t bytes = 0;
      while (!queue_.empty() && queue_.front()->kind != RequestKind::Measure &&
             (taken.empty() || bytes + queue_.front()->stagedBytes <= options_.flushBytesMax)) {
        bytes += queue_.front()->stagedBytes;
        taken.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      descriptorsDirty_ = false;
    }
    try {
      flushOnce(taken);
    } catch (const LunError& e) {
      {
        std::lock_guard<std::mutex> lock(queueMutex_);
        failed_ = true;
        failure_ = e.what();
      }
      failAll(taken, e.code(), std::string(e.what()) +
                                   " (the LUN now accepts no writes; reopen it to recover)");
    }
  }
}

void Writer::flushOnce(std::deque<std::unique_ptr<Request>>& taken) {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  Flush f;
  std::vector<PlanOutcome> outcomes;
  {
    std::lock_guard<std::mutex> lock(table_.mutex());
    outcomes.reserve(taken.size());
    for (auto& r : taken) {
      outcomes.push_back(r->kind == RequestKind::Compact ? planCompaction(f, r.get())
                                                         : planAppend(f, r.get()));
    }
    planFrees(f);
    // Descriptor blocks are encoded under the lock: the prefill thread may touch flags.
    // A changed block goes to the copy that does not hold the current version, so a torn
    // write leaves the previous version readable; the flush after copies it over the other
    // copy too (mirrorPending), so at rest both agree and damage to one of them loses nothing.
    mirrorBlocks_ = 0;
    for (uint32_t b = 0; b < g_.descriptorBlocks; b++) {
      DescriptorBlockState& state = table_.blocks()[b];
      if (!state.dirty && !state.mirrorPending) continue;
      uint32_t copy = 1 - state.currentCopy;
      if (state.dirty) {
        uint32_t perBlock = g_.descriptorsPerBlock();
        for (uint32_t s = b * perBlock; s < std::min(g_.segmentCount, (b + 1) * perBlock); s++) {
          table_.at(s).recordSeqFloor = table_.nextRecordSeq;
          table_.at(s).chunkSeqFloor = table_.nextChunkSeq;
        }
        state.version++;
        state.currentCopy = copy;
        state.dirty = false;
        state.mirrorPending = true;
        mirrorBlocks_++;
      } else {
        state.mirrorPending = false;
      }
      AlignedBytes buffer = allocateAligned(g_.blockBytes);
      table_.encodeBlock(b, copy, state.version, uuidCrc_, buffer.get());
      f.blocks.emplace_back(b, copy);
      f.blockBuffers.push_back(std::move(buffer));
    }
  }
  for (const Group& group : f.groups) groupIndex_[group.pageSet] = -1;
  encode(f);
  auto t1 = clock::now();
  if (!f.groups.empty() || !f.blocks.empty()) writeOut(f);
  auto t2 = clock::now();
  apply(f);
  // Deferred requests go back to the front of the queue, in their original order.
  std::deque<std::unique_ptr<Request>> back;
  std::vector<std::unique_ptr<Request>> done;
  done.reserve(taken.size());
  for (size_t i = 0; i < taken.size(); i++) {
    std::unique_ptr<Request>& r = taken[i];
    if (outcomes[i] == PlanOutcome::Deferred || outcomes[i] == PlanOutcome::Continue) {
      back.push_back(std::move(r));
    } else {
      done.push_back(std::move(r));
    }
  }
  completeAll(done);
  taken.clear();
  auto t3 = clock::now();
  std::lock_guard<std::mutex> lock(queueMutex_);
  for (auto it = back.rbegin(); it != back.rend(); ++it) queue_.push_front(std::move(*it));
  auto ns = [](clock::duration d) {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  };
  stats_.planNs += ns(t1 - t0);
  stats_.writeNs += ns(t2 - t1) - syncNsOfLastFlush_;
  stats_.syncNs += syncNsOfLastFlush_;
  stats_.applyNs += ns(t3 - t2);
  syncNsOfLastFlush_ = 0;
}

}  // namespace sanmq
