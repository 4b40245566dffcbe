// Slot table: see slots.h. Each compare-and-swap holds the slot's byte-range lock from the read
// of the current image to the fdatasync of the new one, so no two writers interleave and no
// reader (which takes a shared lock) sees an image that is not yet durable.
#include "slots.h"

#include <chrono>
#include <cstring>
#include <thread>

#include "crc32c.h"
#include "endian.h"
#include "errors.h"

namespace sanmq {

void encodeSlotCopy(const Geometry& g, uint32_t uuidCrc, uint32_t slot, uint32_t copy,
                    uint64_t version, const uint8_t* value, size_t length, uint8_t* block) {
  using namespace format;
  SANMQ_ASSERT(length <= g.casSlotBytes);
  std::memset(block, 0, g.blockBytes);
  store32(block + slot::kMagic, kSlotMagic);
  store32(block + slot::kIndex, slot);
  store32(block + slot::kValueBytes, g.casSlotBytes);
  store64(block + slot::kVersion, version);
  if (length) std::memcpy(block + slot::kValue, value, length);
  uint32_t crc = locationTag(uuidCrc, g.slotOffset(slot, copy));
  crc = crc32c::extend(crc, block + 4, g.blockBytes - 4);
  store32(block + slot::kCrc, crc32c::mask(crc));
}

bool decodeSlotCopy(const Geometry& g, uint32_t uuidCrc, uint32_t slot, uint32_t copy,
                    const uint8_t* block, uint64_t* version, const uint8_t** value) {
  using namespace format;
  if (load32(block + slot::kMagic) != kSlotMagic) return false;
  uint32_t crc = locationTag(uuidCrc, g.slotOffset(slot, copy));
  crc = crc32c::extend(crc, block + 4, g.blockBytes - 4);
  if (crc32c::unmask(load32(block + slot::kCrc)) != crc) return false;
  // The checksum covers index and size, so these can only differ through our own bug.
  SANMQ_ASSERT(load32(block + slot::kIndex) == slot);
  SANMQ_ASSERT(load32(block + slot::kValueBytes) == g.casSlotBytes);
  *version = load64(block + slot::kVersion);
  *value = block + slot::kValue;
  return true;
}

SlotTable::SlotTable(Device& device, const Geometry& geometry, uint32_t uuidCrc,
                     uint32_t lockTimeoutMs)
    : device_(device),
      geometry_(geometry),
      uuidCrc_(uuidCrc),
      lockTimeoutMs_(lockTimeoutMs),
      mutexes_(geometry.slotCount) {}

void SlotTable::initialize(Device& device, const Geometry& g, uint32_t uuidCrc, uint32_t slot,
                           uint8_t* scratch) {
  encodeSlotCopy(g, uuidCrc, slot, 0, 1, nullptr, 0, scratch);
  encodeSlotCopy(g, uuidCrc, slot, 1, 0, nullptr, 0, scratch + g.blockBytes);
  device.write(scratch, 2 * size_t(g.blockBytes), g.slotOffset(slot, 0));
}

SlotTable::Current SlotTable::decodeCurrent(uint32_t slot, const uint8_t* blocks) const {
  uint64_t versions[2] = {0, 0};
  bool valid[2];
  for (uint32_t copy = 0; copy < 2; copy++) {
    const uint8_t* value;
    valid[copy] = decodeSlotCopy(geometry_, uuidCrc_, slot, copy,
                                 blocks + size_t(copy) * geometry_.blockBytes, &versions[copy],
                                 &value);
  }
  if (!valid[0] && !valid[1]) {
    throw LunError(code::E_CHECKSUM,
                   "slot " + std::to_string(slot) + ": both copies fail their checksum (at " +
                       std::to_string(geometry_.slotOffset(slot, 0)) + " and " +
                       std::to_string(geometry_.slotOffset(slot, 1)) + ")");
  }
  if (valid[0] && (!valid[1] || versions[0] > versions[1])) return {0, versions[0]};
  return {1, versions[1]};
}

void SlotTable::lockSlot(uint32_t slot, bool exclusive) {
  // Poll rather than block in F_OFD_SETLKW so the wait is bounded: a holder that is stopped
  // (not dead: a dead holder's lock vanishes) must not hang this thread forever.
  uint64_t start = geometry_.slotOffset(slot, 0);
  uint64_t length = 2 * uint64_t(geometry_.blockBytes);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(lockTimeoutMs_);
  auto pause = std::chrono::microseconds(10);
  while (!device_.lock(start, length, exclusive, false)) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw LunError(code::E_BUSY, "slot " + std::to_string(slot) + " stayed locked by " +
                                       "another opener for " + std::to_string(lockTimeoutMs_) +
                                       " ms");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(500));
  }
}

