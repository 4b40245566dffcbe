// Recovery scan. For each used segment, chunks are read from offset 0 in block steps; the
// decision for the chunk found at a position is:
//
//                         | zero | header | page set & | chunk seq | records | later valid
//                         |      | crc ok | generation | increases | all ok  | chunk exists
//   ----------------------+------+--------+------------+-----------+---------+-------------
//   valid: take, go on    |  no  |  yes   |    yes     |    yes    |   yes   |     -
//   end of data           | yes  |   -    |     -      |     -     |    -    |    no
//   end of data (stale)   |  no  |  yes   |     no     |     -     |    -    |    no
//   torn tail: drop it    |  no  |  any of the last four fail                |    no
//   corruption: report,   | any stop above                                  |    yes
//     resume at the later chunk
//
// "Later valid chunk" looks at every following block boundary of the segment for a valid
// chunk of the same page set and generation with a higher chunk sequence. Because the writer
// syncs one flush before it writes the next, and writes at most one chunk per page set per
// flush, a valid later chunk proves that the damaged one had been synced: it is corruption,
// not a torn write. Across segments, a segment's successor records the chunk sequence its
// predecessor ended with; a predecessor that ends earlier has lost synced chunks.
//
// A torn tail is dropped in every case, but listed in the report only when the bytes where the
// data stops are the segment's own: a chunk header, or (its header never written) a first
// record header, naming this segment's page set and generation. Other bytes past the end (an
// earlier use of the segment, a disk measurement) are simply where the data ends.
#include "scan.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include "crc32c.h"
#include "endian.h"
#include "errors.h"

namespace sanmq {

namespace {

enum class ChunkStatus { Valid, Zero, Stale, Invalid };

struct ScanRecord {
  uint32_t offset;  // within the segment
  uint32_t length;
  uint64_t seq;
  uint8_t kind;
  uint8_t flags;
};

struct ReleaseTarget {
  uint32_t releaser;  // segment holding the release record
  uint64_t address;
  uint32_t generation;
};

struct MovedCopy {
  uint32_t segment;
  size_t entry;
  uint64_t chunkSeq;
};

struct Scanner {
  Device& device;
  SegmentTable& table;
  const Geometry& g;
  uint32_t uuidCrc;
  RecoveryReport& report;
  std::vector<ReleaseTarget> releases;
  std::unordered_map<uint64_t, MovedCopy> movedWinners;  // seq -> newest copy
  uint64_t maxSeq = 0;
  uint64_t maxChunkSeq = 0;

  ChunkStatus parseChunk(const uint8_t* data, uint32_t segment, uint32_t position,
                         uint64_t previousChunkSeq, std::vector<ScanRecord>* records,
                         uint32_t* chunkBytes, uint64_t* chunkSeq);
  void scanSegment(uint32_t segment, uint8_t* buffer);
  void readDescriptors();
  void resolveMoves();
  void applyReleases();
  void checkContinuity();
};

bool allZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i]) return false;
  }
  return true;
}

}  // namespace

bool verifyRecord(const Geometry& g, const uint8_t* r, uint64_t address, uint16_t pageSet,
                  uint32_t generation, uint32_t roomBytes) {
  using namespace format;
  if (roomBytes < kRecordHeaderBytes) return false;
  uint32_t length = load32(r + record::kLength);
  if (length > kRecordBytesMax || paddedRecordBytes(length) > roomBytes) return false;
  if (load16(r + record::kPageSet) != pageSet) return false;
  if (load32(r + record::kGeneration) != generation) return false;
  uint8_t kind = r[record::kKind];
  if (kind != kRecordData && kind != kRecordRelease) return false;
  uint32_t payloadCrc = crc32c::value(r + kRecordHeaderBytes, length);
  return crc32c::unmask(load32(r + record::kCrc)) == recordChecksum(g, payloadCrc, r, address);
}

uint32_t recordChecksum(const Geometry& g, uint32_t payloadCrc, const uint8_t* header,
                        uint64_t address) {
  uint8_t tail[16 + 8];
  std::memcpy(tail, g.uuid, 16);
  store64(tail + 16, address);
  uint32_t crc = crc32c::extend(payloadCrc, header + 4, format::kRecordHeaderBytes - 4);
  return crc32c::extend(crc, tail, sizeof tail);
}

