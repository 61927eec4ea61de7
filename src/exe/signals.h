// Process-wide stop flag set by SIGINT/SIGTERM.
#pragma once

#include <atomic>

namespace ovoflow::exe {

// Installs handlers once; the returned flag becomes true on the first
// signal. A second signal exits at once (for a hung shutdown).
std::atomic<bool>& InstallStopSignals();

}  // namespace ovoflow::exe
