#include "edge/spool.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"

namespace ovoflow::edge {
namespace {

namespace fs = std::filesystem;
using ovoflow::testing::TempDir;

constexpr uint64_t kSegmentHeader = 32;
constexpr uint64_t kRecordHeader = 24;

SpoolOptions Options(const TempDir& dir) {
  SpoolOptions o;
  o.dir = dir.path() + "/spool";
  return o;
}

std::unique_ptr<Spool> OpenOrNull(const SpoolOptions& options) {
  auto spool = Spool::Open(options);
  if (!spool.ok()) {
    ADD_FAILURE() << spool.status().ToString();
    return nullptr;
  }
  return std::move(spool).value();
}

uint64_t AppendOk(Spool& spool, const std::string& key, const std::string& payload, uint8_t kind = 1) {
  uint64_t seq = 0;
  const Status st = spool.Append(kind, key, payload, &seq);
  EXPECT_TRUE(st.ok()) << key << ": " << st.ToString();
  return seq;
}

// Every pending record, read in pages of `page` records.
std::vector<SpoolRecord> AllPending(Spool& spool, std::size_t page = 7) {
  std::vector<SpoolRecord> all;
  uint64_t after = 0;
  for (;;) {
    auto batch = spool.NextPending(page, after);
    EXPECT_TRUE(batch.ok()) << batch.status().ToString();
    if (!batch.ok() || batch->empty()) return all;
    after = batch->back().seq;
    for (auto& r : *batch) all.push_back(std::move(r));
  }
}

std::vector<std::string> Keys(const std::vector<SpoolRecord>& records) {
  std::vector<std::string> keys;
  keys.reserve(records.size());
  for (const auto& r : records) keys.push_back(r.key);
  return keys;
}

// Names of the segment logs in `dir`, sorted.
std::vector<std::string> SegmentLogs(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".log")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) total += e.file_size();
  return total;
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.is_open()) << path;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
  ASSERT_TRUE(f.good());
}

void AppendBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << bytes;
  ASSERT_TRUE(f.good()) << path;
}

uint64_t RecordBytes(const std::string& key, const std::string& payload) {
  return kRecordHeader + key.size() + payload.size();
}

TEST(Crc32cTest, KnownValuesAndChaining) {
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);    // RFC 3720, B.4
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);  // RFC 3720, B.4
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7));
  for (std::size_t split : {0, 1, 7, 8, 9, 500, 1000}) {
    const std::string_view v(data);
    EXPECT_EQ(Crc32c(v.substr(split), Crc32c(v.substr(0, split))), Crc32c(data)) << split;
  }
}

