// W3C Trace Context (https://www.w3.org/TR/trace-context/) `traceparent`
// values carried as a Kafka header on every message.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ovoflow {

struct TraceContext {
  std::string trace_id;  // 32 lowercase hex, not all zero
  std::string span_id;   // 16 lowercase hex, not all zero
  bool sampled = true;
};

inline constexpr std::string_view kTraceparentHeader = "traceparent";

// A fresh trace with a random trace and span id. Thread-safe.
TraceContext NewTrace();
// Same trace, new span id: the child of `parent`.
TraceContext ChildSpan(const TraceContext& parent);
// "00-<trace_id>-<span_id>-<flags>".
std::string FormatTraceparent(const TraceContext& ctx);
// nullopt when `value` is not a valid version-00 traceparent.
std::optional<TraceContext> ParseTraceparent(std::string_view value);

}  // namespace ovoflow
