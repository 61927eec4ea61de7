// Child processes for integration tests: spawn with arguments, output to a
// log file, signal, wait.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ovoflow::testing {

class Process {
 public:
  // Starts argv[0] (a path) with stdout+stderr appended to `log_path`.
  Process(const std::vector<std::string>& argv, const std::string& log_path);
  ~Process();  // SIGKILLs a child still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int sig);
  // Exit code (128+signal when killed), or -1 if still running after timeout_ms.
  int Wait(int timeout_ms);
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

// Runs a shell command to completion; returns its exit code and output.
struct CommandResult {
  int exit_code;
  std::string output;
};
CommandResult RunCommand(const std::string& shell_command);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

std::string SourceDir();  // $OVOFLOW_SOURCE_DIR
std::string BinaryDir();  // $OVOFLOW_BINARY_DIR
std::string OvoflowBinary();
std::string MakeTempDir(const std::string& prefix);

}  // namespace ovoflow::testing
