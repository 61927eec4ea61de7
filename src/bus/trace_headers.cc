#include "bus/trace_headers.h"

#include "common/trace.h"

namespace ovoflow::bus {

Headers ChildTraceHeaders(const Message& cause) {
  auto tp = cause.Header(kTraceparentHeader);
  auto parent = tp ? ParseTraceparent(*tp) : std::nullopt;
  return {{std::string(kTraceparentHeader), FormatTraceparent(parent ? ChildSpan(*parent) : NewTrace())}};
}

}  // namespace ovoflow::bus
