// The edge agent's disk spool: store and forward. Every scan (or DICOM
// instance) the agent accepts is written here and fdatasync'ed before the
// scanner hears "stored"; a forwarder reads the pending records in order,
// sends them to Kafka and acks each one once the broker has acknowledged it.
// A record's bytes are freed only after it is acked, so a restart, a crash
// or kill -9 loses nothing the scanner was told is stored.
//
// On disk, in SpoolOptions::dir:
//   LOCK                  held with flock() while a Spool is open: one process per directory.
//   seg-NNNNNNNN.log      a segment: a 32-byte header, then records, append-only. Only the
//                         newest ("active") segment is written; the others are complete and
//                         were fdatasync'ed before the next one was created.
//   seg-NNNNNNNN.ack      that segment's acks: one 16-byte entry per acked record, append-only.
// NNNNNNNN is the segment number, decimal, zero-padded, increasing. All
// integers are little-endian. CRC32C is the Castagnoli CRC (iSCSI, SSE4.2's
// crc32 instruction): reflected polynomial 0x82F63B78, initial value and
// final xor 0xFFFFFFFF; Crc32c("123456789") == 0xE3069283.
//
// Segment header (32 bytes):
//   0  char[8] magic "OVSPOOL1"     16 u64 base_seq: the first seq this segment may hold
//   8  u32 format version (1)       24 u32 CRC32C of bytes 0..23
//   12 u32 reserved (0)             28 u32 reserved (0)
// Record (24-byte header, then the key, then the payload):
//   0  u32 magic 0x5053564F ("OVSP")   13 u8  kind: the caller's tag
//   4  u32 CRC32C of key, payload and header bytes 8..23, in that order
//   8  u32 payload length, bytes       14 u16 key length, 1..256
//   12 u8  type (1 = data record)      16 u64 seq
// Ack entry (16 bytes):
//   0  u32 magic 0x4B41564F ("OVAK")   4 u32 CRC32C of bytes 8..15   8 u64 seq of the acked record
//
// Acks live in a file per segment (not as tombstones in the log) so that each
// segment's state is self-contained: a segment whose records are all acked is
// deleted with its ack file (unlink both, then fsync the directory) without
// waiting for older segments, and a record that is never acked holds back
// only its own segment.
//
// Recovery (Open) reads every segment in order and checks each record's
// CRC, length, type and that seqs increase:
//   - The newest segment may end in a torn write (a crash mid-append): from
//     the first bad record on, its tail is cut (ftruncate) and the dropped
//     bytes are logged and counted (SpoolStats::torn_bytes_dropped); appends
//     go on there. A newest segment whose header is torn (a crash while
//     creating it) is deleted and appends go to a new one.
//   - A bad record followed by a good one (a flipped bit, not a torn write)
//     is skipped, in any segment, and counted in corrupt_records.
//   - Any other bad record in an older segment: that segment is read only up
//     to it, the rest counted as one corrupt record and logged with file and
//     offset; Open goes on. An older segment with a bad header is unreadable:
//     counted, logged and deleted.
//   - An ack file's torn tail is cut; a bad entry inside it is counted in
//     corrupt_records and ignored (its record is forwarded again: at least once).
// With SpoolOptions::fail_on_corruption, Open fails instead at any
// corruption that is not a torn tail, naming file and offset.
// Records not acked are pending again, in seq order; seqs continue after the
// highest seen in any record, ack entry or segment header.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/status.h"

