// Recovery: rebuilds the SegmentTable from the descriptor table and the chunks on the LUN,
// verifying every checksum on the way.
#pragma once

#include "device.h"
#include "report.h"
#include "segments.h"

namespace sanmq {

// Reads descriptors and scans every used segment. Damage is added to report.corruptions and
// never taken for data; torn tails are dropped and listed in report.tornTails.
void recoverLog(Device& device, SegmentTable& table, uint32_t uuidCrc, RecoveryReport& report);

// The checksum of a record, unmasked: CRC32C over its payload, then header bytes [4, 24),
// then the LUN's UUID and the record's address (u64). The payload comes first so that the
// thread submitting an append can checksum the payload while it copies it, and the writer
// thread only finishes with the 44 bytes that depend on where the record is placed.
uint32_t recordChecksum(const Geometry& g, uint32_t payloadCrc, const uint8_t* header,
                        uint64_t address);

// Verifies one record: its checksum (recordChecksum: payload, header, UUID, byte offset), page
// set, generation, kind and size. Reads verify with it before returning data, and the writer's
// compaction before moving a record. `address` is the record's byte offset, without the tag.
bool verifyRecord(const Geometry& g, const uint8_t* record, uint64_t address, uint16_t pageSet,
                  uint32_t generation, uint32_t roomBytes);

}  // namespace sanmq
