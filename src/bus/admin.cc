#include <librdkafka/rdkafka.h>

#include <memory>
#include <utility>

#include "bus/consumer.h"
#include "bus/kafka_config.h"

namespace ovoflow::bus {
namespace {

using TopicConfigs = std::vector<std::pair<std::string, std::string>>;

// Creates the missing topics of `topics`, each with `partitions`,
// `replication_factor` and the topic-level `configs`.
Status CreateTopics(const std::string& brokers, const std::vector<std::string>& topics, int partitions,
                    int replication_factor, const TopicConfigs& configs, int timeout_ms) {
  internal::ConfigPairs pairs = {{"bootstrap.servers", brokers}, {"client.id", "ovoflow-admin"}};
  for (auto& kv : internal::EnvOverrides()) pairs.push_back(kv);
  OVOFLOW_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, internal::MakeConf(pairs));
  internal::InstallLogging(conf);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("kafka admin: ") + err);
  }
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> handle(rk, rd_kafka_destroy);

  std::vector<rd_kafka_NewTopic_t*> new_topics;
  for (const auto& t : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(t.c_str(), partitions, replication_factor, err, sizeof err);
    if (nt == nullptr) {
      rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
      return Status::InvalidArgument("topic " + t + ": " + err);
    }
    new_topics.push_back(nt);
    for (const auto& [name, value] : configs) {
      rd_kafka_resp_err_t e = rd_kafka_NewTopic_set_config(nt, name.c_str(), value.c_str());
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
        std::string what = "topic ";
        what.append(t).append(" config ").append(name).append(": ").append(rd_kafka_err2str(e));
        return Status::InvalidArgument(what);
      }
    }
  }
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof err);
  rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, new_topics.data(), new_topics.size(), opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, timeout_ms + 5000);

  Status result = Status::Ok();
  if (ev == nullptr) {
    result = Status::Unavailable("create topics: no answer from " + brokers + " in " + std::to_string(timeout_ms) +
                                 " ms (is Kafka running? try scripts/kafka start)");
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result = Status::Unavailable(std::string("create topics: ") + rd_kafka_event_error_string(ev) +
                                 " (is Kafka running at " + brokers + "?)");
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        result = Status::Unavailable(std::string("create topic ") + rd_kafka_topic_result_name(results[i]) + ": " +
                                     rd_kafka_topic_result_error_string(results[i]));
        break;
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
  return result;
}

}  // namespace

Status EnsureTopics(const std::string& brokers, const std::vector<std::string>& topics, int partitions,
                    int replication_factor, int timeout_ms) {
  return CreateTopics(brokers, topics, partitions, replication_factor, {}, timeout_ms);
}

Status EnsureCompactedTopic(const std::string& brokers, const std::string& topic, int replication_factor,
                            int timeout_ms) {
  return CreateTopics(brokers, {topic}, 1, replication_factor, {{"cleanup.policy", "compact"}}, timeout_ms);
}

}  // namespace ovoflow::bus
