// Geometry of a formatted LUN and its superblock: where each region lies, how it is encoded,
// and how a superblock is classified when it is read back.
#pragma once

#include <cstdint>
#include <string>

#include "format.h"

namespace sanmq {

struct Geometry {
  uint8_t uuid[16] = {};
  uint64_t lunBytes = 0;
  uint32_t blockBytes = 0;
  uint32_t segmentBytes = 0;
  uint32_t segmentCount = 0;
  uint32_t slotCount = 0;  // internal slots + CAS slots
  uint32_t casSlots = 0;
  uint32_t casSlotBytes = 0;
  uint32_t descriptorBlocks = 0;
  uint64_t slotRegion = 0;
  uint64_t descriptorRegion = 0;
  uint64_t logRegion = 0;
  uint64_t createdAtMs = 0;
  uint64_t backupOffset = 0;  // where the backup superblock lies: the last block formatted
  std::string label;

  uint32_t descriptorsPerBlock() const { return format::descriptorsPerBlock(blockBytes); }
  uint64_t slotOffset(uint32_t slot, uint32_t copy) const {
    return slotRegion + (uint64_t(slot) * 2 + copy) * blockBytes;
  }
  uint64_t descriptorBlockOffset(uint32_t block, uint32_t copy) const {
    return descriptorRegion + (uint64_t(block) * 2 + copy) * blockBytes;
  }
  uint64_t segmentOffset(uint32_t segment) const {
    return logRegion + uint64_t(segment) * segmentBytes;
  }
  uint64_t backupSuperblockOffset() const { return backupOffset; }
  // The segment that holds byte `offset` of the LUN, or segmentCount when none does.
  uint32_t segmentOf(uint64_t offset) const {
    if (offset < logRegion) return segmentCount;
    uint64_t s = (offset - logRegion) / segmentBytes;
    return s < segmentCount ? static_cast<uint32_t>(s) : segmentCount;
  }
  std::string uuidString() const;
};

struct GeometryRequest {
  uint64_t lunBytes = 0;
  uint32_t blockBytes = 4096;
  uint32_t segmentBytes = format::kSegmentBytesDefault;
  uint32_t casSlots = format::kCasSlotsDefault;
  uint32_t casSlotBytes = format::kCasSlotBytesDefault;
  std::string label;
};

// Lays out the regions for a LUN of the requested size; throws E_INVALID_ARGUMENT for a bad
// parameter and E_GEOMETRY when the LUN is too small to hold two segments.
Geometry planGeometry(const GeometryRequest& request);

// Writes the 256-byte superblock into the first bytes of `block` (the rest is left alone).
void encodeSuperblock(const Geometry& g, uint32_t copy, uint8_t* block);

enum class SuperblockStatus { Valid, NotALun, BadVersion, Checksum, Invalid };

// Classifies and decodes a superblock; `why` explains anything but Valid.
SuperblockStatus decodeSuperblock(const uint8_t* block, Geometry* out, std::string* why);

// The CRC32C seed of a structure: the LUN's UUID, then the structure's byte offset.
uint32_t locationTag(uint32_t uuidCrc, uint64_t offset);

void randomUuid(uint8_t out[16]);

}  // namespace sanmq
