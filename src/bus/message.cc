#include "bus/message.h"

#include <algorithm>
#include <map>

namespace ovoflow::bus {
namespace {

template <typename Pick>
std::vector<TopicPartitionOffset> PerPartition(const std::vector<Message>& messages, Pick pick) {
  std::map<std::pair<std::string, int32_t>, int64_t> out;
  for (const auto& m : messages) {
    auto [it, inserted] = out.try_emplace({m.topic, m.partition}, pick(m.offset, m.offset));
    if (!inserted) it->second = pick(it->second, m.offset);
  }
  std::vector<TopicPartitionOffset> list;
  list.reserve(out.size());
  for (const auto& [tp, off] : out) list.push_back({tp.first, tp.second, off});
  return list;
}

}  // namespace

std::vector<TopicPartitionOffset> NextOffsets(const std::vector<Message>& messages) {
  auto list = PerPartition(messages, [](int64_t a, int64_t b) { return std::max(a, b); });
  for (auto& tpo : list) ++tpo.offset;
  return list;
}

std::vector<TopicPartitionOffset> FirstOffsets(const std::vector<Message>& messages) {
  return PerPartition(messages, [](int64_t a, int64_t b) { return std::min(a, b); });
}

std::string DescribeOffsets(const std::vector<TopicPartitionOffset>& offsets) {
  std::string out;
  for (const auto& o : offsets) {
    if (!out.empty()) out += ", ";
    out += o.topic + "[" + std::to_string(o.partition) + "]@" + std::to_string(o.offset);
  }
  return out;
}

}  // namespace ovoflow::bus
