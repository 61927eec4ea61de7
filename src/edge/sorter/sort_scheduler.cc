#include "edge/sorter/sort_scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "common/metrics.h"

namespace ovoflow::edge {
namespace {

constexpr int64_t kNsPerMs = 1'000'000;
constexpr std::chrono::nanoseconds kIdleWait = std::chrono::seconds(1);

// Slack buckets, seconds: negative for decisions after the deadline (late
// notices are not observed; an actuation the timer made late is).
const std::vector<double>& SlackBucketsSeconds() {
  static const std::vector<double> buckets = {-1, -0.1, 0, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64};
  return buckets;
}

const char* DecisionLabel(v1::Decision d) {
  switch (d) {
    case v1::DECISION_KEEP:
      return "keep";
    case v1::DECISION_DIVERT:
      return "divert";
    case v1::DECISION_RECHECK:
      return "recheck";
    default:
      return "unspecified";
  }
}

const char* ReasonLabel(v1::SortReason r) {
  switch (r) {
    case v1::SORT_REASON_PREDICTION:
      return "prediction";
    case v1::SORT_REASON_DEADLINE:
      return "deadline";
    case v1::SORT_REASON_QA_FAILED:
      return "qa_failed";
    default:
      return "unspecified";
  }
}

bool IsActionable(v1::Decision d) {
  return d == v1::DECISION_KEEP || d == v1::DECISION_DIVERT || d == v1::DECISION_RECHECK;
}

// a + b, saturating (tickets come from the network).
int64_t AddSat(int64_t a, int64_t b) {
  if (b > 0 && a > std::numeric_limits<int64_t>::max() - b) return std::numeric_limits<int64_t>::max();
  if (b < 0 && a < std::numeric_limits<int64_t>::min() - b) return std::numeric_limits<int64_t>::min();
  return a + b;
}

}  // namespace

const char* PredictionOutcomeName(PredictionOutcome outcome) {
  switch (outcome) {
    case PredictionOutcome::kActuated:
      return "actuated";
    case PredictionOutcome::kLateNotice:
      return "late_notice";
    case PredictionOutcome::kDuplicate:
      return "duplicate";
    case PredictionOutcome::kNotForThisLine:
      return "not_for_this_line";
    case PredictionOutcome::kInvalid:
      return "invalid";
  }
  return "unknown";
}

SortTicket TicketForScan(const v1::EggScan& scan) {
  SortTicket t;
  t.scan_id = scan.scan_id();
  t.egg_id = scan.egg_id();
  t.tenant_id = scan.tenant_id();
  t.scanner_id = scan.scanner_id();
  t.line_id = scan.line_id();
  t.tray_id = scan.tray_id();
  t.tray_position = scan.tray_position();
  t.captured_at_unix_ns = scan.has_captured_at() ? FromTimestamp(scan.captured_at()) : 0;
  t.deadline_unix_ns = scan.has_deadline() ? FromTimestamp(scan.deadline()) : 0;
  return t;
}

// The line's metrics, labelled line="<line_id>".
struct SortScheduler::Metrics {
  prometheus::Histogram& slack;
  prometheus::Counter& deadline_misses;
  prometheus::Counter& late_predictions;
  prometheus::Family<prometheus::Counter>& actuations;
  prometheus::Family<prometheus::Counter>& ignored;
  prometheus::Gauge& pending;
  std::string line;

  explicit Metrics(const std::string& l)
      : slack(prometheus::BuildHistogram()
                  .Name("ovoflow_sort_decision_slack_seconds")
                  .Help("Time left until the diverter deadline when a sorting decision was actuated (deadline - "
                        "decided_at), by line")
                  .Register(MetricsRegistry())
                  .Add({{"line", l}}, SlackBucketsSeconds())),
        deadline_misses(prometheus::BuildCounter()
                            .Name("ovoflow_sort_deadline_misses_total")
                            .Help("Scans without a prediction by deadline minus margin (actuated RECHECK), by line")
                            .Register(MetricsRegistry())
                            .Add({{"line", l}})),
        late_predictions(prometheus::BuildCounter()
                             .Name("ovoflow_sort_late_predictions_total")
                             .Help("Predictions that came after their scan's deadline minus margin, by line")
                             .Register(MetricsRegistry())
                             .Add({{"line", l}})),
        actuations(prometheus::BuildCounter()
                       .Name("ovoflow_sort_actuations_total")
                       .Help("Sorting decisions handed to the line, by line, decision and reason")
                       .Register(MetricsRegistry())),
        ignored(prometheus::BuildCounter()
                    .Name("ovoflow_sort_ignored_predictions_total")
                    .Help("Predictions the sort scheduler ignored, by line and reason (duplicate, "
                          "not_for_this_line, invalid)")
                    .Register(MetricsRegistry())),
        pending(prometheus::BuildGauge()
                    .Name("ovoflow_sort_pending_scans")
                    .Help("Scans awaiting a sorting decision, by line")
                    .Register(MetricsRegistry())
                    .Add({{"line", l}})),
        line(l) {}

