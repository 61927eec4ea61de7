#include "bus/producer.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "bus/kafka_config.h"

namespace ovoflow::bus {
namespace {

// Heap-allocated per message, owned by librdkafka between produce and
// delivery report; freed in the delivery callback.
struct DeliveryContext {
  DeliveryCallback callback;
};

Status FromDeliveryError(rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  std::string msg = std::string("delivery failed: ") + rd_kafka_err2str(err);
  if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) return Status::InvalidArgument(msg);
  if (err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) return Status::DeadlineExceeded(msg);
  return Status::Unavailable(msg);
}

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  auto* ctx = static_cast<DeliveryContext*>(msg->_private);
  if (ctx == nullptr) return;
  if (ctx->callback) ctx->callback(FromDeliveryError(msg->err));
  delete ctx;
}

class KafkaProducer final : public Producer {
 public:
  KafkaProducer(rd_kafka_t* rk, bool transactional)
      : rk_(rk), transactional_(transactional), poller_([this] { PollLoop(); }) {}

  ~KafkaProducer() override {
    // A transactional producer delivers only inside CommitTransaction; what
    // is queued at destruction belongs to a transaction that was not
    // committed, and the broker aborts it.
    Status st = transactional_ ? Status::Ok() : Flush(30000);
    if (!st.ok()) spdlog::error("producer: {} messages undelivered at shutdown: {}", Outstanding(), st.ToString());
    stop_ = true;
    poller_.join();
    rd_kafka_destroy(rk_);  // runs remaining delivery callbacks with errors
  }

