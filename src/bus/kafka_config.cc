#include "bus/kafka_config.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstring>

extern char** environ;

namespace ovoflow::bus::internal {

Result<rd_kafka_conf_t*> MakeConf(const ConfigPairs& pairs) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : pairs) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      std::string what = "kafka config ";
      what.append(k).append("=").append(v).append(": ").append(err);
      return Status::InvalidArgument(what);
    }
  }
  return conf;
}

namespace {

void LogCb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug
  const char* name = rk ? rd_kafka_name(rk) : "rdkafka";
  if (level <= 3)
    spdlog::error("[{}] {}: {}", name, fac, buf);
  else if (level == 4)
    spdlog::warn("[{}] {}: {}", name, fac, buf);
  else if (level <= 6)
    spdlog::info("[{}] {}: {}", name, fac, buf);
  else
    spdlog::debug("[{}] {}: {}", name, fac, buf);
}

void ErrorCb(rd_kafka_t* rk, int err, const char* reason, void*) {
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  // Broker-down and all-brokers-down are transient: librdkafka reconnects.
  if (code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    spdlog::warn("[{}] kafka: {} (reconnecting)", rd_kafka_name(rk), reason);
  } else {
    spdlog::error("[{}] kafka error {}: {}", rd_kafka_name(rk), rd_kafka_err2name(code), reason);
  }
}

}  // namespace

void InstallLogging(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf, LogCb);
  rd_kafka_conf_set_error_cb(conf, ErrorCb);
}

Message ConvertMessage(const rd_kafka_message_t* m) {
  Message out;
  out.topic = rd_kafka_topic_name(m->rkt);
  out.partition = m->partition;
  out.offset = m->offset;
  if (m->key) out.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload) out.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_timestamp_type_t tstype;
  out.timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
    const char* name;
    const void* val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
      out.headers.emplace_back(name, val ? std::string(static_cast<const char*>(val), size) : std::string());
  }
  return out;
}

Result<std::vector<Message>> PollMessages(rd_kafka_t* rk, int max_messages, int timeout_ms,
                                          const std::function<void(int32_t partition)>& on_eof) {
  std::vector<Message> out;
  std::string persistent;  // the last error that does not pass by itself
  int wait = timeout_ms;
  while (static_cast<int>(out.size()) < max_messages) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, wait);
    if (m == nullptr) break;
    wait = 0;  // after the first message, take only what is already here
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (on_eof) on_eof(m->partition);
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn("[{}] consumer: {}", rd_kafka_name(rk), rd_kafka_message_errstr(m));
      switch (m->err) {
        case RD_KAFKA_RESP_ERR__FATAL:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
          persistent = rd_kafka_message_errstr(m);
          break;
        default:
          break;
      }
    } else {
      out.push_back(ConvertMessage(m));
    }
    rd_kafka_message_destroy(m);
  }
  if (out.empty() && !persistent.empty()) return Status::Unavailable("consumer: " + persistent);
  return out;
}

int64_t AssignedLag(rd_kafka_t* rk) {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(rk, &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return -1;
  int64_t lag = 0;
  bool known = list->cnt > 0;
  if (rd_kafka_position(rk, list) != RD_KAFKA_RESP_ERR_NO_ERROR) known = false;
  for (int i = 0; known && i < list->cnt; ++i) {
    auto& tp = list->elems[i];
    int64_t lo = 0, hi = 0;
    if (rd_kafka_get_watermark_offsets(rk, tp.topic, tp.partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0) {
      known = false;
      break;
    }
    int64_t pos = tp.offset >= 0 ? tp.offset : lo;
    lag += std::max<int64_t>(0, hi - pos);
  }
  rd_kafka_topic_partition_list_destroy(list);
  return known ? lag : -1;
}

Status SeekTo(rd_kafka_t* rk, const std::vector<TopicPartitionOffset>& offsets) {
  if (offsets.empty()) return Status::Ok();
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
  for (const auto& o : offsets)
    rd_kafka_topic_partition_list_add(list, o.topic.c_str(), o.partition)->offset = o.offset;
  Status result = Status::Ok();
  rd_kafka_error_t* error = rd_kafka_seek_partitions(rk, list, 10000);
  if (error != nullptr) {
    result = Status::Unavailable(std::string("seek: ") + rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
  }
  for (int i = 0; result.ok() && i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
      result =
          Status::Unavailable(std::string("seek ") + list->elems[i].topic + "[" +
                              std::to_string(list->elems[i].partition) + "]: " + rd_kafka_err2str(list->elems[i].err));
  }
  rd_kafka_topic_partition_list_destroy(list);
  return result;
}

ConfigPairs EnvOverrides() {
  ConfigPairs out;
  static constexpr const char* kPrefix = "OVOFLOW_RDKAFKA_";
  const std::size_t plen = std::strlen(kPrefix);
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    if (kv.compare(0, plen, kPrefix) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = kv.substr(plen, eq - plen);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return c == '_' ? '.' : static_cast<char>(std::tolower(c)); });
    out.emplace_back(name, kv.substr(eq + 1));
  }
  return out;
}

}  // namespace ovoflow::bus::internal
