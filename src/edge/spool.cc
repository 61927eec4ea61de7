#include "edge/spool.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include "common/env.h"

namespace ovoflow::edge {
namespace {

static_assert(std::endian::native == std::endian::little, "Crc32c's 8-byte loads assume a little-endian CPU");

// ---- CRC32C, slicing by 8 -------------------------------------------------

constexpr uint32_t kCrc32cPoly = 0x82F63B78;  // Castagnoli, reflected

struct Crc32cTables {
  std::array<std::array<uint32_t, 256>, 8> t{};
};

constexpr Crc32cTables MakeCrc32cTables() {
  Crc32cTables tables;
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? (c >> 1) ^ kCrc32cPoly : c >> 1;
    tables.t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (std::size_t k = 1; k < 8; ++k)
      tables.t[k][i] = (tables.t[k - 1][i] >> 8) ^ tables.t[0][tables.t[k - 1][i] & 0xff];
  }
  return tables;
}

constexpr Crc32cTables kCrc32c = MakeCrc32cTables();

// ---- On-disk layout (spool.h) ---------------------------------------------

constexpr char kSegmentMagic[8] = {'O', 'V', 'S', 'P', 'O', 'O', 'L', '1'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint64_t kSegmentHeaderBytes = 32;
constexpr uint32_t kRecordMagic = 0x5053564F;  // "OVSP"
constexpr uint64_t kRecordHeaderBytes = 24;
constexpr uint8_t kTypeData = 1;
constexpr uint32_t kAckMagic = 0x4B41564F;  // "OVAK"
constexpr uint64_t kAckEntryBytes = 16;
constexpr uint64_t kPayloadLimit = uint64_t{1} << 30;  // what a record's length may say, whatever the options

void Put16(char* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

struct RecordHeader {
  uint32_t magic = kRecordMagic;
  uint32_t crc = 0;
  uint32_t payload_len = 0;
  uint8_t type = kTypeData;
  uint8_t kind = 0;
  uint16_t key_len = 0;
  uint64_t seq = 0;

  uint64_t record_bytes() const { return kRecordHeaderBytes + key_len + payload_len; }
};

void EncodeRecordHeader(const RecordHeader& h, char* p) {
  Put32(p, h.magic);
  Put32(p + 4, h.crc);
  Put32(p + 8, h.payload_len);
  p[12] = static_cast<char>(h.type);
  p[13] = static_cast<char>(h.kind);
  Put16(p + 14, h.key_len);
  Put64(p + 16, h.seq);
}

RecordHeader DecodeRecordHeader(const char* p) {
  RecordHeader h;
  h.magic = static_cast<uint32_t>(GetLe(p, 4));
  h.crc = static_cast<uint32_t>(GetLe(p + 4, 4));
  h.payload_len = static_cast<uint32_t>(GetLe(p + 8, 4));
  h.type = static_cast<uint8_t>(p[12]);
  h.kind = static_cast<uint8_t>(p[13]);
  h.key_len = static_cast<uint16_t>(GetLe(p + 14, 2));
  h.seq = GetLe(p + 16, 8);
  return h;
}

// The record CRC: key, payload, then header bytes 8..23 (everything after
// the CRC field), so the costly part can be computed before seq is known.
uint32_t RecordCrc(uint32_t body_crc, const char* header) {
  return Crc32c(std::string_view(header + 8, kRecordHeaderBytes - 8), body_crc);
}

std::string SegmentHeader(uint64_t base_seq) {
  std::string h(kSegmentHeaderBytes, '\0');
  std::memcpy(h.data(), kSegmentMagic, sizeof(kSegmentMagic));
  Put32(h.data() + 8, kFormatVersion);
  Put64(h.data() + 16, base_seq);
  Put32(h.data() + 24, Crc32c(std::string_view(h.data(), 24)));
  return h;
}

// The base seq of a valid segment header, or 0.
uint64_t ParseSegmentHeader(const char* p) {
  if (std::memcmp(p, kSegmentMagic, sizeof(kSegmentMagic)) != 0) return 0;
  if (GetLe(p + 8, 4) != kFormatVersion) return 0;
  if (GetLe(p + 24, 4) != Crc32c(std::string_view(p, 24))) return 0;
  return GetLe(p + 16, 8);
}

std::array<char, kAckEntryBytes> AckEntry(uint64_t seq) {
  std::array<char, kAckEntryBytes> e{};
  Put32(e.data(), kAckMagic);
  Put64(e.data() + 8, seq);
  Put32(e.data() + 4, Crc32c(std::string_view(e.data() + 8, 8)));
  return e;
}

std::string SegmentPath(const std::string& dir, uint64_t id, const char* ext) {
  return fmt::format("{}/seg-{:08d}{}", dir, id, ext);
}

// "seg-00000012.log" -> 12 with ext ".log"; 0 when the name is not a segment's.
uint64_t ParseSegmentName(const std::string& name, std::string_view ext) {
  constexpr std::string_view kPrefix = "seg-";
  if (name.size() <= kPrefix.size() + ext.size() || !name.starts_with(kPrefix) || !name.ends_with(ext)) return 0;
  const char* first = name.data() + kPrefix.size();
  const char* last = name.data() + name.size() - ext.size();
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(first, last, id);
  return ec == std::errc() && end == last ? id : 0;
}

// `what` is a C string and `path` an existing one, so nothing allocates (and
// may touch errno) before the callers' errno argument is read.
Status IoError(const char* what, const std::string& path, int err) {
  return Status::Internal(fmt::format("spool: {} {}: {}", what, path, ErrnoMessage(err)));
}

Status IoErrorAt(const char* what, const std::string& path, uint64_t offset, int err) {
  return Status::Internal(fmt::format("spool: {} {} at offset {}: {}", what, path, offset, ErrnoMessage(err)));
}

Status SyncFd(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) return IoError("fdatasync", path, errno);
  return Status::Ok();
}

}  // namespace

uint32_t Crc32c(std::string_view data, uint32_t crc) {
  const auto& t = kCrc32c.t;
  const char* p = data.data();
  std::size_t n = data.size();
  uint32_t c = ~crc;
  while (n >= 8) {
    uint64_t word = 0;
    std::memcpy(&word, p, 8);
    word ^= c;
    c = t[7][word & 0xff] ^ t[6][(word >> 8) & 0xff] ^ t[5][(word >> 16) & 0xff] ^ t[4][(word >> 24) & 0xff] ^
        t[3][(word >> 32) & 0xff] ^ t[2][(word >> 40) & 0xff] ^ t[1][(word >> 48) & 0xff] ^ t[0][word >> 56];
    p += 8;
    n -= 8;
  }
  for (; n > 0; --n, ++p) c = t[0][(c ^ static_cast<unsigned char>(*p)) & 0xff] ^ (c >> 8);
  return ~c;
}

// An open file descriptor, closed when the last user lets go (a sync round
// or a reader may outlive the segment's deletion).
struct SpoolFile {
  SpoolFile(int fd_in, std::string path_in) : fd(fd_in), path(std::move(path_in)) {}
  ~SpoolFile() {
    if (fd >= 0) ::close(fd);
  }
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  // Writes all of `parts`, in order, at `offset`.
  Status WriteAt(std::initializer_list<std::string_view> parts, uint64_t offset) const {
    std::array<iovec, 4> iov{};
    std::size_t count = 0;
    for (std::string_view part : parts) {
      if (part.empty()) continue;
      iov.at(count++) = {const_cast<char*>(part.data()), part.size()};
    }
    std::size_t first = 0;
    uint64_t at = offset;
    while (first < count) {
      const ssize_t n = ::pwritev(fd, &iov.at(first), static_cast<int>(count - first), static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return IoErrorAt("write", path, at, n < 0 ? errno : EIO);
      at += static_cast<uint64_t>(n);
      auto left = static_cast<std::size_t>(n);
      while (first < count && left >= iov.at(first).iov_len) left -= iov.at(first++).iov_len;
      if (first < count) {
        iov.at(first).iov_base = static_cast<char*>(iov.at(first).iov_base) + left;
        iov.at(first).iov_len -= left;
      }
    }
    return Status::Ok();
  }

  // Reads exactly `n` bytes at `offset`; the file ending sooner is an error.
  Status ReadAt(char* out, std::size_t n, uint64_t offset) const {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return IoErrorAt("read", path, offset + done, errno);
      if (r == 0) {
        return Status::Internal(
            fmt::format("spool: read {} at offset {}: unexpected end of file", path, offset + done));
      }
      done += static_cast<std::size_t>(r);
    }
    return Status::Ok();
  }

