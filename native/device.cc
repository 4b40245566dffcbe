// FileDevice: positional I/O on a regular file or a block device, geometry from fstat or the
// block-device ioctls, and alignment checked by us before every direct I/O (the kernel accepts
// some misaligned direct writes on 512-byte-sector devices, so its EINVAL is no safety net).
#include "device.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "errors.h"

namespace sanmq {

namespace {
constexpr size_t kZeroChunkBytes = 1u << 20;
}

AlignedBytes allocateAligned(size_t bytes) {
  void* p = nullptr;
  size_t rounded = (std::max<size_t>(bytes, 1) + kMemoryAlign - 1) & ~(kMemoryAlign - 1);
  if (posix_memalign(&p, kMemoryAlign, rounded) != 0) {
    throw LunError(code::E_INTERNAL, "out of memory allocating " + std::to_string(bytes) +
                                         " bytes");
  }
  std::memset(p, 0, rounded);
  return AlignedBytes(static_cast<uint8_t*>(p));
}

FileDevice::FileDevice(const std::string& path, const DeviceOptions& options) : path_(path) {
  int flags = (options.readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (options.direct) flags |= O_DIRECT;
  if (options.create && !options.readOnly) flags |= O_CREAT;
  do {
    fd_ = ::open(path.c_str(), flags, 0644);
  } while (fd_ < 0 && errno == EINTR);
  if (fd_ < 0) {
    int err = errno;
    if (err == ENOENT) throw LunError(code::E_INVALID_ARGUMENT, path + ": no such file", err);
    if (err == EINVAL && options.direct) {
      throw LunError(code::E_GEOMETRY, path + ": the file system does not support O_DIRECT",
                     err);
    }
    throwSystem("cannot open " + path, err);
  }
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    throwSystem("cannot stat " + path, err);
  }
  info_.direct = options.direct;
  info_.readOnly = options.readOnly;
  if (S_ISBLK(st.st_mode)) {
    uint64_t size = 0;
    int logical = 0;
    unsigned int physical = 0;
    if (ioctl(fd_, BLKGETSIZE64, &size) != 0 || ioctl(fd_, BLKSSZGET, &logical) != 0 ||
        ioctl(fd_, BLKPBSZGET, &physical) != 0) {
      int err = errno;
      ::close(fd_);
      throwSystem("cannot read the geometry of block device " + path, err);
    }
    info_.blockDevice = true;
    info_.sizeBytes = size;
    info_.logicalSector = static_cast<uint32_t>(logical);
    info_.physicalSector = physical;
  } else if (S_ISREG(st.st_mode)) {
    info_.sizeBytes = static_cast<uint64_t>(st.st_size);
    // Direct I/O on a file must be aligned to the logical sector of the device under the
    // file system; 4096 covers every device we accept and is what the core uses anyway.
    info_.logicalSector = options.direct ? 4096 : 512;
    info_.physicalSector = static_cast<uint32_t>(std::max<blksize_t>(st.st_blksize, 512));
  } else {
    ::close(fd_);
    throw LunError(code::E_INVALID_ARGUMENT,
                   path + " is neither a regular file nor a block device");
  }
  zeros_ = allocateAligned(kZeroChunkBytes);
}

FileDevice::~FileDevice() {
  if (fd_ >= 0) ::close(fd_);
}

void FileDevice::checkAligned(const void* buffer, size_t length, uint64_t offset) const {
  if (!info_.direct) return;
  uint32_t sector = info_.logicalSector;
  bool aligned = offset % sector == 0 && length % sector == 0 &&
                 reinterpret_cast<uintptr_t>(buffer) % kMemoryAlign == 0;
  if (!aligned) {
    throw LunError(code::E_INTERNAL, "unaligned direct I/O: offset " + std::to_string(offset) +
                                         ", length " + std::to_string(length) + ", sector " +
                                         std::to_string(sector));
  }
}

void FileDevice::read(void* buffer, size_t length, uint64_t offset) {
  checkAligned(buffer, length, offset);
  auto* p = static_cast<uint8_t*>(buffer);
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd_, p + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throwSystem("read of " + std::to_string(length) + " bytes at " +
                               std::to_string(offset) + " failed", errno);
    if (n == 0) {
      throw LunError(code::E_IO, "read past the end of " + path_ + " at " +
                                     std::to_string(offset + done));
    }
    done += static_cast<size_t>(n);
  }
}

