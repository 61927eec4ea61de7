// Trace propagation from a consumed message to what it causes.
#pragma once

#include "bus/message.h"

namespace ovoflow::bus {

// Headers for a message caused by `cause`: a traceparent that is a child
// span of the cause's (or a new trace when it has none or a bad one).
Headers ChildTraceHeaders(const Message& cause);

}  // namespace ovoflow::bus
