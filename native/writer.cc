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

namespace sanmq {

using namespace format;

namespace {

struct Piece {
  uint8_t* data;
  uint32_t bytes;
  uint32_t records;
  uint64_t address;  // of its first byte
  bool release;
  bool payloadCrcStaged;  // the submitter left each payload's CRC in the checksum field
};

struct ReleasePlan {
  uint64_t target;
  uint32_t targetSegment;
  uint32_t releaser;
};

struct MovePlan {
  MoveItem* item;
  uint32_t segment;
};

uint32_t roundUpBlock(uint64_t bytes, uint32_t block) {
  return static_cast<uint32_t>((bytes + block - 1) / block * block);
}

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

struct Writer::Group {
  uint16_t pageSet = 0;
  uint32_t segment = 0;
  uint32_t start = 0;  // chunk offset in the segment
  uint32_t used = 0;   // record bytes after the header
  uint32_t records = 0;
  uint64_t chunkSeq = 0;
  int64_t sealed = -1;  // the previous tail, when this group opened a new segment
  std::vector<Piece> pieces;
  uint8_t header[kChunkHeaderBytes] = {};
};

struct Writer::Flush {
  std::deque<Group> groups;
  std::vector<Request*> compactions;  // compaction requests that moved records
  std::vector<std::unique_ptr<uint8_t[]>> releaseBuffers;
  std::vector<ReleasePlan> releases;
  std::vector<MovePlan> moves;
  std::vector<uint32_t> freeing;
  std::vector<std::pair<uint32_t, uint32_t>> blocks;  // (block, copy)
  std::vector<AlignedBytes> blockBuffers;
  std::unordered_set<uint64_t> pendingReleased;
  std::unordered_set<uint64_t> movingNow;
  std::vector<uint16_t> deferred;
  uint64_t records = 0;
  uint64_t allocations = 0;
  bool isDeferred(uint16_t pageSet) const {
    return std::find(deferred.begin(), deferred.end(), pageSet) != deferred.end();
  }
};

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

Writer::Group* Writer::groupFor(Flush& f, uint16_t pageSet, uint32_t bytes, bool useReserve,
                                const char** error) {
  SANMQ_ASSERT(uint64_t(bytes) + kChunkHeaderBytes <= g_.segmentBytes);
  int32_t index = groupIndex_[pageSet];
  if (index >= 0) {
    Group& group = f.groups[size_t(index)];
    if (uint64_t(group.start) + kChunkHeaderBytes + group.used + bytes <= g_.segmentBytes) {
      return &group;
    }
    return nullptr;  // one chunk per page set per flush: the rest waits for the next flush
  }
  Group group;
  group.pageSet = pageSet;
  int32_t tail = table_.tail(pageSet);
  if (tail >= 0 &&
      uint64_t(table_.at(uint32_t(tail)).writeOffset) + kChunkHeaderBytes + bytes <=
          g_.segmentBytes) {
    group.segment = uint32_t(tail);
    group.start = table_.at(uint32_t(tail)).writeOffset;
    group.chunkSeq = table_.nextChunkSeq++;
  } else {
    // The last free segments are kept for release records and compaction, which are what
    // make space: a full LUN must still accept them.
    bool reserved = !useReserve && table_.freeCount() <= reserveSegments_;
    int64_t free = reserved ? -1 : table_.takeFree();
    if (free < 0) {
      // Segments freed by this very flush come back after it: wait for them.
      if (pendingFrees_.empty()) *error = code::E_LUN_FULL;
      return nullptr;
    }
    Segment& s = table_.at(uint32_t(free));
    SANMQ_ASSERT(s.state == kSegmentFree && !s.busy && s.records.empty());
    group.segment = uint32_t(free);
    group.start = 0;
    group.chunkSeq = table_.nextChunkSeq++;
    group.sealed = tail;
    s.generation++;
    s.state = kSegmentUsed;
    s.pageSet = pageSet;
    s.firstChunkSeq = group.chunkSeq;
    s.prevSegment = tail >= 0 ? uint32_t(tail) + 1 : 0;
    s.prevGeneration = tail >= 0 ? table_.at(uint32_t(tail)).generation : 0;
    s.prevLastChunkSeq = tail >= 0 ? table_.at(uint32_t(tail)).lastChunkSeq : 0;
    s.writeOffset = 0;
    s.lastChunkSeq = 0;
    s.liveRecords = 0;
    s.liveBytes = 0;
    s.forwarding.clear();
    table_.setTail(pageSet, int32_t(free));
    table_.markDirty(uint32_t(free));
    f.allocations++;
  }
  groupIndex_[pageSet] = int32_t(f.groups.size());
  f.groups.push_back(std::move(group));
  return &f.groups.back();
}

PlanOutcome Writer::planAppend(Flush& f, Request* r) {
  auto fail = [&](const char* code, const std::string& message) {
    r->errorCode = code;
    r->errorMessage = message;
    return PlanOutcome::Failed;
  };
  if (f.isDeferred(r->pageSet)) return PlanOutcome::Deferred;
  std::vector<std::pair<uint64_t, uint32_t>> targets;  // resolved address, segment
  for (uint64_t address : r->releases) {
    RecordLocation where;
    uint64_t resolved;
    if (!table_.locate(address, &where, &resolved)) {
      return fail(code::E_NOT_LIVE, "release of " + std::to_string(address) +
                                        ": no live record is stored there");
    }
    const Segment& s = table_.at(where.segment);
    if (s.pageSet != r->pageSet) {
      return fail(code::E_INVALID_ARGUMENT,
                  "release of " + std::to_string(address) + ": the record belongs to page set " +
                      std::to_string(s.pageSet) + ", not " + std::to_string(r->pageSet));
    }
    if (f.movingNow.count(resolved)) {
      f.deferred.push_back(r->pageSet);  // compaction is moving it in this very flush
      return PlanOutcome::Deferred;
    }
    bool twice = f.pendingReleased.count(resolved) ||
                 std::any_of(targets.begin(), targets.end(),
                             [&](const auto& t) { return t.first == resolved; });
    if (twice) {
      return fail(code::E_NOT_LIVE, "release of " + std::to_string(address) +
                                        ": the record is already being released");
    }
    targets.emplace_back(resolved, where.segment);
  }
  uint32_t releaseBytes =
      targets.empty() ? 0 : paddedRecordBytes(uint32_t(targets.size()) * kReleaseEntryBytes);
  const char* error = nullptr;
  // A release-only append may use the reserve: it is how a full LUN gets space back.
  Group* group = groupFor(f, r->pageSet, r->stagedBytes + releaseBytes, r->recordCount == 0,
                          &error);
  if (group == nullptr) {
    if (error) {
      return fail(error, "the LUN has no free segment for " +
                             std::to_string(r->stagedBytes + releaseBytes) +
                             " bytes; release records or compact");
    }
    f.deferred.push_back(r->pageSet);
    return PlanOutcome::Deferred;
  }
  const Segment& segment = table_.at(group->segment);
  uint64_t base = g_.segmentOffset(group->segment) + group->start + kChunkHeaderBytes;
  uint64_t address = base + group->used;
  uint8_t* p = r->staged.get();
  r->addresses.clear();
  for (uint32_t i = 0; i < r->recordCount; i++) {
    uint32_t length = load32(p + record::kLength);
    store64(p + record::kSeq, table_.nextRecordSeq++);
    p[record::kKind] = kRecordData;
    p[record::kFlags] = 0;
    store16(p + record::kPageSet, r->pageSet);
    store32(p + record::kGeneration, segment.generation);
    r->addresses.push_back(makeAddress(address, segment.generation));
    address += paddedRecordBytes(length);
    p += paddedRecordBytes(length);
  }
  SANMQ_ASSERT(p == r->staged.get() + r->stagedBytes);
  if (r->stagedBytes > 0) {
    group->pieces.push_back({r->staged.get(), r->stagedBytes, r->recordCount,
                             base + group->used, false, true});
  }
  group->used += r->stagedBytes;
  group->records += r->recordCount;
  if (!targets.empty()) {
    auto buffer = std::make_unique<uint8_t[]>(releaseBytes);
    std::memset(buffer.get(), 0, releaseBytes);
    uint8_t* h = buffer.get();
    store32(h + record::kLength, uint32_t(targets.size()) * kReleaseEntryBytes);
    store64(h + record::kSeq, table_.nextRecordSeq++);
    h[record::kKind] = kRecordRelease;
    store16(h + record::kPageSet, r->pageSet);
    store32(h + record::kGeneration, segment.generation);
    uint8_t* e = h + kRecordHeaderBytes;
    for (const auto& [target, targetSegment] : targets) {
      store64(e, addressOffset(target));
      store32(e + 8, table_.at(targetSegment).generation);
      e += kReleaseEntryBytes;
      f.releases.push_back({target, targetSegment, group->segment});
      f.pendingReleased.insert(target);
    }
    group->pieces.push_back({h, releaseBytes, 1, base + group->used, true, false});
    group->used += releaseBytes;
    group->records += 1;
    f.releaseBuffers.push_back(std::move(buffer));
  }
  f.records += r->recordCount;
  return PlanOutcome::Placed;
}

bool Writer::chooseVictims(Request* r) {
  double ratio = std::clamp(r->compact.liveRatioMax, 0.0, 0.9);
  std::vector<std::pair<double, uint32_t>> candidates;
  for (uint32_t s = 0; s < g_.segmentCount; s++) {
    const Segment& seg = table_.at(s);
    if (seg.state != kSegmentUsed || seg.quarantined || seg.freeing || seg.writeOffset == 0 ||
        seg.liveRecords == 0 || table_.tail(seg.pageSet) == int32_t(s)) {
      continue;
    }
    if (r->compact.pageSet >= 0 && seg.pageSet != r->compact.pageSet) continue;
    double live = double(seg.liveBytes) / double(seg.writeOffset);
    if (live <= ratio) candidates.emplace_back(live, s);
  }
  std::sort(candidates.begin(), candidates.end());
  for (size_t i = 0; i < candidates.size() && i < r->compact.segmentsMax; i++) {
    r->victims.push_back(candidates[i].second);
  }
  r->victimsChosen = true;
  return !r->victims.empty();
}

bool Writer::loadVictim(Request* r, uint32_t victim) {
  const Segment& seg = table_.at(victim);
  AlignedBytes data = allocateAligned(seg.writeOffset);
  device_.read(data.get(), seg.writeOffset, g_.segmentOffset(victim));
  for (const RecordEntry& e : seg.records) {
    if (e.length & kDeadBit) continue;
    uint64_t address = makeAddress(g_.segmentOffset(victim) + e.offset, seg.generation);
    if (seg.forwarding.count(e.offset)) continue;
    const uint8_t* bytes = data.get() + e.offset;
    // Never move damaged data: it would come out of the move with a fresh, valid checksum.
    if (!verifyRecord(g_, uuidCrc_, bytes, addressOffset(address), seg.pageSet, seg.generation,
                      seg.writeOffset - e.offset) ||
        load64(bytes + record::kSeq) != e.seq) {
      r->unreadable.push_back(address);
      continue;
    }
    auto item = std::make_unique<MoveItem>();
    item->from = address;
    item->victim = victim;
    item->length = e.length;
    item->bytes = paddedRecordBytes(e.length);
    item->seq = e.seq;
    item->record = std::make_unique<uint8_t[]>(item->bytes);
    std::memcpy(item->record.get(), bytes, item->bytes);
    r->moving.push_back(std::move(item));
  }
  return !r->moving.empty();
}

PlanOutcome Writer::planCompaction(Flush& f, Request* r) {
  if (!r->victimsChosen && !chooseVictims(r)) return PlanOutcome::Placed;
  while (r->victimIndex < r->victims.size()) {
    uint32_t victim = r->victims[r->victimIndex];
    const Segment& seg = table_.at(victim);
    uint16_t pageSet = seg.pageSet;
    if (r->moving.empty()) {
      if (seg.state != kSegmentUsed || seg.freeing || !loadVictim(r, victim)) {
        r->victimIndex++;
        continue;
      }
      // Records released earlier in this flush stay where they are: they are dead now.
      std::erase_if(r->moving, [&](const auto& m) { return f.pendingReleased.count(m->from); });
      if (r->moving.empty()) {
        r->victimIndex++;
        continue;
      }
    }
    if (f.isDeferred(pageSet)) return PlanOutcome::Deferred;
    // A deferred step may find some of its records released meanwhile: those stay put.
    std::erase_if(r->moving, [&](const auto& m) {
      RecordLocation where;
      uint64_t resolved;
      return !table_.locate(m->from, &where, &resolved) || resolved != m->from ||
             f.pendingReleased.count(m->from);
    });
    if (r->moving.empty()) {
      r->victimIndex++;
      continue;
    }
    uint32_t bytes = 0;
    for (const auto& m : r->moving) bytes += m->bytes;
    const char* error = nullptr;
    Group* group = groupFor(f, pageSet, bytes, true, &error);
    if (group == nullptr) {
      if (error) {
        r->errorCode = error;
        r->errorMessage = "compaction found no free segment to move live records into";
        r->moving.clear();
        return PlanOutcome::Failed;
      }
      f.deferred.push_back(pageSet);
      return PlanOutcome::Deferred;
    }
    const Segment& target = table_.at(group->segment);
    for (const auto& m : r->moving) {
      uint8_t* h = m->record.get();
      h[record::kFlags] = kRecordMoved;
      store32(h + record::kGeneration, target.generation);
      uint64_t address = g_.segmentOffset(group->segment) + group->start + kChunkHeaderBytes +
                         group->used;
      group->pieces.push_back({h, m->bytes, 1, address, false, false});
      group->used += m->bytes;
      group->records++;
      m->to = makeAddress(address, target.generation);
      f.moves.push_back({m.get(), group->segment});
      f.movingNow.insert(m->from);
    }
    r->victimIndex++;
    // One victim per flush keeps the bookkeeping simple; the request goes round again.
    f.compactions.push_back(r);
    return r->victimIndex >= r->victims.size() ? PlanOutcome::Placed : PlanOutcome::Continue;
  }
  return PlanOutcome::Placed;
}

void Writer::planFrees(Flush& f) {
  for (uint32_t s : pendingFrees_) {
    Segment& seg = table_.at(s);
    SANMQ_ASSERT(seg.freeing && seg.state == kSegmentUsed && seg.liveRecords == 0);
    seg.state = kSegmentFree;
    table_.markDirty(s);
    f.freeing.push_back(s);
  }
  pendingFrees_.clear();
}

void Writer::encode(Flush& f) {
  for (Group& group : f.groups) {
    const Segment& segment = table_.at(group.segment);
    uint64_t chunkAddress = g_.segmentOffset(group.segment) + group.start;
    uint8_t* h = group.header;
    std::memset(h, 0, kChunkHeaderBytes);
    store32(h + chunk::kMagic, kChunkMagic);
    store16(h + chunk::kPageSet, group.pageSet);
    store32(h + chunk::kGeneration, segment.generation);
    store64(h + chunk::kChunkSeq, group.chunkSeq);
    store32(h + chunk::kRecordCount, group.records);
    store32(h + chunk::kChunkBytes, kChunkHeaderBytes + group.used);
    uint32_t crc = crc32c::extend(locationTag(uuidCrc_, chunkAddress), h + 4,
                                  kChunkHeaderBytes - 4);
    store32(h + chunk::kCrc, crc32c::mask(crc));
    for (Piece& piece : group.pieces) {
      uint8_t* p = piece.data;
      uint64_t address = piece.address;
      for (uint32_t i = 0; i < piece.records; i++) {
        uint32_t length = load32(p + record::kLength);
        // Appended records arrive with their payload's CRC in the checksum field (computed by
        // the submitting thread while it copied the payload); release records and moved
        // copies, built here, get it computed now.
        uint32_t payloadCrc = piece.payloadCrcStaged
                                  ? load32(p + record::kCrc)
                                  : crc32c::value(p + kRecordHeaderBytes, length);
        uint32_t c = recordChecksum(g_, payloadCrc, p, address);
        store32(p + record::kCrc, crc32c::mask(c));
        // Paired with the reader's verifyRecord: the fields it checks are what it will find.
        // (Recomputing the payload's CRC here would double the writer's work per byte.)
        SANMQ_ASSERT(load16(p + record::kPageSet) == group.pageSet &&
                     load32(p + record::kGeneration) == segment.generation &&
                     (p[record::kKind] == kRecordData || p[record::kKind] == kRecordRelease) &&
                     length <= kRecordBytesMax);
        p += paddedRecordBytes(length);
        address += paddedRecordBytes(length);
      }
      SANMQ_ASSERT(p == piece.data + piece.bytes);
    }
  }
}

void Writer::writeOut(Flush& f) {
  uint64_t written = 0;
  for (Group& group : f.groups) {
    uint32_t chunkBytes = kChunkHeaderBytes + group.used;
    uint32_t total = roundUpBlock(chunkBytes, g_.blockBytes);
    uint64_t offset = g_.segmentOffset(group.segment) + group.start;
    SANMQ_ASSERT(offset % g_.blockBytes == 0 && group.start + total <= g_.segmentBytes);
    bool gather = device_.info().direct || group.pieces.size() + 2 > size_t(IOV_MAX);
    if (gather) {
      if (gatherBytes_ < total) {
        gather_ = allocateAligned(total);
        gatherBytes_ = total;
      }
      uint8_t* out = gather_.get();
      std::memcpy(out, group.header, kChunkHeaderBytes);
      uint32_t at = kChunkHeaderBytes;
      for (const Piece& piece : group.pieces) {
        std::memcpy(out + at, piece.data, piece.bytes);
        at += piece.bytes;
      }
      std::memset(out + at, 0, total - at);
      device_.write(out, total, offset);
    } else {
      std::vector<iovec> vector;
      vector.reserve(group.pieces.size() + 2);
      vector.push_back({group.header, kChunkHeaderBytes});
      for (const Piece& piece : group.pieces) vector.push_back({piece.data, piece.bytes});
      if (total > chunkBytes) {
        if (gatherBytes_ < g_.blockBytes) {
          gather_ = allocateAligned(g_.blockBytes);
          gatherBytes_ = g_.blockBytes;
        }
        std::memset(gather_.get(), 0, total - chunkBytes);
        vector.push_back({gather_.get(), total - chunkBytes});
      }
      device_.writev(vector.data(), int(vector.size()), offset);
    }
    written += total;
  }
  for (size_t i = 0; i < f.blocks.size(); i++) {
    auto [block, copy] = f.blocks[i];
    device_.write(f.blockBuffers[i].get(), g_.blockBytes, g_.descriptorBlockOffset(block, copy));
    written += g_.blockBytes;
  }
  auto syncStart = std::chrono::steady_clock::now();
  device_.sync();
  syncNsOfLastFlush_ = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::steady_clock::now() - syncStart)
                                    .count());
  std::lock_guard<std::mutex> lock(queueMutex_);
  stats_.flushes++;
  stats_.syncs++;
  stats_.chunks += f.groups.size();
  stats_.records += f.records;
  stats_.bytesWritten += written;
  stats_.maxFlushRecords = std::max(stats_.maxFlushRecords, f.records);
}