TEST(SpoolTest, RejectsBadOptionsAndArguments) {
  TempDir dir("spool-args");
  SpoolOptions o = Options(dir);
  o.dir = "";
  EXPECT_EQ(Spool::Open(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(dir);
  o.segment_bytes = 100;
  EXPECT_EQ(Spool::Open(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(dir);
  o.max_bytes = o.segment_bytes - 1;
  EXPECT_EQ(Spool::Open(o).status().code(), StatusCode::kInvalidArgument);

  o = Options(dir);
  o.max_payload_bytes = 10;
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  uint64_t seq = 0;
  EXPECT_EQ(spool->Append(1, "", "x", &seq).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(spool->Append(1, std::string(257, 'k'), "x", &seq).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(spool->Append(1, "k", std::string(11, 'p'), &seq).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AppendOk(*spool, std::string(256, 'k'), std::string(10, 'p')), 1u);
  EXPECT_EQ(spool->Ack(0).code(), StatusCode::kNotFound);
  EXPECT_EQ(spool->Ack(2).code(), StatusCode::kNotFound);
  EXPECT_TRUE(spool->Ack(1).ok());
  EXPECT_TRUE(spool->Ack(1).ok()) << "acking twice is harmless";
  EXPECT_EQ(spool->stats().appends, 1u);
}

TEST(SpoolTest, SecondOpenOfTheSameDirectoryFails) {
  TempDir dir("spool-lock");
  auto first = OpenOrNull(Options(dir));
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(Spool::Open(Options(dir)).status().code(), StatusCode::kFailedPrecondition);
  first.reset();
  EXPECT_NE(OpenOrNull(Options(dir)), nullptr);
}

TEST(SpoolTest, AppendReadAckRoundTrip) {
  TempDir dir("spool-roundtrip");
  auto spool = OpenOrNull(Options(dir));
  ASSERT_NE(spool, nullptr);
  const std::string binary("a\0b\xff", 4);
  const uint64_t s1 = AppendOk(*spool, "1.2.840.1", binary, 7);
  const uint64_t s2 = AppendOk(*spool, "scan-2", "", 9);
  const uint64_t s3 = AppendOk(*spool, "scan-3", std::string(5000, 'z'), 9);
  EXPECT_LT(s1, s2);
  EXPECT_LT(s2, s3);
  EXPECT_EQ(spool->pending_count(), 3u);

  auto records = spool->NextPending(10);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].seq, s1);
  EXPECT_EQ((*records)[0].kind, 7);
  EXPECT_EQ((*records)[0].key, "1.2.840.1");
  EXPECT_EQ((*records)[0].payload, binary);
  EXPECT_EQ((*records)[1].payload, "");
  EXPECT_EQ((*records)[2].payload, std::string(5000, 'z'));

  // Paging: by count, after a seq, and by payload bytes (the first always comes).
  EXPECT_EQ(Keys(*spool->NextPending(1)), (std::vector<std::string>{"1.2.840.1"}));
  EXPECT_EQ(Keys(*spool->NextPending(10, s1)), (std::vector<std::string>{"scan-2", "scan-3"}));
  EXPECT_EQ(Keys(*spool->NextPending(10, s2, 100)), (std::vector<std::string>{"scan-3"}));
  EXPECT_EQ(Keys(*spool->NextPending(10, 0, 4)), (std::vector<std::string>{"1.2.840.1", "scan-2"}));
  EXPECT_TRUE(spool->NextPending(0)->empty());

  ASSERT_TRUE(spool->Ack(s2).ok());
  EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"1.2.840.1", "scan-3"}));
  const std::vector<uint64_t> rest = {s1, s3};
  ASSERT_TRUE(spool->AckBatch(rest).ok());
  EXPECT_EQ(spool->pending_count(), 0u);
  EXPECT_TRUE(AllPending(*spool).empty());
  EXPECT_EQ(spool->stats().acks, 3u);
}

TEST(SpoolTest, LargePayloadGetsASegmentOfItsOwn) {
  TempDir dir("spool-large");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 1 << 20;
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  std::string big(5 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);  // no runs
  AppendOk(*spool, "small-1", "x");
  const uint64_t seq = AppendOk(*spool, "big", big);
  AppendOk(*spool, "small-2", "y");
  EXPECT_EQ(SegmentLogs(o.dir).size(), 3u);
  auto records = spool->NextPending(1, seq - 1);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_TRUE(records->front().payload == big);
}

TEST(SpoolTest, RestartKeepsPendingInOrderAndSeqsGoOn) {
  TempDir dir("spool-restart");
  const SpoolOptions o = Options(dir);
  std::vector<std::string> expected;
  uint64_t last = 0;
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    for (int i = 0; i < 10; ++i) {
      const std::string key = "scan-" + std::to_string(i);
      last = AppendOk(*spool, key, "payload " + key, static_cast<uint8_t>(i % 2));
      if (i % 3 == 0) {
        ASSERT_TRUE(spool->Ack(last).ok());
      } else {
        expected.push_back(key);
      }
    }
  }
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  const auto pending = AllPending(*spool);
  EXPECT_EQ(Keys(pending), expected);
  for (const auto& r : pending) {
    EXPECT_EQ(r.payload, "payload " + r.key);
    EXPECT_EQ(r.kind, std::stoi(r.key.substr(5)) % 2);
  }
  EXPECT_EQ(spool->pending_count(), expected.size());
  EXPECT_EQ(spool->stats().recovered_pending, expected.size());
  EXPECT_GT(AppendOk(*spool, "scan-10", "p"), last);
}

