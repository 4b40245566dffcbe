// What opening a LUN found: the recovery report returned to JavaScript as `lun.recovery`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sanmq {

struct Corruption {
  uint64_t address;
  std::string reason;
};

struct TornTail {
  uint16_t pageSet;
  uint64_t address;
  uint32_t bytes;  // from the torn chunk to the end of its segment's scanned data
};

struct RecoveryReport {
  double scanMs = 0;
  uint64_t scannedBytes = 0;
  uint64_t chunks = 0;
  uint64_t dataRecords = 0;
  uint64_t releaseRecords = 0;
  uint64_t movedCopies = 0;
  uint64_t liveRecords = 0;
  uint64_t liveBytes = 0;
  uint32_t usedSegments = 0;
  uint32_t freeSegments = 0;
  uint32_t descriptorCopiesBehind = 0;  // damaged or one version behind; mirrored at open
  uint64_t nextRecordSeq = 0;
  uint64_t nextChunkSeq = 0;
  bool primarySuperblockValid = true;
  bool backupSuperblockValid = true;
  std::vector<Corruption> corruptions;
  std::vector<TornTail> tornTails;
};

}  // namespace sanmq