void Writer::apply(Flush& f) {
  std::vector<uint32_t> candidates;
  bool prefillWanted = false;
  {
    std::lock_guard<std::mutex> lock(table_.mutex());
    for (const Group& group : f.groups) {
      Segment& seg = table_.at(group.segment);
      uint64_t base = g_.segmentOffset(group.segment);
      for (const Piece& piece : group.pieces) {
        if (piece.release) continue;
        const uint8_t* p = piece.data;
        uint64_t address = piece.address;
        for (uint32_t i = 0; i < piece.records; i++) {
          uint32_t length = load32(p + record::kLength);
          seg.records.push_back({uint32_t(address - base), length, load64(p + record::kSeq)});
          seg.liveRecords++;
          seg.liveBytes += paddedRecordBytes(length);
          p += paddedRecordBytes(length);
          address += paddedRecordBytes(length);
        }
      }
      seg.writeOffset = group.start + roundUpBlock(kChunkHeaderBytes + group.used, g_.blockBytes);
      seg.lastChunkSeq = group.chunkSeq;
      if (group.sealed >= 0) candidates.push_back(uint32_t(group.sealed));
    }
    auto kill = [&](uint64_t address, uint32_t s) {
      Segment& seg = table_.at(s);
      uint32_t offset = uint32_t(addressOffset(address) - g_.segmentOffset(s));
      auto it = std::lower_bound(seg.records.begin(), seg.records.end(), offset,
                                 [](const RecordEntry& e, uint32_t o) { return e.offset < o; });
      SANMQ_ASSERT(it != seg.records.end() && it->offset == offset && !(it->length & kDeadBit));
      it->length |= kDeadBit;
      seg.liveRecords--;
      seg.liveBytes -= paddedRecordBytes(it->length & ~kDeadBit);
      candidates.push_back(s);
    };
    for (const ReleasePlan& r : f.releases) {
      kill(r.target, r.targetSegment);
      if (r.releaser != r.targetSegment) table_.addDependency(r.releaser, r.targetSegment);
    }
    for (const MovePlan& m : f.moves) {
      kill(m.item->from, m.item->victim);
      Segment& victim = table_.at(m.item->victim);
      victim.forwarding[uint32_t(addressOffset(m.item->from) - g_.segmentOffset(m.item->victim))] =
          m.item->to;
      if (m.segment != m.item->victim) table_.addDependency(m.segment, m.item->victim);
    }
    for (uint32_t s : f.freeing) {
      Segment& seg = table_.at(s);
      seg.freeing = false;
      seg.records.clear();
      seg.records.shrink_to_fit();
      seg.forwarding.clear();
      seg.liveRecords = 0;
      seg.liveBytes = 0;
      seg.writeOffset = 0;
      seg.lastChunkSeq = 0;
      SANMQ_ASSERT(seg.dependsOn.empty());
      for (uint32_t d : seg.dependents) {
        auto& list = table_.at(d).dependsOn;
        list.erase(std::remove(list.begin(), list.end(), s), list.end());
        candidates.push_back(d);
      }
      seg.dependents.clear();
      table_.addFree(s);
    }
    for (uint32_t c : candidates) {
      if (table_.freeable(c)) {
        table_.at(c).freeing = true;
        pendingFrees_.push_back(c);
      }
    }
    // Waking the prefill thread costs two context switches: only when it has work.
    prefillWanted = table_.freePrefilledCount() < options_.prefillAhead &&
                    table_.nextToPrefill() >= 0;
  }
  if (prefillWanted) prefillWake_.notify_one();
  {
    std::lock_guard<std::mutex> lock(queueMutex_);
    stats_.releases += f.releases.size();
    stats_.moves += f.moves.size();
    stats_.frees += f.freeing.size();
    stats_.allocations += f.allocations;
  }
  // Compaction results: record what moved, and drop the copies of the payloads.
  for (Request* r : f.compactions) {
    for (const auto& m : r->moving) {
      r->movedFrom.push_back(m->from);
      r->movedTo.push_back(m->to);
    }
    r->moving.clear();
  }
}

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