  Result<uint64_t> Size() const {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return IoError("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Status Truncate(uint64_t size) const {
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return IoErrorAt("truncate", path, size, errno);
    return Status::Ok();
  }

  const int fd;
  const std::string path;
};

struct Spool::Segment {
  uint64_t id = 0;
  uint64_t base_seq = 0;
  std::shared_ptr<SpoolFile> log;
  std::shared_ptr<SpoolFile> ack;
  uint64_t log_size = 0;  // bytes; the active segment appends here
  uint64_t ack_size = 0;  // bytes
  uint64_t records = 0;   // data records read or written
  uint64_t pending = 0;   // of those, not acked

  // Bytes on disk once every pending record is acked.
  uint64_t usage() const { return log_size + ack_size + pending * kAckEntryBytes; }
};

struct Spool::PlannedRead {
  uint64_t seq;
  std::shared_ptr<SpoolFile> log;
  PendingRecord record;
};

namespace {

Result<std::shared_ptr<SpoolFile>> OpenFile(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("open", path, errno);
  return std::make_shared<SpoolFile>(fd, path);
}

// Creates `dir` when missing and then makes its entry in the parent durable.
Status CreateDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::create_directories(dir, ec)) {
    if (ec) return Status::Internal(fmt::format("spool: create directory {}: {}", dir, ec.message()));
    return Status::Ok();
  }
  fs::path path = fs::absolute(dir, ec).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // "a/b/" -> "a/b"
  const std::string parent = path.parent_path().string();
  OVOFLOW_ASSIGN_OR_RETURN(auto parent_file, OpenFile(parent, O_RDONLY | O_DIRECTORY));
  if (::fsync(parent_file->fd) != 0) return IoError("fsync", parent, errno);
  return Status::Ok();
}

// The segment numbers of the logs in `dir`. Deletes ack files whose log is
// gone (a deletion cut short).
Result<std::set<uint64_t>> ListSegments(const std::string& dir) {
  namespace fs = std::filesystem;
  std::set<uint64_t> logs;
  std::set<uint64_t> acks;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (const uint64_t id = ParseSegmentName(name, ".log"); id != 0) logs.insert(id);
    if (const uint64_t id = ParseSegmentName(name, ".ack"); id != 0) acks.insert(id);
  }
  if (ec) return Status::Internal(fmt::format("spool: list {}: {}", dir, ec.message()));
  for (uint64_t id : acks) {
    const std::string path = SegmentPath(dir, id, ".ack");
    if (!logs.contains(id) && ::unlink(path.c_str()) != 0) return IoError("unlink", path, errno);
  }
  return logs;
}

