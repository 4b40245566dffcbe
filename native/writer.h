// The writer thread of an exclusively opened LUN: group commit. It takes every request that
// arrived while the previous flush was on its way to the disk, places them as one chunk per
// page set, writes the chunks and any changed descriptor blocks, calls fdatasync once, and
// only then makes the records visible and completes the requests. It also frees segments in
// a safe order, carries out compaction, and (on a second thread) zero-fills free segments
// ahead of use so the log overwrites allocated blocks instead of paying for first writes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "device.h"
#include "segments.h"

namespace sanmq {

enum class RequestKind : uint8_t { Append, Compact, Measure };

// What planning did with a request in one flush.
enum class PlanOutcome : uint8_t { Placed, Deferred, Failed, Continue };

struct CompactOptions {
  int32_t pageSet = -1;  // -1: every page set
  double liveRatioMax = 0.5;
  uint32_t segmentsMax = 4;
};

struct MeasureOptions {
  uint32_t durationMs = 1000;
  uint64_t scratchBytes = 64u << 20;
  bool sparse = false;  // also measure first writes into holes (regular files only)
};

struct MeasureResult {
  uint64_t syncOps = 0;
  double syncSeconds = 0;
  double syncP50Us = 0;
  double syncP99Us = 0;
  uint64_t sequentialBytes = 0;
  double sequentialSeconds = 0;
  uint64_t sparseOps = 0;
  double sparseSeconds = 0;
  uint64_t scratchBytes = 0;
};

// A live record that compaction is moving: its bytes as read and verified, and where it goes.
struct MoveItem {
  uint64_t from = 0;
  uint32_t victim = 0;
  uint32_t length = 0;
  uint32_t bytes = 0;  // padded record bytes
  uint64_t seq = 0;
  std::unique_ptr<uint8_t[]> record;
  uint64_t to = 0;
};

struct Request {
  uint64_t id = 0;
  RequestKind kind = RequestKind::Append;
  uint16_t pageSet = 0;
  uint32_t recordCount = 0;
  uint32_t stagedBytes = 0;  // records encoded by the submitter: headers, payloads, padding
  std::unique_ptr<uint8_t[]> staged;
  std::vector<uint64_t> releases;
  CompactOptions compact;
  MeasureOptions measure;

  std::vector<uint64_t> addresses;
  std::vector<uint64_t> movedFrom;
  std::vector<uint64_t> movedTo;
  std::vector<uint32_t> victims;
  std::vector<uint64_t> unreadable;  // live records compaction could not verify
  MeasureResult measured;
  const char* errorCode = nullptr;
  std::string errorMessage;

  // Compaction progress, writer thread only.
  bool victimsChosen = false;
  size_t victimIndex = 0;
  std::vector<std::unique_ptr<MoveItem>> moving;
};

struct WriterOptions {
  uint32_t prefillAhead = 4;
  // Before sleeping, the writer polls for new work this long: a futex wake-up costs more than
  // a short poll on a machine with a core to spare, and it is on every round trip.
  uint32_t spinUs = 50;
  // After completions are handed to JavaScript, the writer waits up to this long for the
  // appends their callers make next, so that closed-loop appenders share one flush instead of
  // splitting into groups that alternate (each paying a whole fdatasync).
  uint32_t gatherUs = 250;
  uint64_t flushBytesMax = 16u << 20;
  uint64_t pendingBytesMax = 256u << 20;
};

struct WriterStats {
  uint64_t flushes = 0;
  uint64_t syncs = 0;
  uint64_t chunks = 0;
  uint64_t records = 0;
  uint64_t releases = 0;
  uint64_t moves = 0;
  uint64_t bytesWritten = 0;
  uint64_t allocations = 0;
  uint64_t frees = 0;
  uint64_t prefills = 0;
  uint64_t maxFlushRecords = 0;
  // Where the writer's time goes, in nanoseconds: planning and encoding, writing, fdatasync,
  // applying and completing, and waiting for JavaScript to gather a flush.
  uint64_t planNs = 0;
  uint64_t writeNs = 0;
  uint64_t syncNs = 0;
  uint64_t applyNs = 0;
  uint64_t gatherNs = 0;
  // JavaScript's share: from handing completions over to the next kick (wake-up, callbacks,
  // the callers' next appends), summed over `jsRounds` deliveries.
  uint64_t jsNs = 0;
  uint64_t jsRounds = 0;
};

class Writer {
 public:
  Writer(Device& device, SegmentTable& table, uint32_t uuidCrc, const WriterOptions& options,
         std::function<void()> notify);
  ~Writer();

