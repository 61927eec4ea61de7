// The deadline logic between the model's predictions and one sorting line:
// every scan forwarded for a line gets exactly one decision for the diverter,
// the model's when it comes in time, RECHECK (the safe default) when it does
// not or when the scanner's quality check failed. Pure C++: no Kafka, no
// Modbus; the caller feeds it and gives it a sink (docs/sorter.md).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/clock.h"
#include "common/status.h"
#include "ovoflow/v1/egg_scan.pb.h"
#include "ovoflow/v1/prediction.pb.h"
#include "ovoflow/v1/sort_decision.pb.h"

namespace ovoflow::edge {

// One sorting line. Validated by SortScheduler::Create.
struct SortSchedulerOptions {
  // The line this scheduler serves (EggScan.line_id). Required.
  std::string line_id;
  // Belt travel from capture to the diverter, ms: a scan's deadline is its
  // captured_at plus this (unless its ticket states a deadline). > 0,
  // at most 3,600,000. Default 10 s.
  int64_t belt_travel_ms = 10'000;
  // How long before the deadline a decision must be in, ms: the PLC's poll
  // interval, its reaction and the diverter's travel. A prediction arriving
  // later than deadline - margin is late. 0 <= margin < belt_travel_ms.
  // Default 500 ms.
  int64_t safety_margin_ms = 500;
  // Tray positions on the line (slots per tray); tray_position must be below
  // it. 1..4096. Default 150.
  uint32_t positions = 150;
  // How long an actuated scan is remembered after its actuation, ms, to
  // recognise duplicated and late predictions of it. After that a duplicate
  // is taken for a prediction of an unknown scan (it gets a late notice,
  // never an actuation, since its deadline has passed). >= belt_travel_ms.
  // Default 10 minutes.
  int64_t remember_ms = 600'000;
  // Upper bound on scans held at once (awaiting a decision plus
  // remembered). When full, the oldest remembered scan is forgotten first;
  // when every slot awaits a decision, Expect() refuses with
  // ResourceExhausted. >= 1. Default 100,000 (a few tens of MB at most).
  std::size_t max_tracked_scans = 100'000;
};

// A scan forwarded to inference that the line will need a decision for.
struct SortTicket {
  std::string scan_id;  // EggScan.scan_id; when empty, egg_id identifies the scan
  std::string egg_id;
  std::string tenant_id;
  std::string scanner_id;
  std::string line_id;  // must equal the scheduler's line
  std::string tray_id;
  uint32_t tray_position = 0;  // 0-based slot on the tray, < positions
  int64_t captured_at_unix_ns = 0;
  int64_t deadline_unix_ns = 0;  // when the egg reaches the diverter; 0: captured_at + belt_travel_ms
};

// The ticket of a scan as the agent publishes it (deadline from the scan
// when set).
SortTicket TicketForScan(const v1::EggScan& scan);

// What OnPrediction did with a prediction.
enum class PredictionOutcome {
  kActuated,        // its scan was actuated now (reason PREDICTION, or QA_FAILED)
  kLateNotice,      // its scan's deadline had passed: a late notice went to the sink
  kDuplicate,       // a prediction for this scan was already handled: ignored
  kNotForThisLine,  // another line's (or no line's) scan this scheduler never expected: ignored
  kInvalid,         // no scan or egg id, a tray position out of range or an undefined decision: ignored
};
const char* PredictionOutcomeName(PredictionOutcome outcome);

// Decides, for each scan of one line, what the diverter does, and hands each
// decision to a sink exactly once per scan:
//
// - a prediction in by deadline - margin: its decision (reason PREDICTION);
// - no prediction by then: RECHECK (reason DEADLINE), decided by Tick() or
//   the timer thread once deadline - margin has passed (not at it: a
//   prediction at exactly deadline - margin is in time);
// - a scanner whose QA failed (SetQaFailed): RECHECK (reason QA_FAILED) for
//   every scan it captured that was still awaiting a decision when QA failed
//   or that came while failed, decided when its prediction or deadline comes
//   (so the model's decision is still reported as `predicted`);
// - a prediction after the scan's RECHECK: a late notice (late = true,
//   actuated unchanged, predicted = the model's decision, the sequence of
//   the actuation it follows, decided_at = when the prediction came), never
//   a second actuation;
// - a prediction of a scan never Expect()ed (an agent restart): decided from
//   the prediction's own deadline, or at once when it has none; a late
//   notice with sequence 0 when that deadline - margin has passed (the
//   agent never actuated it, the PLC's default applied);
// - a prediction already handled (Kafka redelivery): ignored.
//
// Each actuation carries the line's next sequence number (1, 2, ...; +1 per
// actuation, never for a late notice). Deadlines are moved onto the clock's
// monotonic time when a ticket is armed, so a wall-clock step after Expect()
// neither fires nor delays them; decided_at stamps are wall time.
//
// Thread-safe: every method takes one internal lock. The sink is called with
// that lock held, in sequence order, from whichever thread caused the
// decision; it must be quick, must not throw and must not call back into
// the scheduler.
class SortScheduler {
 public:
  using Sink = std::function<void(const v1::SortDecision&)>;