Status ValidateOptions(const SpoolOptions& o) {
  if (o.dir.empty()) return Status::InvalidArgument("spool: options.dir is empty");
  if (o.segment_bytes < 1024) {
    return Status::InvalidArgument(fmt::format("spool: segment_bytes {} is below 1024", o.segment_bytes));
  }
  if (o.max_bytes < o.segment_bytes) {
    return Status::InvalidArgument(
        fmt::format("spool: max_bytes {} is below segment_bytes {}", o.max_bytes, o.segment_bytes));
  }
  if (o.max_payload_bytes == 0 || o.max_payload_bytes > kPayloadLimit) {
    return Status::InvalidArgument(
        fmt::format("spool: max_payload_bytes {} is not in 1..{}", o.max_payload_bytes, kPayloadLimit));
  }
  return Status::Ok();
}

// What CheckRecord found at an offset.
struct RecordCheck {
  bool good = false;    // framing, CRC and seq order hold
  bool framed = false;  // the header is plausible and the record fits in the file: its size can be trusted
  RecordHeader header;
  std::string why;  // when not good
};

// Reads and checks the record at `offset` of a file of `file_size` bytes;
// its key and payload end up in `body`. Only I/O errors are errors.
Result<RecordCheck> CheckRecord(const SpoolFile& f, uint64_t offset, uint64_t file_size, uint64_t min_seq,
                                std::string* body) {
  RecordCheck c;
  if (file_size - offset < kRecordHeaderBytes) {
    c.why = fmt::format("{} bytes, less than a record header", file_size - offset);
    return c;
  }
  std::array<char, kRecordHeaderBytes> raw{};
  OVOFLOW_RETURN_IF_ERROR(f.ReadAt(raw.data(), raw.size(), offset));
  c.header = DecodeRecordHeader(raw.data());
  const RecordHeader& h = c.header;
  if (h.magic != kRecordMagic) {
    c.why = "bad record magic";
  } else if (h.key_len == 0 || h.key_len > kSpoolMaxKeyBytes || h.payload_len > kPayloadLimit) {
    c.why = fmt::format("implausible lengths (key {}, payload {})", h.key_len, h.payload_len);
  } else if (h.record_bytes() > file_size - offset) {
    c.why = fmt::format("a {}-byte record runs past the end of the file", h.record_bytes());
  }
  if (!c.why.empty()) return c;
  c.framed = true;
  body->resize(h.key_len + h.payload_len);
  OVOFLOW_RETURN_IF_ERROR(f.ReadAt(body->data(), body->size(), offset + kRecordHeaderBytes));
  if (h.type != kTypeData) {
    c.why = fmt::format("unknown record type {}", h.type);
  } else if (RecordCrc(Crc32c(*body), raw.data()) != h.crc) {
    c.why = "CRC mismatch";
  } else if (h.seq < min_seq) {
    c.why = fmt::format("seq {} out of order (expected at least {})", h.seq, min_seq);
  } else {
    c.good = true;
  }
  return c;
}

}  // namespace

Spool::Spool(SpoolOptions options) : options_(std::move(options)) {}

Spool::~Spool() = default;

