#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "bus/consumer.h"
#include "bus/dead_letter.h"
#include "bus/mock_cluster.h"
#include "bus/producer.h"
#include "bus/publish.h"
#include "bus/topic_reader.h"
#include "ovoflow/v1/dead_letter.pb.h"

namespace ovoflow::bus {
namespace {

class BusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mc = MockCluster::Create(3);
    ASSERT_TRUE(mc.ok()) << mc.status().ToString();
    cluster_ = std::move(mc).value();
    ASSERT_TRUE(cluster_->CreateTopic("t", 4).ok());
  }

  std::unique_ptr<Producer> MakeProducer() {
    ProducerOptions o;
    o.brokers = cluster_->bootstrap();
    auto p = Producer::Create(o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return std::move(p).value();
  }

  std::unique_ptr<Consumer> MakeConsumer(const std::string& group) {
    ConsumerOptions o;
    o.brokers = cluster_->bootstrap();
    o.group_id = group;
    o.topics = {"t"};
    o.session_timeout_ms = 6000;
    auto c = Consumer::Create(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }

  // Polls until `want` messages arrived or ~30 s of empty polls passed.
  static std::vector<Message> Drain(Consumer& c, std::size_t want) {
    std::vector<Message> all;
    for (int idle = 0; all.size() < want && idle < 300;) {
      auto r = c.Poll(500, 100);
      EXPECT_TRUE(r.ok());
      if (r->empty()) ++idle;
      for (auto& m : *r) all.push_back(std::move(m));
    }
    return all;
  }

  std::unique_ptr<MockCluster> cluster_;
};

TEST_F(BusTest, ProducedMessagesArriveWithKeysAndHeaders) {
  auto producer = MakeProducer();
  std::atomic<int> acked{0};
  for (int i = 0; i < 200; ++i) {
    Status st = producer->Send("t", "egg-" + std::to_string(i), "value-" + std::to_string(i),
                               {{"traceparent", "tp-" + std::to_string(i)}}, [&](const Status& s) {
                                 if (s.ok()) ++acked;
                               });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  ASSERT_TRUE(producer->Flush(10000).ok());
  EXPECT_EQ(acked.load(), 200);
  EXPECT_EQ(producer->Outstanding(), 0);

  auto consumer = MakeConsumer("g1");
  auto msgs = Drain(*consumer, 200);
  ASSERT_EQ(msgs.size(), 200u);
  std::map<std::string, int32_t> partition_of_key;
  for (const auto& m : msgs) {
    std::string n = m.key.substr(4);
    EXPECT_EQ(m.value, "value-" + n);
    EXPECT_EQ(m.Header("traceparent").value_or(""), "tp-" + n);
    partition_of_key[m.key] = m.partition;
  }
  EXPECT_EQ(partition_of_key.size(), 200u);
}

TEST_F(BusTest, CommittedOffsetsAreNotReadAgainByTheGroup) {
  auto producer = MakeProducer();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(producer->Send("t", std::to_string(i), "v", {}).ok());
  ASSERT_TRUE(producer->Flush(10000).ok());
  {
    auto c = MakeConsumer("g2");
    auto msgs = Drain(*c, 50);
    ASSERT_EQ(msgs.size(), 50u);
    ASSERT_TRUE(c->Commit(msgs).ok());
    c->Close();
  }
  for (int i = 50; i < 60; ++i) ASSERT_TRUE(producer->Send("t", std::to_string(i), "v", {}).ok());
  ASSERT_TRUE(producer->Flush(10000).ok());
  auto c = MakeConsumer("g2");
  auto msgs = Drain(*c, 10);
  std::set<std::string> keys;
  for (auto& m : msgs) keys.insert(m.key);
  EXPECT_EQ(keys.size(), 10u);
  for (auto& k : keys) EXPECT_GE(std::stoi(k), 50) << "re-read a committed message";
}

TEST_F(BusTest, IdempotentProducerRetriesWithoutDuplicates) {
  auto producer = MakeProducer();
  cluster_->FailNextProduceRequests(5);
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(producer->Send("t", std::to_string(i), "v", {}).ok());
  ASSERT_TRUE(producer->Flush(30000).ok());
  auto c = MakeConsumer("g3");
  auto msgs = Drain(*c, 300);
  std::multiset<std::string> keys;
  for (auto& m : msgs) keys.insert(m.key);
  EXPECT_EQ(msgs.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(keys.count(std::to_string(i)), 1u) << i;
}

TEST_F(BusTest, LagCountsUnreadMessages) {
  auto producer = MakeProducer();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(producer->Send("t", std::to_string(i), "v", {}).ok());
  ASSERT_TRUE(producer->Flush(10000).ok());
  auto c = MakeConsumer("g4");
  auto first = c->Poll(1, 10000);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  int64_t lag = -1;
  for (int i = 0; i < 100 && lag < 0; ++i) {
    lag = c->Lag();
    if (lag < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(lag, 0);
  EXPECT_LE(lag, 39);
}

TEST_F(BusTest, CommitSkipsPartitionsNotAssigned) {
  auto c = MakeConsumer("g5");
  Message foreign;
  foreign.topic = "not-subscribed";
  foreign.partition = 0;
  foreign.offset = 7;
  EXPECT_TRUE(c->Commit({foreign}).ok());
}

TEST_F(BusTest, PublishAllWaitsForEveryAckThroughFaults) {
  auto producer = MakeProducer();
  std::vector<OutgoingMessage> msgs;
  msgs.reserve(100);
  for (int i = 0; i < 100; ++i) msgs.push_back({"t", "k" + std::to_string(i), "v", {}});
  cluster_->FailNextProduceRequests(3);
  Status st = PublishAll(*producer, msgs, [] { return false; });
  ASSERT_TRUE(st.ok()) << st.ToString();
  // (Outstanding() is librdkafka's out-queue length, which also counts
  // internal requests such as metadata refreshes: not asserted here.)
  auto c = MakeConsumer("g6");
  EXPECT_EQ(Drain(*c, 100).size(), 100u);
}

TEST_F(BusTest, PublishAllGivesUpWhenBrokersAreDown) {
  ProducerOptions o;
  o.brokers = cluster_->bootstrap();
  o.delivery_timeout_ms = 1500;
  auto producer = Producer::Create(o);
  ASSERT_TRUE(producer.ok());
  for (int b = 1; b <= 3; ++b) cluster_->SetBrokerDown(b, true);
  int checks = 0;
  Status st = PublishAll(**producer, {{"t", "k", "v", {}}}, [&] { return ++checks > 5; });
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  for (int b = 1; b <= 3; ++b) cluster_->SetBrokerDown(b, false);
}

TEST_F(BusTest, DeadLetterCarriesOriginalAndReason) {
  ASSERT_TRUE(cluster_->CreateTopic("ovoflow.deadletter.v1", 1).ok());
  auto producer = MakeProducer();
  Message bad;
  bad.topic = "ovoflow.scans.v1";
  bad.partition = 2;
  bad.offset = 41;
  bad.key = "egg-x";
  bad.value = std::string("\xff\x00garbage", 9);
  OutgoingMessage out = DeadLetterFor(bad, "infer", "parse", "not an EggScan");
  ASSERT_TRUE(producer->Send(out.topic, out.key, out.value, out.headers).ok());
  ASSERT_TRUE(producer->Flush(10000).ok());
  ConsumerOptions o;
  o.brokers = cluster_->bootstrap();
  o.group_id = "dlq";
  o.topics = {"ovoflow.deadletter.v1"};
  auto c = Consumer::Create(o);
  ASSERT_TRUE(c.ok());
  auto msgs = Drain(**c, 1);
  ASSERT_EQ(msgs.size(), 1u);
  v1::DeadLetter dl;
  ASSERT_TRUE(dl.ParseFromString(msgs[0].value));
  EXPECT_EQ(dl.original(), bad.value);
  EXPECT_EQ(dl.original_size(), 9u);
  EXPECT_FALSE(dl.original_truncated());
  EXPECT_EQ(dl.original_sha256().size(), 32u);
  EXPECT_EQ(dl.topic(), "ovoflow.scans.v1");
  EXPECT_EQ(dl.partition(), 2);
  EXPECT_EQ(dl.offset(), 41);
  EXPECT_EQ(dl.reason(), "not an EggScan");
  EXPECT_EQ(dl.reason_kind(), "parse");
  EXPECT_EQ(dl.stage(), "infer");
  EXPECT_EQ(dl.original_key(), "egg-x");
  EXPECT_EQ(msgs[0].key, "egg-x");
  EXPECT_TRUE(msgs[0].Header("traceparent").has_value());
  EXPECT_EQ(msgs[0].Header("ovoflow-reason"), "parse");
}

// A 16 MiB value and an 8.5 MiB key make a dead letter the broker takes:
// both cut to their bounds, their sizes and the value's hash recorded.
TEST_F(BusTest, DeadLetterOfAHugeMessageStaysWithinItsBounds) {
  Message huge;
  huge.topic = "ovoflow.predictions.v1";
  huge.partition = 1;
  huge.offset = 7;
  // NOLINTBEGIN(bugprone-string-constructor): deliberately past the dead letter's bounds
  huge.key = std::string(8'500'000, 'k');
  huge.value = std::string(16'777'000, '\x07');
  // NOLINTEND(bugprone-string-constructor)
  const std::string reason = "message of 16777000 bytes exceeds 65536 \xff\xfe" + std::string(10'000, 'r');
  OutgoingMessage out = DeadLetterFor(huge, "store", "oversized", reason);
  const DeadLetterLimits limits;
  EXPECT_LT(out.value.size() + out.key.size(), std::size_t{1} << 20) << "must fit Kafka's default message.max.bytes";
  EXPECT_EQ(out.key.size(), limits.max_key_bytes);
  v1::DeadLetter dl;
  ASSERT_TRUE(dl.ParseFromString(out.value));
  EXPECT_TRUE(dl.original_truncated());
  EXPECT_EQ(dl.original().size(), limits.max_original_bytes);
  EXPECT_EQ(dl.original_size(), 16'777'000u);
  EXPECT_TRUE(dl.key_truncated());
  EXPECT_EQ(dl.key_size(), 8'500'000u);
  EXPECT_TRUE(dl.key().empty());
  EXPECT_LE(dl.reason().size(), limits.max_reason_bytes);
  EXPECT_NE(dl.reason().find("\xEF\xBF\xBD"), std::string::npos) << "invalid UTF-8 replaced";
  EXPECT_EQ(dl.offset(), 7);

  // And the mock broker (1 MB message.max.bytes) takes it.
  ASSERT_TRUE(cluster_->CreateTopic("ovoflow.deadletter.v1", 1).ok());
  auto producer = MakeProducer();
  ASSERT_TRUE(PublishAll(*producer, {out}, [] { return false; }).ok());
}

TEST_F(BusTest, TopicReaderReadsEveryPartitionFromTheBeginningWithoutAGroup) {
  auto producer = MakeProducer();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(producer->Send("t", "k" + std::to_string(i), std::to_string(i), {}).ok());
  ASSERT_TRUE(producer->Flush(10000).ok());
  TopicReaderOptions o;
  o.brokers = cluster_->bootstrap();
  o.topic = "t";
  for (int reader = 0; reader < 2; ++reader) {  // a second reader sees everything again
    auto r = TopicReader::Create(o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    std::set<std::string> values;
    for (int i = 0; i < 200 && !(*r)->caught_up(); ++i)
      for (auto& m : *(*r)->Poll(100, 100)) values.insert(m.value);
    EXPECT_TRUE((*r)->caught_up());
    EXPECT_EQ(values.size(), 20u);
  }
  o.topic = "no-such-topic";
  EXPECT_EQ(TopicReader::Create(o).status().code(), StatusCode::kNotFound);
}

TEST(BusConfigTest, BadOptionsFailClearly) {
  ConsumerOptions o;
  o.topics = {"t"};
  auto c = Consumer::Create(o);
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  ProducerOptions p;
  p.compression = "not-a-codec";
  auto pr = Producer::Create(p);
  ASSERT_FALSE(pr.ok());
  EXPECT_NE(pr.status().message().find("compression.codec"), std::string::npos);
}

TEST(BusAdminTest, EnsureTopicsReportsAnUnreachableBroker) {
  Status st = EnsureTopics("127.0.0.1:1", {"x"}, 1, 1, 1500);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("127.0.0.1:1"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace ovoflow::bus
