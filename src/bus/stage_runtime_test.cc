// The stage runtime on a fake Kafka and a manual clock: delivery, dead
// letters counted once, failure isolation, retry and stall, rebalance in the
// middle of a batch, a fenced producer, stopping during a batch.
#include "bus/stage_runtime.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "bus/testing/fake_kafka.h"
#include "common/metrics.h"
#include "common/readiness.h"
#include "common/testing/manual_clock.h"
#include "common/topics.h"
#include "ovoflow/v1/dead_letter.pb.h"

namespace ovoflow::bus {
namespace {

using testing::FakeBroker;
using testing::FakeConsumer;
using testing::FakeOp;
using testing::FakeProducer;

// Outputs "out:<value>" to topic "out" for each message. A value "poison" is
// rejected by the stage itself; a batch holding "explode" fails as a whole
// (InvalidArgument); the first `failures` calls fail with `failure`
// (retryable or not, the batch is held). `during` runs inside each call.
class ScriptedStage final : public Stage {
 public:
  int calls = 0;
  int failures = 0;
  Status failure = Status::Unavailable("database away");
  bool bad_index = false;  // reject a record past the batch (a stage bug)
  int delivered_callbacks = 0;
  std::function<void(int call)> during;

  Result<BatchOutcome> Process(std::span<const Message> batch) override {
    ++calls;
    if (during) during(calls);
    if (failures > 0) {
      --failures;
      return failure;
    }
    if (bad_index) {
      bad_index = false;
      BatchOutcome out;
      out.rejections.push_back({batch.size(), "bug", "index past the batch"});
      return out;
    }
    BatchOutcome out;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].value == "explode") return Status::InvalidArgument("value 'explode' breaks the batch");
      if (batch[i].value == "poison") {
        out.rejections.push_back({i, "poison", "value is poison"});
        continue;
      }
      out.outputs.push_back({"out", batch[i].key, "out:" + batch[i].value, {}});
    }
    out.on_delivered.push_back([this] { ++delivered_callbacks; });
    return out;
  }
};

// Sum of the samples of `series` (a metric name with a label filter, e.g.
// `ovoflow_dead_letters_total{reason="poison",stage="s"}`) in /metrics text.
double Metric(const std::string& series) {
  const std::string text = SerializeMetrics();
  double sum = 0;
  for (std::size_t pos = 0; (pos = text.find(series, pos)) != std::string::npos; ++pos) {
    if (pos > 0 && text[pos - 1] != '\n') continue;
    sum += std::stod(text.substr(text.find(' ', pos) + 1));
  }
  return sum;
}

class StageRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_.CreateTopic("in", 2);
    broker_.CreateTopic("out", 2);
    broker_.CreateTopic(kDeadLetterTopic, 1);
  }

  // Appends `values` to "in", alternating partitions; keys are k<i>.
  void Feed(const std::vector<std::string>& values) {
    for (std::size_t i = 0; i < values.size(); ++i)
      broker_.Append("in", static_cast<int32_t>(i % 2), "k" + std::to_string(i), values[i]);
  }

  std::unique_ptr<StageRuntime> Make(const std::string& stage, Delivery delivery, int max_batch = 8) {
    StageRuntimeOptions o;
    o.stage = stage;
    o.delivery = delivery;
    o.max_batch = max_batch;
    o.max_wait_ms = 0;
    o.poll_timeout_ms = 10;
    o.stall_after_attempts = 5;
    auto consumer = std::make_unique<FakeConsumer>(&broker_, std::vector<std::string>{"in"});
    consumer->set_clock(&clock_);
    consumer_ = consumer.get();
    ProducerFactory factory;
    if (delivery != Delivery::kObserve)
      factory = [this, delivery]() -> Result<std::unique_ptr<Producer>> {
        return std::unique_ptr<Producer>(new FakeProducer(&broker_, delivery == Delivery::kTransactional));
      };
    auto rt = StageRuntime::Create(o, std::move(consumer), factory, &stage_, &clock_);
    EXPECT_TRUE(rt.ok()) << rt.status().ToString();
    return std::move(rt).value();
  }

  // RunOnce until `want` messages were delivered or 200 cycles passed.
  int RunUntil(StageRuntime& rt, int want) {
    std::atomic<bool> stop{false};
    int done = 0;
    for (int i = 0; i < 200 && done < want; ++i) {
      auto n = rt.RunOnce(stop);
      EXPECT_TRUE(n.ok()) << n.status().ToString();
      if (!n.ok()) break;
      done += *n;
    }
    return done;
  }

  std::multiset<std::string> Values(const std::string& topic) {
    std::multiset<std::string> out;
    for (const auto& m : broker_.Read(topic)) out.insert(m.value);
    return out;
  }

  std::vector<v1::DeadLetter> DeadLetters() {
    std::vector<v1::DeadLetter> out;
    for (const auto& m : broker_.Read(kDeadLetterTopic)) {
      v1::DeadLetter dl;
      EXPECT_TRUE(dl.ParseFromString(m.value));
      out.push_back(dl);
    }
    return out;
  }

  FakeBroker broker_;
  FakeConsumer* consumer_ = nullptr;  // owned by the runtime
  ovoflow::testing::ManualClock clock_;
  ScriptedStage stage_;
};