  Status Send(const std::string& topic, const std::string& key, const std::string& value, const Headers& headers,
              DeliveryCallback on_delivery) override {
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& [k, v] : headers)
      rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(), static_cast<ssize_t>(v.size()));
    auto* ctx = new DeliveryContext{std::move(on_delivery)};
    rd_kafka_vu_t vus[6];
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_KEY;
    vus[1].u.mem = {const_cast<char*>(key.data()), key.size()};
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem = {const_cast<char*>(value.data()), value.size()};
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_COPY;
    vus[4].vtype = RD_KAFKA_VTYPE_HEADERS;
    vus[4].u.headers = hdrs;
    vus[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[5].u.ptr = ctx;
    rd_kafka_error_t* error = rd_kafka_produceva(rk_, vus, 6);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (error != nullptr) {
      err = rd_kafka_error_code(error);
      rd_kafka_error_destroy(error);
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();  // headers now owned by librdkafka
    rd_kafka_headers_destroy(hdrs);
    delete ctx;
    std::string msg = std::string("produce to ") + topic + ": " + rd_kafka_err2str(err);
    switch (err) {
      case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return Status::ResourceExhausted(msg);
      case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return Status::InvalidArgument(msg);
      case RD_KAFKA_RESP_ERR__FATAL:
        return Status::Internal(msg);
      default:
        return Status::Unavailable(msg);
    }
  }

  Status Flush(int timeout_ms) override {
    rd_kafka_resp_err_t err = rd_kafka_flush(rk_, timeout_ms);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
    return Status::DeadlineExceeded(std::to_string(Outstanding()) + " messages still queued after " +
                                    std::to_string(timeout_ms) + " ms");
  }

  int64_t Outstanding() const override { return rd_kafka_outq_len(rk_); }

  Status InitTransactions(int timeout_ms) override {
    return FromTxnError("init transactions", rd_kafka_init_transactions(rk_, timeout_ms));
  }

  Status BeginTransaction() override { return FromTxnError("begin transaction", rd_kafka_begin_transaction(rk_)); }

  Status SendOffsetsToTransaction(const std::vector<TopicPartitionOffset>& offsets, const std::string& group_metadata,
                                  int timeout_ms) override {
    if (offsets.empty()) return Status::Ok();
    rd_kafka_consumer_group_metadata_t* group = nullptr;
    rd_kafka_error_t* read =
        rd_kafka_consumer_group_metadata_read(&group, group_metadata.data(), group_metadata.size());
    if (read != nullptr) {
      std::string msg = std::string("group metadata: ") + rd_kafka_error_string(read);
      rd_kafka_error_destroy(read);
      return Status::InvalidArgument(msg);
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
    for (const auto& o : offsets)
      rd_kafka_topic_partition_list_add(list, o.topic.c_str(), o.partition)->offset = o.offset;
    rd_kafka_error_t* error = rd_kafka_send_offsets_to_transaction(rk_, list, group, timeout_ms);
    rd_kafka_consumer_group_metadata_destroy(group);
    rd_kafka_topic_partition_list_destroy(list);
    return FromTxnError("send offsets to transaction", error);
  }

  Status CommitTransaction(int timeout_ms) override {
    return FromTxnError("commit transaction", rd_kafka_commit_transaction(rk_, timeout_ms));
  }

  Status AbortTransaction(int timeout_ms) override {
    return FromTxnError("abort transaction", rd_kafka_abort_transaction(rk_, timeout_ms));
  }

 private:
  // Maps librdkafka's transactional error classes onto the Status codes that
  // producer.h documents; takes ownership of `error`.
  static Status FromTxnError(const char* what, rd_kafka_error_t* error) {
    if (error == nullptr) return Status::Ok();
    std::string msg = std::string(what) + ": " + rd_kafka_error_string(error);
    const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    const bool fatal = rd_kafka_error_is_fatal(error);
    const bool abortable = !fatal && rd_kafka_error_txn_requires_abort(error);
    const bool retriable = !fatal && !abortable && rd_kafka_error_is_retriable(error);
    // Misuse or not transactional: this producer cannot go on.
    const bool misuse = code == RD_KAFKA_RESP_ERR__STATE || code == RD_KAFKA_RESP_ERR__NOT_CONFIGURED;
    Status st;
    if (fatal || (misuse && !abortable && !retriable))
      st = Status::Internal(msg);
    else if (retriable)
      st = Status::Unavailable(msg);
    else if (!abortable && code == RD_KAFKA_RESP_ERR__TIMED_OUT)
      st = Status::DeadlineExceeded(msg);
    else
      st = Status::FailedPrecondition(msg);  // abort the transaction, or not ours to retry
    rd_kafka_error_destroy(error);
    return st;
  }

  void PollLoop() {
    while (!stop_) rd_kafka_poll(rk_, 50);
  }

  rd_kafka_t* rk_;
  const bool transactional_;
  std::atomic<bool> stop_{false};
  std::thread poller_;  // serves delivery reports; last member: starts after rk_ is set
};

}  // namespace

Result<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& o) {
  internal::ConfigPairs pairs = {
      {"bootstrap.servers", o.brokers},
      {"client.id", o.client_id},
      {"enable.idempotence", o.idempotent ? "true" : "false"},
      {"linger.ms", std::to_string(o.linger_ms)},
      {"batch.size", std::to_string(o.batch_size_bytes)},
      {"message.max.bytes", std::to_string(o.message_max_bytes)},
      {"queue.buffering.max.messages", std::to_string(o.queue_max_messages)},
      // librdkafka requires delivery within the transaction timeout.
      {"delivery.timeout.ms",
       std::to_string(o.transactional_id.empty() ? o.delivery_timeout_ms
                                                 : std::min(o.delivery_timeout_ms, o.transaction_timeout_ms))},
      {"compression.codec", o.compression},
  };
  if (!o.transactional_id.empty()) {
    if (!o.idempotent) return Status::InvalidArgument("a transactional producer must be idempotent");
    pairs.push_back({"transactional.id", o.transactional_id});
    pairs.push_back({"transaction.timeout.ms", std::to_string(o.transaction_timeout_ms)});
  }
  for (auto& kv : internal::EnvOverrides()) pairs.push_back(kv);
  OVOFLOW_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, internal::MakeConf(pairs));
  internal::InstallLogging(conf);
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("kafka producer: ") + err);
  }
  return std::unique_ptr<Producer>(new KafkaProducer(rk, !o.transactional_id.empty()));
}

}  // namespace ovoflow::bus
