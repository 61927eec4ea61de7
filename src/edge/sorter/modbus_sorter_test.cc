// The Modbus server against real libmodbus clients on loopback. No test
// asserts how long anything took: waits for a change have generous bounds.
#include "edge/sorter/modbus_sorter.h"

#include <errno.h>
#include <modbus/modbus.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace ovoflow::edge {
namespace {

namespace mm = modbus_map;

constexpr auto kPatience = std::chrono::seconds(30);

using Client = std::unique_ptr<modbus_t, void (*)(modbus_t*)>;

void CloseClient(modbus_t* ctx) {
  modbus_close(ctx);
  modbus_free(ctx);
}

// A connected client, or null.
Client Connect(uint16_t port) {
  Client c(modbus_new_tcp("127.0.0.1", port), CloseClient);
  if (!c) return Client(nullptr, CloseClient);
  modbus_set_response_timeout(c.get(), 5, 0);
  if (modbus_connect(c.get()) != 0) return Client(nullptr, CloseClient);
  return c;
}

std::vector<uint16_t> Read(modbus_t* c, int address, int count) {
  std::vector<uint16_t> v(static_cast<std::size_t>(count));
  const int n = modbus_read_registers(c, address, count, v.data());
  if (n != count) return {};
  return v;
}

template <typename Pred>
bool WaitFor(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + kPatience;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

ModbusSorterOptions Options() {
  ModbusSorterOptions o;
  o.line_id = "L1";
  o.host = "127.0.0.1";
  o.port = 0;
  o.positions = 150;
  o.heartbeat_interval_ms = 20;
  return o;
}

std::unique_ptr<ModbusSorter> StartServer(const ModbusSorterOptions& o = Options()) {
  auto s = ModbusSorter::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return nullptr;
  return std::move(s).value();
}

v1::SortDecision Decision(uint32_t position, v1::Decision d, uint64_t sequence,
                          v1::SortReason reason = v1::SORT_REASON_PREDICTION, const std::string& tray = "1234") {
  v1::SortDecision sd;
  sd.set_line_id("L1");
  sd.set_tray_id(tray);
  sd.set_tray_position(position);
  sd.set_actuated(d);
  sd.set_predicted(d);
  sd.set_reason(reason);
  sd.set_sequence(sequence);
  return sd;
}

TEST(ModbusSorterTest, TagOfTraysAndLines) {
  EXPECT_EQ(mm::TagOf("1234"), 1234);
  EXPECT_EQ(mm::TagOf("0"), 0);
  EXPECT_EQ(mm::TagOf("65535"), 65535);
  // Not a number of at most 5 digits up to 65535: FNV-1a folded.
  EXPECT_NE(mm::TagOf("65536"), mm::TagOf("65535"));
  EXPECT_EQ(mm::TagOf("TRAY-A"), mm::TagOf("TRAY-A"));
  EXPECT_NE(mm::TagOf("TRAY-A"), mm::TagOf("TRAY-B"));
  EXPECT_EQ(mm::TagOf(""), static_cast<uint16_t>((2166136261u >> 16) ^ (2166136261u & 0xFFFFu)));
}

TEST(ModbusSorterTest, OptionsAreValidated) {
  ModbusSorterOptions o = Options();
  o.positions = 0;
  EXPECT_EQ(ModbusSorter::Start(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.line_id.clear();
  EXPECT_EQ(ModbusSorter::Start(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.heartbeat_interval_ms = 1;
  EXPECT_EQ(ModbusSorter::Start(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.max_clients = 0;
  EXPECT_EQ(ModbusSorter::Start(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(ModbusSorterTest, APortInUseIsUnavailable) {
  auto first = StartServer();
  ASSERT_NE(first, nullptr);
  ModbusSorterOptions o = Options();
  o.port = first->port();
  EXPECT_EQ(ModbusSorter::Start(o).status().code(), StatusCode::kUnavailable);
}

TEST(ModbusSorterTest, HeaderDescribesTheLayout) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->port(), 0);
  Client c = Connect(server->port());
  ASSERT_TRUE(c);
  const auto h = Read(c.get(), 0, mm::kHeaderWords);
  ASSERT_EQ(h.size(), mm::kHeaderWords);
  EXPECT_EQ(h[mm::kRegLayout], mm::kLayoutVersion);
  EXPECT_NE(h[mm::kRegEpoch], 0);
  EXPECT_EQ(h[mm::kRegStatus], 1);
  EXPECT_EQ(h[mm::kRegSequenceHigh], 0);
  EXPECT_EQ(h[mm::kRegSequenceLow], 0);
  EXPECT_EQ(h[mm::kRegPositions], 150);
  EXPECT_EQ(h[mm::kRegWordsPerPosition], 4);
  EXPECT_EQ(h[mm::kRegFirstPosition], 16);
  EXPECT_EQ(h[mm::kRegFirstAck], 16 + 150 * 4);
  EXPECT_EQ(h[mm::kRegLineTag], mm::TagOf("L1"));
  for (int i = 11; i < 16; ++i) EXPECT_EQ(h[i], 0) << i;
  // Nothing decided yet.
  const auto p = Read(c.get(), mm::kFirstPosition, 120);
  ASSERT_EQ(p.size(), 120u);
  for (const uint16_t w : p) EXPECT_EQ(w, 0);
  // Past the last register: an exception, not data.
  std::vector<uint16_t> v(2);
  EXPECT_EQ(modbus_read_registers(c.get(), static_cast<int>(mm::RegisterCount(150)) - 1, 2, v.data()), -1);
  EXPECT_EQ(errno, EMBXILADD);

  server->SetReady(false);
  EXPECT_EQ(Read(c.get(), mm::kRegStatus, 1), std::vector<uint16_t>{0});
  server->SetReady(true);
  EXPECT_EQ(Read(c.get(), mm::kRegStatus, 1), std::vector<uint16_t>{1});
}

TEST(ModbusSorterTest, AppliedDecisionsAppearInTheirPositions) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  Client c = Connect(server->port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(server->Apply(Decision(0, v1::DECISION_KEEP, 1)).ok());
  ASSERT_TRUE(server->Apply(Decision(149, v1::DECISION_DIVERT, 2, v1::SORT_REASON_PREDICTION, "TRAY-A")).ok());
  ASSERT_TRUE(server->Apply(Decision(7, v1::DECISION_RECHECK, 70'001, v1::SORT_REASON_DEADLINE)).ok());

  auto seq = Read(c.get(), mm::kRegSequenceHigh, 2);
  ASSERT_EQ(seq.size(), 2u);
  EXPECT_EQ((static_cast<uint32_t>(seq[0]) << 16) | seq[1], 70'001u);
  EXPECT_EQ(Read(c.get(), mm::PositionAddress(0), 4), (std::vector<uint16_t>{1, 1, 1234, 1}));
  EXPECT_EQ(Read(c.get(), mm::PositionAddress(149), 4), (std::vector<uint16_t>{2, 2, mm::TagOf("TRAY-A"), 1}));
  EXPECT_EQ(Read(c.get(), mm::PositionAddress(7), 4),
            (std::vector<uint16_t>{3, static_cast<uint16_t>(70'001 & 0xFFFF), 1234, 2}));

  // A decision applied out of order does not move the line sequence back;
  // a new one for a position replaces the old one there.
  ASSERT_TRUE(server->Apply(Decision(0, v1::DECISION_DIVERT, 3)).ok());
  seq = Read(c.get(), mm::kRegSequenceHigh, 2);
  EXPECT_EQ((static_cast<uint32_t>(seq[0]) << 16) | seq[1], 70'001u);
  EXPECT_EQ(Read(c.get(), mm::PositionAddress(0), 4), (std::vector<uint16_t>{2, 3, 1234, 1}));

  // A late notice sets the late flag of the position that still holds its
  // actuation, and nothing else.
  v1::SortDecision late = Decision(7, v1::DECISION_RECHECK, 70'001, v1::SORT_REASON_DEADLINE);
  late.set_late(true);
  late.set_predicted(v1::DECISION_KEEP);
  ASSERT_TRUE(server->Apply(late).ok());
  EXPECT_EQ(Read(c.get(), mm::PositionAddress(7) + mm::kOffFlags, 1), std::vector<uint16_t>{2 | mm::kFlagLate});
  v1::SortDecision stale = Decision(0, v1::DECISION_RECHECK, 1, v1::SORT_REASON_DEADLINE);
  stale.set_late(true);
  ASSERT_TRUE(server->Apply(stale).ok());
  EXPECT_EQ(Read(c.get(), mm::PositionAddress(0), 4), (std::vector<uint16_t>{2, 3, 1234, 1}));

  // Refused: another line, a position out of range, no decision or sequence.
  v1::SortDecision other = Decision(1, v1::DECISION_KEEP, 9);
  other.set_line_id("L2");
  EXPECT_EQ(server->Apply(other).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(server->Apply(Decision(150, v1::DECISION_KEEP, 9)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(server->Apply(Decision(1, v1::DECISION_UNSPECIFIED, 9)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(server->Apply(Decision(1, v1::DECISION_KEEP, 0)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Read(c.get(), mm::PositionAddress(1), 4), (std::vector<uint16_t>{0, 0, 0, 0}));
}

TEST(ModbusSorterTest, HeartbeatAdvances) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  Client c = Connect(server->port());
  ASSERT_TRUE(c);
  const auto first = Read(c.get(), mm::kRegHeartbeat, 1);
  ASSERT_EQ(first.size(), 1u);
  uint16_t last = first[0];
  // Several changes in a row, each one up by one or more (a slow machine may
  // see a skipped beat between two reads, never a step back).
  for (int changes = 0; changes < 3; ++changes) {
    uint16_t now = last;
    ASSERT_TRUE(WaitFor([&] {
      const auto v = Read(c.get(), mm::kRegHeartbeat, 1);
      if (v.size() == 1) now = v[0];
      return now != last;
    }));
    EXPECT_LT(static_cast<uint16_t>(now - last), 1000) << last << " -> " << now;
    last = now;
  }
}

TEST(ModbusSorterTest, ThePlcWritesOnlyAcknowledgements) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  Client c = Connect(server->port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(server->Apply(Decision(5, v1::DECISION_KEEP, 77)).ok());
  ASSERT_EQ(modbus_write_register(c.get(), mm::AckAddress(150, 5), 77), 1);
  EXPECT_EQ(server->acknowledged(5), 77);
  const std::vector<uint16_t> acks = {11, 12, 13};
  ASSERT_EQ(modbus_write_registers(c.get(), mm::AckAddress(150, 147), 3, acks.data()), 3);
  EXPECT_EQ(server->acknowledged(149), 13);
  EXPECT_EQ(server->acknowledged(150), 0);  // out of range
  EXPECT_EQ(Read(c.get(), mm::AckAddress(150, 147), 3), acks);

  // Writes elsewhere are refused and change nothing.
  EXPECT_EQ(modbus_write_register(c.get(), mm::PositionAddress(5), 2), -1);
  EXPECT_EQ(errno, EMBXILADD);
  EXPECT_EQ(modbus_write_register(c.get(), mm::kRegHeartbeat, 0), -1);
  EXPECT_EQ(modbus_write_registers(c.get(), mm::AckAddress(150, 148), 3, acks.data()), -1);  // one past the end
  const std::vector<uint16_t> two = {1, 2};
  EXPECT_EQ(modbus_write_registers(c.get(), mm::AckAddress(150, 0) - 1, 2, two.data()), -1);  // one before
  EXPECT_EQ(Read(c.get(), mm::PositionAddress(5), 4), (std::vector<uint16_t>{1, 77, 1234, 1}));
  EXPECT_EQ(server->acknowledged(0), 0);
}

// Several clients at once (a PLC, an HMI, a diagnostic tool), each reading
// while decisions change under them: every read succeeds and no read sees a
// position block half written.
TEST(ModbusSorterTest, SeveralClientsReadConsistentBlocksWhileDecisionsChange) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  constexpr int kClients = 4;
  std::vector<Client> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(Connect(server->port()));
    ASSERT_TRUE(clients.back());
  }
  ASSERT_TRUE(WaitFor([&] { return server->clients() == kClients; }));

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    uint64_t seq = 0;
    while (!stop) {
      seq = seq % 60'000 + 1;  // below 65536: the sequence word is the whole sequence
      // Decision, sequence and tray tag all derive from the sequence.
      const auto d = static_cast<v1::Decision>(1 + seq % 3);
      (void)server->Apply(
          Decision(static_cast<uint32_t>(seq % 30), d, seq, v1::SORT_REASON_PREDICTION, std::to_string(seq % 60000)));
      std::this_thread::yield();
    }
  });
  std::atomic<int> failures{0};
  std::atomic<int> torn{0};
  std::vector<std::thread> readers;
  readers.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    readers.emplace_back([&, i] {
      for (int round = 0; round < 200; ++round) {
        const auto v = Read(clients[i].get(), mm::kFirstPosition, 120);
        if (v.size() != 120) {
          ++failures;
          continue;
        }
        for (std::size_t p = 0; p < 30; ++p) {
          const uint16_t decision = v[p * 4];
          const uint16_t seq16 = v[p * 4 + 1];
          const uint16_t tag = v[p * 4 + 2];
          if (decision == 0) continue;
          if (decision != 1 + seq16 % 3 || tag != seq16 % 60000) ++torn;
        }
      }
    });
  }
  for (auto& t : readers) t.join();
  stop = true;
  writer.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(torn.load(), 0);
}

TEST(ModbusSorterTest, ClientsBeyondTheLimitAreTurnedAway) {
  ModbusSorterOptions o = Options();
  o.max_clients = 2;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  Client a = Connect(server->port());
  Client b = Connect(server->port());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(WaitFor([&] { return server->clients() == 2; }));
  Client extra = Connect(server->port());  // the kernel accepts; the server closes it
  if (extra) {
    EXPECT_TRUE(Read(extra.get(), 0, 1).empty());
  }
  EXPECT_EQ(Read(a.get(), 0, 1).size(), 1u);
  // When one leaves, another may come.
  a.reset();
  ASSERT_TRUE(WaitFor([&] { return server->clients() == 1; }));
  Client c = Connect(server->port());
  ASSERT_TRUE(c);
  EXPECT_EQ(Read(c.get(), 0, 1).size(), 1u);
}

TEST(ModbusSorterTest, AClientStallingMidRequestIsDroppedAndTheOthersGoOn) {
  ModbusSorterOptions o = Options();
  o.frame_timeout_ms = 50;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  Client good = Connect(server->port());
  Client bad = Connect(server->port());
  ASSERT_TRUE(good && bad);
  ASSERT_TRUE(WaitFor([&] { return server->clients() == 2; }));
  // The first 9 bytes of a 12-byte read request, and then nothing.
  const uint8_t part[] = {0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00};
  ASSERT_EQ(send(modbus_get_socket(bad.get()), part, sizeof(part), MSG_NOSIGNAL), static_cast<ssize_t>(sizeof(part)));
  ASSERT_TRUE(WaitFor([&] { return server->clients() == 1; }));
  EXPECT_EQ(Read(good.get(), 0, 1).size(), 1u);
}

TEST(ModbusSorterTest, StopsCleanlyWithClientsConnected) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->port();
  Client c = Connect(port);
  ASSERT_TRUE(c);
  ASSERT_EQ(Read(c.get(), 0, 1).size(), 1u);
  server->Stop();
  server->Stop();  // idempotent
  EXPECT_EQ(server->clients(), 0);
  EXPECT_TRUE(Read(c.get(), 0, 1).empty());
  EXPECT_FALSE(Connect(port));
  // The registers stay usable (the agent may apply while shutting down).
  EXPECT_TRUE(server->Apply(Decision(0, v1::DECISION_KEEP, 1)).ok());
  server.reset();
}

}  // namespace
}  // namespace ovoflow::edge
