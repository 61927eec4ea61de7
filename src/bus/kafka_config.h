// Internal to src/bus: builds rd_kafka_conf_t from key/value pairs.
#pragma once

#include <librdkafka/rdkafka.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bus/message.h"
#include "common/status.h"

namespace ovoflow::bus::internal {

using ConfigPairs = std::vector<std::pair<std::string, std::string>>;

// Returns a new conf (caller owns) or InvalidArgument naming the bad key.
Result<rd_kafka_conf_t*> MakeConf(const ConfigPairs& pairs);

// librdkafka log/error callbacks that forward to spdlog.
void InstallLogging(rd_kafka_conf_t* conf);

// Extra librdkafka properties from the environment: OVOFLOW_RDKAFKA_<NAME>
// where NAME is the property with '.' written as '_', e.g.
// OVOFLOW_RDKAFKA_SECURITY_PROTOCOL=ssl. Lets operators reach settings (TLS,
// SASL) that Options do not name yet.
ConfigPairs EnvOverrides();

// Copies a fetched message (key, value, headers, timestamp) out of librdkafka.
Message ConvertMessage(const rd_kafka_message_t* m);

// Up to `max_messages` from a consumer handle, waiting at most `timeout_ms`
// for the first and returning as soon as no more are immediately available.
// Partition ends go to `on_eof` (may be empty); other errors are logged, and
// those that do not pass by themselves (authorization, an unknown topic, a
// fatal error) make the result Unavailable when no message came.
Result<std::vector<Message>> PollMessages(rd_kafka_t* rk, int max_messages, int timeout_ms,
                                          const std::function<void(int32_t partition)>& on_eof);
// Sum over the handle's assigned partitions of (high watermark - position),
// or -1 when unknown.
int64_t AssignedLag(rd_kafka_t* rk);
// Seeks each partition of `offsets` (topic, partition, offset) there.
// Unavailable naming the partition when a seek fails.
Status SeekTo(rd_kafka_t* rk, const std::vector<TopicPartitionOffset>& offsets);

}  // namespace ovoflow::bus::internal
