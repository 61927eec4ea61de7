// The sorting line's side of the edge agent: a Modbus TCP server that a PLC
// polls for the decisions of one line's tray positions. libmodbus stays
// behind this header. The register map and the PLC's polling contract are in
// docs/sorter.md; the addresses below are the same.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "ovoflow/v1/sort_decision.pb.h"

namespace ovoflow::edge {

// Holding registers (function 03 reads; 06, 16, 22 and 23 may write the
// acknowledge area only), 16-bit, 0-based PDU addresses (mbpoll -0;
// reference = address + 1).
namespace modbus_map {
inline constexpr uint16_t kLayoutVersion = 1;

// Header.
inline constexpr uint16_t kRegLayout = 0;            // kLayoutVersion
inline constexpr uint16_t kRegHeartbeat = 1;         // +1 every heartbeat interval (1 s), wraps at 65535
inline constexpr uint16_t kRegEpoch = 2;             // nonzero, new at each server start
inline constexpr uint16_t kRegStatus = 3;            // bit 0: ready (the agent follows predictions)
inline constexpr uint16_t kRegSequenceHigh = 4;      // line sequence, bits 31..16
inline constexpr uint16_t kRegSequenceLow = 5;       // line sequence, bits 15..0
inline constexpr uint16_t kRegPositions = 6;         // tray positions N
inline constexpr uint16_t kRegWordsPerPosition = 7;  // kWordsPerPosition
inline constexpr uint16_t kRegFirstPosition = 8;     // kFirstPosition
inline constexpr uint16_t kRegFirstAck = 9;          // AckAddress(N, 0)
inline constexpr uint16_t kRegLineTag = 10;          // TagOf(line_id)
inline constexpr uint16_t kHeaderWords = 16;         // 11..15 reserved, 0

// Per position p (0-based), at PositionAddress(p) + offset.
inline constexpr uint16_t kFirstPosition = kHeaderWords;
inline constexpr uint16_t kWordsPerPosition = 4;
inline constexpr uint16_t kOffDecision = 0;  // 0 none, 1 KEEP, 2 DIVERT, 3 RECHECK
inline constexpr uint16_t kOffSequence = 1;  // bits 15..0 of the sequence of the actuation written here
inline constexpr uint16_t kOffTrayTag = 2;   // TagOf(tray_id)
inline constexpr uint16_t kOffFlags = 3;     // bits 0-3 reason (1 PREDICTION, 2 DEADLINE, 3 QA_FAILED); bit 8 late

inline constexpr uint16_t kFlagLate = 0x0100;  // a prediction came after this position's RECHECK

constexpr uint16_t PositionAddress(uint32_t position) {
  return static_cast<uint16_t>(kFirstPosition + position * kWordsPerPosition);
}
// The PLC writes here the sequence word of the position's decision it took.
constexpr uint16_t AckAddress(uint32_t positions, uint32_t position) {
  return static_cast<uint16_t>(kFirstPosition + positions * kWordsPerPosition + position);
}
constexpr uint32_t RegisterCount(uint32_t positions) { return kFirstPosition + positions * (kWordsPerPosition + 1); }

// A 16-bit tag for a tray or line id: the number itself when the id is a
// decimal number of at most 5 digits up to 65535 (no sign, no spaces),
// else FNV-1a 32 of its bytes folded to 16 bits (high ^ low half).
uint16_t TagOf(std::string_view id);
}  // namespace modbus_map

struct ModbusSorterOptions {
  // The line served; Apply() refuses decisions of other lines. Required.
  std::string line_id;
  // Address to listen on (name or numeric, IPv4 or IPv6). Default all IPv4
  // interfaces; "127.0.0.1" for tests.
  std::string host = "0.0.0.0";
  // TCP port; 0 picks a free one (see ModbusSorter::port()). Default 502.
  uint16_t port = 502;
  // Tray positions of the line, as the scheduler's. 1..4096. Default 150.
  uint32_t positions = 150;
  // How often the heartbeat register advances, ms. 10..60000. Default 1000.
  int heartbeat_interval_ms = 1000;
  // Clients served at once (PLC, HMI, a diagnostic mbpoll); a connection
  // beyond it is closed at once. 1..64. Default 8.
  int max_clients = 8;
  // Longest wait for the rest of a request once its first byte came, ms; a
  // client slower than that is disconnected (it would hold up the others).
  // 10..5000. Default 500.
  int frame_timeout_ms = 500;
};

// A Modbus TCP server (one thread, poll() over the listening socket and its
// clients) holding one line's registers. Every method is thread-safe; the
// registers change under a mutex that each request's reply also holds, so a
// single read request always sees a consistent set of registers.
class ModbusSorter {
 public:
  // Binds, listens and starts the server thread. InvalidArgument for bad
  // options, Unavailable when the address cannot be bound.
  static Result<std::unique_ptr<ModbusSorter>> Start(const ModbusSorterOptions& options);
  // Stops the server (see Stop()).
  ~ModbusSorter();
  ModbusSorter(const ModbusSorter&) = delete;
  ModbusSorter& operator=(const ModbusSorter&) = delete;

  // The bound TCP port (the chosen one when options.port was 0).
  uint16_t port() const;

  // Writes an actuation into its position's registers and the line sequence
  // register, or sets the late flag of the position when a late notice
  // refers to the actuation the position still holds (otherwise a late
  // notice changes nothing). InvalidArgument: another line's decision, a
  // position out of range, or an actuation without a decision or sequence.
  Status Apply(const v1::SortDecision& decision);

  // The ready bit of the status register (initially set). The agent clears
  // it when it no longer follows predictions (e.g. its consumer stalled); the
  // PLC then treats every egg as RECHECK.
  void SetReady(bool ready);

  // The value the PLC last wrote into the acknowledge register of
  // `position` (0 when never; 0 for a position out of range).
  uint16_t acknowledged(uint32_t position) const;

  // Clients connected now.
  int clients() const;

  // Closes the listening socket and every client, joins the thread.
  // Idempotent.
  void Stop();

 private:
  class Impl;
  explicit ModbusSorter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::edge