TEST_F(StageRuntimeTest, TransactionDeliversOutputsDeadLettersAndOffsetsTogether) {
  Feed({"a", "b", "poison", "c", "d", "poison"});
  auto rt = Make("t-deliver", Delivery::kTransactional);
  EXPECT_EQ(RunUntil(*rt, 6), 6);
  EXPECT_EQ(Values("out"), (std::multiset<std::string>{"out:a", "out:b", "out:c", "out:d"}));
  auto dead = DeadLetters();
  ASSERT_EQ(dead.size(), 2u);
  for (const auto& dl : dead) {
    EXPECT_EQ(dl.original(), "poison");
    EXPECT_EQ(dl.reason(), "value is poison");
    EXPECT_EQ(dl.reason_kind(), "poison");
    EXPECT_EQ(dl.stage(), "t-deliver");
    EXPECT_EQ(dl.topic(), "in");
  }
  EXPECT_EQ(broker_.Committed("in", 0), 3);
  EXPECT_EQ(broker_.Committed("in", 1), 3);
  EXPECT_EQ(Metric("ovoflow_dead_letters_total{reason=\"poison\",stage=\"t-deliver\"}"), 2);
  EXPECT_EQ(Metric("ovoflow_stage_messages_total{stage=\"t-deliver\"}"), 6);
  EXPECT_GE(stage_.delivered_callbacks, 1);
}

TEST_F(StageRuntimeTest, AnAbortedTransactionIsReadAgainAndItsDeadLettersCountOnce) {
  Feed({"a", "poison", "b", "c"});
  broker_.FailNext(FakeOp::kCommitTransaction, Status::FailedPrecondition("commit transaction: abortable"));
  auto rt = Make("t-abort", Delivery::kTransactional);
  EXPECT_EQ(RunUntil(*rt, 4), 4);
  EXPECT_EQ(broker_.transactions_aborted(), 1);
  EXPECT_EQ(Values("out"), (std::multiset<std::string>{"out:a", "out:b", "out:c"}));
  EXPECT_EQ(DeadLetters().size(), 1u);
  EXPECT_EQ(Metric("ovoflow_dead_letters_total{reason=\"poison\",stage=\"t-abort\"}"), 1);
  EXPECT_EQ(Metric("ovoflow_stage_transactions_total{result=\"aborted\",stage=\"t-abort\"}"), 1);
  EXPECT_EQ(stage_.calls, 2);  // processed, aborted, read again and processed once more
}

TEST_F(StageRuntimeTest, ABatchThatFailsAsAWholeIsSplitUntilTheFailingRecordsAreFound) {
  std::vector<std::string> values;
  values.reserve(16);
  for (int i = 0; i < 16; ++i) values.push_back(i == 5 || i == 12 ? "explode" : "v" + std::to_string(i));
  Feed(values);
  auto rt = Make("t-isolate", Delivery::kTransactional, 16);
  EXPECT_EQ(RunUntil(*rt, 16), 16);
  auto out = Values("out");
  EXPECT_EQ(out.size(), 14u);
  for (int i = 0; i < 16; ++i) {
    if (i != 5 && i != 12) {
      EXPECT_EQ(out.count("out:v" + std::to_string(i)), 1u) << i;
    }
  }
  auto dead = DeadLetters();
  ASSERT_EQ(dead.size(), 2u);
  for (const auto& dl : dead) {
    EXPECT_EQ(dl.original(), "explode");
    EXPECT_EQ(dl.reason_kind(), "rejected");
    EXPECT_EQ(dl.reason(), "value 'explode' breaks the batch");
  }
  EXPECT_LE(stage_.calls, 1 + 2 * 2 * 4) << "bisection: about 2 log2(n) calls per failing record";
  EXPECT_EQ(Metric("ovoflow_stage_isolations_total{stage=\"t-isolate\"}"), 1);
  EXPECT_EQ(broker_.transactions_committed(), 1);
}