TEST(SpoolTest, AckedRecordsDoNotComeBackAfterReopen) {
  TempDir dir("spool-acked");
  const SpoolOptions o = Options(dir);
  uint64_t seq = 0;
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    AppendOk(*spool, "a", "1");
    seq = AppendOk(*spool, "b", "2");
    ASSERT_TRUE(spool->Ack(1).ok());
    ASSERT_TRUE(spool->Ack(seq).ok());
  }
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->pending_count(), 0u);
  EXPECT_TRUE(AllPending(*spool).empty());
  // Still remembered: their segment is still there.
  uint64_t existing = 0;
  EXPECT_EQ(spool->Append(1, "b", "2", &existing).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(existing, seq);
  EXPECT_TRUE(spool->Ack(seq).ok());
}

TEST(SpoolTest, SegmentIsDeletedOnceAllItsRecordsAreAcked) {
  TempDir dir("spool-segments");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 1024;
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  const std::string payload(200, 'p');
  std::vector<uint64_t> seqs;
  seqs.reserve(12);
  for (int i = 0; i < 12; ++i) seqs.push_back(AppendOk(*spool, "k" + std::to_string(i), payload));
  // 32-byte header + 4 records of 24 + 2 + 200 bytes fit in 1 KiB; the fifth does not.
  ASSERT_EQ(SegmentLogs(o.dir), (std::vector<std::string>{"seg-00000001.log", "seg-00000002.log", "seg-00000003.log"}));
  const uint64_t used = spool->bytes_used();

  // The middle segment first: it goes although the older one still holds pending records.
  ASSERT_TRUE(spool->AckBatch(std::vector<uint64_t>(seqs.begin() + 4, seqs.begin() + 8)).ok());
  EXPECT_EQ(SegmentLogs(o.dir), (std::vector<std::string>{"seg-00000001.log", "seg-00000003.log"}));
  EXPECT_FALSE(fs::exists(o.dir + "/seg-00000002.ack"));
  EXPECT_LT(spool->bytes_used(), used);
  ASSERT_TRUE(spool->AckBatch(std::vector<uint64_t>(seqs.begin(), seqs.begin() + 3)).ok());
  EXPECT_EQ(SegmentLogs(o.dir).size(), 2u) << "one record of segment 1 is still pending";
  ASSERT_TRUE(spool->Ack(seqs[3]).ok());
  EXPECT_EQ(SegmentLogs(o.dir), (std::vector<std::string>{"seg-00000003.log"}));
  // The active segment stays even when all its records are acked.
  ASSERT_TRUE(spool->AckBatch(std::vector<uint64_t>(seqs.begin() + 8, seqs.end())).ok());
  EXPECT_EQ(SegmentLogs(o.dir), (std::vector<std::string>{"seg-00000003.log"}));
  EXPECT_EQ(spool->stats().segments_deleted, 2u);
  EXPECT_EQ(spool->bytes_used(), DirBytes(o.dir));

  spool.reset();
  spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->pending_count(), 0u);
  EXPECT_GT(AppendOk(*spool, "k12", payload), seqs.back());
}

TEST(SpoolTest, PendingSurvivesReopenAcrossSegments) {
  TempDir dir("spool-multiseg");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 1024;
  std::vector<std::string> expected;
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    for (int i = 0; i < 30; ++i) {
      const std::string key = "k" + std::to_string(i);
      const uint64_t seq = AppendOk(*spool, key, std::string(100 + i, 'x'));
      if (i % 4 == 1) {
        ASSERT_TRUE(spool->Ack(seq).ok());
      } else {
        expected.push_back(key);
      }
    }
  }
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(Keys(AllPending(*spool)), expected);
  EXPECT_EQ(spool->stats().corrupt_records, 0u);
  EXPECT_EQ(spool->stats().torn_bytes_dropped, 0u);
}