namespace ovoflow::edge {

inline constexpr std::size_t kSpoolMaxKeyBytes = 256;

struct SpoolOptions {
  // The spool's directory; created (with its parents) when missing. Required.
  std::string dir;
  // Bound on the spool's bytes on disk (segment and ack files, counting the
  // ack entry each pending record will need), bytes. Default 2 GiB.
  uint64_t max_bytes = uint64_t{2} << 30;
  // A new segment is started when the next record would take the active one
  // past this size, bytes (a larger record gets a segment of its own).
  // Space is freed a whole segment at a time. Default 64 MiB; at least 1 KiB.
  uint64_t segment_bytes = uint64_t{64} << 20;
  // Largest payload Append accepts, bytes. Default 64 MiB; at most 1 GiB.
  uint64_t max_payload_bytes = uint64_t{64} << 20;
  // Keys of acked records remembered for dedupe (the most recent ones),
  // count. Default 100,000. After a restart, those of acked records whose
  // segments still exist are remembered.
  std::size_t recent_acked_keys = 100000;
  // Open fails on any corruption that is not a torn tail (naming file and
  // offset) instead of skipping it. Default false: the agent keeps running.
  bool fail_on_corruption = false;
};

struct SpoolRecord {
  uint64_t seq = 0;  // increasing across restarts; not necessarily dense
  uint8_t kind = 0;  // the caller's tag (e.g. raw DICOM instance, finished scan)
  std::string key;
  std::string payload;
};

// Counters since Open; plain numbers (the agent exports them as metrics).
struct SpoolStats {
  uint64_t appends = 0;             // records written by Append
  uint64_t duplicates = 0;          // Appends answered AlreadyExists
  uint64_t rejected_full = 0;       // Appends answered ResourceExhausted
  uint64_t acks = 0;                // records acked
  uint64_t fsyncs = 0;              // fdatasync/fsync calls of every kind (files and directory)
  uint64_t commit_rounds = 0;       // group commits: fdatasync rounds shared by Append/Ack callers
  uint64_t segments_created = 0;    // segment files created (by Open and rollovers)
  uint64_t segments_deleted = 0;    // segment files deleted once all their records were acked
  uint64_t corrupt_records = 0;     // bad records or ack entries found by Open or NextPending
  uint64_t torn_bytes_dropped = 0;  // bytes cut from torn tails by Open
  uint64_t recovered_pending = 0;   // pending records found by Open
};

// An open file of the spool (defined in spool.cc).
struct SpoolFile;

// Thread-safe: every public method may be called from any thread at once.
// Append and Ack block until their data is fdatasync'ed; concurrent callers
// share one fdatasync (group commit: the first waiter syncs every file
// written so far while the others wait, then the next waiter syncs what came
// meanwhile). Appends are written under one mutex, so a large payload delays
// the others by its copy into the page cache. After an fdatasync fails the
// spool's state on disk is unknown: every later call returns Internal and the
// spool must be reopened (which re-reads what really is on disk).
class Spool {
 public:
  // Opens (creating when missing) the spool in options.dir and recovers it
  // (see the file comment). InvalidArgument for bad options;
  // FailedPrecondition when another process holds the directory; Internal for
  // I/O errors and, with fail_on_corruption, corruption.
  static Result<std::unique_ptr<Spool>> Open(const SpoolOptions& options);
  // Closes the files; no call may still be running. Everything Append/Ack
  // returned OK for is on disk already.
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Writes a record and returns once it is on disk. `seq` must not be null.
  //   OK: *seq is the new record's seq.
  //   AlreadyExists: `key` is pending or among the recently acked keys;
  //     *seq is that record's seq; nothing is written (returns once that
  //     record is on disk).
  //   ResourceExhausted: the record would take the spool past max_bytes;
  //     nothing is written. Retry after acks have freed a segment.
  //   InvalidArgument: empty key, key over 256 bytes, payload over
  //     max_payload_bytes.
  //   Internal: I/O error (file, offset, errno text).
  Status Append(uint8_t kind, std::string_view key, std::string_view payload, uint64_t* seq);

  // Marks records delivered and returns once that is on disk; a segment
  // whose records are all acked and that is not the active one is deleted.
  // Acking a seq already acked (or dropped as corrupt) is OK; NotFound for a
  // seq never handed out. AckBatch shares one fdatasync among all its seqs.
  Status Ack(uint64_t seq);
  Status AckBatch(std::span<const uint64_t> seqs);

  // The pending records with seq > after_seq, in seq order: at most
  // max_records, and no more payload bytes than max_payload_total except that
  // the first record always comes. Payloads are read from disk (pread) and
  // their CRC checked; a record that fails it is logged, counted in
  // corrupt_records and dropped from the spool (it cannot be forwarded), and
  // the next ones come instead. Only records on disk are returned (an Append
  // still waiting for its fdatasync is not). The forwarder calls this with
  // the last seq it took, so it never receives a record twice while it runs.
  Result<std::vector<SpoolRecord>> NextPending(std::size_t max_records, uint64_t after_seq = 0,
                                               std::size_t max_payload_total = std::size_t{64} << 20);

  // Bytes on disk, counting the ack entry each pending record will need.
  uint64_t bytes_used() const;
  // Records appended and not yet acked.
  std::size_t pending_count() const;
  // True from an Append refused for lack of space until a segment deletion
  // frees space (the agent reports "Out of Resources" meanwhile).
  bool full() const;
  SpoolStats stats() const;
  const SpoolOptions& options() const { return options_; }

