// The outputs of `ovoflow bench`: a JSON document with every figure, and one
// markdown table row per step appended to a benchmarks page.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "exe/bench_procfs.h"
#include "exe/bench_stats.h"

namespace ovoflow::exe {

// Everything about a run that is not a step: who ran what, where, how.
struct BenchRun {
  std::string started_at;  // RFC 3339, UTC
  std::string date;        // YYYY-MM-DD, UTC
  std::string command;     // the command line as typed, shell-quoted
  std::string label;       // the setup, e.g. "local Kafka + SQLite"
  MachineInfo machine;
  std::string work_dir;  // children's logs (and the default database)
  std::string db_url;    // the database the store writer wrote to
  // The configuration as JSON members, written verbatim inside "config": {...}.
  std::vector<std::pair<std::string, std::string>> config_json;
  std::vector<StepResult> steps;
  // With --find-max: the highest sustained rate, and the first rate above it
  // that was not sustained (none when the cap was reached).
  bool find_max = false;
  std::optional<double> max_sustained_rate;
  std::optional<double> first_unsustained_rate;
  std::string find_max_note;
  std::string error;  // why the run stopped early; empty when it completed
};

// JSON text of the run (shape in docs/benchmarks.md).
std::string BenchJson(const BenchRun& run);
// Writes BenchJson(run) to `path`; FailedPrecondition when it cannot.
Status WriteBenchJson(const BenchRun& run, const std::string& path);

// The markdown heading under which rows are appended.
inline constexpr const char* kBenchRunsHeading = "## ovoflow bench runs";

// Appends one table row per step under kBenchRunsHeading in the markdown
// file at `path`: at the end of the first table of that section, or a new
// section with the table header at the end of the file when the heading is
// missing (the file is created when missing). FailedPrecondition when the
// file cannot be read or written.
Status AppendMarkdownRows(const BenchRun& run, const std::string& path);

// One markdown table row per step (exposed for tests).
std::vector<std::string> MarkdownRows(const BenchRun& run);

}  // namespace ovoflow::exe
