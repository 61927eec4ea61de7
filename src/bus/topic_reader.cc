#include "bus/topic_reader.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <set>

#include "bus/kafka_config.h"

namespace ovoflow::bus {
namespace {

class KafkaTopicReader final : public TopicReader {
 public:
  explicit KafkaTopicReader(rd_kafka_t* rk) : rk_(rk) {}
  ~KafkaTopicReader() override { Close(); }

  // Assigns partitions 0..count-1 of `topic` at their beginning.
  Status Assign(const std::string& topic, int count) {
    partitions_ = count;
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(count);
    for (int p = 0; p < count; ++p)
      rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Unavailable(std::string("assign: ") + rd_kafka_err2str(err));
    return Status::Ok();
  }

  Result<std::vector<Message>> Poll(int max_messages, int timeout_ms) override {
    if (rk_ == nullptr) return Status::FailedPrecondition("topic reader is closed");
    return internal::PollMessages(rk_, max_messages, timeout_ms, [this](int32_t p) { at_end_.insert(p); });
  }

  Status Commit(const std::vector<Message>&) override { return Status::Ok(); }
  int64_t Lag() override { return rk_ == nullptr ? -1 : internal::AssignedLag(rk_); }
  void Close() override {
    if (rk_ == nullptr) return;
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }
  std::size_t DropUnassigned(std::vector<Message>*) override { return 0; }
  Status Rewind(const std::vector<Message>& messages) override {
    if (rk_ == nullptr) return Status::FailedPrecondition("topic reader is closed");
    return internal::SeekTo(rk_, FirstOffsets(messages));
  }
  std::vector<TopicPartitionOffset> Assigned(std::vector<TopicPartitionOffset> partitions) override {
    return partitions;  // every partition, always
  }
  Status SeekToCommitted(const std::vector<Message>&) override {
    return Status::FailedPrecondition("a topic reader belongs to no consumer group");
  }
  Result<std::string> GroupMetadata() override {
    return Status::FailedPrecondition("a topic reader belongs to no consumer group");
  }

  bool caught_up() const override { return static_cast<int>(at_end_.size()) >= partitions_; }

 private:
  rd_kafka_t* rk_;
  int partitions_ = 0;
  std::set<int32_t> at_end_;  // partitions that reported their end
};

// Partitions of `topic`: NotFound when it does not exist. Asks for every
// topic's metadata: a request naming the topic would let a broker with
// auto-creation on (the mock cluster's default) create it.
Result<int> PartitionCount(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Status::Unavailable("metadata of " + topic + ": " + rd_kafka_err2str(err));
  Result<int> result = Status::NotFound("topic " + topic + " does not exist");
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0)
      result = t.partition_cnt;
    else if (t.err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && t.err != RD_KAFKA_RESP_ERR_NO_ERROR)
      result = Status::Unavailable("metadata of " + topic + ": " + rd_kafka_err2str(t.err));
  }
  rd_kafka_metadata_destroy(md);
  return result;
}

}  // namespace

Result<std::unique_ptr<TopicReader>> TopicReader::Create(const TopicReaderOptions& o) {
  if (o.topic.empty()) return Status::InvalidArgument("topic reader needs a topic");
  internal::ConfigPairs pairs = {
      {"bootstrap.servers", o.brokers},
      {"client.id", o.client_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
      // librdkafka's assign() needs a group id; the reader never joins or
      // commits to it (no subscribe, no commits).
      {"group.id", o.client_id + "-reader"},
  };
  for (auto& kv : internal::EnvOverrides()) pairs.push_back(kv);
  OVOFLOW_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, internal::MakeConf(pairs));
  internal::InstallLogging(conf);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("kafka topic reader: ") + err);
  }
  rd_kafka_poll_set_consumer(rk);
  auto reader = std::make_unique<KafkaTopicReader>(rk);  // owns rk from here
  OVOFLOW_ASSIGN_OR_RETURN(int partitions, PartitionCount(rk, o.topic, o.metadata_timeout_ms));
  OVOFLOW_RETURN_IF_ERROR(reader->Assign(o.topic, partitions));
  return std::unique_ptr<TopicReader>(std::move(reader));
}

}  // namespace ovoflow::bus
