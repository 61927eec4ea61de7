// Child `ovoflow` processes started by `ovoflow bench`: one stage each, the
// same binary, output to a log file, killed by the kernel if bench dies.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ovoflow::exe {

// Not thread-safe: the bench thread owns it.
class ChildProcess {
 public:
  // Starts this binary (/proc/self/exe) with `args` (without argv[0]),
  // stdout and stderr appended to `log_path`. The child gets
  // PR_SET_PDEATHSIG SIGKILL so that it never outlives bench. `name` labels
  // it in reports ("store", "infer-0", "scanner"). Internal when fork fails.
  static Result<std::unique_ptr<ChildProcess>> Start(std::string name, const std::vector<std::string>& args,
                                                     std::string log_path);
  // Stops a child still running: SIGTERM, then SIGKILL after 30 s.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // Reaps the child without blocking when it has exited; true while it runs.
  bool Running();
  // Exit status once reaped: the exit code, or 128 + signal.
  std::optional<int> exit_code() const { return exit_code_; }
  // CPU time (user + system, all threads) of a reaped child, seconds.
  double cpu_seconds_at_exit() const { return cpu_seconds_at_exit_; }
  void Signal(int sig);
  // Waits up to timeout_ms for the child to exit; true when it has.
  bool WaitExit(int timeout_ms);
  // The last `max_bytes` of the log file.
  std::string LogTail(std::size_t max_bytes = 4000) const;

 private:
  ChildProcess() = default;
  std::string name_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  double cpu_seconds_at_exit_ = 0;
};

// A TCP port on 127.0.0.1 that was free a moment ago (for the children's
// metrics endpoints). InternalError when no socket can be bound.
Result<int> FreeLocalPort();

}  // namespace ovoflow::exe
