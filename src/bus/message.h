// Kafka message as seen by ovoflow code. Callers never include rdkafka.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ovoflow::bus {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Message {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string key;
  std::string value;
  Headers headers;
  int64_t timestamp_ms = 0;  // broker/producer timestamp, unix ms

  // First header with that name, if any.
  std::optional<std::string> Header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return std::nullopt;
  }
};

// A position to commit: the next offset to read in topic/partition.
struct TopicPartitionOffset {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  bool operator==(const TopicPartitionOffset&) const = default;
};

// For each topic/partition in `messages`, the offset after its highest
// message: what to commit once they are all processed. Sorted by topic, partition.
std::vector<TopicPartitionOffset> NextOffsets(const std::vector<Message>& messages);
// For each topic/partition in `messages`, its lowest offset: where to seek
// to read them again. Sorted by topic, partition.
std::vector<TopicPartitionOffset> FirstOffsets(const std::vector<Message>& messages);
// "topic[partition]@offset, ..." for logs.
std::string DescribeOffsets(const std::vector<TopicPartitionOffset>& offsets);

// A message to produce.
struct OutgoingMessage {
  std::string topic;
  std::string key;
  std::string value;
  Headers headers;
};

}  // namespace ovoflow::bus
