// The on-disk format of a sanmq LUN, as constants. docs/FORMAT.md specifies it in prose with a
// worked example; this header mirrors that document field by field and is the single source of
// these numbers: the addon exports them to TypeScript (binding.constants), nothing retypes them.
// All multi-byte fields are little-endian. Every checksum but the superblock's (which is where
// the UUID comes from) covers the LUN's UUID and the structure's own byte offset, so data of
// another LUN or of another place fails it: slot copies, descriptor blocks and chunk headers
// are seeded with them; a record covers them after its payload and header (scan.h).
#pragma once

#include <cstdint>

namespace sanmq::format {

inline constexpr uint32_t kFormatVersion = 1;

// Geometry limits.
inline constexpr uint32_t kBlockBytesMin = 4096;
inline constexpr uint32_t kBlockBytesMax = 65536;
inline constexpr uint32_t kSegmentBytesMin = 65536;
inline constexpr uint32_t kSegmentBytesMax = 64u << 20;
inline constexpr uint32_t kSegmentBytesDefault = 4u << 20;
inline constexpr uint32_t kPageSetCount = 1024;  // page sets 0..1023; 0 holds the catalog
inline constexpr uint32_t kCasSlotsDefault = 256;
inline constexpr uint32_t kCasSlotsMax = 65536;
inline constexpr uint32_t kCasSlotBytesDefault = 256;
inline constexpr uint32_t kCasSlotBytesMin = 64;
inline constexpr uint32_t kInternalSlots = 4;  // 0: writer identity; 1..3 reserved
inline constexpr uint32_t kOwnerSlot = 0;
inline constexpr uint32_t kSegmentsMin = 2;
inline constexpr uint32_t kLabelBytes = 64;

// Superblock: two copies, at block 0 and at the last block of the file or device as it was
// formatted (for a LUN smaller than its block device, beyond the LUN's own bytes).
inline constexpr char kSuperblockMagic[8] = {'S', 'A', 'N', 'M', 'Q', 'L', 'U', 'N'};
inline constexpr uint32_t kSuperblockBytes = 256;
namespace sb {
inline constexpr uint32_t kMagic = 0;             // u8[8] "SANMQLUN"
inline constexpr uint32_t kVersion = 8;           // u32 format version
inline constexpr uint32_t kSize = 12;             // u32 superblock bytes (256)
inline constexpr uint32_t kUuid = 16;             // u8[16]
inline constexpr uint32_t kLunBytes = 32;         // u64 formatted size
inline constexpr uint32_t kBlockBytes = 40;       // u32
inline constexpr uint32_t kSegmentBytes = 44;     // u32
inline constexpr uint32_t kSegmentCount = 48;     // u32
inline constexpr uint32_t kSlotCount = 52;        // u32 internal + CAS slots
inline constexpr uint32_t kCasSlots = 56;         // u32
inline constexpr uint32_t kCasSlotBytes = 60;     // u32 value bytes of every slot
inline constexpr uint32_t kSlotRegion = 64;       // u64 byte offset
inline constexpr uint32_t kDescriptorRegion = 72; // u64 byte offset
inline constexpr uint32_t kDescriptorBlocks = 80; // u32
inline constexpr uint32_t kCopy = 84;             // u32 0 = primary, 1 = backup
inline constexpr uint32_t kLogRegion = 88;        // u64 byte offset
inline constexpr uint32_t kCreatedAtMs = 96;      // u64
inline constexpr uint32_t kLabel = 104;           // u8[64] UTF-8, NUL padded
inline constexpr uint32_t kBackupOffset = 168;    // u64 byte offset of the backup copy
inline constexpr uint32_t kCrc = 252;             // u32 masked CRC32C of bytes [0, 252)
}  // namespace sb
static_assert(sb::kLabel + kLabelBytes <= sb::kBackupOffset);
static_assert(sb::kBackupOffset + 8 <= sb::kCrc);
static_assert(sb::kCrc + 4 == kSuperblockBytes);
static_assert(kSuperblockBytes <= kBlockBytesMin);

// Slot copy: one block. Each slot has two copies written alternately; a reader takes the
// valid copy with the higher version, so a torn write leaves the previous image readable.
inline constexpr uint32_t kSlotMagic = 0x4c535153;  // "SQSL"
inline constexpr uint32_t kSlotHeaderBytes = 32;
namespace slot {
inline constexpr uint32_t kCrc = 0;         // u32 masked CRC32C(tag, bytes [4, block))
inline constexpr uint32_t kMagic = 4;       // u32 "SQSL"
inline constexpr uint32_t kIndex = 8;       // u32 slot index (internal slots first)
inline constexpr uint32_t kValueBytes = 12; // u32
inline constexpr uint32_t kVersion = 16;    // u64
inline constexpr uint32_t kValue = 32;      // value bytes, then zeros to the block's end
}  // namespace slot

// Descriptor block: one block holding descriptors of consecutive segments, also in two
// alternating copies with a version.
inline constexpr uint32_t kDescriptorMagic = 0x42445153;  // "SQDB"
inline constexpr uint32_t kDescriptorHeaderBytes = 64;
inline constexpr uint32_t kDescriptorBytes = 64;
namespace dblock {
inline constexpr uint32_t kCrc = 0;      // u32 masked CRC32C(tag, bytes [4, block))
inline constexpr uint32_t kMagic = 4;    // u32 "SQDB"
inline constexpr uint32_t kIndex = 8;    // u32 descriptor block index
inline constexpr uint32_t kCount = 12;   // u32 descriptors in this block
inline constexpr uint32_t kVersion = 16; // u64
}  // namespace dblock
namespace desc {
inline constexpr uint32_t kGeneration = 0;        // u32, +1 at every allocation
inline constexpr uint32_t kState = 4;             // u8 kSegmentFree / kSegmentUsed
inline constexpr uint32_t kFlags = 5;             // u8 kSegmentPrefilled
inline constexpr uint32_t kPageSet = 6;           // u16 owner while used
inline constexpr uint32_t kFirstChunkSeq = 8;     // u64 chunk sequence of its first chunk
inline constexpr uint32_t kPrevLastChunkSeq = 16; // u64 last chunk of the previous segment
inline constexpr uint32_t kPrevSegment = 24;      // u32 previous segment index + 1, 0 = none
inline constexpr uint32_t kPrevGeneration = 28;   // u32
inline constexpr uint32_t kRecordSeqFloor = 32;   // u64 next record sequence when written
inline constexpr uint32_t kChunkSeqFloor = 40;    // u64 next chunk sequence when written
}  // namespace desc
inline constexpr uint8_t kSegmentFree = 0;
inline constexpr uint8_t kSegmentUsed = 1;
inline constexpr uint8_t kSegmentPrefilled = 1;

// Chunk: what one flush writes for one page set, starting at a block boundary inside a
// segment and padded with zeros to the next block boundary. A chunk is valid only as a whole.
inline constexpr uint32_t kChunkMagic = 0x4b435153;  // "SQCK"
inline constexpr uint32_t kChunkHeaderBytes = 32;
namespace chunk {
inline constexpr uint32_t kCrc = 0;          // u32 masked CRC32C(tag, bytes [4, 32))
inline constexpr uint32_t kMagic = 4;        // u32 "SQCK"
inline constexpr uint32_t kPageSet = 8;      // u16
inline constexpr uint32_t kFlags = 10;       // u16, zero
inline constexpr uint32_t kGeneration = 12;  // u32 segment generation
inline constexpr uint32_t kChunkSeq = 16;    // u64, LUN-wide, +1 per chunk
inline constexpr uint32_t kRecordCount = 24; // u32
inline constexpr uint32_t kChunkBytes = 28;  // u32 header + records, without padding
}  // namespace chunk

// Record: a header and a payload, padded with zeros to a multiple of 8 bytes.
inline constexpr uint32_t kRecordHeaderBytes = 24;
inline constexpr uint32_t kRecordAlign = 8;
namespace record {
inline constexpr uint32_t kCrc = 0;         // u32 masked CRC32C(payload, [4, 24), uuid, offset)
inline constexpr uint32_t kLength = 4;      // u32 payload bytes
inline constexpr uint32_t kSeq = 8;         // u64, LUN-wide record sequence
inline constexpr uint32_t kKind = 16;       // u8 kRecordData / kRecordRelease
inline constexpr uint32_t kFlags = 17;      // u8 kRecordMoved
inline constexpr uint32_t kPageSet = 18;    // u16
inline constexpr uint32_t kGeneration = 20; // u32 segment generation
}  // namespace record
inline constexpr uint8_t kRecordData = 1;
inline constexpr uint8_t kRecordRelease = 2;
inline constexpr uint8_t kRecordMoved = 1;
inline constexpr uint32_t kRecordBytesMax = 16u << 20;
// A release record's payload: one entry per released record.
inline constexpr uint32_t kReleaseEntryBytes = 16;  // u64 offset, u32 generation, u32 zero
inline constexpr uint32_t kAppendRecordsMax = 4096;
inline constexpr uint32_t kAppendReleasesMax = 4096;

static_assert(kChunkHeaderBytes % kRecordAlign == 0);
static_assert(kRecordHeaderBytes % kRecordAlign == 0);
static_assert(kDescriptorHeaderBytes + kDescriptorBytes <= kBlockBytesMin);
static_assert(kSlotHeaderBytes + kCasSlotBytesMin <= kBlockBytesMin);
static_assert(kSegmentBytesMin % kBlockBytesMax == 0);

// Addresses handed to callers: the record's byte offset on the LUN in the low 48 bits, and
// the low 5 bits of its segment's generation above them. A stale address (its record released
// and the space reused) then no longer names a record, instead of naming another one.
inline constexpr uint32_t kAddressOffsetBits = 48;
inline constexpr uint32_t kAddressTagBits = 5;
inline constexpr uint64_t kLunBytesMax = uint64_t(1) << kAddressOffsetBits;
static_assert(kAddressOffsetBits + kAddressTagBits <= 53, "addresses must be exact doubles");

inline constexpr uint64_t makeAddress(uint64_t offset, uint32_t generation) {
  return offset | (uint64_t(generation & ((1u << kAddressTagBits) - 1)) << kAddressOffsetBits);
}
inline constexpr uint64_t addressOffset(uint64_t address) {
  return address & (kLunBytesMax - 1);
}
inline constexpr uint32_t addressTag(uint64_t address) {
  return uint32_t(address >> kAddressOffsetBits);
}
inline constexpr bool addressTagMatches(uint64_t address, uint32_t generation) {
  return addressTag(address) == (generation & ((1u << kAddressTagBits) - 1));
}

inline constexpr uint32_t descriptorsPerBlock(uint32_t blockBytes) {
  return (blockBytes - kDescriptorHeaderBytes) / kDescriptorBytes;
}
inline constexpr uint32_t paddedRecordBytes(uint32_t payloadBytes) {
  return (kRecordHeaderBytes + payloadBytes + kRecordAlign - 1) & ~(kRecordAlign - 1);
}

}  // namespace sanmq::format
