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

// Parses the chunk at `position` of a segment buffer. Exposed for the writer's compaction,
// which re-verifies records before moving them.
bool verifyRecord(const Geometry& g, uint32_t uuidCrc, const uint8_t* record, uint64_t address,
                  uint16_t pageSet, uint32_t generation, uint32_t roomBytes);

}  // namespace sanmq