TEST(SpoolTest, DedupesPendingAndRecentlyAckedKeys) {
  TempDir dir("spool-dedupe");
  SpoolOptions o = Options(dir);
  o.recent_acked_keys = 2;
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  const uint64_t a = AppendOk(*spool, "a", "first");
  uint64_t seq = 0;
  EXPECT_EQ(spool->Append(1, "a", "second", &seq).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(seq, a);
  EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"a"}));
  EXPECT_EQ(AllPending(*spool).front().payload, "first");

  const uint64_t b = AppendOk(*spool, "b", "b");
  const uint64_t c = AppendOk(*spool, "c", "c");
  ASSERT_TRUE(spool->Ack(a).ok());
  EXPECT_EQ(spool->Append(1, "a", "again", &seq).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(seq, a);
  ASSERT_TRUE(spool->Ack(b).ok());
  ASSERT_TRUE(spool->Ack(c).ok());
  // Only the last two acked keys are remembered: "a" is forgotten.
  EXPECT_EQ(spool->Append(1, "b", "again", &seq).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(seq, b);
  EXPECT_GT(AppendOk(*spool, "a", "again"), c);
  EXPECT_EQ(spool->stats().duplicates, 3u);
  EXPECT_EQ(spool->stats().appends, 4u);
}

TEST(SpoolTest, FullSpoolRefusesWritesNothingAndAcceptsAfterAcks) {
  TempDir dir("spool-full");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 1024;
  o.max_bytes = 4096;
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  const std::string payload(200, 'p');
  std::vector<uint64_t> seqs;
  Status st;
  for (int i = 0; i < 100 && st.ok(); ++i) {
    uint64_t seq = 0;
    st = spool->Append(1, "k" + std::to_string(i), payload, &seq);
    if (st.ok()) seqs.push_back(seq);
  }
  ASSERT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  EXPECT_TRUE(st.retryable());
  EXPECT_EQ(seqs.size(), 16u);  // 4 segments of 4 records; a fifth segment would pass 4096 bytes
  EXPECT_TRUE(spool->full());
  EXPECT_LE(spool->bytes_used(), o.max_bytes);

  const uint64_t used = spool->bytes_used();
  const uint64_t on_disk = DirBytes(o.dir);
  uint64_t seq = 0;
  EXPECT_EQ(spool->Append(1, "another", payload, &seq).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(spool->Append(1, "small", std::string(50, 'p'), &seq).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(spool->full());
  EXPECT_EQ(spool->bytes_used(), used);
  EXPECT_EQ(DirBytes(o.dir), on_disk);
  EXPECT_EQ(spool->pending_count(), 16u);
  EXPECT_EQ(spool->stats().rejected_full, 3u);

  // Acking three records of the first segment frees nothing yet; the fourth frees the segment.
  ASSERT_TRUE(spool->AckBatch(std::vector<uint64_t>(seqs.begin(), seqs.begin() + 3)).ok());
  EXPECT_EQ(spool->Append(1, "another", payload, &seq).code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(spool->Ack(seqs[3]).ok());
  EXPECT_FALSE(spool->full());
  AppendOk(*spool, "another", payload);
  EXPECT_LE(spool->bytes_used(), o.max_bytes);
  EXPECT_LE(DirBytes(o.dir), o.max_bytes);
}

TEST(SpoolTest, FullSingleSegmentIsFreedByRollingOverWhenAllAcked) {
  TempDir dir("spool-full-one");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 2048;
  o.max_bytes = 2048;
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  std::vector<uint64_t> seqs;
  Status st;
  for (int i = 0; i < 100 && st.ok(); ++i) {
    uint64_t seq = 0;
    st = spool->Append(1, "k" + std::to_string(i), std::string(300, 'p'), &seq);
    if (st.ok()) seqs.push_back(seq);
  }
  ASSERT_EQ(st.code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(spool->AckBatch(seqs).ok());
  AppendOk(*spool, "after", std::string(300, 'p'));
  EXPECT_EQ(SegmentLogs(o.dir), (std::vector<std::string>{"seg-00000002.log"}));
}

TEST(SpoolTest, TornTailIsCutOnReopen) {
  TempDir dir("spool-torn");
  const SpoolOptions o = Options(dir);
  const std::string log = o.dir + "/seg-00000001.log";
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    for (int i = 0; i < 5; ++i) AppendOk(*spool, "k" + std::to_string(i), std::string(100, static_cast<char>('a' + i)));
  }
  // A crash in the middle of the fifth record.
  const uint64_t size = fs::file_size(log);
  fs::resize_file(log, size - 10);
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"k0", "k1", "k2", "k3"}));
    EXPECT_EQ(spool->stats().torn_bytes_dropped, RecordBytes("k4", std::string(100, 'e')) - 10);
    EXPECT_EQ(spool->stats().corrupt_records, 0u);
    EXPECT_EQ(fs::file_size(log), size - RecordBytes("k4", std::string(100, 'e')));
    AppendOk(*spool, "k4", "again");
  }
  // Garbage after the last record: longer and shorter than a record header.
  for (const std::string& garbage : {std::string(100, '\x17'), std::string("\x4f\x56\x53\x50junk", 8)}) {
    AppendBytes(log, garbage);
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"k0", "k1", "k2", "k3", "k4"}));
    EXPECT_EQ(spool->stats().torn_bytes_dropped, garbage.size());
    EXPECT_EQ(spool->stats().corrupt_records, 0u);
  }
}

