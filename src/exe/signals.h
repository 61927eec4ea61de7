// Process-wide stop flag set by SIGINT/SIGTERM.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace ovoflow::exe {

// Installs handlers once; the returned flag becomes true on the first
// signal. A second signal exits at once (for a hung shutdown).
std::atomic<bool>& InstallStopSignals();

// Calls `reload` (on a thread of its own, within ~200 ms) each time the
// process gets SIGHUP, until destroyed. Used to reload TLS certificates.
class ReloadOnSighup {
 public:
  explicit ReloadOnSighup(std::function<void()> reload);
  ~ReloadOnSighup();
  ReloadOnSighup(const ReloadOnSighup&) = delete;
  ReloadOnSighup& operator=(const ReloadOnSighup&) = delete;

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace ovoflow::exe
