// SegmentTable: descriptor encoding, free lists, record lookup and the dependency rule that
// keeps freeing in a safe order (see docs/FORMAT.md, "Reclaiming space").
#include "segments.h"

#include <algorithm>
#include <cstring>

#include "crc32c.h"
#include "endian.h"
#include "errors.h"

namespace sanmq {

SegmentTable::SegmentTable(const Geometry& geometry)
    : geometry_(geometry),
      segments_(geometry.segmentCount),
      blocks_(geometry.descriptorBlocks),
      tails_(format::kPageSetCount, -1) {}

bool SegmentTable::locate(uint64_t address, RecordLocation* where, uint64_t* resolved) const {
  // A record moved by compaction is found through its old segment's forwarding entry; moved
  // again, through the next one. Chains are short; the bound only guards against a bug.
  for (int hop = 0; hop < 8; hop++) {
    uint64_t at = format::addressOffset(address);
    uint32_t s = geometry_.segmentOf(at);
    if (s >= geometry_.segmentCount) return false;
    const Segment& seg = segments_[s];
    if (seg.state != format::kSegmentUsed || seg.quarantined) return false;
    if (!format::addressTagMatches(address, seg.generation)) return false;
    uint32_t offset = static_cast<uint32_t>(at - geometry_.segmentOffset(s));
    auto it = std::lower_bound(seg.records.begin(), seg.records.end(), offset,
                               [](const RecordEntry& e, uint32_t o) { return e.offset < o; });
    if (it == seg.records.end() || it->offset != offset) return false;
    if (it->length & kDeadBit) {
      auto forward = seg.forwarding.find(offset);
      if (forward == seg.forwarding.end()) return false;
      address = forward->second;
      continue;
    }
    where->segment = s;
    where->entry = static_cast<size_t>(it - seg.records.begin());
    *resolved = address;
    return true;
  }
  return false;
}

int64_t SegmentTable::takeFree() {
  for (std::set<uint32_t>* list : {&freePrefilled_, &freePlain_}) {
    for (auto it = list->begin(); it != list->end(); ++it) {
      const Segment& seg = segments_[*it];
      if (seg.busy) continue;
      uint32_t index = *it;
      list->erase(it);
      return index;
    }
  }
  return -1;
}

void SegmentTable::addFree(uint32_t index) {
  const Segment& seg = segments_[index];
  SANMQ_ASSERT(seg.state == format::kSegmentFree && !seg.quarantined);
  if (seg.flags & format::kSegmentPrefilled) {
    freePrefilled_.insert(index);
  } else {
    freePlain_.insert(index);
  }
}

void SegmentTable::removeFree(uint32_t index) {
  freePrefilled_.erase(index);
  freePlain_.erase(index);
}

int64_t SegmentTable::nextToPrefill() const {
  for (uint32_t index : freePlain_) {
    if (!segments_[index].busy) return index;
  }
  return -1;
}

void SegmentTable::encodeBlock(uint32_t block, uint32_t copy, uint64_t version,
                               uint32_t uuidCrc, uint8_t* out) const {
  using namespace format;
  uint32_t perBlock = geometry_.descriptorsPerBlock();
  uint32_t first = block * perBlock;
  uint32_t count = std::min(perBlock, geometry_.segmentCount - first);
  std::memset(out, 0, geometry_.blockBytes);
  store32(out + dblock::kMagic, kDescriptorMagic);
  store32(out + dblock::kIndex, block);
  store32(out + dblock::kCount, count);
  store64(out + dblock::kVersion, version);
  for (uint32_t i = 0; i < count; i++) {
    const Segment& s = segments_[first + i];
    uint8_t* d = out + kDescriptorHeaderBytes + i * kDescriptorBytes;
    store32(d + desc::kGeneration, s.generation);
    d[desc::kState] = s.state;
    d[desc::kFlags] = s.flags;
    store16(d + desc::kPageSet, s.pageSet);
    store64(d + desc::kFirstChunkSeq, s.firstChunkSeq);
    store64(d + desc::kPrevLastChunkSeq, s.prevLastChunkSeq);
    store32(d + desc::kPrevSegment, s.prevSegment);
    store32(d + desc::kPrevGeneration, s.prevGeneration);
    store64(d + desc::kRecordSeqFloor, s.recordSeqFloor);
    store64(d + desc::kChunkSeqFloor, s.chunkSeqFloor);
  }
  uint32_t crc = locationTag(uuidCrc, geometry_.descriptorBlockOffset(block, copy));
  crc = crc32c::extend(crc, out + 4, geometry_.blockBytes - 4);
  store32(out + dblock::kCrc, crc32c::mask(crc));
}

bool SegmentTable::decodeBlock(uint32_t block, uint32_t copy, uint32_t uuidCrc,
                               const uint8_t* in, uint64_t* version,
                               std::vector<Segment>* into) const {
  using namespace format;
  if (load32(in + dblock::kMagic) != kDescriptorMagic) return false;
  uint32_t crc = locationTag(uuidCrc, geometry_.descriptorBlockOffset(block, copy));
  crc = crc32c::extend(crc, in + 4, geometry_.blockBytes - 4);
  if (crc32c::unmask(load32(in + dblock::kCrc)) != crc) return false;
  uint32_t perBlock = geometry_.descriptorsPerBlock();
  uint32_t first = block * perBlock;
  uint32_t count = std::min(perBlock, geometry_.segmentCount - first);
  SANMQ_ASSERT(load32(in + dblock::kIndex) == block);
  SANMQ_ASSERT(load32(in + dblock::kCount) == count);
  *version = load64(in + dblock::kVersion);
  // A checksum-valid block with impossible fields is rejected before anything is taken from it.
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* d = in + kDescriptorHeaderBytes + i * kDescriptorBytes;
    if (d[desc::kState] != kSegmentFree && d[desc::kState] != kSegmentUsed) return false;
    if (load16(d + desc::kPageSet) >= kPageSetCount) return false;
  }
  if (into == nullptr) return true;
  for (uint32_t i = 0; i < count; i++) {
    Segment& s = (*into)[first + i];
    const uint8_t* d = in + kDescriptorHeaderBytes + i * kDescriptorBytes;
    s.generation = load32(d + desc::kGeneration);
    s.state = d[desc::kState];
    s.flags = d[desc::kFlags];
    s.pageSet = load16(d + desc::kPageSet);
    s.firstChunkSeq = load64(d + desc::kFirstChunkSeq);
    s.prevLastChunkSeq = load64(d + desc::kPrevLastChunkSeq);
    s.prevSegment = load32(d + desc::kPrevSegment);
    s.prevGeneration = load32(d + desc::kPrevGeneration);
    s.recordSeqFloor = load64(d + desc::kRecordSeqFloor);
    s.chunkSeqFloor = load64(d + desc::kChunkSeqFloor);
  }
  return true;
}

void SegmentTable::addDependency(uint32_t later, uint32_t earlier) {
  SANMQ_ASSERT(later != earlier);
  Segment& l = segments_[later];
  Segment& e = segments_[earlier];
  SANMQ_ASSERT(l.pageSet == e.pageSet);
  SANMQ_ASSERT(e.state == format::kSegmentUsed);
  if (std::find(l.dependsOn.begin(), l.dependsOn.end(), earlier) != l.dependsOn.end()) return;
  l.dependsOn.push_back(earlier);
  e.dependents.push_back(later);
}

bool SegmentTable::freeable(uint32_t index) const {
  const Segment& s = segments_[index];
  return s.state == format::kSegmentUsed && !s.freeing && !s.quarantined &&
         s.liveRecords == 0 && s.dependsOn.empty() && tails_[s.pageSet] != int32_t(index);
}

}  // namespace sanmq