TEST_F(StageRuntimeTest, ARetryableFailureHoldsTheBatchReportsAStallAndRecovers) {
  Feed({"a", "b"});
  stage_.failures = 7;
  std::vector<std::string> problems_at_call_7;
  bool stalled_at_call_7 = false;
  StageRuntime* runtime = nullptr;
  stage_.during = [&](int call) {
    if (call == 7) {
      stalled_at_call_7 = runtime->stalled();
      problems_at_call_7 = Readiness::Problems();
    }
  };
  auto rt = Make("t-stall", Delivery::kAtLeastOnce);
  runtime = rt.get();
  EXPECT_EQ(RunUntil(*rt, 2), 2);
  EXPECT_TRUE(stalled_at_call_7);
  ASSERT_EQ(problems_at_call_7.size(), 1u);
  EXPECT_NE(problems_at_call_7[0].find("stage t-stall: stalled at in[0]@0, in[1]@0 after 5 failed attempts"),
            std::string::npos)
      << problems_at_call_7[0];
  EXPECT_NE(problems_at_call_7[0].find("database away"), std::string::npos);
  EXPECT_FALSE(rt->stalled());
  EXPECT_TRUE(Readiness::Problems().empty());
  EXPECT_EQ(Metric("ovoflow_stage_stalled{stage=\"t-stall\"}"), 0);
  EXPECT_EQ(Metric("ovoflow_stage_retries_total{stage=\"t-stall\"}"), 7);
  // 50 + 100 + 200 + 400 + 800 + 1600 + 2000 ms of backoff, on the clock.
  EXPECT_EQ(clock_.slept_nanos() / 1'000'000, 5150);
  EXPECT_EQ(Values("out"), (std::multiset<std::string>{"out:a", "out:b"}));
  EXPECT_EQ(broker_.Committed("in", 0), 1);
}

// Access refused or a failing device is no record's fault: nothing is
// dead-lettered, the batch is held until it goes through.
TEST_F(StageRuntimeTest, AFailureThatIsNoRecordsFaultHoldsTheBatchInsteadOfDeadLetteringIt) {
  Feed({"a", "b", "c", "d"});
  stage_.failures = 6;
  stage_.failure = Status::FailedPrecondition("permission denied for table predictions");
  auto rt = Make("t-hold", Delivery::kAtLeastOnce);
  EXPECT_EQ(RunUntil(*rt, 4), 4);
  EXPECT_TRUE(DeadLetters().empty());
  EXPECT_EQ(Values("out"), (std::multiset<std::string>{"out:a", "out:b", "out:c", "out:d"}));
  EXPECT_EQ(Metric("ovoflow_stage_isolations_total{stage=\"t-hold\"}"), 0);
  EXPECT_EQ(stage_.calls, 7);
}

// A stage that rejects a record past its batch (a bug) cannot crash the
// process: the batch is held and tried again.
TEST_F(StageRuntimeTest, ARejectionPastTheBatchIsHeldNotIndexed) {
  Feed({"a", "b"});
  stage_.bad_index = true;
  auto rt = Make("t-index", Delivery::kTransactional);
  EXPECT_EQ(RunUntil(*rt, 2), 2);
  EXPECT_TRUE(DeadLetters().empty());
  EXPECT_EQ(Values("out"), (std::multiset<std::string>{"out:a", "out:b"}));
}

// A commit that went through but whose answer was lost: the producer is
// recreated and the consumer goes back to the group's committed offsets,
// so the batch is not delivered a second time.
TEST_F(StageRuntimeTest, ACommitWhoseOutcomeWasLostIsNotDeliveredTwice) {
  Feed({"a", "b", "c"});
  broker_.FailNext(FakeOp::kCommitTransactionOutcomeLost, Status::Internal("commit transaction: fatal error"));
  auto rt = Make("t-lost", Delivery::kTransactional);
  std::atomic<bool> stop{false};
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rt->RunOnce(stop).ok());
  EXPECT_EQ(broker_.producers_created(), 2);
  EXPECT_EQ(broker_.transactions_committed(), 1);
  EXPECT_EQ(Values("out"), (std::multiset<std::string>{"out:a", "out:b", "out:c"}));
  EXPECT_EQ(stage_.calls, 1);
}