ChunkStatus Scanner::parseChunk(const uint8_t* data, uint32_t segment, uint32_t position,
                                uint64_t previousChunkSeq, std::vector<ScanRecord>* records,
                                uint32_t* chunkBytes, uint64_t* chunkSeq) {
  using namespace format;
  const Segment& seg = table.at(segment);
  const uint8_t* h = data + position;
  if (allZero(h, kChunkHeaderBytes)) return ChunkStatus::Zero;
  uint64_t base = g.segmentOffset(segment);
  uint32_t crc = locationTag(uuidCrc, base + position);
  crc = crc32c::extend(crc, h + 4, kChunkHeaderBytes - 4);
  if (crc32c::unmask(load32(h + chunk::kCrc)) != crc) return ChunkStatus::Invalid;
  if (load32(h + chunk::kMagic) != kChunkMagic) return ChunkStatus::Invalid;
  if (load16(h + chunk::kPageSet) != seg.pageSet ||
      load32(h + chunk::kGeneration) != seg.generation) {
    return ChunkStatus::Stale;
  }
  uint64_t seq = load64(h + chunk::kChunkSeq);
  uint32_t bytes = load32(h + chunk::kChunkBytes);
  uint32_t count = load32(h + chunk::kRecordCount);
  if (seq <= previousChunkSeq || bytes < kChunkHeaderBytes ||
      uint64_t(position) + bytes > g.segmentBytes) {
    return ChunkStatus::Invalid;
  }
  records->clear();
  uint32_t at = position + kChunkHeaderBytes;
  uint32_t end = position + bytes;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* r = data + at;
    if (!verifyRecord(g, r, base + at, seg.pageSet, seg.generation, end - at)) {
      return ChunkStatus::Invalid;
    }
    uint32_t length = load32(r + record::kLength);
    records->push_back({at, length, load64(r + record::kSeq), r[record::kKind],
                        r[record::kFlags]});
    at += paddedRecordBytes(length);
  }
  if (at != end) return ChunkStatus::Invalid;
  *chunkBytes = bytes;
  *chunkSeq = seq;
  return ChunkStatus::Valid;
}

void Scanner::scanSegment(uint32_t segment, uint8_t* data) {
  using namespace format;
  Segment& seg = table.at(segment);
  uint64_t base = g.segmentOffset(segment);
  device.read(data, g.segmentBytes, base);
  report.scannedBytes += g.segmentBytes;
  std::vector<ScanRecord> records;
  uint32_t position = 0;
  uint64_t lastChunkSeq = 0;
  while (uint64_t(position) + kChunkHeaderBytes <= g.segmentBytes) {
    uint32_t bytes = 0;
    uint64_t chunkSeq = 0;
    ChunkStatus status = parseChunk(data, segment, position, lastChunkSeq, &records, &bytes,
                                    &chunkSeq);
    if (status != ChunkStatus::Valid) {
      uint32_t resume = 0;
      for (uint32_t q = position + g.blockBytes; uint64_t(q) + kChunkHeaderBytes <= g.segmentBytes;
           q += g.blockBytes) {
        uint32_t laterBytes;
        uint64_t laterSeq;
        std::vector<ScanRecord> later;
        if (parseChunk(data, segment, q, lastChunkSeq, &later, &laterBytes, &laterSeq) ==
            ChunkStatus::Valid) {
          resume = q;
          break;
        }
      }
      if (resume == 0) {
        seg.writeOffset = position;
        // Only a chunk this segment's writer started counts as torn; other bytes past the end
        // (of an earlier use of the segment, or of a disk measurement) are just the end.
        const uint8_t* h = data + position;
        const uint8_t* first = h + kChunkHeaderBytes;  // the header of its first record
        bool ours = (load32(h + chunk::kMagic) == kChunkMagic &&
                     load16(h + chunk::kPageSet) == seg.pageSet &&
                     load32(h + chunk::kGeneration) == seg.generation) ||
                    (load16(first + record::kPageSet) == seg.pageSet &&
                     load32(first + record::kGeneration) == seg.generation &&
                     (first[record::kKind] == kRecordData || first[record::kKind] == kRecordRelease));
        if (status != ChunkStatus::Valid && status != ChunkStatus::Stale && ours) {
          report.tornTails.push_back({seg.pageSet, base + position,
                                      g.segmentBytes - position});
        }
        break;
      }
      report.corruptions.push_back(
          {base + position, "chunk of page set " + std::to_string(seg.pageSet) +
                                " is damaged or missing; valid data resumes at " +
                                std::to_string(base + resume)});
      position = resume;
      continue;
    }
    report.chunks++;
    for (const ScanRecord& r : records) {
      maxSeq = std::max(maxSeq, r.seq);
      if (r.kind == kRecordRelease) {
        report.releaseRecords++;
        const uint8_t* payload = data + r.offset + kRecordHeaderBytes;
        for (uint32_t e = 0; e + kReleaseEntryBytes <= r.length; e += kReleaseEntryBytes) {
          releases.push_back({segment, load64(payload + e), load32(payload + e + 8)});
        }
        continue;
      }
      report.dataRecords++;
      seg.records.push_back({r.offset, r.length, r.seq});
      seg.liveRecords++;
      seg.liveBytes += paddedRecordBytes(r.length);
      if (r.flags & kRecordMoved) {
        report.movedCopies++;
        MovedCopy copy{segment, seg.records.size() - 1, chunkSeq};
        auto [it, inserted] = movedWinners.try_emplace(r.seq, copy);
        if (!inserted) {
          // Moved twice: the newer copy wins, the older one is dead.
          MovedCopy older = it->second.chunkSeq < chunkSeq ? it->second : copy;
          if (it->second.chunkSeq < chunkSeq) it->second = copy;
          Segment& os = table.at(older.segment);
          RecordEntry& e = os.records[older.entry];
          e.length |= kDeadBit;
          os.liveRecords--;
          os.liveBytes -= paddedRecordBytes(e.length & ~kDeadBit);
        }
      }
    }
    lastChunkSeq = chunkSeq;
    seg.lastChunkSeq = chunkSeq;
    maxChunkSeq = std::max(maxChunkSeq, chunkSeq);
    position += (bytes + g.blockBytes - 1) / g.blockBytes * g.blockBytes;
    seg.writeOffset = position;
  }
}