void FileDevice::writev(const iovec* vector, int count, uint64_t offset) {
  SANMQ_ASSERT(count > 0 && count <= IOV_MAX);
  iovec local[IOV_MAX];
  size_t total = 0;
  for (int i = 0; i < count; i++) {
    checkAligned(vector[i].iov_base, vector[i].iov_len, offset + total);
    local[i] = vector[i];
    total += vector[i].iov_len;
  }
  int first = 0;
  size_t done = 0;
  while (done < total) {
    ssize_t n = ::pwritev(fd_, local + first, count - first, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throwSystem("write of " + std::to_string(total) + " bytes at " +
                               std::to_string(offset) + " failed", errno);
    if (n == 0) throw LunError(code::E_IO, "write made no progress at " +
                                               std::to_string(offset + done));
    done += static_cast<size_t>(n);
    // Skip the iovecs the short write completed and trim the one it stopped in.
    size_t advance = static_cast<size_t>(n);
    while (first < count && advance >= local[first].iov_len) {
      advance -= local[first].iov_len;
      first++;
    }
    if (first < count) {
      local[first].iov_base = static_cast<uint8_t*>(local[first].iov_base) + advance;
      local[first].iov_len -= advance;
    }
  }
}

void FileDevice::sync() {
  int rc;
  do {
    rc = ::fdatasync(fd_);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) throwSystem("fdatasync of " + path_ + " failed", errno);
}

void FileDevice::zero(uint64_t offset, uint64_t length) {
  if (!info_.blockDevice) {
    // Allocating first lets the zero writes below convert extents in large pieces.
    ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(length));
  }
  uint64_t done = 0;
  while (done < length) {
    size_t piece = static_cast<size_t>(std::min<uint64_t>(kZeroChunkBytes, length - done));
    write(zeros_.get(), piece, offset + done);
    done += piece;
  }
}

bool FileDevice::punchHole(uint64_t offset, uint64_t length) {
  if (info_.blockDevice) return false;
  return ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     static_cast<off_t>(offset), static_cast<off_t>(length)) == 0;
}

bool FileDevice::lock(uint64_t start, uint64_t length, bool exclusive, bool wait) {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(start);
  fl.l_len = static_cast<off_t>(length);
  for (;;) {
    if (::fcntl(fd_, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return true;
    if (errno == EINTR) continue;
    if (!wait && (errno == EAGAIN || errno == EACCES)) return false;
    throwSystem("cannot lock bytes " + std::to_string(start) + "+" + std::to_string(length) +
                    " of " + path_, errno);
  }
}

void FileDevice::unlock(uint64_t start, uint64_t length) {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(start);
  fl.l_len = static_cast<off_t>(length);
  while (::fcntl(fd_, F_OFD_SETLK, &fl) != 0) {
    if (errno != EINTR) throwSystem("cannot unlock " + path_, errno);
  }
}

void FileDevice::setFileSize(uint64_t bytes) {
  SANMQ_ASSERT(!info_.blockDevice);
  if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0) {
    throwSystem("cannot set the size of " + path_ + " to " + std::to_string(bytes), errno);
  }
  info_.sizeBytes = bytes;
}

void FileDevice::ensureSize(uint64_t bytes) {
  if (info_.sizeBytes >= bytes) return;
  if (info_.blockDevice) {
    throw LunError(code::E_GEOMETRY, path_ + " holds " + std::to_string(info_.sizeBytes) +
                                         " bytes, fewer than " + std::to_string(bytes));
  }
  if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0) {
    throwSystem("cannot grow " + path_ + " to " + std::to_string(bytes) + " bytes", errno);
  }
  info_.sizeBytes = bytes;
}

namespace {
int64_t nonZeroIn(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i]) return int64_t(i);
  }
  return -1;
}
}  // namespace

int64_t FileDevice::findNonZero(uint64_t end) {
  end = std::min(end, info_.sizeBytes);
  size_t pieceBytes = kZeroChunkBytes;
  AlignedBytes piece = allocateAligned(pieceBytes);
  auto check = [&](uint64_t from, uint64_t to) -> int64_t {
    from = from / 4096 * 4096;
    while (from < to) {
      size_t n = size_t(std::min<uint64_t>(pieceBytes, (to - from + 4095) / 4096 * 4096));
      if (from + n > info_.sizeBytes) n = size_t(info_.sizeBytes - from);
      if (info_.direct) n = n / info_.logicalSector * info_.logicalSector;
      if (n == 0) return -1;
      read(piece.get(), n, from);
      int64_t at = nonZeroIn(piece.get(), n);
      if (at >= 0) return int64_t(from) + at;
      from += n;
    }
    return -1;
  };
  if (!info_.blockDevice) {
    off_t at = 0;
    while (uint64_t(at) < end) {
      off_t data = ::lseek(fd_, at, SEEK_DATA);
      if (data < 0) return -1;  // ENXIO: no data after `at`
      off_t hole = ::lseek(fd_, data, SEEK_HOLE);
      if (hole < 0) hole = off_t(info_.sizeBytes);
      int64_t found = check(uint64_t(data), std::min<uint64_t>(uint64_t(hole), end));
      if (found >= 0) return found;
      at = hole;
    }
    return -1;
  }
  uint64_t mib = 1u << 20;
  int64_t found = check(0, std::min(end, mib));
  if (found >= 0) return found;
  if (end > mib) {
    found = check(end - mib, end);
    if (found >= 0) return found;
  }
  for (uint64_t i = 1; i < 64; i++) {
    uint64_t at = end / 64 * i / 4096 * 4096;
    found = check(at, std::min(end, at + 65536));
    if (found >= 0) return found;
  }
  return -1;
}

}  // namespace sanmq