TEST(SpoolTest, TornTailOfAckFileIsCut) {
  TempDir dir("spool-torn-ack");
  const SpoolOptions o = Options(dir);
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    AppendOk(*spool, "a", "1");
    AppendOk(*spool, "b", "2");
    ASSERT_TRUE(spool->Ack(1).ok());
  }
  AppendBytes(o.dir + "/seg-00000001.ack", "torn ack");
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"b"}));
  EXPECT_EQ(spool->stats().torn_bytes_dropped, 8u);
  ASSERT_TRUE(spool->Ack(2).ok());
  spool.reset();
  spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->pending_count(), 0u);
}

TEST(SpoolTest, TornHeaderOfNewestSegmentIsDeleted) {
  TempDir dir("spool-torn-header");
  const SpoolOptions o = Options(dir);
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    AppendOk(*spool, "a", "1");
  }
  AppendBytes(o.dir + "/seg-00000002.log", "OVSPO");  // a crash while creating segment 2
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"a"}));
  EXPECT_EQ(spool->stats().torn_bytes_dropped, 5u);
  EXPECT_EQ(AppendOk(*spool, "b", "2"), 2u);
  EXPECT_EQ(SegmentLogs(o.dir), (std::vector<std::string>{"seg-00000001.log", "seg-00000003.log"}));
  spool.reset();
  spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"a", "b"}));
}

TEST(SpoolTest, AckFileWithoutItsLogIsDeleted) {
  TempDir dir("spool-orphan");
  const SpoolOptions o = Options(dir);
  OpenOrNull(o).reset();
  AppendBytes(o.dir + "/seg-00000009.ack", "");  // a deletion cut short between its two unlinks
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  EXPECT_FALSE(fs::exists(o.dir + "/seg-00000009.ack"));
  EXPECT_TRUE(fs::exists(o.dir + "/seg-00000001.ack"));
}

TEST(SpoolTest, FlippedPayloadByteIsCaughtByTheCrc) {
  TempDir dir("spool-flip");
  SpoolOptions o = Options(dir);
  const std::string log = o.dir + "/seg-00000001.log";
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    AppendOk(*spool, "k0", "payload-0");
    AppendOk(*spool, "k1", "payload-1");
    AppendOk(*spool, "k2", "payload-2");
  }
  const uint64_t k1_offset = kSegmentHeader + RecordBytes("k0", "payload-0");
  FlipByte(log, k1_offset + kRecordHeader + 2 + 5);
  {
    // Damage with a good record after it is skipped, also in the newest segment.
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"k0", "k2"}));
    EXPECT_EQ(spool->stats().corrupt_records, 1u);
    EXPECT_EQ(spool->stats().torn_bytes_dropped, 0u);
  }
  o.fail_on_corruption = true;
  auto failed = Spool::Open(o);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("seg-00000001.log at offset " + std::to_string(k1_offset)),
            std::string::npos)
      << failed.status().message();
}

