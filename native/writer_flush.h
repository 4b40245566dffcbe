// The writer's view of one flush, shared by the files that implement the writer (writer.cc:
// the group-commit loop; compaction.cc: moving live records; maintenance.cc: prefill and disk
// measurement). Not part of the addon's interface.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include "format.h"
#include "writer.h"

namespace sanmq {

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

inline uint32_t roundUpBlock(uint64_t bytes, uint32_t block) {
  return static_cast<uint32_t>((bytes + block - 1) / block * block);
}

inline double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}


struct Writer::Group {
  uint16_t pageSet = 0;
  uint32_t segment = 0;
  uint32_t start = 0;  // chunk offset in the segment
  uint32_t used = 0;   // record bytes after the header
  uint32_t records = 0;
  uint64_t chunkSeq = 0;
  int64_t sealed = -1;  // the previous tail, when this group opened a new segment
  std::vector<Piece> pieces;
  uint8_t header[format::kChunkHeaderBytes] = {};
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

}  // namespace sanmq
