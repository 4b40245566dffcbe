// The slot table: small fixed-size records updated only by compare-and-swap, atomic across
// threads and processes that open the LUN (each open() has its own open file description, so
// open-file-description locks exclude them), and crash-safe: every slot has two copies written
// alternately, so after any crash it reads as its before-image or its after-image.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "device.h"
#include "superblock.h"

namespace sanmq {

class SlotTable {
 public:
  SlotTable(Device& device, const Geometry& geometry, uint32_t uuidCrc, uint32_t lockTimeoutMs);

  // Physical slot numbers: internal slots first, then the CAS slots users see.
  std::vector<uint8_t> read(uint32_t slot);
  // Replaces the value with `after` if it equals `before` (both casSlotBytes long); durable
  // (fdatasync) before it returns true.
  bool compareAndSwap(uint32_t slot, const uint8_t* before, const uint8_t* after);
  // Unconditional durable write (internal slots only).
  void store(uint32_t slot, const uint8_t* value, size_t length);
  // Writes both copies of a fresh slot: version 1 of all-zero value and an empty version 0.
  static void initialize(Device& device, const Geometry& g, uint32_t uuidCrc, uint32_t slot,
                         uint8_t* scratch);

 private:
  struct Current {
    uint32_t copy;     // which copy holds the current image
    uint64_t version;
  };
  Current decodeCurrent(uint32_t slot, const uint8_t* blocks) const;
  void writeCopy(uint32_t slot, uint32_t copy, uint64_t version, const uint8_t* value,
                 size_t length);
  void lockSlot(uint32_t slot, bool exclusive);

  Device& device_;
  const Geometry& geometry_;
  uint32_t uuidCrc_;
  uint32_t lockTimeoutMs_;
  std::vector<std::mutex> mutexes_;  // exclusion between threads sharing this open()
  AlignedBytes scratch_;
};

// Encodes one slot copy into a whole block.
void encodeSlotCopy(const Geometry& g, uint32_t uuidCrc, uint32_t slot, uint32_t copy,
                    uint64_t version, const uint8_t* value, size_t length, uint8_t* block);
// True when the block holds a valid copy of `slot`; sets version and value pointer.
bool decodeSlotCopy(const Geometry& g, uint32_t uuidCrc, uint32_t slot, uint32_t copy,
                    const uint8_t* block, uint64_t* version, const uint8_t** value);

}  // namespace sanmq
