// In-memory state of the log: one Segment per segment of the LUN (its descriptor as last
// written, where its data ends, which of its records are live, which older segments it keeps
// alive), the page sets' tail segments, the free lists and the LUN-wide sequence counters.
// The writer thread is its only mutator; readers take `mutex` for lookups.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "format.h"
#include "superblock.h"

namespace sanmq {

// A data record of a segment. Records are kept in offset order.
struct RecordEntry {
  uint32_t offset;  // within the segment
  uint32_t length;  // payload bytes; kDeadBit set once released or moved
  uint64_t seq;
};
inline constexpr uint32_t kDeadBit = 0x80000000u;
static_assert(format::kRecordBytesMax < kDeadBit);

struct Segment {
  // The descriptor (format::desc), as written or about to be written.
  uint32_t generation = 0;
  uint8_t state = format::kSegmentFree;
  uint8_t flags = 0;
  uint16_t pageSet = 0;
  uint64_t firstChunkSeq = 0;
  uint64_t prevLastChunkSeq = 0;
  uint32_t prevSegment = 0;  // index + 1, 0 = none
  uint32_t prevGeneration = 0;
  uint64_t recordSeqFloor = 0;
  uint64_t chunkSeqFloor = 0;

  uint32_t writeOffset = 0;  // end of the last valid chunk, a multiple of blockBytes
  uint64_t lastChunkSeq = 0;
  std::vector<RecordEntry> records;
  uint32_t liveRecords = 0;
  uint64_t liveBytes = 0;  // padded bytes of live records
  // Older segments of the same page set holding records that this one's release records or
  // moved copies supersede. Freeing this segment before them would bring those records back.
  std::vector<uint32_t> dependsOn;
  std::vector<uint32_t> dependents;
  // Records moved out by compaction: offset here -> address of the copy.
  std::unordered_map<uint32_t, uint64_t> forwarding;
  bool busy = false;        // being prefilled or used as benchmark scratch
  bool freeing = false;     // a FREE descriptor is on its way to the disk
  bool quarantined = false; // its descriptor is unreadable: never used, never scanned
};

struct DescriptorBlockState {
  uint32_t currentCopy = 0;  // the copy holding `version`
  uint64_t version = 0;
  bool dirty = false;
  // The other copy still holds the previous version: the next flush copies this one over it,
  // so that at rest both copies agree and damage to either loses nothing.
  bool mirrorPending = false;
};

// Where an address points, for readers and for release validation.
struct RecordLocation {
  uint32_t segment = 0;
  size_t entry = 0;
};

class SegmentTable {
 public:
  explicit SegmentTable(const Geometry& geometry);

  const Geometry& geometry() const { return geometry_; }
  std::mutex& mutex() { return mutex_; }

  std::vector<Segment>& segments() { return segments_; }
  std::vector<DescriptorBlockState>& blocks() { return blocks_; }
  Segment& at(uint32_t index) { return segments_[index]; }

  int32_t tail(uint16_t pageSet) const { return tails_[pageSet]; }
  void setTail(uint16_t pageSet, int32_t segment) { tails_[pageSet] = segment; }

  // Finds the record at `address`, following compaction's forwarding; nullopt-like false.
  bool locate(uint64_t address, RecordLocation* where, uint64_t* resolved) const;

  // Takes a free segment (prefilled ones first, lowest index first); -1 when none is free.
  int64_t takeFree();
  // Puts a segment on the free lists (its descriptor is FREE and durable).
  void addFree(uint32_t index);
  void removeFree(uint32_t index);
  // The lowest free segment that is not prefilled, or -1.
  int64_t nextToPrefill() const;
  size_t freeCount() const { return freePrefilled_.size() + freePlain_.size(); }
  size_t freePrefilledCount() const { return freePrefilled_.size(); }

  void markDirty(uint32_t segment) { blocks_[segment / geometry_.descriptorsPerBlock()].dirty = true; }

  // Encodes descriptor block `block` as copy `copy` with `version` into `out` (blockBytes).
  void encodeBlock(uint32_t block, uint32_t copy, uint64_t version, uint32_t uuidCrc,
                   uint8_t* out) const;
  // Decodes one copy; false when it is not a valid copy of `block`.
  bool decodeBlock(uint32_t block, uint32_t copy, uint32_t uuidCrc, const uint8_t* in,
                   uint64_t* version, std::vector<Segment>* into) const;

  // Adds a dependency of `later` on `earlier` (same page set, earlier still allocated).
  void addDependency(uint32_t later, uint32_t earlier);
  // True when the segment may be freed: used, sealed, nothing live, nothing depends on it.
  bool freeable(uint32_t index) const;

  uint64_t nextRecordSeq = 1;
  uint64_t nextChunkSeq = 1;

 private:
  const Geometry& geometry_;
  std::mutex mutex_;
  std::vector<Segment> segments_;
  std::vector<DescriptorBlockState> blocks_;
  std::vector<int32_t> tails_;
  std::set<uint32_t> freePrefilled_;
  std::set<uint32_t> freePlain_;
};

inline uint32_t paddedBytes(uint32_t payload) { return format::paddedRecordBytes(payload); }

// Free segments that appends of data may not take: release records and compaction, which
// make space, can still be written when a LUN is otherwise full. Small LUNs keep fewer.
inline uint32_t reserveSegments(uint32_t segmentCount) {
  return segmentCount / 4 < 2 ? segmentCount / 4 : 2;
}

}  // namespace sanmq