 private:
  struct Segment;
  struct PendingRecord {
    uint64_t segment_id;
    uint64_t offset;  // of the record's header in the segment file
    uint32_t size;    // header + key + payload, bytes
    uint8_t kind;
    std::string key;
  };
  struct PlannedRead;

  explicit Spool(SpoolOptions options);

  // Open's recovery (see the file comment); mu_ held, nothing else running.
  Status RecoverLocked();                                                    // requires mu_
  Status RecoverSegmentLocked(uint64_t id, bool newest, uint64_t* max_seq);  // requires mu_
  Status ScanRecordsLocked(Segment& segment, bool newest, const std::unordered_set<uint64_t>& acked,
                           uint64_t* max_seq);                                                 // requires mu_
  Result<std::unordered_set<uint64_t>> LoadAcksLocked(Segment& segment, uint64_t* max_seq);    // requires mu_
  Status CorruptionLocked(const std::string& path, uint64_t offset, const std::string& what);  // requires mu_

  Status AppendLocked(std::unique_lock<std::mutex>& lock, uint8_t kind, std::string_view key, std::string_view payload,
                      uint32_t body_crc, uint64_t* seq);             // requires mu_
  Status MakeRoomLocked(uint64_t footprint, uint64_t record_bytes);  // requires mu_
  Status CreateSegmentLocked(uint64_t id);                           // requires mu_
  Status RollSegmentLocked();                                        // requires mu_
  void DeleteIfDoneLocked(uint64_t segment_id);                      // requires mu_
  Status WriteAckLocked(uint64_t seq);                               // requires mu_
  // Blocks until every write with a ticket <= `ticket` is fdatasync'ed,
  // leading a sync round when none is running.
  Status WaitSyncedLocked(std::unique_lock<std::mutex>& lock, uint64_t ticket);  // requires mu_
  void MarkDirtyLocked(const std::shared_ptr<SpoolFile>& file);                  // requires mu_
  void RememberAckedLocked(std::string key, uint64_t seq);                       // requires mu_
  void DropCorruptLocked(uint64_t seq);                                          // requires mu_
  uint64_t BytesUsedLocked() const;                                              // requires mu_
  Status SyncDirLocked();                                                        // requires mu_

  const SpoolOptions options_;
  std::shared_ptr<SpoolFile> lock_file_;  // flock'ed LOCK, held while open
  std::shared_ptr<SpoolFile> dir_;        // the directory, for fsync

  mutable std::mutex mu_;
  std::condition_variable synced_cv_;
  std::map<uint64_t, std::shared_ptr<Segment>> segments_;   // GUARDED_BY(mu_): by segment number
  uint64_t active_id_ = 0;                                  // GUARDED_BY(mu_): the segment appended to
  std::map<uint64_t, PendingRecord> pending_;               // GUARDED_BY(mu_): by seq
  std::unordered_map<std::string, uint64_t> pending_keys_;  // GUARDED_BY(mu_): key -> seq
  std::unordered_map<std::string, uint64_t> recent_acked_;  // GUARDED_BY(mu_): key -> seq
  std::deque<std::string> recent_acked_order_;              // GUARDED_BY(mu_): oldest first
  uint64_t next_seq_ = 1;                                   // GUARDED_BY(mu_)
  uint64_t write_ticket_ = 0;                               // GUARDED_BY(mu_): writes issued
  uint64_t synced_ticket_ = 0;                              // GUARDED_BY(mu_): writes on disk
  uint64_t last_written_seq_ = 0;                           // GUARDED_BY(mu_)
  uint64_t durable_seq_ = 0;                                // GUARDED_BY(mu_): records up to it are on disk
  bool sync_running_ = false;                               // GUARDED_BY(mu_)
  std::vector<std::shared_ptr<SpoolFile>> dirty_;           // GUARDED_BY(mu_): written since the last round began
  Status broken_;      // GUARDED_BY(mu_): sticky after a failed fdatasync or a failed write not taken back
  bool full_ = false;  // GUARDED_BY(mu_)
  SpoolStats stats_;   // GUARDED_BY(mu_)
};

// CRC32C (Castagnoli) of `data`, continuing from `crc` (the CRC of the
// bytes before): Crc32c(b, Crc32c(a)) == Crc32c(a + b). Exposed for tests
// and tools that read spool files.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace ovoflow::edge
