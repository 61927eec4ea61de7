#include "bus/consumer.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "bus/kafka_config.h"

namespace ovoflow::bus {
namespace {

using PartitionKey = std::pair<std::string, int32_t>;

class KafkaConsumer final : public Consumer {
 public:
  KafkaConsumer() = default;
  ~KafkaConsumer() override { Close(); }

  // Second phase of construction: `rk` must have this as opaque.
  Status Init(rd_kafka_t* rk, const std::vector<std::string>& topics) {
    rk_ = rk;
    rd_kafka_poll_set_consumer(rk_);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
    for (const auto& t : topics) rd_kafka_topic_partition_list_add(list, t.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return Status::InvalidArgument(std::string("subscribe: ") + rd_kafka_err2str(err));
    return Status::Ok();
  }

  Result<std::vector<Message>> Poll(int max_messages, int timeout_ms) override {
    if (closed_) return Status::FailedPrecondition("consumer is closed");
    return internal::PollMessages(rk_, max_messages, timeout_ms, {});
  }

  Status Commit(const std::vector<Message>& messages) override {
    const std::vector<TopicPartitionOffset> next = NextOffsets(messages);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(next.size()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& o : next) {
        if (!assigned_.count({o.topic, o.partition})) {
          spdlog::info("consumer: not committing {}[{}]: partition no longer assigned", o.topic, o.partition);
          continue;
        }
        rd_kafka_topic_partition_list_add(list, o.topic.c_str(), o.partition)->offset = o.offset;
      }
    }
    if (list->cnt == 0) {
      rd_kafka_topic_partition_list_destroy(list);
      return Status::Ok();
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, 0 /*sync*/);
    rd_kafka_topic_partition_list_destroy(list);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
    std::string msg = std::string("commit: ") + rd_kafka_err2str(err);
    if (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
        err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID)
      return Status::FailedPrecondition(msg);  // partitions moved: their new owner re-reads
    return Status::Unavailable(msg);
  }

  int64_t Lag() override { return closed_ ? -1 : internal::AssignedLag(rk_); }

  void Close() override {
    if (closed_ || rk_ == nullptr) return;
    closed_ = true;
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }

  std::size_t DropUnassigned(std::vector<Message>* messages) override {
    std::vector<Message> reread;  // one message per partition to read again from its committed offset
    std::size_t dropped = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const std::size_t before = messages->size();
      std::erase_if(*messages, [&](const Message& m) {
        const PartitionKey tp{m.topic, m.partition};
        if (!assigned_.count(tp)) return true;
        if (!revoked_since_drop_.count(tp)) return false;
        if (reread.empty() || reread.back().topic != m.topic || reread.back().partition != m.partition)
          reread.push_back(m);
        return true;
      });
      revoked_since_drop_.clear();
      dropped = before - messages->size();
    }
    if (dropped > 0) spdlog::info("consumer: dropped {} polled messages of revoked partitions", dropped);
    if (!reread.empty()) {
      Status st = SeekToCommitted(reread);
      if (!st.ok())
        spdlog::warn("consumer: {} (a partition assigned again may skip messages until the next rebalance)",
                     st.ToString());
    }
    return dropped;
  }

  Status Rewind(const std::vector<Message>& messages) override {
    std::vector<TopicPartitionOffset> first = FirstOffsets(messages);
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::erase_if(first, [&](const TopicPartitionOffset& o) { return !assigned_.count({o.topic, o.partition}); });
    }
    return internal::SeekTo(rk_, first);
  }

