// Format and open. Formatting refuses anything that already holds data unless forced, lays
// out the regions, and writes the superblocks last so that a crash while formatting never
// leaves something that opens as a LUN. Opening takes the writer lock (or a reader's lock),
// validates both superblocks, and recovers the log.
#include "lun.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>

#include "crc32c.h"
#include "endian.h"
#include "errors.h"
#include "scan.h"

namespace sanmq {

void assertFailed(const char* expr, const char* file, int line) {
  throw LunError(code::E_INTERNAL, std::string("internal assertion failed: ") + expr + " at " +
                                       file + ":" + std::to_string(line));
}

namespace {

using namespace format;

constexpr uint64_t kWriterLockByte = 0;  // byte 0 of the LUN: held while a writer is open
constexpr uint32_t kOwnerHostBytes = 48;

uint64_t nowMs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

// The owner slot names the writer that holds the LUN, for E_LUN_BUSY messages.
std::vector<uint8_t> ownerRecord(uint32_t slotBytes) {
  std::vector<uint8_t> value(slotBytes, 0);
  store32(value.data(), uint32_t(getpid()));
  store32(value.data() + 4, 1);
  store64(value.data() + 8, nowMs());
  char host[kOwnerHostBytes] = {};
  gethostname(host, sizeof host - 1);
  std::memcpy(value.data() + 16, host, kOwnerHostBytes);
  return value;
}

std::string describeOwner(const std::vector<uint8_t>& value) {
  if (value.size() < 16 + kOwnerHostBytes || load32(value.data() + 4) != 1) {
    return "another writer";
  }
  char host[kOwnerHostBytes + 1] = {};
  std::memcpy(host, value.data() + 16, kOwnerHostBytes);
  time_t since = time_t(load64(value.data() + 8) / 1000);
  struct tm utc;
  char when[32] = "an unknown time";
  if (gmtime_r(&since, &utc)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return "pid " + std::to_string(load32(value.data())) + " on " + host + " (open since " +
         when + ")";
}

void writeSlotTable(FileDevice& device, const Geometry& g, uint32_t uuidCrc) {
  const uint32_t batch = 64;
  AlignedBytes buffer = allocateAligned(size_t(batch) * 2 * g.blockBytes);
  for (uint32_t first = 0; first < g.slotCount; first += batch) {
    uint32_t count = std::min(batch, g.slotCount - first);
    for (uint32_t i = 0; i < count; i++) {
      uint8_t* out = buffer.get() + size_t(i) * 2 * g.blockBytes;
      encodeSlotCopy(g, uuidCrc, first + i, 0, 1, nullptr, 0, out);
      encodeSlotCopy(g, uuidCrc, first + i, 1, 0, nullptr, 0, out + g.blockBytes);
    }
    device.write(buffer.get(), size_t(count) * 2 * g.blockBytes, g.slotOffset(first, 0));
  }
}

void writeDescriptorTable(FileDevice& device, const Geometry& g, uint32_t uuidCrc,
                          bool prefilled) {
  SegmentTable table(g);
  for (Segment& s : table.segments()) s.flags = prefilled ? kSegmentPrefilled : 0;
  AlignedBytes buffer = allocateAligned(2 * size_t(g.blockBytes));
  for (uint32_t b = 0; b < g.descriptorBlocks; b++) {
    table.encodeBlock(b, 0, 1, uuidCrc, buffer.get());
    table.encodeBlock(b, 1, 1, uuidCrc, buffer.get() + g.blockBytes);
    device.write(buffer.get(), 2 * size_t(g.blockBytes), g.descriptorBlockOffset(b, 0));
  }
}

Geometry formatDevice(const std::string& path, const FormatOptions& options);

}  // namespace

Geometry formatLun(const std::string& path, const FormatOptions& options) {
  struct stat before;
  bool created = ::stat(path.c_str(), &before) != 0 && errno == ENOENT;
  try {
    return formatDevice(path, options);
  } catch (...) {
    // A refused or failed format leaves no file behind that was not there before.
    if (created) ::unlink(path.c_str());
    throw;
  }
}

namespace {

Geometry formatDevice(const std::string& path, const FormatOptions& options) {
  DeviceOptions deviceOptions;
  deviceOptions.direct = options.direct;
  deviceOptions.create = true;
  FileDevice device(path, deviceOptions);
  if (!device.lock(kWriterLockByte, 1, true, false)) {
    throw LunError(code::E_LUN_BUSY, path + " is open by a writer or reader; close it first");
  }
  GeometryRequest request = options.geometry;
  if (request.lunBytes == 0) request.lunBytes = device.info().sizeBytes;
  if (request.lunBytes == 0) {
    throw LunError(code::E_INVALID_ARGUMENT,
                   "options.sizeBytes is required to format a new or empty file");
  }
  if (device.info().blockDevice && request.lunBytes > device.info().sizeBytes) {
    throw LunError(code::E_GEOMETRY, path + " holds " + std::to_string(device.info().sizeBytes) +
                                         " bytes, fewer than sizeBytes " +
                                         std::to_string(request.lunBytes));
  }
  if (request.blockBytes % device.info().logicalSector != 0) {
    throw LunError(code::E_GEOMETRY, "blockBytes " + std::to_string(request.blockBytes) +
                                         " is not a multiple of the device's sector size " +
                                         std::to_string(device.info().logicalSector));
  }
  Geometry g = planGeometry(request);
  if (!options.force) {
    AlignedBytes first = allocateAligned(kBlockBytesMin);
    if (device.info().sizeBytes >= kBlockBytesMin) {
      device.read(first.get(), kBlockBytesMin, 0);
      Geometry existing;
      std::string why;
      if (std::memcmp(first.get(), kSuperblockMagic, 8) == 0) {
        std::string detail;
        if (decodeSuperblock(first.get(), &existing, &why) == SuperblockStatus::Valid) {
          detail = " (uuid " + existing.uuidString() + ")";
        }
        throw LunError(code::E_FOREIGN_DATA, path + " already holds a sanmq LUN" + detail +
                                                 "; pass force to format it again");
      }
    }
    int64_t at = device.findNonZero(device.info().sizeBytes);
    if (at >= 0) {
      throw LunError(code::E_FOREIGN_DATA, path + " holds non-zero data at offset " +
                                               std::to_string(at) +
                                               "; pass force to overwrite it");
    }
  }
  // The backup superblock goes in the last block of the file or device, where open looks
  // for it when the primary is unreadable: a file is cut to the LUN's size, and on a block
  // larger than the LUN it lies past the LUN's own bytes.
  if (device.info().blockDevice) {
    uint64_t end = device.info().sizeBytes / g.blockBytes * g.blockBytes;
    g.backupOffset = end - g.blockBytes;
  } else {
    device.setFileSize(g.lunBytes);
  }
  randomUuid(g.uuid);
  g.createdAtMs = nowMs();
  uint32_t uuidCrc = crc32c::value(g.uuid, 16);
  writeSlotTable(device, g, uuidCrc);
  writeDescriptorTable(device, g, uuidCrc, options.prefill);
  uint64_t total = options.prefill ? uint64_t(g.segmentCount) * g.segmentBytes : 0;
  if (options.progress) options.progress(0, total);
  if (options.prefill) {
    // Large pieces: allocating and zeroing 64 MiB at a time runs at the disk's sequential
    // speed, where one segment at a time is several times slower on ext4.
    const uint64_t piece = 64u << 20;
    for (uint64_t done = 0; done < total;) {
      uint64_t n = std::min(piece, total - done);
      device.zero(g.logRegion + done, n);
      done += n;
      if (options.progress) options.progress(done, total);
    }
  }
  device.sync();
  AlignedBytes block = allocateAligned(g.blockBytes);
  encodeSuperblock(g, 1, block.get());
  device.write(block.get(), g.blockBytes, g.backupSuperblockOffset());
  device.sync();
  encodeSuperblock(g, 0, block.get());
  device.write(block.get(), g.blockBytes, 0);
  device.sync();
  device.unlock(kWriterLockByte, 1);
  return g;
}

}  // namespace

void Lun::readSuperblocks(const std::string& path, bool repair) {
  AlignedBytes block = allocateAligned(kBlockBytesMax);
  const DeviceInfo& info = device_->info();
  if (info.sizeBytes < kBlockBytesMin) {
    throw LunError(code::E_NOT_A_LUN, path + " is too small to hold a sanmq LUN");
  }
  device_->read(block.get(), kBlockBytesMin, 0);
  Geometry primary;
  std::string primaryWhy;
  SuperblockStatus primaryStatus = decodeSuperblock(block.get(), &primary, &primaryWhy);
  // Another format version is not damage: never fall back to (or "repair" from) a backup,
  // which could rewrite a newer LUN in this older format.
  if (primaryStatus == SuperblockStatus::BadVersion) {
    throw LunError(code::E_BAD_VERSION, path + " has an unsupported " + primaryWhy);
  }
  // The backup sits in the last block formatted (superblock field backupOffset); without a
  // valid primary that is the last block of the file or device: try every block size
  // against the end of the file or device.
  Geometry backup;
  std::string backupWhy;
  SuperblockStatus backupStatus = SuperblockStatus::NotALun;
  std::vector<uint64_t> candidates;
  if (primaryStatus == SuperblockStatus::Valid) {
    candidates.push_back(primary.backupSuperblockOffset());
  } else {
    for (uint32_t bs = kBlockBytesMin; bs <= kBlockBytesMax; bs *= 2) {
      if (info.sizeBytes >= 2 * uint64_t(bs)) candidates.push_back(info.sizeBytes / bs * bs - bs);
    }
  }
  for (uint64_t at : candidates) {
    if (at + kBlockBytesMin > info.sizeBytes) continue;
    device_->read(block.get(), kBlockBytesMin, at);
    backupStatus = decodeSuperblock(block.get(), &backup, &backupWhy);
    if (backupStatus == SuperblockStatus::Valid && backup.backupSuperblockOffset() == at) break;
    if (backupStatus == SuperblockStatus::Valid) backupStatus = SuperblockStatus::Invalid;
  }
  bool primaryOk = primaryStatus == SuperblockStatus::Valid;
  bool backupOk = backupStatus == SuperblockStatus::Valid &&
                  (!primaryOk || std::memcmp(backup.uuid, primary.uuid, 16) == 0);
  if (!primaryOk && !backupOk) {
    std::string message = path + ": " + primaryWhy;
    switch (primaryStatus) {
      case SuperblockStatus::NotALun:
        throw LunError(code::E_NOT_A_LUN, path + " is not a sanmq LUN: " + primaryWhy);
      case SuperblockStatus::BadVersion:
        throw LunError(code::E_BAD_VERSION, path + " has an unsupported " + primaryWhy);
      case SuperblockStatus::Checksum:
        throw LunError(code::E_CHECKSUM, message + " and the backup copy is unusable");
      default:
        throw LunError(code::E_CORRUPT, message);
    }
  }
  geometry_ = primaryOk ? primary : backup;
  report_.primarySuperblockValid = primaryOk;
  report_.backupSuperblockValid = backupOk;
  if (geometry_.lunBytes > info.sizeBytes ||
      geometry_.backupSuperblockOffset() + geometry_.blockBytes > info.sizeBytes) {
    throw LunError(code::E_GEOMETRY, path + " holds " + std::to_string(info.sizeBytes) +
                                         " bytes but its LUN was formatted with " +
                                         std::to_string(geometry_.lunBytes));
  }
  if (geometry_.blockBytes % info.logicalSector != 0) {
    throw LunError(code::E_GEOMETRY, "the LUN's block size " +
                                         std::to_string(geometry_.blockBytes) +
                                         " is not a multiple of the sector size " +
                                         std::to_string(info.logicalSector));
  }
  if (repair && (!primaryOk || !backupOk)) {
    AlignedBytes out = allocateAligned(geometry_.blockBytes);
    encodeSuperblock(geometry_, primaryOk ? 1 : 0, out.get());
    device_->write(out.get(), geometry_.blockBytes,
                   primaryOk ? geometry_.backupSuperblockOffset() : 0);
    device_->sync();
  }
}

void Lun::acquire(const std::string& path) {
  if (mode_ == OpenMode::Shared) return;
  bool exclusive = mode_ == OpenMode::Exclusive;
  if (device_->lock(kWriterLockByte, 1, exclusive, false)) {
    locked_ = true;
    return;
  }
  // Tell a writer from readers: a shared lock is refused only while a writer holds the LUN.
  std::string holder = "a reader (a read-only open)";
  if (!exclusive || !device_->lock(kWriterLockByte, 1, false, false)) {
    holder = describeOwner(slots_->read(kOwnerSlot));
  } else {
    device_->unlock(kWriterLockByte, 1);
  }
  throw LunError(code::E_LUN_BUSY, "LUN " + path + " is busy: held by " + holder);
}

std::unique_ptr<Lun> Lun::open(const std::string& path, const OpenOptions& options,
                               std::function<void()> notify) {
  std::unique_ptr<Lun> lun(new Lun());
  lun->mode_ = options.mode;
  DeviceOptions deviceOptions;
  deviceOptions.readOnly = options.mode == OpenMode::ReadOnly;
  deviceOptions.direct = options.direct && !options.faulty;
  auto file = std::make_unique<FileDevice>(path, deviceOptions);
  if (options.faulty) {
    auto faulty = std::make_unique<FaultyDevice>(std::move(file), options.faults);
    lun->faulty_ = faulty.get();
    lun->device_ = std::move(faulty);
  } else {
    lun->device_ = std::move(file);
  }
  lun->readSuperblocks(path, false);
  lun->uuidCrc_ = crc32c::value(lun->geometry_.uuid, 16);
  lun->slots_ = std::make_unique<SlotTable>(*lun->device_, lun->geometry_, lun->uuidCrc_,
                                            options.lockTimeoutMs);
  lun->acquire(path);
  if (options.mode == OpenMode::Shared) return lun;
  if (options.mode == OpenMode::Exclusive) {
    lun->readSuperblocks(path, true);
    std::vector<uint8_t> owner = ownerRecord(lun->geometry_.casSlotBytes);
    lun->slots_->store(kOwnerSlot, owner.data(), owner.size());
  }
  lun->table_ = std::make_unique<SegmentTable>(lun->geometry_);
  recoverLog(*lun->device_, *lun->table_, lun->uuidCrc_, lun->report_);
  if (!lun->report_.corruptions.empty() && !options.salvage) {
    const Corruption& first = lun->report_.corruptions.front();
    throw CorruptLunError(path + " is corrupt: " + std::to_string(lun->report_.corruptions.size()) +
                              " damaged place(s), the first at byte " +
                              std::to_string(first.address) + ": " + first.reason,
                          lun->report_);
  }
  if (options.mode == OpenMode::Exclusive) {
    lun->writer_ = std::make_unique<Writer>(*lun->device_, *lun->table_, lun->uuidCrc_,
                                            options.writer, std::move(notify));
    lun->writer_->start();
  }
  return lun;
}

Lun::~Lun() {
  try {
    close();
  } catch (...) {
    // A destructor cannot report; close() is called explicitly where errors matter.
  }
}

void Lun::close() {
  if (closed_) return;
  closed_ = true;
  if (writer_) writer_->stop();
  if (locked_) {
    locked_ = false;
    device_->unlock(kWriterLockByte, 1);
  }
}

ReadResult Lun::read(uint64_t address) {
  SANMQ_ASSERT(table_ != nullptr);
  RecordLocation where;
  uint64_t resolved;
  uint32_t length;
  uint32_t generation;
  uint16_t pageSet;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(table_->mutex());
    if (!table_->locate(address, &where, &resolved)) {
      throw LunError(code::E_NOT_LIVE, "no live record is stored at address " +
                                           std::to_string(address));
    }
    const Segment& seg = table_->at(where.segment);
    length = seg.records[where.entry].length;
    seq = seg.records[where.entry].seq;
    generation = seg.generation;
    pageSet = seg.pageSet;
  }
  uint64_t at = addressOffset(resolved);
  uint64_t unit = std::max<uint64_t>(device_->info().logicalSector, 512);
  uint64_t start = at / unit * unit;
  uint64_t end = (at + paddedRecordBytes(length) + unit - 1) / unit * unit;
  ReadResult result;
  result.buffer = allocateAligned(end - start);
  device_->read(result.buffer.get(), end - start, start);
  const uint8_t* r = result.buffer.get() + (at - start);
  bool ok = verifyRecord(geometry_, r, at, pageSet, generation, uint32_t(end - at)) &&
            load64(r + record::kSeq) == seq && load32(r + record::kLength) == length;
  if (!ok) {
    std::lock_guard<std::mutex> lock(table_->mutex());
    RecordLocation again;
    uint64_t now;
    if (!table_->locate(address, &again, &now) || now != resolved ||
        table_->at(again.segment).generation != generation) {
      throw LunError(code::E_NOT_LIVE, "the record at address " + std::to_string(address) +
                                           " was released while it was being read");
    }
    throw LunError(code::E_CHECKSUM, "the record at address " + std::to_string(resolved) +
                                         " (byte " + std::to_string(at) + ") fails its checksum");
  }
  result.offset = size_t(at - start) + kRecordHeaderBytes;
  result.length = length;
  result.pageSet = pageSet;
  result.seq = seq;
  return result;
}

uint16_t Lun::pageSetOf(uint64_t address) {
  SANMQ_ASSERT(table_ != nullptr);
  std::lock_guard<std::mutex> lock(table_->mutex());
  RecordLocation where;
  uint64_t resolved;
  if (!table_->locate(address, &where, &resolved)) {
    throw LunError(code::E_NOT_LIVE, "no live record is stored at address " +
                                         std::to_string(address));
  }
  return table_->at(where.segment).pageSet;
}

namespace {
constexpr uint64_t kHeadWindowBytes = 1u << 20;

struct HeadTarget {
  uint64_t at;  // byte offset of the record
  uint32_t length;
  uint32_t generation;
  uint32_t segment;
  uint16_t pageSet;
  uint64_t seq;
};
}  // namespace

void Lun::readHeads(const std::vector<uint64_t>& addresses, uint32_t headBytes, uint8_t* heads,
                    uint32_t* lengths) {
  SANMQ_ASSERT(table_ != nullptr);
  std::vector<HeadTarget> targets(addresses.size());
  {
    std::lock_guard<std::mutex> lock(table_->mutex());
    for (size_t i = 0; i < addresses.size(); i++) {
      RecordLocation where;
      uint64_t resolved;
      if (!table_->locate(addresses[i], &where, &resolved)) {
        throw LunError(code::E_NOT_LIVE, "no live record is stored at address " +
                                             std::to_string(addresses[i]));
      }
      const Segment& seg = table_->at(where.segment);
      targets[i] = {addressOffset(resolved), seg.records[where.entry].length, seg.generation,
                    where.segment, seg.pageSet, seg.records[where.entry].seq};
    }
  }
  uint64_t unit = std::max<uint64_t>(device_->info().logicalSector, 512);
  size_t i = 0;
  while (i < targets.size()) {
    // A window: records of one segment in ascending order, close enough to read at once.
    uint64_t start = targets[i].at / unit * unit;
    uint64_t end = targets[i].at + paddedRecordBytes(targets[i].length);
    size_t j = i + 1;
    while (j < targets.size() && targets[j].segment == targets[i].segment &&
           targets[j].at >= targets[j - 1].at + paddedRecordBytes(targets[j - 1].length) &&
           targets[j].at + paddedRecordBytes(targets[j].length) - start <= kHeadWindowBytes) {
      end = targets[j].at + paddedRecordBytes(targets[j].length);
      j++;
    }
    end = (end + unit - 1) / unit * unit;
    AlignedBytes window = allocateAligned(end - start);
    device_->read(window.get(), end - start, start);
    for (size_t k = i; k < j; k++) {
      const HeadTarget& t = targets[k];
      const uint8_t* r = window.get() + (t.at - start);
      bool ok = verifyRecord(geometry_, r, t.at, t.pageSet, t.generation, uint32_t(end - t.at)) &&
                load64(r + record::kSeq) == t.seq && load32(r + record::kLength) == t.length;
      if (!ok) {
        throw LunError(code::E_CHECKSUM, "the record at address " + std::to_string(addresses[k]) +
                                             " (byte " + std::to_string(t.at) +
                                             ") fails its checksum");
      }
      uint32_t copy = std::min(headBytes, t.length);
      std::memcpy(heads + k * headBytes, r + kRecordHeaderBytes, copy);
      if (copy < headBytes) std::memset(heads + k * headBytes + copy, 0, headBytes - copy);
      lengths[k] = t.length;
    }
    i = j;
  }
}

std::vector<LiveRecord> Lun::liveRecords(uint16_t pageSet) {
  SANMQ_ASSERT(table_ != nullptr);
  std::vector<LiveRecord> out;
  {
    std::lock_guard<std::mutex> lock(table_->mutex());
    for (uint32_t s = 0; s < geometry_.segmentCount; s++) {
      const Segment& seg = table_->at(s);
      if (seg.state != kSegmentUsed || seg.quarantined || seg.pageSet != pageSet) continue;
      for (const RecordEntry& e : seg.records) {
        if (e.length & kDeadBit) continue;
        out.push_back({e.seq, makeAddress(geometry_.segmentOffset(s) + e.offset, seg.generation),
                       e.length});
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const LiveRecord& a, const LiveRecord& b) { return a.seq < b.seq; });
  return out;
}

}  // namespace sanmq