  // Checks `options`; `clock` must outlive the scheduler.
  static Result<std::unique_ptr<SortScheduler>> Create(const SortSchedulerOptions& options, Sink sink,
                                                       const Clock& clock = SystemClock());
  // Stops the timer thread, if started. Scans still awaiting a decision get
  // none (the PLC's default applies).
  ~SortScheduler();
  SortScheduler(const SortScheduler&) = delete;
  SortScheduler& operator=(const SortScheduler&) = delete;

  // Arms the deadline of a forwarded scan. InvalidArgument: another line, no
  // scan or egg id, tray position out of range, a deadline before capture or
  // further than 2 x belt_travel_ms ahead. AlreadyExists: the scan is known
  // (forwarded again, or its prediction came first): nothing changes.
  // ResourceExhausted: max_tracked_scans scans await decisions. A ticket
  // whose deadline - margin has already passed is actuated RECHECK at once.
  Status Expect(const SortTicket& ticket);

  // The model's verdict on a scan; see the class comment.
  PredictionOutcome OnPrediction(const v1::Prediction& prediction);

  // Actuates RECHECK every scan whose deadline - margin has passed without a
  // prediction, forgets scans past the horizon, and returns how long the
  // caller may sleep before the next cut-off passes (at most 1 s).
  std::chrono::nanoseconds Tick();

  // While `failed`, the scanner's scans are actuated RECHECK, reason
  // QA_FAILED, also those already awaiting a decision; clearing it affects
  // only scans expected afterwards.
  void SetQaFailed(const std::string& scanner_id, bool failed);

  // A thread that calls Tick() whenever a cut-off passes (woken early by
  // Expect). Optional: a caller may drive Tick() itself instead. Stop is
  // idempotent; the destructor stops it too. Start and Stop must not race
  // each other (one owner calls them).
  void StartTimerThread();
  void StopTimerThread();

  const SortSchedulerOptions& options() const { return options_; }
  // Scans awaiting a decision.
  std::size_t pending() const;
  // Actuated scans still remembered.
  std::size_t remembered() const;
  // The sequence number of the latest actuation (0 before the first).
  uint64_t last_sequence() const;

 private:
  struct Metrics;
  struct Pending {
    SortTicket ticket;
    int64_t cutoff_mono_ns;  // deadline - margin on the monotonic clock
    bool qa_failed;
  };
  struct Remembered {
    v1::SortDecision decision;  // what was actuated (or noticed late)
    bool prediction_seen;
  };

  SortScheduler(const SortSchedulerOptions& options, Sink sink, const Clock& clock);

  static std::string KeyOf(const std::string& scan_id, const std::string& egg_id);
  void ExpireLocked(int64_t now_mono);
  void ForgetLocked(int64_t now_mono);
  void MakeRoomLocked();
  void ActuateLocked(const std::string& key, v1::SortDecision decision, int64_t now_mono, bool prediction_seen);
  PredictionOutcome EmitLateLocked(Remembered& remembered, const v1::Prediction& prediction);
  PredictionOutcome OnExpectedPredictionLocked(const std::string& key, const v1::Prediction& prediction,
                                               int64_t now_mono);
  PredictionOutcome OnUnknownPredictionLocked(const std::string& key, const v1::Prediction& prediction,
                                              int64_t now_mono);
  v1::SortDecision DecisionFor(const SortTicket& ticket) const;
  std::chrono::nanoseconds TickLocked();
  void TimerLoop();

  const SortSchedulerOptions options_;
  const Sink sink_;
  const Clock& clock_;
  std::unique_ptr<Metrics> metrics_;

  mutable std::mutex mu_;
  std::condition_variable wake_;                              // GUARDED_BY(mu_)
  std::unordered_map<std::string, Pending> pending_;          // GUARDED_BY(mu_)
  std::set<std::pair<int64_t, std::string>> cutoffs_;         // GUARDED_BY(mu_): (cutoff_mono_ns, key)
  std::unordered_map<std::string, Remembered> remembered_;    // GUARDED_BY(mu_)
  std::deque<std::pair<int64_t, std::string>> forget_order_;  // GUARDED_BY(mu_): (actuated at mono, key)
  std::unordered_set<std::string> qa_failed_;                 // GUARDED_BY(mu_): scanner ids
  uint64_t sequence_ = 0;                                     // GUARDED_BY(mu_)
  bool stop_timer_ = false;                                   // GUARDED_BY(mu_)
  std::thread timer_;
};

}  // namespace ovoflow::edge