TEST(SpoolTest, CorruptionInOlderSegmentStopsReadingThatSegment) {
  TempDir dir("spool-old-corrupt");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 1024;
  const std::string payload(200, 'p');
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    for (int i = 0; i < 6; ++i) AppendOk(*spool, "k" + std::to_string(i), payload);
  }
  ASSERT_EQ(SegmentLogs(o.dir).size(), 2u);
  // The last record of segment 1 (k3): nothing good follows it there.
  const uint64_t k3_offset = kSegmentHeader + 3 * RecordBytes("k0", payload);
  FlipByte(o.dir + "/seg-00000001.log", k3_offset + kRecordHeader + 10);
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"k0", "k1", "k2", "k4", "k5"}));
    EXPECT_EQ(spool->stats().corrupt_records, 1u);
    EXPECT_EQ(spool->stats().torn_bytes_dropped, 0u);
    EXPECT_EQ(fs::file_size(o.dir + "/seg-00000001.log"), k3_offset + RecordBytes("k3", payload))
        << "an older segment is never truncated";
  }
  o.fail_on_corruption = true;
  auto failed = Spool::Open(o);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal);
  EXPECT_NE(failed.status().message().find("seg-00000001.log at offset " + std::to_string(k3_offset)),
            std::string::npos)
      << failed.status().message();
}

TEST(SpoolTest, OlderSegmentWithBadHeaderIsCountedAndDeleted) {
  TempDir dir("spool-old-header");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 1024;
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    for (int i = 0; i < 6; ++i) AppendOk(*spool, "k" + std::to_string(i), std::string(200, 'p'));
  }
  FlipByte(o.dir + "/seg-00000001.log", 17);  // in base_seq
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"k4", "k5"}));
  EXPECT_EQ(spool->stats().corrupt_records, 1u);
  EXPECT_EQ(SegmentLogs(o.dir), (std::vector<std::string>{"seg-00000002.log"}));
  EXPECT_EQ(AppendOk(*spool, "k6", "p"), 7u);
}

TEST(SpoolTest, CorruptionFoundWhileReadingDropsTheRecord) {
  TempDir dir("spool-read-corrupt");
  const SpoolOptions o = Options(dir);
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  AppendOk(*spool, "k0", "payload-0");
  AppendOk(*spool, "k1", "payload-1");
  AppendOk(*spool, "k2", "payload-2");
  FlipByte(o.dir + "/seg-00000001.log", kSegmentHeader + RecordBytes("k0", "payload-0") + kRecordHeader + 4);
  EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"k0", "k2"}));
  EXPECT_EQ(spool->stats().corrupt_records, 1u);
  EXPECT_EQ(spool->pending_count(), 2u);
}

