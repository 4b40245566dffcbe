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

// Verifies one record: its checksum (seeded with the LUN's UUID and the record's address),
// page set, generation, kind and size. The writer's compaction re-verifies records with it
// before moving them, and reads verify with it before returning data.
bool verifyRecord(const Geometry& g, uint32_t uuidCrc, const uint8_t* record, uint64_t address,
                  uint16_t pageSet, uint32_t generation, uint32_t roomBytes);

}  // namespace sanmq