std::vector<uint8_t> SlotTable::read(uint32_t slot) {
  SANMQ_ASSERT(slot < geometry_.slotCount);
  std::lock_guard<std::mutex> guard(mutexes_[slot]);
  AlignedBytes blocks = allocateAligned(2 * size_t(geometry_.blockBytes));
  lockSlot(slot, false);
  try {
    device_.read(blocks.get(), 2 * size_t(geometry_.blockBytes), geometry_.slotOffset(slot, 0));
  } catch (...) {
    device_.unlock(geometry_.slotOffset(slot, 0), 2 * uint64_t(geometry_.blockBytes));
    throw;
  }
  device_.unlock(geometry_.slotOffset(slot, 0), 2 * uint64_t(geometry_.blockBytes));
  Current current = decodeCurrent(slot, blocks.get());
  const uint8_t* value = blocks.get() + size_t(current.copy) * geometry_.blockBytes +
                         format::slot::kValue;
  return std::vector<uint8_t>(value, value + geometry_.casSlotBytes);
}

void SlotTable::writeCopy(uint32_t slot, uint32_t copy, uint64_t version, const uint8_t* value,
                          size_t length) {
  AlignedBytes block = allocateAligned(geometry_.blockBytes);
  encodeSlotCopy(geometry_, uuidCrc_, slot, copy, version, value, length, block.get());
  device_.write(block.get(), geometry_.blockBytes, geometry_.slotOffset(slot, copy));
  device_.sync();
}

bool SlotTable::compareAndSwap(uint32_t slot, const uint8_t* before, const uint8_t* after) {
  SANMQ_ASSERT(slot < geometry_.slotCount);
  std::lock_guard<std::mutex> guard(mutexes_[slot]);
  size_t bytes = 2 * size_t(geometry_.blockBytes);
  AlignedBytes blocks = allocateAligned(bytes);
  lockSlot(slot, true);
  bool swapped = false;
  try {
    device_.read(blocks.get(), bytes, geometry_.slotOffset(slot, 0));
    Current current = decodeCurrent(slot, blocks.get());
    const uint8_t* value = blocks.get() + size_t(current.copy) * geometry_.blockBytes +
                           format::slot::kValue;
    if (std::memcmp(value, before, geometry_.casSlotBytes) == 0) {
      // The other copy may be older or torn; either way it is the one to overwrite.
      writeCopy(slot, 1 - current.copy, current.version + 1, after, geometry_.casSlotBytes);
      swapped = true;
    }
  } catch (...) {
    device_.unlock(geometry_.slotOffset(slot, 0), bytes);
    throw;
  }
  device_.unlock(geometry_.slotOffset(slot, 0), bytes);
  return swapped;
}

void SlotTable::store(uint32_t slot, const uint8_t* value, size_t length) {
  SANMQ_ASSERT(slot < format::kInternalSlots);
  std::lock_guard<std::mutex> guard(mutexes_[slot]);
  size_t bytes = 2 * size_t(geometry_.blockBytes);
  AlignedBytes blocks = allocateAligned(bytes);
  lockSlot(slot, true);
  try {
    device_.read(blocks.get(), bytes, geometry_.slotOffset(slot, 0));
    Current current = decodeCurrent(slot, blocks.get());
    writeCopy(slot, 1 - current.copy, current.version + 1, value, length);
  } catch (...) {
    device_.unlock(geometry_.slotOffset(slot, 0), bytes);
    throw;
  }
  device_.unlock(geometry_.slotOffset(slot, 0), bytes);
}

}  // namespace sanmq
