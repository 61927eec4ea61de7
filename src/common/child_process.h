// Child processes: start a program with its output appended to a log file,
// signal it, wait for it, read its log. The one helper behind `ovoflow
// bench` (a process per stage) and the tests that run the binary. A child
// never outlives its parent (PR_SET_PDEATHSIG SIGKILL).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ovoflow {

// Not thread-safe: one thread owns it.
class ChildProcess {
 public:
  struct Options {
    std::string name;           // labels it in reports ("store", "infer-0"); default: argv[0]
    std::string log_path;       // stdout and stderr are appended here; required
    int stop_grace_ms = 30000;  // on destruction: SIGTERM, then SIGKILL after this (0: SIGKILL at once)
  };

  // Starts argv[0] (a path) with `argv`. InvalidArgument for an empty argv
  // or log path, Internal when fork fails; a failed exec exits 127 with a
  // line in the log.
  static Result<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv, Options options);
  // Stops a child still running (see Options::stop_grace_ms).
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  const std::string& name() const { return options_.name; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return options_.log_path; }

  // Reaps the child without blocking when it has exited; true while it runs.
  bool Running();
  // Exit status once reaped: the exit code, or 128 + signal.
  std::optional<int> exit_code() const { return exit_code_; }
  // CPU time (user + system, all threads) of a reaped child, seconds.
  double cpu_seconds_at_exit() const { return cpu_seconds_at_exit_; }
  void Signal(int sig);
  // Waits up to timeout_ms for the child to exit; true when it has.
  bool WaitExit(int timeout_ms);
  // Waits up to timeout_ms: the exit status (as exit_code()), or -1 while
  // it still runs.
  int Wait(int timeout_ms);
  // The whole log, or its last `max_bytes`.
  std::string Log() const;
  std::string LogTail(std::size_t max_bytes = 4000) const;

 private:
  ChildProcess() = default;
  Options options_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  double cpu_seconds_at_exit_ = 0;
};

// This program's own path (/proc/self/exe).
Result<std::string> SelfExecutable();

// A TCP port on 127.0.0.1 that was free a moment ago. Internal when no
// socket can be bound.
Result<int> FreeLocalPort();

// Runs `shell_command` with /bin/sh to completion: its exit code (-1 when it
// did not exit normally) and its output, stdout and stderr together.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::string& shell_command);

}  // namespace ovoflow