  std::vector<TopicPartitionOffset> Assigned(std::vector<TopicPartitionOffset> partitions) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(partitions, [&](const TopicPartitionOffset& o) { return !assigned_.count({o.topic, o.partition}); });
    return partitions;
  }

  Status SeekToCommitted(const std::vector<Message>& messages) override {
    std::vector<TopicPartitionOffset> parts = FirstOffsets(messages);
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::erase_if(parts, [&](const TopicPartitionOffset& o) { return !assigned_.count({o.topic, o.partition}); });
    }
    if (parts.empty()) return Status::Ok();
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()));
    for (const auto& o : parts) rd_kafka_topic_partition_list_add(list, o.topic.c_str(), o.partition);
    rd_kafka_resp_err_t err = rd_kafka_committed(rk_, list, 10000);
    Status result = err == RD_KAFKA_RESP_ERR_NO_ERROR
                        ? Status::Ok()
                        : Status::Unavailable(std::string("committed offsets: ") + rd_kafka_err2str(err));
    std::vector<TopicPartitionOffset> to;
    for (int i = 0; result.ok() && i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      // No committed offset yet: where a new member starts (the batch's first offset is no worse).
      const int64_t at = tp.offset >= 0 ? tp.offset : parts[static_cast<std::size_t>(i)].offset;
      to.push_back({tp.topic, tp.partition, at});
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (!result.ok()) return result;
    return internal::SeekTo(rk_, to);
  }

  Result<std::string> GroupMetadata() override {
    if (closed_) return Status::FailedPrecondition("consumer is closed");
    rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata(rk_);
    if (group == nullptr) return Status::FailedPrecondition("consumer has no group metadata");
    void* buffer = nullptr;
    size_t size = 0;
    rd_kafka_error_t* error = rd_kafka_consumer_group_metadata_write(group, &buffer, &size);
    rd_kafka_consumer_group_metadata_destroy(group);
    if (error != nullptr) {
      std::string msg = std::string("group metadata: ") + rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      return Status::Internal(msg);
    }
    std::string out(static_cast<const char*>(buffer), size);
    rd_kafka_mem_free(nullptr, buffer);
    return out;
  }

  // Rebalance: track the assignment so Commit() skips lost partitions.
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
    bool cooperative = std::string(rd_kafka_rebalance_protocol(rk_)) == "COOPERATIVE";
    std::lock_guard<std::mutex> lock(mu_);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (int i = 0; i < parts->cnt; ++i) assigned_.insert({parts->elems[i].topic, parts->elems[i].partition});
      if (cooperative)
        rd_kafka_error_destroy(rd_kafka_incremental_assign(rk_, parts));
      else
        rd_kafka_assign(rk_, parts);
      spdlog::info("consumer: assigned {} partitions", parts->cnt);
    } else {
      for (int i = 0; i < parts->cnt; ++i) {
        assigned_.erase({parts->elems[i].topic, parts->elems[i].partition});
        revoked_since_drop_.insert({parts->elems[i].topic, parts->elems[i].partition});
      }
      if (cooperative)
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk_, parts));
      else
        rd_kafka_assign(rk_, nullptr);
      spdlog::info("consumer: revoked {} partitions", parts->cnt);
    }
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  bool closed_ = false;
  std::mutex mu_;
  std::set<PartitionKey> assigned_;            // GUARDED_BY(mu_)
  std::set<PartitionKey> revoked_since_drop_;  // GUARDED_BY(mu_): revoked since the last DropUnassigned
};

void RebalanceCb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<KafkaConsumer*>(opaque)->OnRebalance(err, parts);
}

}  // namespace

Result<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& o) {
  if (o.group_id.empty()) return Status::InvalidArgument("consumer group_id is required");
  if (o.topics.empty()) return Status::InvalidArgument("consumer needs at least one topic");
  internal::ConfigPairs pairs = {
      {"bootstrap.servers", o.brokers},
      {"group.id", o.group_id},
      {"client.id", o.client_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", o.auto_offset_reset},
      {"isolation.level", o.read_committed ? "read_committed" : "read_uncommitted"},
      {"session.timeout.ms", std::to_string(o.session_timeout_ms)},
      {"max.poll.interval.ms", std::to_string(o.max_poll_interval_ms)},
      {"fetch.max.bytes", std::to_string(o.fetch_max_bytes)},
      {"partition.assignment.strategy", "cooperative-sticky"},
  };
  for (auto& kv : internal::EnvOverrides()) pairs.push_back(kv);
  OVOFLOW_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, internal::MakeConf(pairs));
  internal::InstallLogging(conf);
  auto consumer = std::make_unique<KafkaConsumer>();
  rd_kafka_conf_set_opaque(conf, consumer.get());
  rd_kafka_conf_set_rebalance_cb(conf, RebalanceCb);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("kafka consumer: ") + err);
  }
  OVOFLOW_RETURN_IF_ERROR(consumer->Init(rk, o.topics));
  return std::unique_ptr<Consumer>(std::move(consumer));
}

}  // namespace ovoflow::bus