  void Actuated(v1::Decision d, v1::SortReason r) {
    actuations.Add({{"line", line}, {"decision", DecisionLabel(d)}, {"reason", ReasonLabel(r)}}).Increment();
  }
  void Ignored(PredictionOutcome outcome) {
    ignored.Add({{"line", line}, {"reason", PredictionOutcomeName(outcome)}}).Increment();
  }
};

Result<std::unique_ptr<SortScheduler>> SortScheduler::Create(const SortSchedulerOptions& o, Sink sink,
                                                             const Clock& clock) {
  if (o.line_id.empty()) return Status::InvalidArgument("sorter: line_id is required");
  if (o.belt_travel_ms <= 0 || o.belt_travel_ms > 3'600'000)
    return Status::InvalidArgument("sorter: belt_travel_ms must be in 1..3600000, not " +
                                   std::to_string(o.belt_travel_ms));
  if (o.safety_margin_ms < 0 || o.safety_margin_ms >= o.belt_travel_ms)
    return Status::InvalidArgument("sorter: safety_margin_ms must be >= 0 and below belt_travel_ms (" +
                                   std::to_string(o.belt_travel_ms) + "), not " + std::to_string(o.safety_margin_ms));
  if (o.positions < 1 || o.positions > 4096)
    return Status::InvalidArgument("sorter: positions must be in 1..4096, not " + std::to_string(o.positions));
  if (o.remember_ms < o.belt_travel_ms) return Status::InvalidArgument("sorter: remember_ms must be >= belt_travel_ms");
  if (o.max_tracked_scans < 1) return Status::InvalidArgument("sorter: max_tracked_scans must be >= 1");
  if (!sink) return Status::InvalidArgument("sorter: a sink is required");
  return std::unique_ptr<SortScheduler>(new SortScheduler(o, std::move(sink), clock));
}

SortScheduler::SortScheduler(const SortSchedulerOptions& options, Sink sink, const Clock& clock)
    : options_(options), sink_(std::move(sink)), clock_(clock), metrics_(std::make_unique<Metrics>(options.line_id)) {}

SortScheduler::~SortScheduler() { StopTimerThread(); }

std::string SortScheduler::KeyOf(const std::string& scan_id, const std::string& egg_id) {
  return scan_id.empty() ? egg_id : scan_id;
}

std::size_t SortScheduler::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

std::size_t SortScheduler::remembered() const {
  std::lock_guard lock(mu_);
  return remembered_.size();
}

uint64_t SortScheduler::last_sequence() const {
  std::lock_guard lock(mu_);
  return sequence_;
}

v1::SortDecision SortScheduler::DecisionFor(const SortTicket& t) const {
  v1::SortDecision d;
  d.set_egg_id(t.egg_id);
  d.set_tenant_id(t.tenant_id);
  d.set_scanner_id(t.scanner_id);
  d.set_line_id(options_.line_id);
  d.set_tray_id(t.tray_id);
  d.set_tray_position(t.tray_position);
  d.set_scan_id(t.scan_id);
  if (t.captured_at_unix_ns != 0) *d.mutable_captured_at() = ToTimestamp(t.captured_at_unix_ns);
  if (t.deadline_unix_ns != 0) *d.mutable_deadline() = ToTimestamp(t.deadline_unix_ns);
  return d;
}

Status SortScheduler::Expect(const SortTicket& ticket) {
  if (ticket.line_id != options_.line_id)
    return Status::InvalidArgument("sorter: scan of line '" + ticket.line_id + "' given to line '" + options_.line_id +
                                   "'");
  const std::string key = KeyOf(ticket.scan_id, ticket.egg_id);
  if (key.empty()) return Status::InvalidArgument("sorter: a scan needs a scan_id or an egg_id");
  if (ticket.tray_position >= options_.positions)
    return Status::InvalidArgument("sorter: tray_position " + std::to_string(ticket.tray_position) +
                                   " is beyond the line's " + std::to_string(options_.positions) + " positions");
  SortTicket t = ticket;
  if (t.deadline_unix_ns == 0) {
    if (t.captured_at_unix_ns == 0) return Status::InvalidArgument("sorter: a scan needs captured_at or a deadline");
    t.deadline_unix_ns = AddSat(t.captured_at_unix_ns, options_.belt_travel_ms * kNsPerMs);
  }
  if (t.captured_at_unix_ns != 0 && t.deadline_unix_ns < t.captured_at_unix_ns)
    return Status::InvalidArgument("sorter: deadline before captured_at for scan " + key);

  std::lock_guard lock(mu_);
  const int64_t now_mono = clock_.MonotonicNanos();
  const int64_t now_unix = clock_.NowUnixNanos();
  ExpireLocked(now_mono);
  ForgetLocked(now_mono);
  if (pending_.count(key) != 0 || remembered_.count(key) != 0)
    return {StatusCode::kAlreadyExists, "sorter: scan " + key + " is already known"};
  const int64_t until_deadline = AddSat(t.deadline_unix_ns, -now_unix);
  if (until_deadline > 2 * options_.belt_travel_ms * kNsPerMs)
    return Status::InvalidArgument("sorter: deadline of scan " + key + " is " +
                                   std::to_string(until_deadline / kNsPerMs) +
                                   " ms ahead, more than twice the belt travel");
  MakeRoomLocked();
  if (pending_.size() + remembered_.size() >= options_.max_tracked_scans)
    return Status::ResourceExhausted("sorter: " + std::to_string(pending_.size()) +
                                     " scans await decisions (max_tracked_scans)");
  const int64_t cutoff = AddSat(now_mono, AddSat(until_deadline, -options_.safety_margin_ms * kNsPerMs));
  const bool qa_failed = qa_failed_.count(t.scanner_id) != 0;
  cutoffs_.emplace(cutoff, key);
  pending_.emplace(key, Pending{std::move(t), cutoff, qa_failed});
  metrics_->pending.Set(static_cast<double>(pending_.size()));
  ExpireLocked(now_mono);  // a ticket already past its cut-off is RECHECK at once
  wake_.notify_all();
  return Status::Ok();
}

PredictionOutcome SortScheduler::OnPrediction(const v1::Prediction& p) {
  const std::string key = KeyOf(p.scan_id(), p.egg_id());
  std::lock_guard lock(mu_);
  const int64_t now_mono = clock_.MonotonicNanos();
  ExpireLocked(now_mono);  // a cut-off that passed before this prediction came is RECHECK first
  ForgetLocked(now_mono);
  PredictionOutcome outcome = PredictionOutcome::kInvalid;
  if (key.empty() || !IsActionable(p.decision())) {
    outcome = PredictionOutcome::kInvalid;
  } else if (auto it = remembered_.find(key); it != remembered_.end()) {
    outcome = it->second.prediction_seen ? PredictionOutcome::kDuplicate : EmitLateLocked(it->second, p);
  } else if (auto pit = pending_.find(key); pit != pending_.end()) {
    outcome = OnExpectedPredictionLocked(key, p, now_mono);
  } else {
    outcome = OnUnknownPredictionLocked(key, p, now_mono);
  }
  if (outcome != PredictionOutcome::kActuated && outcome != PredictionOutcome::kLateNotice) metrics_->Ignored(outcome);
  return outcome;
}

PredictionOutcome SortScheduler::OnExpectedPredictionLocked(const std::string& key, const v1::Prediction& p,
                                                            int64_t now_mono) {
  // In time: ExpireLocked took every scan whose cut-off has passed.
  auto it = pending_.find(key);
  Pending pend = std::move(it->second);
  pending_.erase(it);
  cutoffs_.erase({pend.cutoff_mono_ns, key});
  metrics_->pending.Set(static_cast<double>(pending_.size()));
  v1::SortDecision d = DecisionFor(pend.ticket);
  d.set_predicted(p.decision());
  d.set_model_version(p.model_version());
  const bool qa = pend.qa_failed || qa_failed_.count(pend.ticket.scanner_id) != 0;
  d.set_actuated(qa ? v1::DECISION_RECHECK : p.decision());
  d.set_reason(qa ? v1::SORT_REASON_QA_FAILED : v1::SORT_REASON_PREDICTION);
  const int64_t deadline_mono = pend.cutoff_mono_ns + options_.safety_margin_ms * kNsPerMs;
  metrics_->slack.Observe(SecondsBetween(now_mono, deadline_mono));
  ActuateLocked(key, std::move(d), now_mono, /*prediction_seen=*/true);
  return PredictionOutcome::kActuated;
}

PredictionOutcome SortScheduler::OnUnknownPredictionLocked(const std::string& key, const v1::Prediction& p,
                                                           int64_t now_mono) {
  if (p.line_id() != options_.line_id) return PredictionOutcome::kNotForThisLine;
  if (p.tray_position() >= options_.positions) return PredictionOutcome::kInvalid;
  SortTicket t;
  t.scan_id = p.scan_id();
  t.egg_id = p.egg_id();
  t.tenant_id = p.tenant_id();
  t.scanner_id = p.scanner_id();
  t.line_id = p.line_id();
  t.tray_id = p.tray_id();
  t.tray_position = p.tray_position();
  t.captured_at_unix_ns = p.times().has_captured_at() ? FromTimestamp(p.times().captured_at()) : 0;
  t.deadline_unix_ns = p.has_deadline() ? FromTimestamp(p.deadline()) : 0;
  v1::SortDecision d = DecisionFor(t);
  d.set_predicted(p.decision());
  d.set_model_version(p.model_version());
  const bool qa = qa_failed_.count(t.scanner_id) != 0;
  const int64_t now_unix = clock_.NowUnixNanos();
  if (t.deadline_unix_ns != 0 && now_unix > AddSat(t.deadline_unix_ns, -options_.safety_margin_ms * kNsPerMs)) {
    // Its egg has passed, or is too close to the diverter: it got the PLC's
    // default, never a decision from this agent. Late notice only.
    d.set_actuated(v1::DECISION_RECHECK);
    d.set_reason(qa ? v1::SORT_REASON_QA_FAILED : v1::SORT_REASON_DEADLINE);
    d.set_late(true);
    d.set_sequence(0);
    *d.mutable_decided_at() = ToTimestamp(now_unix);
    metrics_->deadline_misses.Increment();
    metrics_->late_predictions.Increment();
    MakeRoomLocked();
    remembered_[key] = Remembered{d, true};
    forget_order_.emplace_back(now_mono, key);
    sink_(d);
    return PredictionOutcome::kLateNotice;
  }
  d.set_actuated(qa ? v1::DECISION_RECHECK : p.decision());
  d.set_reason(qa ? v1::SORT_REASON_QA_FAILED : v1::SORT_REASON_PREDICTION);
  if (t.deadline_unix_ns != 0) metrics_->slack.Observe(SecondsBetween(now_unix, t.deadline_unix_ns));
  MakeRoomLocked();
  ActuateLocked(key, std::move(d), now_mono, /*prediction_seen=*/true);
  return PredictionOutcome::kActuated;
}

PredictionOutcome SortScheduler::EmitLateLocked(Remembered& r, const v1::Prediction& p) {
  r.prediction_seen = true;
  v1::SortDecision notice = r.decision;
  notice.set_late(true);
  notice.set_predicted(p.decision());
  notice.set_model_version(p.model_version());
  *notice.mutable_decided_at() = ToTimestamp(clock_.NowUnixNanos());
  metrics_->late_predictions.Increment();
  sink_(notice);
  return PredictionOutcome::kLateNotice;
}

void SortScheduler::ActuateLocked(const std::string& key, v1::SortDecision d, int64_t now_mono, bool prediction_seen) {
  d.set_sequence(++sequence_);
  d.set_late(false);
  *d.mutable_decided_at() = ToTimestamp(clock_.NowUnixNanos());
  metrics_->Actuated(d.actuated(), d.reason());
  sink_(d);
  remembered_[key] = Remembered{std::move(d), prediction_seen};
  forget_order_.emplace_back(now_mono, key);
}

void SortScheduler::ExpireLocked(int64_t now_mono) {
  while (!cutoffs_.empty() && cutoffs_.begin()->first < now_mono) {
    const std::string key = cutoffs_.begin()->second;
    cutoffs_.erase(cutoffs_.begin());
    auto it = pending_.find(key);
    if (it == pending_.end()) continue;
    Pending pend = std::move(it->second);
    pending_.erase(it);
    v1::SortDecision d = DecisionFor(pend.ticket);
    const bool qa = pend.qa_failed || qa_failed_.count(pend.ticket.scanner_id) != 0;
    d.set_actuated(v1::DECISION_RECHECK);
    d.set_predicted(v1::DECISION_UNSPECIFIED);
    d.set_reason(qa ? v1::SORT_REASON_QA_FAILED : v1::SORT_REASON_DEADLINE);
    metrics_->deadline_misses.Increment();
    metrics_->slack.Observe(SecondsBetween(now_mono, pend.cutoff_mono_ns + options_.safety_margin_ms * kNsPerMs));
    ActuateLocked(key, std::move(d), now_mono, /*prediction_seen=*/false);
  }
  metrics_->pending.Set(static_cast<double>(pending_.size()));
}

void SortScheduler::ForgetLocked(int64_t now_mono) {
  const int64_t horizon = options_.remember_ms * kNsPerMs;
  while (!forget_order_.empty() && now_mono - forget_order_.front().first > horizon) {
    remembered_.erase(forget_order_.front().second);
    forget_order_.pop_front();
  }
}

void SortScheduler::MakeRoomLocked() {
  // Called before one scan is added to remembered_ (or pending_): the oldest
  // remembered scans go first. A scan moving from pending_ to remembered_
  // does not grow the total.
  while (!forget_order_.empty() && pending_.size() + remembered_.size() >= options_.max_tracked_scans) {
    remembered_.erase(forget_order_.front().second);
    forget_order_.pop_front();
  }
}

std::chrono::nanoseconds SortScheduler::Tick() {
  std::lock_guard lock(mu_);
  return TickLocked();
}

std::chrono::nanoseconds SortScheduler::TickLocked() {
  const int64_t now_mono = clock_.MonotonicNanos();
  ExpireLocked(now_mono);
  ForgetLocked(now_mono);
  if (cutoffs_.empty()) return kIdleWait;
  // A cut-off fires once it has passed: one nanosecond after it.
  const int64_t wait = cutoffs_.begin()->first - now_mono + 1;
  return std::min(std::chrono::nanoseconds(std::max<int64_t>(wait, 0)), kIdleWait);
}

void SortScheduler::SetQaFailed(const std::string& scanner_id, bool failed) {
  std::lock_guard lock(mu_);
  ExpireLocked(clock_.MonotonicNanos());
  if (!failed) {
    if (qa_failed_.erase(scanner_id) != 0)
      spdlog::info("sorter {}: scanner {} passed QA again", options_.line_id, scanner_id);
    return;
  }
  if (qa_failed_.insert(scanner_id).second)
    spdlog::warn("sorter {}: scanner {} failed QA: its scans go to RECHECK", options_.line_id, scanner_id);
  for (auto& [key, pend] : pending_)
    if (pend.ticket.scanner_id == scanner_id) pend.qa_failed = true;
}

void SortScheduler::StartTimerThread() {
  std::lock_guard lock(mu_);
  if (timer_.joinable()) return;
  stop_timer_ = false;
  timer_ = std::thread([this] { TimerLoop(); });
}

void SortScheduler::StopTimerThread() {
  {
    std::lock_guard lock(mu_);
    stop_timer_ = true;
    wake_.notify_all();
  }
  if (timer_.joinable()) timer_.join();
  timer_ = std::thread();
}

void SortScheduler::TimerLoop() {
  std::unique_lock lock(mu_);
  while (!stop_timer_) {
    // The wait is computed and begun under one lock, so an Expect() in
    // between cannot be missed: it notifies once this thread waits.
    const std::chrono::nanoseconds wait = TickLocked();
    if (stop_timer_) return;
    wake_.wait_for(lock, wait);
  }
}

}  // namespace ovoflow::edge