  void start();
  // Queues a request (JS thread). Throws E_BUSY beyond pendingBytesMax, E_FAILED after an
  // I/O failure, E_CLOSED after stop().
  void submit(std::unique_ptr<Request> request);
  // Wakes the writer for what submit() queued since the last kick.
  void kick();
  std::vector<std::unique_ptr<Request>> takeCompleted();
  // Completes everything queued, then stops both threads.
  void stop();
  WriterStats stats();
  bool failed();
  std::string failure();

 private:
  struct Group;
  struct Flush;

  void run();
  // Waits (polling first, then sleeping) until `ready` or until `deadline`; lock held.
  template <typename Ready>
  void waitFor(std::unique_lock<std::mutex>& lock, Ready ready,
               std::chrono::steady_clock::time_point deadline);
  void prefillLoop();
  void flushOnce(std::deque<std::unique_ptr<Request>>& taken);
  PlanOutcome planAppend(Flush& f, Request* r);
  PlanOutcome planCompaction(Flush& f, Request* r);
  Group* groupFor(Flush& f, uint16_t pageSet, uint32_t bytes, bool useReserve,
                  const char** error);
  void planFrees(Flush& f);
  void encode(Flush& f);
  void writeOut(Flush& f);
  void apply(Flush& f);
  void measure(Request* r);
  void complete(std::unique_ptr<Request> r);
  void completeAll(std::vector<std::unique_ptr<Request>>& done);
  void failAll(std::deque<std::unique_ptr<Request>>& requests, const char* code,
               const std::string& message);
  bool chooseVictims(Request* r);
  bool loadVictim(Request* r, uint32_t victim);

  Device& device_;
  SegmentTable& table_;
  const Geometry& g_;
  uint32_t uuidCrc_;
  WriterOptions options_;
  std::function<void()> notify_;

  std::mutex queueMutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Request>> queue_;
  std::vector<std::unique_ptr<Request>> staged_;  // JS thread only
  std::vector<std::unique_ptr<Request>> completed_;
  bool notified_ = false;
  bool awaitingJs_ = false;  // completions delivered; JavaScript has not kicked since
  bool sleeping_ = false;
  std::chrono::steady_clock::time_point notifiedAt_;
  std::atomic<uint64_t> kicks_{0};
  std::atomic<bool> stopFlag_{false};
  bool stopping_ = false;
  bool descriptorsDirty_ = false;
  uint64_t pendingBytes_ = 0;
  bool failed_ = false;
  std::string failure_;
  WriterStats stats_;

  std::vector<uint32_t> pendingFrees_;  // writer thread only
  uint64_t syncNsOfLastFlush_ = 0;      // writer thread only
  uint32_t mirrorBlocks_ = 0;           // descriptor blocks whose other copy is behind
  // Free segments only releases and compaction may take (segments.h, reserveSegments).
  uint32_t reserveSegments_ = reserveSegments(g_.segmentCount);
  std::vector<int32_t> groupIndex_;     // page set -> group in the current flush
  AlignedBytes gather_;
  size_t gatherBytes_ = 0;

  std::condition_variable prefillWake_;
  bool prefillStopping_ = false;
  std::thread thread_;
  std::thread prefillThread_;
};

}  // namespace sanmq
