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
      return Status::InvalidArgument("kafka config " + k + "=" + v + ": " + err);
    }
  }
  return conf;
}

namespace {

void LogCb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug
  const char* name = rk ? rd_kafka_name(rk) : "rdkafka";
  if (level <= 3) spdlog::error("[{}] {}: {}", name, fac, buf);
  else if (level == 4) spdlog::warn("[{}] {}: {}", name, fac, buf);
  else if (level <= 6) spdlog::info("[{}] {}: {}", name, fac, buf);
  else spdlog::debug("[{}] {}: {}", name, fac, buf);
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
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
      return c == '_' ? '.' : static_cast<char>(std::tolower(c));
    });
    out.emplace_back(name, kv.substr(eq + 1));
  }
  return out;
}

}  // namespace ovoflow::bus::internal
