// Superblock encoding and region layout. The layout is fixed at format time and never changes:
// superblock, slot table, descriptor table, log segments, backup superblock.
#include "superblock.h"

#include <sys/random.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "crc32c.h"
#include "endian.h"
#include "errors.h"

namespace sanmq {

namespace {

bool powerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

void requireArgument(bool ok, const std::string& message) {
  if (!ok) throw LunError(code::E_INVALID_ARGUMENT, message);
}

uint64_t roundUp(uint64_t v, uint64_t unit) { return (v + unit - 1) / unit * unit; }

}  // namespace

std::string Geometry::uuidString() const {
  char text[37];
  std::snprintf(text, sizeof text,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0],
                uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8], uuid[9],
                uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
  return text;
}

Geometry planGeometry(const GeometryRequest& r) {
  using namespace format;
  requireArgument(powerOfTwo(r.blockBytes) && r.blockBytes >= kBlockBytesMin &&
                      r.blockBytes <= kBlockBytesMax,
                  "blockBytes must be a power of two from 4096 to 65536");
  requireArgument(powerOfTwo(r.segmentBytes) && r.segmentBytes >= kSegmentBytesMin &&
                      r.segmentBytes <= kSegmentBytesMax && r.segmentBytes >= r.blockBytes,
                  "segmentBytes must be a power of two from 65536 to 67108864");
  requireArgument(r.lunBytes > 0 && r.lunBytes % r.blockBytes == 0,
                  "sizeBytes must be a positive multiple of blockBytes");
  requireArgument(r.lunBytes <= kLunBytesMax, "sizeBytes must be at most 2^48 (256 TiB)");
  requireArgument(r.casSlots <= kCasSlotsMax, "casSlots must be at most 65536");
  requireArgument(r.casSlotBytes >= kCasSlotBytesMin &&
                      r.casSlotBytes <= r.blockBytes - kSlotHeaderBytes,
                  "casSlotBytes must be from 64 to blockBytes - 32");
  requireArgument(r.label.size() < kLabelBytes, "label must be shorter than 64 bytes");

  Geometry g;
  g.lunBytes = r.lunBytes;
  g.blockBytes = r.blockBytes;
  g.segmentBytes = r.segmentBytes;
  g.casSlots = r.casSlots;
  g.casSlotBytes = r.casSlotBytes;
  g.slotCount = kInternalSlots + r.casSlots;
  g.label = r.label;
  g.slotRegion = r.blockBytes;
  g.descriptorRegion = g.slotRegion + uint64_t(g.slotCount) * 2 * r.blockBytes;
  uint64_t align = std::min<uint64_t>(r.segmentBytes, 1u << 20);
  uint64_t end = r.lunBytes - r.blockBytes;  // the backup superblock takes the last block
  // More segments need more descriptor blocks; shrink until the layout fits.
  uint64_t segments = end > g.descriptorRegion ? (end - g.descriptorRegion) / r.segmentBytes : 0;
  for (;;) {
    uint64_t blocks = (segments + g.descriptorsPerBlock() - 1) / g.descriptorsPerBlock();
    uint64_t log = roundUp(g.descriptorRegion + blocks * 2 * r.blockBytes, align);
    if (segments == 0 || log + segments * r.segmentBytes <= end) {
      g.descriptorBlocks = static_cast<uint32_t>(blocks);
      g.logRegion = log;
      break;
    }
    segments--;
  }
  if (segments < kSegmentsMin) {
    throw LunError(code::E_GEOMETRY,
                   "sizeBytes " + std::to_string(r.lunBytes) + " is too small: the LUN must " +
                       "hold at least 2 segments of " + std::to_string(r.segmentBytes) +
                       " bytes after its slot table");
  }
  SANMQ_ASSERT(segments <= UINT32_MAX);
  g.segmentCount = static_cast<uint32_t>(segments);
  SANMQ_ASSERT(g.logRegion % r.blockBytes == 0);
  g.backupOffset = r.lunBytes - r.blockBytes;
  SANMQ_ASSERT(g.segmentOffset(g.segmentCount) <= g.backupSuperblockOffset());
  return g;
}