Result<std::unique_ptr<Spool>> Spool::Open(const SpoolOptions& options) {
  OVOFLOW_RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<Spool> spool(new Spool(options));
  {
    std::lock_guard lock(spool->mu_);
    OVOFLOW_RETURN_IF_ERROR(spool->RecoverLocked());
  }
  return spool;
}

// ---- Recovery ---------------------------------------------------------------

Status Spool::RecoverLocked() {
  const std::string& dir = options_.dir;
  OVOFLOW_RETURN_IF_ERROR(CreateDirectory(dir));
  OVOFLOW_ASSIGN_OR_RETURN(dir_, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  OVOFLOW_ASSIGN_OR_RETURN(lock_file_, OpenFile(dir + "/LOCK", O_RDWR | O_CREAT));
  if (::flock(lock_file_->fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition(fmt::format("spool: {} is in use by another spool (LOCK is held)", dir));
    }
    return IoError("lock", lock_file_->path, errno);
  }
  OVOFLOW_ASSIGN_OR_RETURN(const std::set<uint64_t> logs, ListSegments(dir));

  uint64_t max_seq = 0;
  for (uint64_t id : logs) OVOFLOW_RETURN_IF_ERROR(RecoverSegmentLocked(id, id == *logs.rbegin(), &max_seq));
  next_seq_ = max_seq + 1;
  durable_seq_ = max_seq;
  last_written_seq_ = max_seq;
  if (logs.empty() || !segments_.contains(*logs.rbegin())) {
    // No segment yet, or the newest one was torn at birth: appending to an
    // older one could land behind bytes recovery did not read.
    OVOFLOW_RETURN_IF_ERROR(CreateSegmentLocked(logs.empty() ? 1 : *logs.rbegin() + 1));
  } else {
    // Appends go on in the newest segment. What a killed process wrote
    // there may still be in the page cache only: put it on disk first.
    active_id_ = segments_.rbegin()->first;
    const Segment& active = *segments_.rbegin()->second;
    OVOFLOW_RETURN_IF_ERROR(SyncFd(active.log->fd, active.log->path));
    ++stats_.fsyncs;
  }
  OVOFLOW_RETURN_IF_ERROR(SyncDirLocked());  // orphans removed, ack files created

  std::vector<uint64_t> ids;
  for (const auto& [id, segment] : segments_) ids.push_back(id);
  for (uint64_t id : ids) DeleteIfDoneLocked(id);
  stats_.recovered_pending = pending_.size();
  spdlog::info("spool: opened {}: {} segments, {} pending records, {} bytes used, next seq {}", dir, segments_.size(),
               pending_.size(), BytesUsedLocked(), next_seq_);
  if (stats_.torn_bytes_dropped > 0 || stats_.corrupt_records > 0) {
    spdlog::warn("spool: recovery of {} cut {} torn bytes and found {} corrupt records", dir, stats_.torn_bytes_dropped,
                 stats_.corrupt_records);
  }
  return Status::Ok();
}

Status Spool::RecoverSegmentLocked(uint64_t id, bool newest, uint64_t* max_seq) {
  auto segment = std::make_shared<Segment>();
  segment->id = id;
  OVOFLOW_ASSIGN_OR_RETURN(segment->log, OpenFile(SegmentPath(options_.dir, id, ".log"), O_RDWR));
  const SpoolFile& log = *segment->log;
  OVOFLOW_ASSIGN_OR_RETURN(segment->log_size, log.Size());
  std::array<char, kSegmentHeaderBytes> header{};
  if (segment->log_size >= kSegmentHeaderBytes) {
    OVOFLOW_RETURN_IF_ERROR(log.ReadAt(header.data(), header.size(), 0));
    segment->base_seq = ParseSegmentHeader(header.data());
  }
  if (segment->base_seq == 0) {
    const std::string ack_path = SegmentPath(options_.dir, id, ".ack");
    if (newest) {
      // A crash while the segment was being created: nothing in it was ever
      // acknowledged to a caller.
      spdlog::warn("spool: deleting {}: its header is torn ({} bytes)", log.path, segment->log_size);
      stats_.torn_bytes_dropped += segment->log_size;
    } else {
      OVOFLOW_RETURN_IF_ERROR(CorruptionLocked(log.path, 0, "bad segment header; deleting the unreadable segment"));
    }
    if (::unlink(log.path.c_str()) != 0) return IoError("unlink", log.path, errno);
    if (::unlink(ack_path.c_str()) != 0 && errno != ENOENT) return IoError("unlink", ack_path, errno);
    return Status::Ok();
  }
  *max_seq = std::max(*max_seq, segment->base_seq - 1);
  OVOFLOW_ASSIGN_OR_RETURN(segment->ack, OpenFile(SegmentPath(options_.dir, id, ".ack"), O_RDWR | O_CREAT));
  OVOFLOW_ASSIGN_OR_RETURN(auto acked, LoadAcksLocked(*segment, max_seq));
  OVOFLOW_RETURN_IF_ERROR(ScanRecordsLocked(*segment, newest, acked, max_seq));
  segments_.emplace(id, std::move(segment));
  return Status::Ok();
}

Result<std::unordered_set<uint64_t>> Spool::LoadAcksLocked(Segment& segment, uint64_t* max_seq) {
  const SpoolFile& ack = *segment.ack;
  OVOFLOW_ASSIGN_OR_RETURN(const uint64_t size, ack.Size());
  std::string raw(size, '\0');
  OVOFLOW_RETURN_IF_ERROR(ack.ReadAt(raw.data(), raw.size(), 0));
  std::unordered_set<uint64_t> acked;
  std::vector<uint64_t> bad;  // offsets of bad entries
  uint64_t end = 0;           // after the last good entry
  for (uint64_t off = 0; off + kAckEntryBytes <= size; off += kAckEntryBytes) {
    const char* e = raw.data() + off;
    const uint64_t seq = GetLe(e + 8, 8);
    if (GetLe(e, 4) != kAckMagic || GetLe(e + 4, 4) != Crc32c(std::string_view(e + 8, 8))) {
      bad.push_back(off);
      continue;
    }
    acked.insert(seq);
    *max_seq = std::max(*max_seq, seq);
    end = off + kAckEntryBytes;
  }
  for (uint64_t off : bad) {
    if (off < end) OVOFLOW_RETURN_IF_ERROR(CorruptionLocked(ack.path, off, "bad ack entry, ignored"));
  }
  if (end < size) {
    spdlog::warn("spool: cutting a torn tail of {} bytes from {} at offset {}", size - end, ack.path, end);
    stats_.torn_bytes_dropped += size - end;
    OVOFLOW_RETURN_IF_ERROR(ack.Truncate(end));
    OVOFLOW_RETURN_IF_ERROR(SyncFd(ack.fd, ack.path));
    ++stats_.fsyncs;
  }
  segment.ack_size = end;
  return acked;
}

Status Spool::ScanRecordsLocked(Segment& segment, bool newest, const std::unordered_set<uint64_t>& acked,
                                uint64_t* max_seq) {
  const SpoolFile& log = *segment.log;
  const uint64_t size = segment.log_size;
  uint64_t offset = kSegmentHeaderBytes;
  uint64_t min_seq = segment.base_seq;
  std::string body;
  while (offset < size) {
    OVOFLOW_ASSIGN_OR_RETURN(RecordCheck rec, CheckRecord(log, offset, size, min_seq, &body));
    if (!rec.good && rec.framed && offset + rec.header.record_bytes() < size) {
      // A bad record followed by a good one is damage, not a torn write: skip it.
      OVOFLOW_ASSIGN_OR_RETURN(RecordCheck next,
                               CheckRecord(log, offset + rec.header.record_bytes(), size, min_seq, &body));
      if (next.good) {
        OVOFLOW_RETURN_IF_ERROR(CorruptionLocked(log.path, offset, rec.why + "; record skipped"));
        offset += rec.header.record_bytes();
        continue;
      }
    }
    if (!rec.good && newest) {
      spdlog::warn("spool: cutting a torn tail of {} bytes from {} at offset {} ({})", size - offset, log.path, offset,
                   rec.why);
      stats_.torn_bytes_dropped += size - offset;
      OVOFLOW_RETURN_IF_ERROR(log.Truncate(offset));
      segment.log_size = offset;
      return Status::Ok();
    }
    if (!rec.good) {
      return CorruptionLocked(log.path, offset,
                              fmt::format("{}; the segment's last {} bytes are not read", rec.why, size - offset));
    }
    const RecordHeader& h = rec.header;
    std::string key = body.substr(0, h.key_len);
    ++segment.records;
    if (acked.contains(h.seq)) {
      RememberAckedLocked(std::move(key), h.seq);
    } else {
      ++segment.pending;
      pending_keys_.emplace(key, h.seq);
      pending_.emplace(
          h.seq, PendingRecord{segment.id, offset, static_cast<uint32_t>(h.record_bytes()), h.kind, std::move(key)});
    }
    *max_seq = std::max(*max_seq, h.seq);
    min_seq = h.seq + 1;
    offset += h.record_bytes();
  }
  return Status::Ok();
}

Status Spool::CorruptionLocked(const std::string& path, uint64_t offset, const std::string& what) {
  ++stats_.corrupt_records;
  std::string message = fmt::format("spool: corrupt data in {} at offset {}: {}", path, offset, what);
  if (options_.fail_on_corruption) return Status::Internal(std::move(message));
  spdlog::error(message);
  return Status::Ok();
}

// ---- Segments ---------------------------------------------------------------

Status Spool::SyncDirLocked() {
  ++stats_.fsyncs;
  if (::fsync(dir_->fd) != 0) return IoError("fsync", options_.dir, errno);
  return Status::Ok();
}

Status Spool::CreateSegmentLocked(uint64_t id) {
  auto segment = std::make_shared<Segment>();
  segment->id = id;
  segment->base_seq = next_seq_;
  const std::string log_path = SegmentPath(options_.dir, id, ".log");
  OVOFLOW_ASSIGN_OR_RETURN(segment->log, OpenFile(log_path, O_RDWR | O_CREAT | O_EXCL));
  Status st = segment->log->WriteAt({SegmentHeader(segment->base_seq)}, 0);
  if (st.ok()) {
    auto ack = OpenFile(SegmentPath(options_.dir, id, ".ack"), O_RDWR | O_CREAT | O_TRUNC);
    st = ack.status();
    if (st.ok()) segment->ack = std::move(ack).value();
  }
  if (st.ok()) {
    st = SyncFd(segment->log->fd, log_path);
    ++stats_.fsyncs;
  }
  if (st.ok()) st = SyncDirLocked();
  if (!st.ok()) {
    // Best effort: Open deletes a newest segment with a torn header, and an ack file without its log.
    ::unlink(log_path.c_str());
    ::unlink(SegmentPath(options_.dir, id, ".ack").c_str());
    return st;
  }
  segment->log_size = kSegmentHeaderBytes;
  segments_.emplace(id, std::move(segment));
  active_id_ = id;
  ++stats_.segments_created;
  return Status::Ok();
}

Status Spool::RollSegmentLocked() {
  const uint64_t old_id = active_id_;
  const SpoolFile& old_log = *segments_.at(old_id)->log;
  // Only the newest segment may end in a torn write: complete this one first.
  ++stats_.fsyncs;
  if (Status st = SyncFd(old_log.fd, old_log.path); !st.ok()) {
    broken_ = st;
    return st;
  }
  OVOFLOW_RETURN_IF_ERROR(CreateSegmentLocked(old_id + 1));
  DeleteIfDoneLocked(old_id);
  return Status::Ok();
}

void Spool::DeleteIfDoneLocked(uint64_t segment_id) {
  auto it = segments_.find(segment_id);
  if (it == segments_.end() || segment_id == active_id_ || it->second->pending > 0) return;
  const Segment& segment = *it->second;
  if (::unlink(segment.log->path.c_str()) != 0) {
    // Kept, and tried again after the next ack of it or at the next Open.
    spdlog::error("spool: {}", IoError("unlink", segment.log->path, errno).message());
    return;
  }
  if (::unlink(segment.ack->path.c_str()) != 0) {
    spdlog::error("spool: {}", IoError("unlink", segment.ack->path, errno).message());
  }
  segments_.erase(it);
  ++stats_.segments_deleted;
  full_ = false;
  // Not durable yet is harmless: a segment that comes back is all acked and goes again.
  if (Status st = SyncDirLocked(); !st.ok()) spdlog::error("{}", st.message());
}

uint64_t Spool::BytesUsedLocked() const {
  uint64_t total = 0;
  for (const auto& [id, segment] : segments_) total += segment->usage();
  return total;
}

Status Spool::MakeRoomLocked(uint64_t footprint, uint64_t record_bytes) {
  const Segment& active = *segments_.at(active_id_);
  const bool has_records = active.log_size > kSegmentHeaderBytes;
  bool roll = has_records && active.log_size + record_bytes > options_.segment_bytes;
  const uint64_t used = BytesUsedLocked();
  if (used + footprint + (roll ? kSegmentHeaderBytes : 0) > options_.max_bytes) {
    // Acked records free their space only with their segment: when all of
    // the active one's are acked, a new segment lets it go.
    roll = has_records && active.pending == 0 &&
           used - active.usage() + kSegmentHeaderBytes + footprint <= options_.max_bytes;
    if (!roll) {
      full_ = true;
      ++stats_.rejected_full;
      return Status::ResourceExhausted(fmt::format("spool {} is full: {} of {} bytes used, the record needs {}",
                                                   options_.dir, used, options_.max_bytes, footprint));
    }
  }
  if (roll) OVOFLOW_RETURN_IF_ERROR(RollSegmentLocked());
  return Status::Ok();
}

// ---- Group commit -----------------------------------------------------------

void Spool::MarkDirtyLocked(const std::shared_ptr<SpoolFile>& file) {
  if (std::find(dirty_.begin(), dirty_.end(), file) == dirty_.end()) dirty_.push_back(file);
}

Status Spool::WaitSyncedLocked(std::unique_lock<std::mutex>& lock, uint64_t ticket) {
  while (synced_ticket_ < ticket) {
    if (!broken_.ok()) return broken_;
    if (sync_running_) {
      synced_cv_.wait(lock);
      continue;
    }
    // Lead a round: sync every file written so far, without the lock, so
    // that writers go on appending for the next round meanwhile.
    sync_running_ = true;
    std::vector<std::shared_ptr<SpoolFile>> files;
    files.swap(dirty_);
    const uint64_t target_ticket = write_ticket_;
    const uint64_t target_seq = last_written_seq_;
    lock.unlock();
    Status st;
    for (const auto& f : files) {
      if (Status s = SyncFd(f->fd, f->path); !s.ok() && st.ok()) st = s;
    }
    lock.lock();
    sync_running_ = false;
    stats_.fsyncs += files.size();
    ++stats_.commit_rounds;
    if (st.ok()) {
      synced_ticket_ = target_ticket;
      durable_seq_ = std::max(durable_seq_, target_seq);
    } else {
      spdlog::error("{}; the spool refuses all calls until it is reopened", st.message());
      broken_ = st;
    }
    synced_cv_.notify_all();
  }
  return Status::Ok();
}

// ---- Append, Ack, read --------------------------------------------------------

Status Spool::Append(uint8_t kind, std::string_view key, std::string_view payload, uint64_t* seq) {
  if (key.empty() || key.size() > kSpoolMaxKeyBytes) {
    return Status::InvalidArgument(fmt::format("spool: key of {} bytes, must be 1..{}", key.size(), kSpoolMaxKeyBytes));
  }
  if (payload.size() > options_.max_payload_bytes) {
    return Status::InvalidArgument(fmt::format("spool: payload of {} bytes is over max_payload_bytes {}",
                                               payload.size(), options_.max_payload_bytes));
  }
  const uint32_t body_crc = Crc32c(payload, Crc32c(key));  // outside the lock: the costly part
  std::unique_lock lock(mu_);
  return AppendLocked(lock, kind, key, payload, body_crc, seq);
}

Status Spool::AppendLocked(std::unique_lock<std::mutex>& lock, uint8_t kind, std::string_view key,
                           std::string_view payload, uint32_t body_crc, uint64_t* seq) {
  if (!broken_.ok()) return broken_;
  const std::string key_str(key);
  auto found = pending_keys_.find(key_str);
  const bool is_pending = found != pending_keys_.end();
  if (is_pending || recent_acked_.contains(key_str)) {
    *seq = is_pending ? found->second : recent_acked_.at(key_str);
    ++stats_.duplicates;
    // The first copy may still wait for its fdatasync: answer once it is on disk.
    OVOFLOW_RETURN_IF_ERROR(WaitSyncedLocked(lock, write_ticket_));
    return {StatusCode::kAlreadyExists,
            fmt::format("spool: key {} is {} as seq {}", key_str, is_pending ? "pending" : "acked", *seq)};
  }
  const uint64_t record_bytes = kRecordHeaderBytes + key.size() + payload.size();
  OVOFLOW_RETURN_IF_ERROR(MakeRoomLocked(record_bytes + kAckEntryBytes, record_bytes));
  Segment& active = *segments_.at(active_id_);

  RecordHeader h;
  h.payload_len = static_cast<uint32_t>(payload.size());
  h.kind = kind;
  h.key_len = static_cast<uint16_t>(key.size());
  h.seq = next_seq_;
  std::array<char, kRecordHeaderBytes> header{};
  EncodeRecordHeader(h, header.data());
  Put32(header.data() + 4, RecordCrc(body_crc, header.data()));
  if (Status st = active.log->WriteAt({std::string_view(header.data(), header.size()), key, payload}, active.log_size);
      !st.ok()) {
    // Take back whatever part was written, so the next record starts clean.
    if (Status t = active.log->Truncate(active.log_size); !t.ok()) broken_ = t;
    return st;
  }
  ++next_seq_;
  pending_.emplace(h.seq,
                   PendingRecord{active.id, active.log_size, static_cast<uint32_t>(record_bytes), kind, key_str});
  pending_keys_.emplace(key_str, h.seq);
  active.log_size += record_bytes;
  ++active.records;
  ++active.pending;
  ++stats_.appends;
  last_written_seq_ = h.seq;
  MarkDirtyLocked(active.log);
  *seq = h.seq;
  return WaitSyncedLocked(lock, ++write_ticket_);
}

Status Spool::WriteAckLocked(uint64_t seq) {
  auto it = pending_.find(seq);
  Segment& segment = *segments_.at(it->second.segment_id);
  const auto entry = AckEntry(seq);
  if (Status st = segment.ack->WriteAt({std::string_view(entry.data(), entry.size())}, segment.ack_size); !st.ok()) {
    if (Status t = segment.ack->Truncate(segment.ack_size); !t.ok()) broken_ = t;
    return st;
  }
  segment.ack_size += kAckEntryBytes;
  --segment.pending;
  pending_keys_.erase(it->second.key);
  RememberAckedLocked(std::move(it->second.key), seq);
  pending_.erase(it);
  ++stats_.acks;
  MarkDirtyLocked(segment.ack);
  ++write_ticket_;
  return Status::Ok();
}

void Spool::RememberAckedLocked(std::string key, uint64_t seq) {
  if (options_.recent_acked_keys == 0 || !recent_acked_.emplace(key, seq).second) return;
  recent_acked_order_.push_back(std::move(key));
  if (recent_acked_order_.size() > options_.recent_acked_keys) {
    recent_acked_.erase(recent_acked_order_.front());
    recent_acked_order_.pop_front();
  }
}

Status Spool::Ack(uint64_t seq) { return AckBatch(std::span<const uint64_t>(&seq, 1)); }

Status Spool::AckBatch(std::span<const uint64_t> seqs) {
  std::unique_lock lock(mu_);
  if (!broken_.ok()) return broken_;
  Status result;
  std::vector<uint64_t> touched;  // segment ids
  for (uint64_t seq : seqs) {
    auto it = pending_.find(seq);
    if (it == pending_.end()) {
      if (seq != 0 && seq < next_seq_) continue;  // acked before, or dropped as corrupt
      result = Status::NotFound(fmt::format("spool: no record with seq {} (next seq is {})", seq, next_seq_));
      break;
    }
    touched.push_back(it->second.segment_id);
    result = WriteAckLocked(seq);
    if (!result.ok()) break;
  }
  // Whatever was written is synced, also when a later seq failed.
  OVOFLOW_RETURN_IF_ERROR(WaitSyncedLocked(lock, write_ticket_));
  for (uint64_t id : touched) DeleteIfDoneLocked(id);
  return result;
}

void Spool::DropCorruptLocked(uint64_t seq) {
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  const uint64_t segment_id = it->second.segment_id;
  --segments_.at(segment_id)->pending;
  pending_keys_.erase(it->second.key);
  pending_.erase(it);
  ++stats_.corrupt_records;
  DeleteIfDoneLocked(segment_id);
}

Result<std::vector<SpoolRecord>> Spool::NextPending(std::size_t max_records, uint64_t after_seq,
                                                    std::size_t max_payload_total) {
  std::vector<PlannedRead> plan;
  {
    std::lock_guard lock(mu_);
    if (!broken_.ok()) return broken_;
    std::size_t payload_total = 0;
    for (auto it = pending_.upper_bound(after_seq);
         it != pending_.end() && it->first <= durable_seq_ && plan.size() < max_records; ++it) {
      const PendingRecord& r = it->second;
      const std::size_t payload_bytes = r.size - kRecordHeaderBytes - r.key.size();
      if (!plan.empty() && payload_total + payload_bytes > max_payload_total) break;
      payload_total += payload_bytes;
      plan.push_back({it->first, segments_.at(r.segment_id)->log, r});
    }
  }
  std::vector<SpoolRecord> out;
  out.reserve(plan.size());
  for (const PlannedRead& p : plan) {
    // Read without the lock: the file stays open through `p.log` even if
    // the record is acked and its segment deleted meanwhile.
    std::array<char, kRecordHeaderBytes + kSpoolMaxKeyBytes> head{};
    const std::size_t head_bytes = kRecordHeaderBytes + p.record.key.size();
    OVOFLOW_RETURN_IF_ERROR(p.log->ReadAt(head.data(), head_bytes, p.record.offset));
    SpoolRecord rec{p.seq, p.record.kind, p.record.key, std::string(p.record.size - head_bytes, '\0')};
    OVOFLOW_RETURN_IF_ERROR(p.log->ReadAt(rec.payload.data(), rec.payload.size(), p.record.offset + head_bytes));
    const RecordHeader h = DecodeRecordHeader(head.data());
    const std::string_view key(head.data() + kRecordHeaderBytes, p.record.key.size());
    if (h.magic != kRecordMagic || h.seq != p.seq || key != p.record.key ||
        RecordCrc(Crc32c(rec.payload, Crc32c(key)), head.data()) != h.crc) {
      spdlog::error("spool: corrupt data in {} at offset {}: record seq {} (key {}) fails its check and is dropped",
                    p.log->path, p.record.offset, p.seq, p.record.key);
      std::lock_guard lock(mu_);
      DropCorruptLocked(p.seq);
      continue;
    }
    out.push_back(std::move(rec));
  }
  return out;
}

// ---- Accessors ----------------------------------------------------------------

uint64_t Spool::bytes_used() const {
  std::lock_guard lock(mu_);
  return BytesUsedLocked();
}

std::size_t Spool::pending_count() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

bool Spool::full() const {
  std::lock_guard lock(mu_);
  return full_;
}

SpoolStats Spool::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace ovoflow::edge
