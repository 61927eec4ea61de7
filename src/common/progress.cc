#include "common/progress.h"

#include <unistd.h>

#include <algorithm>

#include "common/clock.h"

namespace ovoflow {

ProgressBar::ProgressBar(std::string label, int64_t total, std::FILE* out)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      out_(out),
      tty_(isatty(fileno(out)) != 0),
      start_ns_(SystemClock().MonotonicNanos()) {}

ProgressBar::~ProgressBar() {
  if (!finished_) Done();
}

std::string ProgressBar::Render(int64_t done, const std::string& suffix) const {
  constexpr int kWidth = 30;
  done = std::clamp<int64_t>(done, 0, total_);
  int filled = static_cast<int>(done * kWidth / total_);
  double secs = static_cast<double>(SystemClock().MonotonicNanos() - start_ns_) / 1e9;
  char head[160];
  (void)std::snprintf(head, sizeof head, "%s [%s%s] %3d%% %lld/%lld %.1fs", label_.c_str(),
                      std::string(static_cast<std::size_t>(filled), '#').c_str(),
                      std::string(static_cast<std::size_t>(kWidth - filled), '.').c_str(),
                      static_cast<int>(done * 100 / total_), static_cast<long long>(done),
                      static_cast<long long>(total_), secs);
  return suffix.empty() ? std::string(head) : std::string(head) + " " + suffix;
}

void ProgressBar::Update(int64_t done, const std::string& suffix) {
  if (tty_) {
    (void)std::fprintf(out_, "\r%s\033[K", Render(done, suffix).c_str());
    (void)std::fflush(out_);
    return;
  }
  int decile = static_cast<int>(std::clamp<int64_t>(done, 0, total_) * 10 / total_);
  if (decile != last_decile_) {
    last_decile_ = decile;
    (void)std::fprintf(out_, "%s\n", Render(done, suffix).c_str());
    (void)std::fflush(out_);
  }
}

void ProgressBar::Done(const std::string& suffix) {
  finished_ = true;
  if (tty_) {
    (void)std::fprintf(out_, "\r%s\033[K\n", Render(total_, suffix).c_str());
  } else if (last_decile_ != 10) {
    (void)std::fprintf(out_, "%s\n", Render(total_, suffix).c_str());
  }
  last_decile_ = 10;
  (void)std::fflush(out_);
}

}  // namespace ovoflow
