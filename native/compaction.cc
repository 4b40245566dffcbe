// Compaction: moving the live records of sparse segments to their page set's tail so that the
// emptied segments can be freed. Moved copies keep their sequence number (their place in the
// page set's order) and supersede the originals; see docs/FORMAT.md, "Reclaiming space".
#include <algorithm>
#include <cstring>

#include "endian.h"
#include "errors.h"
#include "scan.h"
#include "writer_flush.h"

namespace sanmq {

using namespace format;

bool Writer::chooseVictims(Request* r) {
  double ratio = std::clamp(r->compact.liveRatioMax, 0.0, 0.9);
  std::vector<std::pair<double, uint32_t>> candidates;
  for (uint32_t s = 0; s < g_.segmentCount; s++) {
    const Segment& seg = table_.at(s);
    if (seg.state != kSegmentUsed || seg.quarantined || seg.freeing || seg.writeOffset == 0 ||
        seg.liveRecords == 0 || table_.tail(seg.pageSet) == int32_t(s)) {
      continue;
    }
    if (r->compact.pageSet >= 0 && seg.pageSet != r->compact.pageSet) continue;
    double live = double(seg.liveBytes) / double(seg.writeOffset);
    if (live <= ratio) candidates.emplace_back(live, s);
  }
  std::sort(candidates.begin(), candidates.end());
  for (size_t i = 0; i < candidates.size() && i < r->compact.segmentsMax; i++) {
    r->victims.push_back(candidates[i].second);
  }
  r->victimsChosen = true;
  return !r->victims.empty();
}

bool Writer::loadVictim(Request* r, uint32_t victim) {
  const Segment& seg = table_.at(victim);
  AlignedBytes data = allocateAligned(seg.writeOffset);
  device_.read(data.get(), seg.writeOffset, g_.segmentOffset(victim));
  for (const RecordEntry& e : seg.records) {
    if (e.length & kDeadBit) continue;
    uint64_t address = makeAddress(g_.segmentOffset(victim) + e.offset, seg.generation);
    if (seg.forwarding.count(e.offset)) continue;
    const uint8_t* bytes = data.get() + e.offset;
    // Never move damaged data: it would come out of the move with a fresh, valid checksum.
    if (!verifyRecord(g_, bytes, addressOffset(address), seg.pageSet, seg.generation,
                      seg.writeOffset - e.offset) ||
        load64(bytes + record::kSeq) != e.seq) {
      r->unreadable.push_back(address);
      continue;
    }
    auto item = std::make_unique<MoveItem>();
    item->from = address;
    item->victim = victim;
    item->length = e.length;
    item->bytes = paddedRecordBytes(e.length);
    item->seq = e.seq;
    item->record = std::make_unique<uint8_t[]>(item->bytes);
    std::memcpy(item->record.get(), bytes, item->bytes);
    r->moving.push_back(std::move(item));
  }
  return !r->moving.empty();
}

PlanOutcome Writer::planCompaction(Flush& f, Request* r) {
  if (!r->victimsChosen && !chooseVictims(r)) return PlanOutcome::Placed;
  while (r->victimIndex < r->victims.size()) {
    uint32_t victim = r->victims[r->victimIndex];
    const Segment& seg = table_.at(victim);
    uint16_t pageSet = seg.pageSet;
    if (r->moving.empty()) {
      if (seg.state != kSegmentUsed || seg.freeing || !loadVictim(r, victim)) {
        r->victimIndex++;
        continue;
      }
      // Records released earlier in this flush stay where they are: they are dead now.
      std::erase_if(r->moving, [&](const auto& m) { return f.pendingReleased.count(m->from); });
      if (r->moving.empty()) {
        r->victimIndex++;
        continue;
      }
    }
    if (f.isDeferred(pageSet)) return PlanOutcome::Deferred;
    // A deferred step may find some of its records released meanwhile: those stay put.
    std::erase_if(r->moving, [&](const auto& m) {
      RecordLocation where;
      uint64_t resolved;
      return !table_.locate(m->from, &where, &resolved) || resolved != m->from ||
             f.pendingReleased.count(m->from);
    });
    if (r->moving.empty()) {
      r->victimIndex++;
      continue;
    }
    uint32_t bytes = 0;
    for (const auto& m : r->moving) bytes += m->bytes;
    const char* error = nullptr;
    Group* group = groupFor(f, pageSet, bytes, true, &error);
    if (group == nullptr) {
      if (error) {
        r->errorCode = error;
        r->errorMessage = "compaction found no free segment to move live records into";
        r->moving.clear();
        return PlanOutcome::Failed;
      }
      f.deferred.push_back(pageSet);
      return PlanOutcome::Deferred;
    }
    const Segment& target = table_.at(group->segment);
    for (const auto& m : r->moving) {
      uint8_t* h = m->record.get();
      h[record::kFlags] = kRecordMoved;
      store32(h + record::kGeneration, target.generation);
      uint64_t address = g_.segmentOffset(group->segment) + group->start + kChunkHeaderBytes +
                         group->used;
      group->pieces.push_back({h, m->bytes, 1, address, false, false});
      group->used += m->bytes;
      group->records++;
      m->to = makeAddress(address, target.generation);
      f.moves.push_back({m.get(), group->segment});
      f.movingNow.insert(m->from);
    }
    r->victimIndex++;
    // One victim per flush keeps the bookkeeping simple; the request goes round again.
    f.compactions.push_back(r);
    return r->victimIndex >= r->victims.size() ? PlanOutcome::Placed : PlanOutcome::Continue;
  }
  return PlanOutcome::Placed;
}


}  // namespace sanmq
