#include "bus/dead_letter.h"

#include <openssl/evp.h>

#include "bus/trace_headers.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/topics.h"
#include "common/validation.h"
#include "ovoflow/v1/dead_letter.pb.h"

namespace ovoflow::bus {
namespace {

prometheus::Family<prometheus::Counter>& DeadLetterCounter() {
  static auto& family = prometheus::BuildCounter()
                            .Name("ovoflow_dead_letters_total")
                            .Help("Messages sent to the dead-letter topic, by stage and reason")
                            .Register(MetricsRegistry());
  return family;
}

std::string Sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(digest), size);
}

// `text` cut to at most `max_bytes` without splitting a UTF-8 sequence, made valid UTF-8.
std::string BoundedText(std::string_view text, std::size_t max_bytes) {
  std::string valid = SanitizeUtf8(text.substr(0, max_bytes + 4));
  if (valid.size() <= max_bytes) return valid;
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(valid[end]) & 0xC0) == 0x80) --end;  // a continuation byte
  return valid.substr(0, end);
}

}  // namespace

void CountDeadLetter(const std::string& stage, const std::string& reason_kind) {
  DeadLetterCounter().Add({{"stage", stage}, {"reason", reason_kind}}).Increment();
}

OutgoingMessage DeadLetterFor(const Message& original, std::string_view stage, std::string_view reason_kind,
                              std::string_view reason, const DeadLetterLimits& limits) {
  v1::DeadLetter dl;
  const bool value_cut = original.value.size() > limits.max_original_bytes;
  const bool key_cut = original.key.size() > limits.max_key_bytes;
  const std::string key = original.key.substr(0, limits.max_key_bytes);
  dl.set_original(original.value.substr(0, limits.max_original_bytes));
  dl.set_original_size(original.value.size());
  dl.set_original_truncated(value_cut);
  dl.set_original_sha256(Sha256(original.value));
  dl.set_original_key(key);
  dl.set_key_size(original.key.size());
  dl.set_key_truncated(key_cut);
  if (!key_cut && IsValidUtf8(original.key)) dl.set_key(original.key);  // the v1 field, for older readers
  dl.set_topic(BoundedText(original.topic, 255));
  dl.set_partition(original.partition);
  dl.set_offset(original.offset);
  dl.set_reason(BoundedText(reason, limits.max_reason_bytes));
  dl.set_reason_kind(BoundedText(reason_kind, 64));
  dl.set_stage(BoundedText(stage, 64));
  *dl.mutable_failed_at() = ToTimestamp(SystemClock().NowUnixNanos());
  Headers headers = ChildTraceHeaders(original);
  headers.emplace_back("ovoflow-reason", dl.reason_kind());
  return {kDeadLetterTopic, key, dl.SerializeAsString(), std::move(headers)};
}

}  // namespace ovoflow::bus