void Scanner::readDescriptors() {
  size_t bytes = size_t(g.descriptorBlocks) * 2 * g.blockBytes;
  AlignedBytes region = allocateAligned(bytes);
  device.read(region.get(), bytes, g.descriptorRegion);
  report.scannedBytes += bytes;
  std::vector<Segment>& segments = table.segments();
  uint32_t perBlock = g.descriptorsPerBlock();
  for (uint32_t b = 0; b < g.descriptorBlocks; b++) {
    uint64_t versions[2];
    bool valid[2];
    for (uint32_t copy = 0; copy < 2; copy++) {
      const uint8_t* in = region.get() + (size_t(b) * 2 + copy) * g.blockBytes;
      valid[copy] = table.decodeBlock(b, copy, uuidCrc, in, &versions[copy], nullptr);
    }
    DescriptorBlockState& state = table.blocks()[b];
    if (!valid[0] && !valid[1]) {
      report.corruptions.push_back(
          {g.descriptorBlockOffset(b, 0), "both copies of descriptor block " +
                                              std::to_string(b) + " fail their checksum"});
      uint32_t end = std::min(g.segmentCount, (b + 1) * perBlock);
      for (uint32_t s = b * perBlock; s < end; s++) segments[s].quarantined = true;
      continue;
    }
    uint32_t best = (valid[0] && (!valid[1] || versions[0] > versions[1])) ? 0 : 1;
    const uint8_t* in = region.get() + (size_t(b) * 2 + best) * g.blockBytes;
    table.decodeBlock(b, best, uuidCrc, in, &versions[best], &segments);
    state.currentCopy = best;
    state.version = versions[best];
    // A copy that is damaged or a version behind (a crash between an update and its mirror)
    // is rewritten by the writer's first flush, so both copies agree again.
    if (!valid[0] || !valid[1] || versions[0] != versions[1]) {
      state.mirrorPending = true;
      report.descriptorCopiesBehind++;
    }
  }
}

void Scanner::resolveMoves() {
  if (movedWinners.empty()) return;
  for (uint32_t s = 0; s < g.segmentCount; s++) {
    Segment& seg = table.at(s);
    if (seg.state != format::kSegmentUsed || seg.quarantined) continue;
    for (size_t i = 0; i < seg.records.size(); i++) {
      RecordEntry& e = seg.records[i];
      auto it = movedWinners.find(e.seq);
      if (it == movedWinners.end()) continue;
      if (it->second.segment == s && it->second.entry == i) continue;
      if (!(e.length & kDeadBit)) {
        e.length |= kDeadBit;
        seg.liveRecords--;
        seg.liveBytes -= format::paddedRecordBytes(e.length & ~kDeadBit);
      }
      if (it->second.segment != s) table.addDependency(it->second.segment, s);
    }
  }
}