// A write that fails part way (here at the file-size limit: EFBIG) is taken
// back: that record is not in the spool and the next one starts clean.
TEST(SpoolTest, FailedWriteIsTakenBack) {
  TempDir dir("spool-efbig");
  const SpoolOptions o = Options(dir);
  const std::string log = o.dir + "/seg-00000001.log";
  {
    auto spool = OpenOrNull(o);
    ASSERT_NE(spool, nullptr);
    AppendOk(*spool, "before", "x");
  }
  const uint64_t size = fs::file_size(log);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // In a child, so the limit binds nothing else; without SIGXFSZ the write fails with EFBIG.
    const rlimit limit{size + 1000, size + 1000};
    if (std::signal(SIGXFSZ, SIG_IGN) == SIG_ERR || ::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(2);
    auto spool = Spool::Open(o);
    if (!spool.ok()) ::_exit(3);
    uint64_t seq = 0;
    const Status st = (*spool)->Append(1, "big", std::string(5000, 'b'), &seq);
    if (st.code() != StatusCode::kInternal || st.message().find("File too large") == std::string::npos) ::_exit(4);
    if (fs::file_size(log) != size) ::_exit(5);
    if (!(*spool)->Append(1, "small", "y", &seq).ok()) ::_exit(6);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the child's check that failed (see its code)";
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(Keys(AllPending(*spool)), (std::vector<std::string>{"before", "small"}));
  EXPECT_EQ(spool->stats().torn_bytes_dropped, 0u);
  EXPECT_EQ(spool->stats().corrupt_records, 0u);
}

TEST(SpoolTest, ConcurrentAppendsShareFsyncs) {
  TempDir dir("spool-concurrent");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 64 << 10;  // some rollovers on the way
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  constexpr uint64_t kTotal = uint64_t{kThreads} * kPerThread;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&spool, &failures, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        uint64_t seq = 0;
        if (!spool->Append(static_cast<uint8_t>(t), key, "payload of " + key, &seq).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);

  const SpoolStats stats = spool->stats();
  EXPECT_EQ(stats.appends, kTotal);
  EXPECT_LT(stats.fsyncs, stats.appends);
  std::cout << "[ spool    ] " << stats.appends << " appends from " << kThreads << " threads: " << stats.fsyncs
            << " fsyncs (" << stats.commit_rounds << " group commits, " << stats.segments_created
            << " segments), ratio " << static_cast<double>(stats.fsyncs) / static_cast<double>(stats.appends) << "\n";

  auto check = [&](const std::vector<SpoolRecord>& records) {
    std::set<std::string> keys;
    uint64_t last = 0;
    for (const auto& r : records) {
      EXPECT_TRUE(keys.insert(r.key).second) << "twice: " << r.key;
      EXPECT_GT(r.seq, last);
      last = r.seq;
      EXPECT_EQ(r.payload, "payload of " + r.key);
    }
    EXPECT_EQ(keys.size(), kTotal);
  };
  check(AllPending(*spool, 1000));
  spool.reset();
  spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  check(AllPending(*spool, 1000));
}

TEST(SpoolTest, ConcurrentAppendAndForwardDrainsEverything) {
  TempDir dir("spool-forward");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 4096;
  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  constexpr int kTotal = kThreads * kPerThread;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&spool, &failures, t] {
      for (int i = 0; i < kPerThread; ++i) {
        uint64_t seq = 0;
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (!spool->Append(1, key, std::string(100, 'x'), &seq).ok()) ++failures;
      }
    });
  }
  std::set<std::string> forwarded;
  uint64_t after = 0;
  while (static_cast<int>(forwarded.size()) < kTotal && failures.load() == 0) {
    auto batch = spool->NextPending(16, after);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    if (batch->empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    std::vector<uint64_t> seqs;
    for (const auto& r : *batch) {
      EXPECT_TRUE(forwarded.insert(r.key).second) << "twice: " << r.key;
      seqs.push_back(r.seq);
      after = r.seq;
    }
    ASSERT_TRUE(spool->AckBatch(seqs).ok());
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(spool->pending_count(), 0u);
  EXPECT_GT(spool->stats().segments_deleted, 0u);
  EXPECT_EQ(SegmentLogs(o.dir).size(), 1u);
  EXPECT_EQ(spool->bytes_used(), DirBytes(o.dir));
}

// ---- kill -9 ------------------------------------------------------------------

std::string CrashPayload(const std::string& key) {
  return std::string(std::hash<std::string>{}(key) % 3000, key.back()) + key;
}

void Report(int fd, const std::string& line) {
  const std::string text = line + "\n";  // shorter than PIPE_BUF: written in one piece
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) ::_exit(4);
}

// The child: three appenders and a forwarder that acks every other record.
// On `fd`: "P seq key" once Append returned OK, "a seq" before an Ack and
// "A seq" once it returned OK, "E status" on errors. Never returns.
[[noreturn]] void RunCrashChild(const SpoolOptions& options, int fd) {
  auto opened = Spool::Open(options);
  if (!opened.ok()) {
    Report(fd, "E " + opened.status().ToString());
    ::_exit(2);
  }
  Spool& spool = **opened;
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&spool, fd, t] {
      for (int i = 0;; ++i) {
        const std::string key = "c" + std::to_string(t) + "-" + std::to_string(i);
        uint64_t seq = 0;
        const Status st = spool.Append(2, key, CrashPayload(key), &seq);
        Report(fd, st.ok() ? "P " + std::to_string(seq) + " " + key : "E " + st.ToString());
      }
    });
  }
  threads.emplace_back([&spool, fd] {
    uint64_t after = 0;
    for (;;) {
      auto batch = spool.NextPending(8, after);
      if (!batch.ok()) {
        Report(fd, "E " + batch.status().ToString());
        ::_exit(5);
      }
      for (const auto& r : *batch) {
        after = r.seq;
        if (r.seq % 2 != 0) continue;
        Report(fd, "a " + std::to_string(r.seq));  // about to ack: it may or may not come back
        const Status st = spool.Ack(r.seq);
        Report(fd, st.ok() ? "A " + std::to_string(r.seq) : "E " + st.ToString());
      }
    }
  });
  for (auto& t : threads) t.join();
  ::_exit(0);
}

