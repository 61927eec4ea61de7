// A text progress bar for long operations (training, evaluation, benchmarks).
// On a terminal it redraws one line; otherwise it prints a line every 10%.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace ovoflow {

// Not thread-safe: one thread updates it.
class ProgressBar {
 public:
  // `total` steps; `label` is printed before the bar. Writes to `out` (not owned).
  ProgressBar(std::string label, int64_t total, std::FILE* out = stderr);
  ~ProgressBar();  // finishes the line if Done() was not called
  // Sets progress to `done` steps; `suffix` (e.g. "loss 0.12") is shown after the bar.
  void Update(int64_t done, const std::string& suffix = "");
  void Done(const std::string& suffix = "");
  // The line as it would be printed now (for tests).
  std::string Render(int64_t done, const std::string& suffix) const;

 private:
  std::string label_;
  int64_t total_;
  std::FILE* out_;
  bool tty_;
  int last_decile_ = -1;
  bool finished_ = false;
  int64_t start_ns_;
};

}  // namespace ovoflow