void Scanner::applyReleases() {
  for (const ReleaseTarget& r : releases) {
    uint32_t s = g.segmentOf(r.address);
    if (s >= g.segmentCount) continue;
    Segment& seg = table.at(s);
    // A target whose segment was freed (or reused: another generation) is already gone.
    if (seg.state != format::kSegmentUsed || seg.quarantined || seg.generation != r.generation) {
      continue;
    }
    uint32_t offset = static_cast<uint32_t>(r.address - g.segmentOffset(s));
    auto it = std::lower_bound(seg.records.begin(), seg.records.end(), offset,
                               [](const RecordEntry& e, uint32_t o) { return e.offset < o; });
    if (it != seg.records.end() && it->offset == offset && !(it->length & kDeadBit)) {
      it->length |= kDeadBit;
      seg.liveRecords--;
      seg.liveBytes -= format::paddedRecordBytes(it->length & ~kDeadBit);
    }
    if (table.at(r.releaser).pageSet != seg.pageSet) {
      report.corruptions.push_back(
          {r.address, "a release record of page set " + std::to_string(table.at(r.releaser).pageSet) +
                          " names a record of page set " + std::to_string(seg.pageSet)});
      continue;
    }
    if (r.releaser != s) table.addDependency(r.releaser, s);
  }
}

void Scanner::checkContinuity() {
  for (uint32_t t = 0; t < g.segmentCount; t++) {
    const Segment& seg = table.at(t);
    if (seg.state != format::kSegmentUsed || seg.quarantined || seg.prevSegment == 0) continue;
    uint32_t p = seg.prevSegment - 1;
    if (p >= g.segmentCount) continue;
    const Segment& prev = table.at(p);
    if (prev.state != format::kSegmentUsed || prev.quarantined ||
        prev.generation != seg.prevGeneration || prev.pageSet != seg.pageSet) {
      continue;  // the predecessor was freed since: nothing to compare
    }
    if (prev.lastChunkSeq != seg.prevLastChunkSeq) {
      report.corruptions.push_back(
          {g.segmentOffset(p) + prev.writeOffset,
           "segment " + std::to_string(p) + " of page set " + std::to_string(prev.pageSet) +
               " ends at chunk " + std::to_string(prev.lastChunkSeq) + " but segment " +
               std::to_string(t) + " was started after chunk " +
               std::to_string(seg.prevLastChunkSeq) + ": synced chunks are missing"});
    }
  }
}

void recoverLog(Device& device, SegmentTable& table, uint32_t uuidCrc, RecoveryReport& report) {
  auto started = std::chrono::steady_clock::now();
  const Geometry& g = table.geometry();
  Scanner scanner{device, table, g, uuidCrc, report, {}, {}, 0, 0};
  scanner.readDescriptors();
  AlignedBytes buffer = allocateAligned(g.segmentBytes);
  uint64_t recordFloor = 0;
  uint64_t chunkFloor = 0;
  std::vector<uint64_t> tailFirst(format::kPageSetCount, 0);
  for (uint32_t s = 0; s < g.segmentCount; s++) {
    Segment& seg = table.at(s);
    recordFloor = std::max(recordFloor, seg.recordSeqFloor);
    chunkFloor = std::max({chunkFloor, seg.chunkSeqFloor, seg.firstChunkSeq});
    if (seg.quarantined) continue;
    if (seg.state != format::kSegmentUsed) {
      table.addFree(s);
      report.freeSegments++;
      continue;
    }
    report.usedSegments++;
    scanner.scanSegment(s, buffer.get());
    if (table.tail(seg.pageSet) < 0 || seg.firstChunkSeq > tailFirst[seg.pageSet]) {
      table.setTail(seg.pageSet, int32_t(s));
      tailFirst[seg.pageSet] = seg.firstChunkSeq;
    }
  }
  scanner.resolveMoves();
  scanner.applyReleases();
  scanner.checkContinuity();
  // Torn tails matter only at a page set's tail; elsewhere the continuity check decides.
  std::erase_if(report.tornTails, [&](const TornTail& t) {
    uint32_t s = g.segmentOf(t.address);
    return table.tail(t.pageSet) != int32_t(s);
  });
  for (uint32_t s = 0; s < g.segmentCount; s++) {
    const Segment& seg = table.at(s);
    if (seg.state != format::kSegmentUsed || seg.quarantined) continue;
    report.liveRecords += seg.liveRecords;
    report.liveBytes += seg.liveBytes;
  }
  table.nextRecordSeq = std::max(recordFloor, scanner.maxSeq + 1);
  table.nextChunkSeq = std::max(chunkFloor, scanner.maxChunkSeq) + 1;
  if (table.nextRecordSeq == 0) table.nextRecordSeq = 1;
  report.nextRecordSeq = table.nextRecordSeq;
  report.nextChunkSeq = table.nextChunkSeq;
  report.scanMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                            started)
                      .count();
}

}  // namespace sanmq