void encodeSuperblock(const Geometry& g, uint32_t copy, uint8_t* b) {
  using namespace format;
  std::memset(b, 0, kSuperblockBytes);
  std::memcpy(b + sb::kMagic, kSuperblockMagic, 8);
  store32(b + sb::kVersion, kFormatVersion);
  store32(b + sb::kSize, kSuperblockBytes);
  std::memcpy(b + sb::kUuid, g.uuid, 16);
  store64(b + sb::kLunBytes, g.lunBytes);
  store32(b + sb::kBlockBytes, g.blockBytes);
  store32(b + sb::kSegmentBytes, g.segmentBytes);
  store32(b + sb::kSegmentCount, g.segmentCount);
  store32(b + sb::kSlotCount, g.slotCount);
  store32(b + sb::kCasSlots, g.casSlots);
  store32(b + sb::kCasSlotBytes, g.casSlotBytes);
  store64(b + sb::kSlotRegion, g.slotRegion);
  store64(b + sb::kDescriptorRegion, g.descriptorRegion);
  store32(b + sb::kDescriptorBlocks, g.descriptorBlocks);
  store32(b + sb::kCopy, copy);
  store64(b + sb::kLogRegion, g.logRegion);
  store64(b + sb::kCreatedAtMs, g.createdAtMs);
  store64(b + sb::kBackupOffset, g.backupOffset);
  std::memcpy(b + sb::kLabel, g.label.data(), g.label.size());
  store32(b + sb::kCrc, crc32c::mask(crc32c::value(b, sb::kCrc)));
}

SuperblockStatus decodeSuperblock(const uint8_t* b, Geometry* out, std::string* why) {
  using namespace format;
  if (std::memcmp(b + sb::kMagic, kSuperblockMagic, 8) != 0) {
    *why = "no sanmq superblock (magic SANMQLUN not found)";
    return SuperblockStatus::NotALun;
  }
  if (crc32c::unmask(load32(b + sb::kCrc)) != crc32c::value(b, sb::kCrc)) {
    *why = "superblock checksum mismatch";
    return SuperblockStatus::Checksum;
  }
  uint32_t version = load32(b + sb::kVersion);
  if (version != kFormatVersion) {
    *why = "format version " + std::to_string(version) + " (this build reads version " +
           std::to_string(kFormatVersion) + ")";
    return SuperblockStatus::BadVersion;
  }
  Geometry g;
  std::memcpy(g.uuid, b + sb::kUuid, 16);
  g.lunBytes = load64(b + sb::kLunBytes);
  g.blockBytes = load32(b + sb::kBlockBytes);
  g.segmentBytes = load32(b + sb::kSegmentBytes);
  g.segmentCount = load32(b + sb::kSegmentCount);
  g.slotCount = load32(b + sb::kSlotCount);
  g.casSlots = load32(b + sb::kCasSlots);
  g.casSlotBytes = load32(b + sb::kCasSlotBytes);
  g.slotRegion = load64(b + sb::kSlotRegion);
  g.descriptorRegion = load64(b + sb::kDescriptorRegion);
  g.descriptorBlocks = load32(b + sb::kDescriptorBlocks);
  g.logRegion = load64(b + sb::kLogRegion);
  g.createdAtMs = load64(b + sb::kCreatedAtMs);
  g.backupOffset = load64(b + sb::kBackupOffset);
  const char* label = reinterpret_cast<const char*>(b + sb::kLabel);
  g.label.assign(label, strnlen(label, kLabelBytes));
  // A checksum-valid superblock with an impossible layout is a bug or deliberate damage:
  // re-plan it from its own parameters and insist on the same answer.
  try {
    GeometryRequest request{g.lunBytes, g.blockBytes, g.segmentBytes, g.casSlots,
                            g.casSlotBytes, g.label};
    Geometry expected = planGeometry(request);
    bool same = expected.segmentCount == g.segmentCount && expected.slotCount == g.slotCount &&
                expected.logRegion == g.logRegion && expected.slotRegion == g.slotRegion &&
                expected.descriptorRegion == g.descriptorRegion &&
                expected.descriptorBlocks == g.descriptorBlocks;
    bool backupOk = g.backupOffset % g.blockBytes == 0 && g.backupOffset >= expected.backupOffset;
    if (!same || !backupOk) {
      *why = "superblock describes an inconsistent layout";
      return SuperblockStatus::Invalid;
    }
  } catch (const LunError& e) {
    *why = std::string("superblock holds invalid geometry: ") + e.what();
    return SuperblockStatus::Invalid;
  }
  *out = g;
  return SuperblockStatus::Valid;
}

uint32_t locationTag(uint32_t uuidCrc, uint64_t offset) {
  uint8_t bytes[8];
  store64(bytes, offset);
  return crc32c::extend(uuidCrc, bytes, 8);
}

void randomUuid(uint8_t out[16]) {
  size_t done = 0;
  while (done < 16) {
    ssize_t n = getrandom(out + done, 16 - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throwSystem("getrandom failed", errno);
    done += static_cast<size_t>(n);
  }
  out[6] = static_cast<uint8_t>((out[6] & 0x0f) | 0x40);  // RFC 4122 version 4
  out[8] = static_cast<uint8_t>((out[8] & 0x3f) | 0x80);
}

}  // namespace sanmq
