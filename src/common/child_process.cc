#include "common/child_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>

#include "common/env.h"

namespace ovoflow {

Result<std::string> SelfExecutable() {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return Status::Internal("cannot resolve /proc/self/exe: " + ErrnoMessage(errno));
  return std::string(exe, static_cast<std::size_t>(n));
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::vector<std::string>& args, Options options) {
  if (args.empty() || args[0].empty()) return Status::InvalidArgument("a child process needs a program");
  if (options.log_path.empty()) return Status::InvalidArgument("a child process needs a log file");
  if (options.name.empty()) options.name = args[0];
  // Everything the child needs is built before fork(): after it, only
  // async-signal-safe calls (the parent has other threads).
  std::vector<std::string> argv_storage = args;
  std::vector<char*> argv;
  argv.reserve(argv_storage.size() + 1);
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log_path = options.log_path;

  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return Status::Internal("fork failed: " + ErrnoMessage(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execv(argv[0], argv.data());
    static const char msg[] = "child process: execv failed\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
  }
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->options_ = std::move(options);
  child->pid_ = pid;
  return child;
}

ChildProcess::~ChildProcess() {
  if (!Running()) return;
  if (options_.stop_grace_ms > 0) {
    Signal(SIGTERM);
    if (WaitExit(options_.stop_grace_ms)) return;
  }
  Signal(SIGKILL);
  WaitExit(10000);
}

bool ChildProcess::Running() {
  if (exit_code_) return false;
  int status = 0;
  struct rusage usage {};
  pid_t r = wait4(pid_, &status, WNOHANG, &usage);
  if (r != pid_) return true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  cpu_seconds_at_exit_ = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  return false;
}

void ChildProcess::Signal(int sig) {
  if (!exit_code_) kill(pid_, sig);
}

bool ChildProcess::WaitExit(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

int ChildProcess::Wait(int timeout_ms) { return WaitExit(timeout_ms) ? *exit_code_ : -1; }

std::string ChildProcess::Log() const {
  std::ifstream in(options_.log_path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string ChildProcess::LogTail(std::size_t max_bytes) const {
  std::ifstream in(options_.log_path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const auto wanted = static_cast<std::streamoff>(max_bytes);
  const std::streamoff start = size > wanted ? size - wanted : 0;
  in.seekg(start);
  std::string tail(static_cast<std::size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  return tail;
}

Result<int> FreeLocalPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal("socket: " + ErrnoMessage(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string err = ErrnoMessage(errno);
    close(fd);
    return Status::Internal("cannot find a free local port: " + err);
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

CommandResult RunCommand(const std::string& shell_command) {
  CommandResult r;
  // Running a shell command (tools and tests pass pipelines and redirections)
  // is this function's purpose, so the command processor is wanted here.
  // NOLINTNEXTLINE(cert-env33-c): a shell command is deliberate, see above
  FILE* pipe = popen((shell_command + " 2>&1").c_str(), "r");
  if (!pipe) {
    r.output = "popen failed: " + ErrnoMessage(errno);
    return r;
  }
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace ovoflow