// Kills and reaps the child however the test ends.
struct ChildGuard {
  pid_t pid = -1;
  ChildGuard() = default;
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  ~ChildGuard() { KillAndWait(); }
  int KillAndWait() {
    int status = 0;
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      pid = -1;
    }
    return status;
  }
};

// Reads '\n'-terminated lines from a pipe.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  bool Next(std::string* line) {
    for (;;) {
      if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
        *line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return true;
      }
      std::array<char, 4096> chunk{};
      const ssize_t n = ::read(fd_, chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(chunk.data(), static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buffer_;
};

TEST(SpoolCrashTest, KillNineLosesNothingThatWasReported) {
  TempDir dir("spool-crash");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 16 << 10;  // rollovers and deletions while the child runs
  std::random_device device;
  const unsigned seed = device();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int kill_after = std::uniform_int_distribution<int>(1, 400)(rng);
  const int then_us = std::uniform_int_distribution<int>(0, 2000)(rng);

  std::array<int, 2> fds{};
  ASSERT_EQ(::pipe(fds.data()), 0);
  ChildGuard child;
  child.pid = ::fork();
  ASSERT_GE(child.pid, 0);
  if (child.pid == 0) {
    ::close(fds[0]);
    RunCrashChild(o, fds[1]);
  }
  ::close(fds[1]);

  std::map<uint64_t, std::string> appended;  // seq -> key, as reported
  std::set<uint64_t> acking;                 // Ack called
  std::set<uint64_t> acked;                  // Ack returned OK
  std::vector<std::string> errors;
  LineReader reader(fds[0]);
  auto take = [&](const std::string& line) {
    std::istringstream in(line);
    std::string tag;
    uint64_t seq = 0;
    in >> tag;
    if (tag == "P" && in >> seq) {
      in >> appended[seq];
    } else if (tag == "a" && in >> seq) {
      acking.insert(seq);
    } else if (tag == "A" && in >> seq) {
      acked.insert(seq);
    } else {
      errors.push_back(line);
    }
  };
  std::string line;
  while (static_cast<int>(appended.size()) < kill_after && errors.empty() && reader.Next(&line)) take(line);
  std::this_thread::sleep_for(std::chrono::microseconds(then_us));
  const int status = child.KillAndWait();
  while (reader.Next(&line)) take(line);  // what the child reported before it died
  ::close(fds[0]);
  ASSERT_TRUE(errors.empty()) << errors.front();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child ended early, status " << status;

  auto spool = OpenOrNull(o);
  ASSERT_NE(spool, nullptr);
  const auto pending = AllPending(*spool, 100);
  std::map<std::string, int> seen;
  uint64_t last = 0;
  for (const auto& r : pending) {
    ++seen[r.key];
    EXPECT_GT(r.seq, last);
    last = r.seq;
    EXPECT_EQ(r.payload, CrashPayload(r.key)) << r.key;
    EXPECT_FALSE(acked.contains(r.seq)) << "acked record came back: " << r.key;
  }
  for (const auto& [key, count] : seen) EXPECT_EQ(count, 1) << key;
  std::map<uint64_t, std::string> pending_by_seq;
  for (const auto& r : pending) pending_by_seq[r.seq] = r.key;
  int missing = 0;
  for (const auto& [seq, key] : appended) {
    if (acking.contains(seq)) continue;
    auto it = pending_by_seq.find(seq);
    if (it == pending_by_seq.end() || it->second != key) ++missing;
  }
  EXPECT_EQ(missing, 0) << "of " << appended.size() << " reported appends";
  EXPECT_EQ(spool->stats().corrupt_records, 0u);

  // The spool goes on working: new seqs after every old one, everything can be acked.
  EXPECT_GT(AppendOk(*spool, "after-crash", "x"), appended.empty() ? 0 : appended.rbegin()->first);
  std::vector<uint64_t> all;
  for (const auto& r : AllPending(*spool, 100)) all.push_back(r.seq);
  ASSERT_TRUE(spool->AckBatch(all).ok());
  EXPECT_EQ(spool->pending_count(), 0u);
}

}  // namespace
}  // namespace ovoflow::edge
