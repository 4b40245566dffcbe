// The steps of one flush (see writer.cc for the loop that runs them): planning where each
// request goes (segments, sequences, addresses, releases, frees), encoding checksums, writing
// and syncing, and applying the result to the in-memory tables once it is durable.
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "crc32c.h"
#include "endian.h"
#include "errors.h"
#include "scan.h"
#include "writer_flush.h"

namespace sanmq {

using namespace format;

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
  std::unordered_set<uint64_t> named;
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
    // Named twice in this request, or by an earlier request of this flush (a set, not a scan
    // of `targets`: a bulk release names thousands of records).
    if (f.pendingReleased.count(resolved) || !named.insert(resolved).second) {
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


}  // namespace sanmq
