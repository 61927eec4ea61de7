// Reads every partition of one topic from the beginning, outside any
// consumer group: nothing is committed and every reader sees every record.
// For small control topics (model activations) that each process replays.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bus/consumer.h"
#include "bus/message.h"
#include "common/status.h"
#include "common/topics.h"

namespace ovoflow::bus {

struct TopicReaderOptions {
  std::string brokers = kDefaultBrokers;
  std::string topic;  // required
  std::string client_id = "ovoflow-reader";
  int metadata_timeout_ms = 10000;  // Create() waits this long for the topic's partitions, ms
};

// A Consumer outside any group, so that a stage runtime can run on it:
// Commit does nothing (there is no group to commit to), DropUnassigned drops
// nothing (every partition stays assigned), GroupMetadata and
// SeekToCommitted are FailedPrecondition. Not thread-safe: one thread polls.
class TopicReader : public Consumer {
 public:
  // Looks up the topic's partitions and assigns them all at their first
  // offset. NotFound when the topic does not exist, Unavailable when the
  // cluster does not answer within metadata_timeout_ms.
  static Result<std::unique_ptr<TopicReader>> Create(const TopicReaderOptions& options);

  // True once every partition has been read to its end at least once (the
  // records that existed when the reader started have all been returned).
  virtual bool caught_up() const = 0;
};

}  // namespace ovoflow::bus
