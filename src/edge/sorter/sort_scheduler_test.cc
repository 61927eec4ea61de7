#include "edge/sorter/sort_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <vector>

#include "common/metrics.h"
#include "common/testing/manual_clock.h"

namespace ovoflow::edge {
namespace {

constexpr int64_t kMs = 1'000'000;

class SortSchedulerTest : public ::testing::Test {
 protected:
  SortSchedulerOptions Options(const std::string& line = "L1") {
    SortSchedulerOptions o;
    o.line_id = line;
    o.belt_travel_ms = 10'000;
    o.safety_margin_ms = 500;
    o.positions = 150;
    return o;
  }

  std::unique_ptr<SortScheduler> Make(const SortSchedulerOptions& o) {
    auto s = SortScheduler::Create(
        o, [this](const v1::SortDecision& d) { out_.push_back(d); }, clock_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }

  // A scan captured now, on `line`.
  SortTicket Ticket(const std::string& scan_id, uint32_t position = 3, const std::string& line = "L1") {
    SortTicket t;
    t.scan_id = scan_id;
    t.egg_id = "egg-" + scan_id;
    t.tenant_id = "hatchery-a";
    t.scanner_id = "scanner-1";
    t.line_id = line;
    t.tray_id = "tray-9";
    t.tray_position = position;
    t.captured_at_unix_ns = clock_.NowUnixNanos();
    return t;
  }

  static v1::Prediction Prediction(const SortTicket& t, v1::Decision d) {
    v1::Prediction p;
    p.set_scan_id(t.scan_id);
    p.set_egg_id(t.egg_id);
    p.set_tenant_id(t.tenant_id);
    p.set_scanner_id(t.scanner_id);
    p.set_line_id(t.line_id);
    p.set_tray_id(t.tray_id);
    p.set_tray_position(t.tray_position);
    p.set_decision(d);
    p.set_model_version("2.1.0");
    *p.mutable_times()->mutable_captured_at() = ToTimestamp(t.captured_at_unix_ns);
    return p;
  }

  std::vector<v1::SortDecision> Actuations() const {
    std::vector<v1::SortDecision> a;
    for (const auto& d : out_)
      if (!d.late()) a.push_back(d);
    return a;
  }

  testing::ManualClock clock_;
  std::vector<v1::SortDecision> out_;
};

TEST_F(SortSchedulerTest, OptionsAreValidated) {
  auto sink = [](const v1::SortDecision&) {};
  auto bad = [&](auto mutate) {
    SortSchedulerOptions o = Options();
    mutate(o);
    return SortScheduler::Create(o, sink, clock_).status().code();
  };
  EXPECT_EQ(bad([](auto&) {}), StatusCode::kOk);
  EXPECT_EQ(bad([](auto& o) { o.line_id.clear(); }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.belt_travel_ms = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.safety_margin_ms = 10'000; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.safety_margin_ms = -1; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.positions = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.positions = 5000; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.remember_ms = 1000; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& o) { o.max_tracked_scans = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(SortScheduler::Create(Options(), nullptr, clock_).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SortSchedulerTest, PredictionBeforeDeadlineActuatesTheModelDecisionOnce) {
  auto s = Make(Options());
  SortTicket t = Ticket("s1");
  ASSERT_TRUE(s->Expect(t).ok());
  clock_.Advance(2'000 * kMs);
  EXPECT_EQ(s->OnPrediction(Prediction(t, v1::DECISION_DIVERT)), PredictionOutcome::kActuated);
  ASSERT_EQ(out_.size(), 1u);
  const v1::SortDecision& d = out_[0];
  EXPECT_EQ(d.actuated(), v1::DECISION_DIVERT);
  EXPECT_EQ(d.predicted(), v1::DECISION_DIVERT);
  EXPECT_EQ(d.reason(), v1::SORT_REASON_PREDICTION);
  EXPECT_FALSE(d.late());
  EXPECT_EQ(d.sequence(), 1u);
  EXPECT_EQ(d.scan_id(), "s1");
  EXPECT_EQ(d.egg_id(), "egg-s1");
  EXPECT_EQ(d.tenant_id(), "hatchery-a");
  EXPECT_EQ(d.scanner_id(), "scanner-1");
  EXPECT_EQ(d.line_id(), "L1");
  EXPECT_EQ(d.tray_id(), "tray-9");
  EXPECT_EQ(d.tray_position(), 3u);
  EXPECT_EQ(d.model_version(), "2.1.0");
  EXPECT_EQ(FromTimestamp(d.captured_at()), t.captured_at_unix_ns);
  EXPECT_EQ(FromTimestamp(d.deadline()), t.captured_at_unix_ns + 10'000 * kMs);
  EXPECT_EQ(FromTimestamp(d.decided_at()), clock_.NowUnixNanos());
  EXPECT_EQ(s->pending(), 0u);
  // Its deadline passing later changes nothing.
  clock_.Advance(20'000 * kMs);
  s->Tick();
  EXPECT_EQ(out_.size(), 1u);
}

TEST_F(SortSchedulerTest, PredictionAtExactlyDeadlineMinusMarginIsInTime) {
  auto s = Make(Options());
  SortTicket t = Ticket("s1");
  ASSERT_TRUE(s->Expect(t).ok());
  clock_.Advance(9'500 * kMs);
  s->Tick();
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(s->OnPrediction(Prediction(t, v1::DECISION_KEEP)), PredictionOutcome::kActuated);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].actuated(), v1::DECISION_KEEP);
}

TEST_F(SortSchedulerTest, NoPredictionIsRecheckOnceDeadlineMinusMarginPassesExactlyOnce) {
  auto s = Make(Options());
  ASSERT_TRUE(s->Expect(Ticket("s1")).ok());
  // The caller may sleep until just past the cut-off.
  EXPECT_EQ(s->Tick(), std::chrono::seconds(1));  // capped at 1 s
  clock_.Advance(9'000 * kMs);
  EXPECT_EQ(s->Tick(), std::chrono::nanoseconds(500 * kMs + 1));
  clock_.Advance(500 * kMs);  // at deadline - margin: still in time
  EXPECT_EQ(s->Tick(), std::chrono::nanoseconds(1));
  EXPECT_TRUE(out_.empty());
  clock_.Advance(1);
  s->Tick();
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].actuated(), v1::DECISION_RECHECK);
  EXPECT_EQ(out_[0].predicted(), v1::DECISION_UNSPECIFIED);
  EXPECT_EQ(out_[0].reason(), v1::SORT_REASON_DEADLINE);
  EXPECT_EQ(out_[0].sequence(), 1u);
  EXPECT_FALSE(out_[0].late());
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(1'000 * kMs);
    s->Tick();
  }
  EXPECT_EQ(out_.size(), 1u);
  EXPECT_EQ(s->pending(), 0u);
}

TEST_F(SortSchedulerTest, LatePredictionGetsALateNoticeNeverASecondActuation) {
  auto s = Make(Options());
  SortTicket t = Ticket("s1", 42);
  ASSERT_TRUE(s->Expect(t).ok());
  clock_.Advance(9'600 * kMs);
  s->Tick();
  ASSERT_EQ(out_.size(), 1u);
  clock_.Advance(300 * kMs);
  EXPECT_EQ(s->OnPrediction(Prediction(t, v1::DECISION_KEEP)), PredictionOutcome::kLateNotice);
  ASSERT_EQ(out_.size(), 2u);
  const v1::SortDecision& n = out_[1];
  EXPECT_TRUE(n.late());
  EXPECT_EQ(n.actuated(), v1::DECISION_RECHECK);
  EXPECT_EQ(n.predicted(), v1::DECISION_KEEP);
  EXPECT_EQ(n.reason(), v1::SORT_REASON_DEADLINE);
  EXPECT_EQ(n.sequence(), 1u);  // the actuation it follows
  EXPECT_EQ(n.tray_position(), 42u);
  EXPECT_EQ(n.model_version(), "2.1.0");
  EXPECT_EQ(s->last_sequence(), 1u);
  // Redelivered: nothing more.
  EXPECT_EQ(s->OnPrediction(Prediction(t, v1::DECISION_KEEP)), PredictionOutcome::kDuplicate);
  EXPECT_EQ(out_.size(), 2u);
}

TEST_F(SortSchedulerTest, LatePredictionBeforeTheTimerTickedIsStillRecheckThenNotice) {
  auto s = Make(Options());
  SortTicket t = Ticket("s1");
  ASSERT_TRUE(s->Expect(t).ok());
  clock_.Advance(9'500 * kMs + 1);  // no Tick: the timer is slow
  EXPECT_EQ(s->OnPrediction(Prediction(t, v1::DECISION_DIVERT)), PredictionOutcome::kLateNotice);
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_FALSE(out_[0].late());
  EXPECT_EQ(out_[0].actuated(), v1::DECISION_RECHECK);
  EXPECT_TRUE(out_[1].late());
  EXPECT_EQ(out_[1].predicted(), v1::DECISION_DIVERT);
}

TEST_F(SortSchedulerTest, DuplicatePredictionsAreIgnored) {
  auto s = Make(Options());
  SortTicket t = Ticket("s1");
  ASSERT_TRUE(s->Expect(t).ok());
  EXPECT_EQ(s->OnPrediction(Prediction(t, v1::DECISION_KEEP)), PredictionOutcome::kActuated);
  EXPECT_EQ(s->OnPrediction(Prediction(t, v1::DECISION_KEEP)), PredictionOutcome::kDuplicate);
  // Even one saying something else (a second model's verdict redelivered).
  EXPECT_EQ(s->OnPrediction(Prediction(t, v1::DECISION_DIVERT)), PredictionOutcome::kDuplicate);
  clock_.Advance(30'000 * kMs);
  s->Tick();
  EXPECT_EQ(s->OnPrediction(Prediction(t, v1::DECISION_KEEP)), PredictionOutcome::kDuplicate);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].actuated(), v1::DECISION_KEEP);
}

TEST_F(SortSchedulerTest, QaFailedScannerGetsRecheckEvenWithAPrediction) {
  auto s = Make(Options());
  SortTicket pending_before = Ticket("before");
  ASSERT_TRUE(s->Expect(pending_before).ok());
  s->SetQaFailed("scanner-1", true);
  SortTicket during = Ticket("during");
  ASSERT_TRUE(s->Expect(during).ok());
  SortTicket other = Ticket("other");
  other.scanner_id = "scanner-2";
  ASSERT_TRUE(s->Expect(other).ok());

  EXPECT_EQ(s->OnPrediction(Prediction(during, v1::DECISION_KEEP)), PredictionOutcome::kActuated);
  EXPECT_EQ(s->OnPrediction(Prediction(other, v1::DECISION_KEEP)), PredictionOutcome::kActuated);
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[0].actuated(), v1::DECISION_RECHECK);
  EXPECT_EQ(out_[0].predicted(), v1::DECISION_KEEP);
  EXPECT_EQ(out_[0].reason(), v1::SORT_REASON_QA_FAILED);
  EXPECT_EQ(out_[1].actuated(), v1::DECISION_KEEP);  // another scanner is not affected
  EXPECT_EQ(out_[1].reason(), v1::SORT_REASON_PREDICTION);

  // QA passes again: the scan captured before the failure stays RECHECK,
  // new scans get the model's decision.
  s->SetQaFailed("scanner-1", false);
  EXPECT_EQ(s->OnPrediction(Prediction(pending_before, v1::DECISION_DIVERT)), PredictionOutcome::kActuated);
  SortTicket after = Ticket("after");
  ASSERT_TRUE(s->Expect(after).ok());
  EXPECT_EQ(s->OnPrediction(Prediction(after, v1::DECISION_DIVERT)), PredictionOutcome::kActuated);
  ASSERT_EQ(out_.size(), 4u);
  EXPECT_EQ(out_[2].actuated(), v1::DECISION_RECHECK);
  EXPECT_EQ(out_[2].reason(), v1::SORT_REASON_QA_FAILED);
  EXPECT_EQ(out_[3].actuated(), v1::DECISION_DIVERT);
  EXPECT_EQ(out_[3].reason(), v1::SORT_REASON_PREDICTION);
}

TEST_F(SortSchedulerTest, QaFailedWithoutPredictionIsRecheckForQaAtTheDeadline) {
  auto s = Make(Options());
  s->SetQaFailed("scanner-1", true);
  ASSERT_TRUE(s->Expect(Ticket("s1")).ok());
  clock_.Advance(10'000 * kMs);
  s->Tick();
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].actuated(), v1::DECISION_RECHECK);
  EXPECT_EQ(out_[0].reason(), v1::SORT_REASON_QA_FAILED);
}

TEST_F(SortSchedulerTest, SequenceNumbersAreOnePerActuationPerLine) {
  auto l1 = Make(Options("L1"));
  std::vector<v1::SortDecision> l2_out;
  auto l2 = std::move(SortScheduler::Create(
                          Options("L2"), [&](const v1::SortDecision& d) { l2_out.push_back(d); }, clock_))
                .value();
  for (int i = 0; i < 10; ++i) {
    SortTicket a = Ticket("a" + std::to_string(i), static_cast<uint32_t>(i), "L1");
    SortTicket b = Ticket("b" + std::to_string(i), static_cast<uint32_t>(i), "L2");
    ASSERT_TRUE(l1->Expect(a).ok());
    ASSERT_TRUE(l2->Expect(b).ok());
    if (i % 3 != 0) {
      l1->OnPrediction(Prediction(a, v1::DECISION_KEEP));
      l1->OnPrediction(Prediction(a, v1::DECISION_KEEP));  // duplicate: no number
    }
    if (i % 2 == 0) l2->OnPrediction(Prediction(b, v1::DECISION_DIVERT));
    clock_.Advance(100 * kMs);
  }
  clock_.Advance(20'000 * kMs);
  l1->Tick();
  l2->Tick();
  for (const auto* out : {&out_, &l2_out}) {
    ASSERT_EQ(out->size(), 10u);
    for (std::size_t i = 0; i < out->size(); ++i) EXPECT_EQ((*out)[i].sequence(), i + 1);
  }
  EXPECT_EQ(l1->last_sequence(), 10u);
}

TEST_F(SortSchedulerTest, PredictionOfAScanNeverExpectedUsesItsOwnDeadline) {
  auto s = Make(Options());
  SortTicket t = Ticket("restart-1");
  v1::Prediction in_time = Prediction(t, v1::DECISION_KEEP);
  *in_time.mutable_deadline() = ToTimestamp(clock_.NowUnixNanos() + 5'000 * kMs);
  EXPECT_EQ(s->OnPrediction(in_time), PredictionOutcome::kActuated);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].actuated(), v1::DECISION_KEEP);
  EXPECT_EQ(out_[0].sequence(), 1u);
  EXPECT_EQ(FromTimestamp(out_[0].deadline()), clock_.NowUnixNanos() + 5'000 * kMs);

  // Past its deadline - margin: a late notice, no actuation (sequence 0).
  SortTicket t2 = Ticket("restart-2");
  v1::Prediction late = Prediction(t2, v1::DECISION_DIVERT);
  *late.mutable_deadline() = ToTimestamp(clock_.NowUnixNanos() + 400 * kMs);
  EXPECT_EQ(s->OnPrediction(late), PredictionOutcome::kLateNotice);
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_TRUE(out_[1].late());
  EXPECT_EQ(out_[1].actuated(), v1::DECISION_RECHECK);
  EXPECT_EQ(out_[1].predicted(), v1::DECISION_DIVERT);
  EXPECT_EQ(out_[1].sequence(), 0u);
  EXPECT_EQ(s->OnPrediction(late), PredictionOutcome::kDuplicate);

  // No deadline: actuated as it comes.
  SortTicket t3 = Ticket("restart-3");
  EXPECT_EQ(s->OnPrediction(Prediction(t3, v1::DECISION_DIVERT)), PredictionOutcome::kActuated);
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[2].actuated(), v1::DECISION_DIVERT);
  EXPECT_EQ(out_[2].sequence(), 2u);

  // Its Expect() coming after it changes nothing.
  EXPECT_EQ(s->Expect(t3).code(), StatusCode::kAlreadyExists);
  clock_.Advance(20'000 * kMs);
  s->Tick();
  EXPECT_EQ(out_.size(), 3u);
}

TEST_F(SortSchedulerTest, PredictionsOfOtherLinesAndInvalidOnesAreIgnored) {
  auto s = Make(Options());
  SortTicket other = Ticket("o1", 3, "L2");
  EXPECT_EQ(s->OnPrediction(Prediction(other, v1::DECISION_KEEP)), PredictionOutcome::kNotForThisLine);
  SortTicket no_line = Ticket("o2", 3, "");
  EXPECT_EQ(s->OnPrediction(Prediction(no_line, v1::DECISION_KEEP)), PredictionOutcome::kNotForThisLine);
  SortTicket t = Ticket("s1");
  EXPECT_EQ(s->OnPrediction(Prediction(t, v1::DECISION_UNSPECIFIED)), PredictionOutcome::kInvalid);
  SortTicket far = Ticket("s2", 150);
  EXPECT_EQ(s->OnPrediction(Prediction(far, v1::DECISION_KEEP)), PredictionOutcome::kInvalid);
  v1::Prediction no_id = Prediction(t, v1::DECISION_KEEP);
  no_id.clear_scan_id();
  no_id.clear_egg_id();
  EXPECT_EQ(s->OnPrediction(no_id), PredictionOutcome::kInvalid);
  EXPECT_TRUE(out_.empty());
}

TEST_F(SortSchedulerTest, ExpectChecksItsTicket) {
  auto s = Make(Options());
  EXPECT_EQ(s->Expect(Ticket("x", 3, "L2")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Expect(Ticket("x", 150)).code(), StatusCode::kInvalidArgument);
  SortTicket no_id = Ticket("");
  no_id.egg_id.clear();
  EXPECT_EQ(s->Expect(no_id).code(), StatusCode::kInvalidArgument);
  SortTicket no_time = Ticket("x");
  no_time.captured_at_unix_ns = 0;
  EXPECT_EQ(s->Expect(no_time).code(), StatusCode::kInvalidArgument);
  SortTicket too_far = Ticket("x");
  too_far.deadline_unix_ns = too_far.captured_at_unix_ns + 30'000 * kMs;
  EXPECT_EQ(s->Expect(too_far).code(), StatusCode::kInvalidArgument);
  SortTicket before = Ticket("x");
  before.deadline_unix_ns = before.captured_at_unix_ns - 1;
  EXPECT_EQ(s->Expect(before).code(), StatusCode::kInvalidArgument);

  // The egg id stands for the scan when there is no scan id (v1 producers).
  SortTicket by_egg = Ticket("");
  ASSERT_TRUE(s->Expect(by_egg).ok());
  EXPECT_EQ(s->Expect(by_egg).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(s->OnPrediction(Prediction(by_egg, v1::DECISION_KEEP)), PredictionOutcome::kActuated);
  EXPECT_EQ(s->Expect(by_egg).code(), StatusCode::kAlreadyExists);

  // A ticket with its own deadline, already past deadline - margin when
  // forwarded: RECHECK at once.
  SortTicket stale = Ticket("stale");
  stale.captured_at_unix_ns -= 9'800 * kMs;
  ASSERT_TRUE(s->Expect(stale).ok());
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[1].scan_id(), "stale");
  EXPECT_EQ(out_[1].actuated(), v1::DECISION_RECHECK);
  EXPECT_EQ(out_[1].reason(), v1::SORT_REASON_DEADLINE);
}

TEST_F(SortSchedulerTest, ActuatedScansAreForgottenAfterTheHorizonAndMemoryIsBounded) {
  SortSchedulerOptions o = Options();
  o.remember_ms = 60'000;
  o.max_tracked_scans = 50;
  auto s = Make(o);
  for (int i = 0; i < 40; ++i) {
    SortTicket t = Ticket("s" + std::to_string(i));
    ASSERT_TRUE(s->Expect(t).ok());
    s->OnPrediction(Prediction(t, v1::DECISION_KEEP));
  }
  EXPECT_EQ(s->remembered(), 40u);
  clock_.Advance(59'000 * kMs);
  s->Tick();
  EXPECT_EQ(s->remembered(), 40u);
  clock_.Advance(2'000 * kMs);
  s->Tick();
  EXPECT_EQ(s->remembered(), 0u);

  // Over max_tracked_scans: the oldest remembered go first; when every slot
  // awaits a decision, Expect refuses.
  for (int i = 0; i < 50; ++i) {
    SortTicket t = Ticket("r" + std::to_string(i));
    ASSERT_TRUE(s->Expect(t).ok());
    s->OnPrediction(Prediction(t, v1::DECISION_KEEP));
  }
  EXPECT_EQ(s->remembered(), 50u);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->Expect(Ticket("p" + std::to_string(i))).ok()) << i;
  EXPECT_EQ(s->remembered(), 0u);
  EXPECT_EQ(s->pending(), 50u);
  EXPECT_EQ(s->Expect(Ticket("one-too-many")).code(), StatusCode::kResourceExhausted);
}

// The value of one series in the registry's text output (0 when absent).
double MetricValue(const std::string& series) {
  const std::string text = SerializeMetrics();
  const std::size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST_F(SortSchedulerTest, MetricsCountMissesLatePredictionsAndActuations) {
  // The registry is process-wide: compare before and after (the test may
  // run repeatedly in one process).
  const std::vector<std::string> series = {
      R"(ovoflow_sort_deadline_misses_total{line="metrics-line"})",
      R"(ovoflow_sort_late_predictions_total{line="metrics-line"})",
      R"(ovoflow_sort_actuations_total{decision="keep",line="metrics-line",reason="prediction"})",
      R"(ovoflow_sort_actuations_total{decision="recheck",line="metrics-line",reason="deadline"})",
      R"(ovoflow_sort_ignored_predictions_total{line="metrics-line",reason="duplicate"})",
      R"(ovoflow_sort_decision_slack_seconds_count{line="metrics-line"})",
  };
  std::vector<double> before;
  before.reserve(series.size());
  for (const auto& name : series) before.push_back(MetricValue(name));

  auto s = Make(Options("metrics-line"));
  SortTicket a = Ticket("m1", 1, "metrics-line");
  SortTicket b = Ticket("m2", 2, "metrics-line");
  ASSERT_TRUE(s->Expect(a).ok());
  ASSERT_TRUE(s->Expect(b).ok());
  s->OnPrediction(Prediction(a, v1::DECISION_KEEP));
  clock_.Advance(11'000 * kMs);
  s->Tick();
  s->OnPrediction(Prediction(b, v1::DECISION_DIVERT));
  s->OnPrediction(Prediction(b, v1::DECISION_DIVERT));

  const std::vector<double> increase = {1, 1, 1, 1, 1, 2};
  for (std::size_t i = 0; i < series.size(); ++i)
    EXPECT_EQ(MetricValue(series[i]) - before[i], increase[i]) << series[i] << "\n" << SerializeMetrics();
}

// The timer thread on the real clock: a scan without a prediction gets its
// RECHECK without anyone calling Tick(). Waits for the decision, with a
// generous bound; asserts nothing about how long it took.
TEST(SortSchedulerTimerTest, TimerThreadActuatesRecheckOnItsOwn) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<v1::SortDecision> out;
  SortSchedulerOptions o;
  o.line_id = "timer-line";
  o.belt_travel_ms = 60;
  o.safety_margin_ms = 10;
  o.remember_ms = 1000;
  auto s = std::move(SortScheduler::Create(o, [&](const v1::SortDecision& d) {
                       std::lock_guard lock(mu);
                       out.push_back(d);
                       cv.notify_all();
                     }).value());
  s->StartTimerThread();
  s->StartTimerThread();  // once is enough
  SortTicket t;
  t.scan_id = "t1";
  t.egg_id = "e1";
  t.line_id = "timer-line";
  t.captured_at_unix_ns = SystemClock().NowUnixNanos();
  ASSERT_TRUE(s->Expect(t).ok());
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return !out.empty(); }));
    EXPECT_EQ(out[0].actuated(), v1::DECISION_RECHECK);
    EXPECT_EQ(out[0].reason(), v1::SORT_REASON_DEADLINE);
  }
  s->StopTimerThread();
  s->StopTimerThread();
  std::lock_guard lock(mu);
  EXPECT_EQ(out.size(), 1u);
}

// A slowed worker: 1,000 scans whose predictions arrive at random around
// their deadline minus margin, some twice, with a timer that ticks at
// irregular, sometimes long intervals. Every scan is actuated exactly once,
// in sequence; each prediction after deadline - margin leaves its scan at
// RECHECK with one late notice; each one in time is actuated as predicted.
TEST_F(SortSchedulerTest, SlowedWorkerEveryScanActuatedExactlyOnce) {
  SortSchedulerOptions o = Options();
  auto s = Make(o);
  std::mt19937_64 rng(20260425);  // NOLINT(cert-msc32-c,cert-msc51-cpp): a fixed seed keeps the test reproducible
  std::uniform_int_distribution<int64_t> jitter(-1'000 * kMs, 1'000 * kMs);
  std::uniform_int_distribution<int64_t> forward_delay(0, 50 * kMs);
  std::uniform_int_distribution<int64_t> tick_gap(1 * kMs, 300 * kMs);
  std::uniform_int_distribution<int> pick(0, 9);
  const v1::Decision kDecisions[] = {v1::DECISION_KEEP, v1::DECISION_DIVERT, v1::DECISION_RECHECK};

  enum Kind { kExpect, kPredict, kTick };
  struct Event {
    int64_t at;
    Kind kind;
    int scan;
  };
  constexpr int kScans = 1000;
  const int64_t start = clock_.NowUnixNanos();
  std::vector<SortTicket> tickets;
  std::vector<v1::Decision> predicted(kScans);
  std::vector<int64_t> first_prediction_at(kScans);
  std::vector<Event> events;
  for (int i = 0; i < kScans; ++i) {
    SortTicket t;
    t.scan_id = "scan-" + std::to_string(i);
    t.egg_id = "egg-" + std::to_string(i);
    t.tenant_id = "hatchery-a";
    t.scanner_id = "scanner-" + std::to_string(i % 3);
    t.line_id = "L1";
    t.tray_id = "tray-" + std::to_string(i / 150);
    t.tray_position = static_cast<uint32_t>(i % 150);
    t.captured_at_unix_ns = start + int64_t{i} * 7 * kMs;
    tickets.push_back(t);
    predicted[i] = kDecisions[pick(rng) % 3];
    const int64_t cutoff = t.captured_at_unix_ns + (o.belt_travel_ms - o.safety_margin_ms) * kMs;
    events.push_back({t.captured_at_unix_ns + forward_delay(rng), kExpect, i});
    // Some exactly at the cut-off, the rest around it.
    first_prediction_at[i] = pick(rng) == 0 ? cutoff : cutoff + jitter(rng);
    events.push_back({first_prediction_at[i], kPredict, i});
    if (pick(rng) < 2) events.push_back({first_prediction_at[i] + forward_delay(rng) * 20, kPredict, i});
  }
  for (int64_t at = start; at < start + 20'000 * kMs; at += tick_gap(rng)) events.push_back({at, kTick, -1});
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at < b.at; });

  for (const Event& e : events) {
    const int64_t now = clock_.NowUnixNanos();
    if (e.at > now) clock_.Advance(e.at - now);
    switch (e.kind) {
      case kExpect:
        ASSERT_TRUE(s->Expect(tickets[e.scan]).ok());
        break;
      case kPredict: {
        v1::Prediction p;
        p.set_scan_id(tickets[e.scan].scan_id);
        p.set_egg_id(tickets[e.scan].egg_id);
        p.set_line_id("L1");
        p.set_decision(predicted[e.scan]);
        s->OnPrediction(p);
        break;
      }
      case kTick:
        s->Tick();
        break;
    }
  }
  clock_.Advance(60'000 * kMs);
  s->Tick();

  std::map<std::string, std::vector<v1::SortDecision>> actuations;
  std::map<std::string, std::vector<v1::SortDecision>> notices;
  uint64_t expected_sequence = 1;
  for (const auto& d : out_) {
    if (d.late()) {
      notices[d.scan_id()].push_back(d);
    } else {
      actuations[d.scan_id()].push_back(d);
      EXPECT_EQ(d.sequence(), expected_sequence++);
    }
  }
  ASSERT_EQ(actuations.size(), static_cast<std::size_t>(kScans));
  int late = 0;
  for (int i = 0; i < kScans; ++i) {
    const SortTicket& t = tickets[i];
    const auto& a = actuations[t.scan_id];
    ASSERT_EQ(a.size(), 1u) << t.scan_id << " actuated " << a.size() << " times";
    const int64_t cutoff = t.captured_at_unix_ns + (o.belt_travel_ms - o.safety_margin_ms) * kMs;
    if (first_prediction_at[i] > cutoff) {
      ++late;
      EXPECT_EQ(a[0].actuated(), v1::DECISION_RECHECK) << t.scan_id;
      EXPECT_EQ(a[0].reason(), v1::SORT_REASON_DEADLINE) << t.scan_id;
      // The RECHECK is never decided before the cut-off.
      EXPECT_GT(FromTimestamp(a[0].decided_at()), cutoff) << t.scan_id;
      ASSERT_EQ(notices[t.scan_id].size(), 1u) << t.scan_id;
      EXPECT_EQ(notices[t.scan_id][0].predicted(), predicted[i]);
      EXPECT_EQ(notices[t.scan_id][0].actuated(), v1::DECISION_RECHECK);
      EXPECT_EQ(notices[t.scan_id][0].sequence(), a[0].sequence());
    } else {
      EXPECT_EQ(a[0].actuated(), predicted[i]) << t.scan_id;
      EXPECT_EQ(a[0].reason(), v1::SORT_REASON_PREDICTION) << t.scan_id;
      EXPECT_LE(FromTimestamp(a[0].decided_at()), cutoff) << t.scan_id;
      EXPECT_EQ(notices.count(t.scan_id), 0u) << t.scan_id;
    }
  }
  // Both kinds occurred in numbers.
  EXPECT_GT(late, 200);
  EXPECT_LT(late, 800);
  EXPECT_EQ(s->pending(), 0u);
}

}  // namespace
}  // namespace ovoflow::edge
