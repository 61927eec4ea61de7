#include "exe/signals.h"

#include <unistd.h>
#include <csignal>
#include <cstdlib>

#include <chrono>

namespace ovoflow::exe {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<unsigned> g_hangups{0};

void OnHangup(int) { g_hangups.fetch_add(1); }

void OnSignal(int) {
  if (g_stop.exchange(true)) _exit(130);
  static const char msg[] = "\novoflow: stopping (again to force)\n";
  ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)n;
}

}  // namespace

std::atomic<bool>& InstallStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  (void)std::signal(SIGPIPE, SIG_IGN);  // cannot fail for a valid signal number
  return g_stop;
}

ReloadOnSighup::ReloadOnSighup(std::function<void()> reload) {
  struct sigaction sa {};
  sa.sa_handler = OnHangup;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGHUP, &sa, nullptr);
  thread_ = std::thread([this, reload = std::move(reload)] {
    unsigned seen = g_hangups.load();
    while (!done_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (unsigned now = g_hangups.load(); now != seen) {
        seen = now;
        reload();
      }
    }
  });
}

ReloadOnSighup::~ReloadOnSighup() {
  done_.store(true);
  thread_.join();
}

}  // namespace ovoflow::exe
