// Child processes and the build environment for tests that run the
// `ovoflow` binary. The processes are common/child_process.h, started here
// so that a test that cannot start one fails at once, and killed at once
// (SIGKILL) when the test lets go of them.
#pragma once

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/child_process.h"

namespace ovoflow::testing {

// A started ChildProcess; construction throws std::runtime_error when the
// program cannot be started.
class Process {
 public:
  // Starts argv[0] (a path) with stdout+stderr appended to `log_path`.
  Process(const std::vector<std::string>& argv, const std::string& log_path);
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return child_->pid(); }
  bool Running() { return child_->Running(); }
  void Signal(int sig) { child_->Signal(sig); }
  // Exit code (128+signal when killed), or -1 if still running after timeout_ms.
  int Wait(int timeout_ms) { return child_->Wait(timeout_ms); }
  std::string Log() const { return child_->Log(); }

 private:
  std::unique_ptr<ChildProcess> child_;
};

using ovoflow::CommandResult;
using ovoflow::RunCommand;

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// The test broker: $OVOFLOW_TEST_BROKERS, else 127.0.0.1:19092.
std::string TestBrokers();

// Polls `pred` every 250 ms until it holds or `timeout_s` passed; its last answer.
template <typename Pred>
bool WaitFor(Pred pred, int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return pred();
}

std::string SourceDir();  // $OVOFLOW_SOURCE_DIR
std::string BinaryDir();  // $OVOFLOW_BINARY_DIR
std::string OvoflowBinary();
// A fresh directory under <build>/test-tmp, removed with its contents when
// the test program exits (also after failed tests).
std::string MakeTempDir(const std::string& prefix);

}  // namespace ovoflow::testing