// A topic that is gone or refused is reported like a failing batch, and the
// stage goes on when it comes back.
TEST_F(StageRuntimeTest, APollThatKeepsFailingIsAStall) {
  Feed({"a"});
  broker_.FailNext(FakeOp::kPoll, Status::Unavailable("consumer: Broker: Topic authorization failed"), 6);
  auto rt = Make("t-poll", Delivery::kAtLeastOnce);
  std::atomic<bool> stop{false};
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rt->RunOnce(stop).ok());
  EXPECT_TRUE(rt->stalled());
  ASSERT_EQ(Readiness::Problems().size(), 1u);
  EXPECT_NE(Readiness::Problems()[0].find("stalled at polling after 5 failed attempts"), std::string::npos)
      << Readiness::Problems()[0];
  EXPECT_EQ(RunUntil(*rt, 1), 1);
  EXPECT_FALSE(rt->stalled());
  EXPECT_TRUE(Readiness::Problems().empty());
}

// Stalled on a partition that then moves to another member: this member is
// no longer stalled.
TEST_F(StageRuntimeTest, APartitionThatMovesAwayEndsTheStallOnIt) {
  broker_.Append("in", 0, "k0", "a");
  stage_.failures = 1000;
  auto rt = Make("t-moved", Delivery::kAtLeastOnce);
  std::atomic<bool> stop{false};
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rt->RunOnce(stop).ok());
  EXPECT_TRUE(rt->stalled());
  EXPECT_EQ(Readiness::Problems().size(), 1u);
  consumer_->Revoke("in", 0);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(rt->RunOnce(stop).ok());  // learns of it at a poll, then forgets
  EXPECT_FALSE(rt->stalled());
  EXPECT_TRUE(Readiness::Problems().empty());
  EXPECT_TRUE(DeadLetters().empty());
}

// A stop while a batch cannot be processed says so (its offsets stay
// uncommitted); a stop after its aborted batch's partition moved away does
// not wait for a batch this member no longer owns.
TEST_F(StageRuntimeTest, AStopReportsABatchInHandButNotOneThatMovedAway) {
  broker_.Append("in", 0, "k0", "a");
  stage_.failures = 1000;
  auto held = Make("t-stop-held", Delivery::kAtLeastOnce);
  std::atomic<bool> stop{false};
  ASSERT_TRUE(held->RunOnce(stop).ok());
  stop = true;
  Status st = held->Run(stop);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("stopped while the batch at in[0]@0 could not be processed"), std::string::npos)
      << st.message();
  EXPECT_FALSE(broker_.Committed("in", 0).has_value());
}

TEST_F(StageRuntimeTest, AStopDoesNotWaitForAnAbortedBatchWhosePartitionMovedAway) {
  broker_.Append("in", 1, "k1", "b");
  broker_.FailNext(FakeOp::kCommitTransaction, Status::FailedPrecondition("abortable"));
  auto tx = Make("t-moved-tx", Delivery::kTransactional);
  std::atomic<bool> stop{false};
  ASSERT_TRUE(tx->RunOnce(stop).ok());  // polls "b", the transaction aborts
  consumer_->Revoke("in", 1);
  ASSERT_TRUE(tx->RunOnce(stop).ok());  // learns of the revocation at a poll
  stop = true;
  const int64_t slept = clock_.slept_nanos();
  Status st = tx->Run(stop);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(clock_.slept_nanos(), slept) << "no wait for a batch it no longer owns";
  EXPECT_TRUE(Values("out").empty());
}

TEST_F(StageRuntimeTest, ARebalanceDuringABatchCommitsNothingForTheLostPartition) {
  Feed({"p0-a", "p1-a", "p0-b", "p1-b"});
  stage_.during = [&](int call) {
    if (call == 1) consumer_->Revoke("in", 1);
  };
  auto rt = Make("t-rebalance", Delivery::kTransactional);
  EXPECT_EQ(RunUntil(*rt, 2), 2);
  EXPECT_EQ(broker_.transactions_aborted(), 1);  // offsets of the old generation refused
  EXPECT_EQ(Values("out"), (std::multiset<std::string>{"out:p0-a", "out:p0-b"}));
  EXPECT_EQ(broker_.Committed("in", 0), 2);
  EXPECT_FALSE(broker_.Committed("in", 1).has_value()) << "the partition's new owner reads it";
}

