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
    std::vector<Message> out;
    if (closed_) return Status::FailedPrecondition("consumer is closed");
    int wait = timeout_ms;
    while (static_cast<int>(out.size()) < max_messages) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, wait);
      if (m == nullptr) break;
      wait = 0;  // after the first message, take only what is already here
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
          spdlog::warn("consumer: {}", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        continue;
      }
      out.push_back(internal::ConvertMessage(m));
      rd_kafka_message_destroy(m);
    }
    return out;
  }

  Status Commit(const std::vector<Message>& messages) override {
    std::map<PartitionKey, int64_t> next;
    for (const auto& m : messages) {
      auto& off = next[{m.topic, m.partition}];
      off = std::max(off, m.offset + 1);
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(next.size()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [tp, off] : next) {
        if (!assigned_.count(tp)) {
          spdlog::info("consumer: not committing {}[{}]: partition no longer assigned", tp.first, tp.second);
          continue;
        }
        rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = off;
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

  int64_t Lag() override {
    rd_kafka_topic_partition_list_t* list = nullptr;
    if (rd_kafka_assignment(rk_, &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return -1;
    int64_t lag = 0;
    bool known = list->cnt > 0;
    if (rd_kafka_position(rk_, list) != RD_KAFKA_RESP_ERR_NO_ERROR) known = false;
    for (int i = 0; known && i < list->cnt; ++i) {
      auto& tp = list->elems[i];
      int64_t lo = 0, hi = 0;
      if (rd_kafka_get_watermark_offsets(rk_, tp.topic, tp.partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
          hi < 0) {
        known = false;
        break;
      }
      int64_t pos = tp.offset >= 0 ? tp.offset : lo;
      lag += std::max<int64_t>(0, hi - pos);
    }
    rd_kafka_topic_partition_list_destroy(list);
    return known ? lag : -1;
  }

  void Close() override {
    if (closed_ || rk_ == nullptr) return;
    closed_ = true;
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }

  std::size_t DropUnassigned(std::vector<Message>* messages) override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::size_t before = messages->size();
    std::erase_if(*messages, [&](const Message& m) { return !assigned_.count({m.topic, m.partition}); });
    const std::size_t dropped = before - messages->size();
    if (dropped > 0) spdlog::info("consumer: dropped {} polled messages of revoked partitions", dropped);
    return dropped;
  }

  Status Rewind(const std::vector<Message>& messages) override {
    std::map<PartitionKey, int64_t> first;
    for (const auto& m : messages) {
      auto [it, inserted] = first.try_emplace({m.topic, m.partition}, m.offset);
      if (!inserted) it->second = std::min(it->second, m.offset);
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(first.size()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [tp, off] : first)
        if (assigned_.count(tp)) rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = off;
    }
    Status result = Status::Ok();
    if (list->cnt > 0) {
      rd_kafka_error_t* error = rd_kafka_seek_partitions(rk_, list, 10000);
      if (error != nullptr) {
        result = Status::Unavailable(std::string("seek: ") + rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
      }
      for (int i = 0; result.ok() && i < list->cnt; ++i) {
        if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
          result = Status::Unavailable(std::string("seek ") + list->elems[i].topic + "[" +
                                       std::to_string(list->elems[i].partition) +
                                       "]: " + rd_kafka_err2str(list->elems[i].err));
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return result;
  }

  rd_kafka_s* native_handle() override { return rk_; }

  // Rebalance: track the assignment so Commit() skips lost partitions.
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
    bool cooperative = std::string(rd_kafka_rebalance_protocol(rk_)) == "COOPERATIVE";
    std::lock_guard<std::mutex> lock(mu_);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (int i = 0; i < parts->cnt; ++i) assigned_.insert({parts->elems[i].topic, parts->elems[i].partition});
      if (cooperative) rd_kafka_error_destroy(rd_kafka_incremental_assign(rk_, parts));
      else rd_kafka_assign(rk_, parts);
      spdlog::info("consumer: assigned {} partitions", parts->cnt);
    } else {
      for (int i = 0; i < parts->cnt; ++i) assigned_.erase({parts->elems[i].topic, parts->elems[i].partition});
      if (cooperative) rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk_, parts));
      else rd_kafka_assign(rk_, nullptr);
      spdlog::info("consumer: revoked {} partitions", parts->cnt);
    }
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  bool closed_ = false;
  std::mutex mu_;
  std::set<PartitionKey> assigned_;  // GUARDED_BY(mu_)
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
  Result<rd_kafka_conf_t*> conf = internal::MakeConf(pairs);
  if (!conf.ok()) return conf.status();
  internal::InstallLogging(*conf);
  auto consumer = std::make_unique<KafkaConsumer>();
  rd_kafka_conf_set_opaque(*conf, consumer.get());
  rd_kafka_conf_set_rebalance_cb(*conf, RebalanceCb);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, *conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(*conf);
    return Status::InvalidArgument(std::string("kafka consumer: ") + err);
  }
  OVOFLOW_RETURN_IF_ERROR(consumer->Init(rk, o.topics));
  return std::unique_ptr<Consumer>(std::move(consumer));
}

}  // namespace ovoflow::bus
