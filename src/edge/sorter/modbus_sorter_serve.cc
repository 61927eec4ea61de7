// Test helper for modbus_mbpoll_test.sh: a ModbusSorter on 127.0.0.1 and a
// free port, fed by a SortScheduler on a manual clock with three scans of
// line "L1":
//   position 0,   tray "17":     prediction KEEP in time    -> KEEP,    sequence 1
//   position 1,   tray "17":     prediction DIVERT in time  -> DIVERT,  sequence 2
//   position 149, tray "TRAY-A": no prediction by deadline  -> RECHECK, sequence 3,
//                                then a late prediction      -> late flag
// Prints "port N" and "tag-TRAY-A N", then "ready", and serves until SIGTERM
// or SIGINT; then prints "ack P V" for each acknowledge register the client
// wrote, and exits 0. Not a product binary.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "common/testing/manual_clock.h"
#include "edge/sorter/modbus_sorter.h"
#include "edge/sorter/sort_scheduler.h"

namespace {

using ovoflow::edge::ModbusSorter;
using ovoflow::edge::SortScheduler;
using ovoflow::edge::SortTicket;

constexpr int64_t kMs = 1'000'000;
constexpr uint32_t kPositions = 150;

int Fail(const std::string& what) {
  (void)std::fprintf(stderr, "modbus_sorter_serve: %s\n", what.c_str());
  return 1;
}

ovoflow::v1::Prediction PredictionFor(const SortTicket& t, ovoflow::v1::Decision d) {
  ovoflow::v1::Prediction p;
  p.set_scan_id(t.scan_id);
  p.set_egg_id(t.egg_id);
  p.set_line_id(t.line_id);
  p.set_tray_id(t.tray_id);
  p.set_tray_position(t.tray_position);
  p.set_decision(d);
  return p;
}

int Run() {
  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) return Fail("pthread_sigmask failed");

  ovoflow::edge::ModbusSorterOptions mo;
  mo.line_id = "L1";
  mo.host = "127.0.0.1";
  mo.port = 0;
  mo.positions = kPositions;
  mo.heartbeat_interval_ms = 100;
  auto server = ModbusSorter::Start(mo);
  if (!server.ok()) return Fail(server.status().ToString());

  ovoflow::testing::ManualClock clock;
  ovoflow::edge::SortSchedulerOptions so;
  so.line_id = "L1";
  so.positions = kPositions;
  so.belt_travel_ms = 10'000;
  so.safety_margin_ms = 500;
  std::string apply_error;
  auto scheduler = SortScheduler::Create(
      so,
      [&](const ovoflow::v1::SortDecision& d) {
        if (auto st = server.value()->Apply(d); !st.ok()) apply_error = st.ToString();
      },
      clock);
  if (!scheduler.ok()) return Fail(scheduler.status().ToString());

  auto ticket = [&](const std::string& id, uint32_t position, const std::string& tray) {
    SortTicket t;
    t.scan_id = id;
    t.egg_id = "egg-" + id;
    t.tenant_id = "hatchery-a";
    t.scanner_id = "scanner-1";
    t.line_id = "L1";
    t.tray_id = tray;
    t.tray_position = position;
    t.captured_at_unix_ns = clock.NowUnixNanos();
    return t;
  };
  const SortTicket a = ticket("scan-a", 0, "17");
  const SortTicket b = ticket("scan-b", 1, "17");
  const SortTicket c = ticket("scan-c", kPositions - 1, "TRAY-A");
  for (const auto* t : {&a, &b, &c})
    if (auto st = scheduler.value()->Expect(*t); !st.ok()) return Fail(st.ToString());
  clock.Advance(1'000 * kMs);
  scheduler.value()->OnPrediction(PredictionFor(a, ovoflow::v1::DECISION_KEEP));
  scheduler.value()->OnPrediction(PredictionFor(b, ovoflow::v1::DECISION_DIVERT));
  clock.Advance(9'000 * kMs);
  scheduler.value()->Tick();
  scheduler.value()->OnPrediction(PredictionFor(c, ovoflow::v1::DECISION_KEEP));
  if (!apply_error.empty()) return Fail(apply_error);
  if (scheduler.value()->last_sequence() != 3) return Fail("expected 3 actuations");

  std::printf("port %u\ntag-TRAY-A %u\nready\n", static_cast<unsigned>(server.value()->port()),
              static_cast<unsigned>(ovoflow::edge::modbus_map::TagOf("TRAY-A")));
  (void)std::fflush(stdout);

  int signal = 0;
  if (sigwait(&stop_signals, &signal) != 0) return Fail("sigwait failed");
  server.value()->Stop();
  for (uint32_t p = 0; p < kPositions; ++p)
    if (const uint16_t v = server.value()->acknowledged(p); v != 0) std::printf("ack %u %u\n", p, v);
  std::printf("stopped on signal %d\n", signal);
  (void)std::fflush(stdout);
  return 0;
}

}  // namespace

int main() { return Run(); }