TEST_F(StageRuntimeTest, AFencedProducerIsReplacedAndTheBatchDeliveredOnce) {
  Feed({"a", "b", "c"});
  stage_.during = [&](int call) {
    if (call == 1) broker_.FenceProducers();
  };
  auto rt = Make("t-fenced", Delivery::kTransactional);
  EXPECT_EQ(RunUntil(*rt, 3), 3);
  EXPECT_EQ(broker_.producers_created(), 2);
  EXPECT_EQ(Metric("ovoflow_stage_producer_restarts_total{stage=\"t-fenced\"}"), 1);
  EXPECT_EQ(Values("out"), (std::multiset<std::string>{"out:a", "out:b", "out:c"}));
  EXPECT_EQ(broker_.transactions_committed(), 1);
}

TEST_F(StageRuntimeTest, AStopDuringABatchFinishesItThenLeaves) {
  Feed({"a", "b", "c"});
  std::atomic<bool> stop{false};
  stage_.during = [&](int) { stop = true; };
  auto rt = Make("t-stop", Delivery::kTransactional);
  Status st = rt->Run(stop);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Values("out"), (std::multiset<std::string>{"out:a", "out:b", "out:c"}));
  EXPECT_EQ(broker_.Committed("in", 0), 2);
  EXPECT_EQ(broker_.Committed("in", 1), 1);
  EXPECT_TRUE(consumer_->closed());
}

TEST_F(StageRuntimeTest, AStopWhileDeliveryKeepsFailingGivesUpAfterTheGraceWithOffsetsUncommitted) {
  Feed({"a"});
  broker_.FailNext(FakeOp::kCommitTransaction, Status::Unavailable("coordinator away"), 100000);
  std::atomic<bool> stop{false};
  stage_.during = [&](int) { stop = true; };
  auto rt = Make("t-grace", Delivery::kTransactional);
  Status st = rt->Run(stop);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("undelivered"), std::string::npos) << st.message();
  EXPECT_FALSE(broker_.Committed("in", 0).has_value());
  EXPECT_TRUE(Values("out").empty());
  EXPECT_GE(clock_.slept_nanos(), int64_t{30'000} * 1'000'000);
}

TEST_F(StageRuntimeTest, AtLeastOncePublishesThenCommits) {
  Feed({"a", "poison", "b"});
  broker_.FailNext(FakeOp::kDelivery, Status::Unavailable("broker away"), 2);
  auto rt = Make("t-alo", Delivery::kAtLeastOnce);
  EXPECT_EQ(RunUntil(*rt, 3), 3);
  EXPECT_EQ(Values("out"), (std::multiset<std::string>{"out:a", "out:b"}));
  EXPECT_EQ(DeadLetters().size(), 1u);
  EXPECT_EQ(broker_.Committed("in", 0), 2);
  EXPECT_EQ(broker_.Committed("in", 1), 1);
}

TEST_F(StageRuntimeTest, AnObserverProducesNothingAndCountsWhatItSkips) {
  Feed({"a", "poison"});
  auto rt = Make("t-observe", Delivery::kObserve);
  EXPECT_EQ(RunUntil(*rt, 2), 2);
  EXPECT_TRUE(Values("out").empty());
  EXPECT_TRUE(DeadLetters().empty());
  EXPECT_FALSE(broker_.Committed("in", 0).has_value());
  EXPECT_EQ(Metric("ovoflow_stage_skipped_total{reason=\"poison\",stage=\"t-observe\"}"), 1);
  EXPECT_EQ(Metric("ovoflow_dead_letters_total{reason=\"poison\",stage=\"t-observe\"}"), 0);
}

TEST(StageRuntimeOptionsTest, BadOptionsAreRefused) {
  FakeBroker broker;
  ScriptedStage stage;
  StageRuntimeOptions o;
  o.stage = "x";
  auto make = [&](const StageRuntimeOptions& opts, ProducerFactory f) {
    return StageRuntime::Create(opts, std::make_unique<FakeConsumer>(&broker, std::vector<std::string>{}), std::move(f),
                                &stage);
  };
  EXPECT_EQ(make(o, {}).status().code(), StatusCode::kInvalidArgument);  // delivers, but no producer
  o.delivery = Delivery::kObserve;
  EXPECT_TRUE(make(o, {}).ok());
  o.max_batch = 0;
  EXPECT_EQ(make(o, {}).status().code(), StatusCode::kInvalidArgument);
  o.max_batch = 1;
  o.stage.clear();
  EXPECT_EQ(make(o, {}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ovoflow::bus
