#include "exe/bench_report.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "api/json.h"

namespace ovoflow::exe {
namespace {

// JSON strings as the API writes them (escapes, invalid UTF-8 replaced).
std::string Quote(const std::string& s) { return api::JsonQuote(s); }

std::string Num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    (void)std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    (void)std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string Int(int64_t v) { return std::to_string(v); }

std::string PercentilesJson(const Percentiles& p) {
  return "{\"count\": " + Int(p.count) + ", \"p50\": " + Num(p.p50_ms) + ", \"p95\": " + Num(p.p95_ms) +
         ", \"p99\": " + Num(p.p99_ms) + ", \"max\": " + Num(p.max_ms) + "}";
}

std::string StepJson(const StepResult& s) {
  std::ostringstream o;
  o << "    {\n"
    << "      \"index\": " << s.index << ", \"kind\": " << Quote(s.kind) << ", \"run_id\": " << Quote(s.run_id)
    << ",\n      \"target_rate\": " << Num(s.target_rate) << ", \"achieved_rate\": " << Num(s.achieved_rate)
    << ", \"stored_rate\": " << Num(s.stored_rate) << ",\n      \"scans\": " << s.scans
    << ", \"published\": " << s.published << ", \"publish_failed\": " << s.publish_failed
    << ", \"stored\": " << s.stored << ", \"duplicates_skipped\": " << s.duplicates
    << ",\n      \"publish_seconds\": " << Num(s.publish_seconds) << ", \"wall_seconds\": " << Num(s.wall_seconds)
    << ", \"drained\": " << (s.drained ? "true" : "false") << ",\n      \"latency_ms\": {\n"
    << "        \"excluded_warmup\": " << s.latency.excluded_warmup << ",\n"
    << "        \"end_to_end\": " << PercentilesJson(s.latency.end_to_end);
  for (int i = 0; i < kStageCount; ++i)
    o << ",\n        " << Quote(kStageNames[i]) << ": " << PercentilesJson(s.latency.stages[i]);
  o << ",\n        \"worst_stage\": "
    << (s.latency.worst_stage < 0 ? std::string("null") : Quote(kStageNames[s.latency.worst_stage]))
    << "\n      },\n      \"consumer_lag\": {";
  bool first = true;
  for (const auto& [group, lag] : s.lag) {
    o << (first ? "" : ",") << "\n        " << Quote(group) << ": {\"max\": " << Num(lag.max)
      << ", \"end\": " << Num(lag.end) << "}";
    first = false;
  }
  o << "\n      },\n      \"cpu\": [";
  first = true;
  for (const auto& c : s.cpu) {
    o << (first ? "" : ",") << "\n        {\"name\": " << Quote(c.name) << ", \"pids\": [";
    for (std::size_t i = 0; i < c.pids.size(); ++i) o << (i ? ", " : "") << c.pids[i];
    o << "], \"cpu_seconds\": " << Num(c.cpu_seconds) << ", \"cores\": " << Num(c.cores);
    if (!c.note.empty()) o << ", \"found_by\": " << Quote(c.note);
    o << "}";
    first = false;
  }
  o << "\n      ],\n      \"machine_busy_cores\": " << Num(s.machine_busy_cores)
    << ", \"other_processes_cores\": " << Num(s.other_cores) << ", \"loadavg_1m_end\": " << Num(s.loadavg_1m_end)
    << ",\n      \"sustained\": " << (s.sustained ? "true" : "false") << ", \"not_sustained_because\": [";
  for (std::size_t i = 0; i < s.not_sustained_because.size(); ++i)
    o << (i ? ", " : "") << Quote(s.not_sustained_because[i]);
  o << "]\n    }";
  return o.str();
}

std::string Grouped(double v) {  // 12345.6 -> "12,346"
  std::string digits = std::to_string(static_cast<int64_t>(std::llround(v)));
  std::string out;
  const bool negative = !digits.empty() && digits[0] == '-';
  if (negative) digits.erase(0, 1);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return negative ? "-" + out : out;
}

std::string Ms(double v) {
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, v < 10 ? "%.1f" : "%.0f", v);
  return v < 10 ? buf : Grouped(v);
}

std::string Cell(const std::string& s) {  // a table cell must not contain '|' or a newline
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string Row(const BenchRun& run, const StepResult& s) {
  const LatencyStats& l = s.latency;
  std::string worst = l.worst_stage < 0
                          ? "-"
                          : std::string(kStageNames[l.worst_stage]) + " " + Ms(l.stages[l.worst_stage].p99_ms) + " ms";
  std::string lag;
  for (const auto& [group, g] : s.lag) lag += (lag.empty() ? "" : ", ") + group + " " + Grouped(g.max);
  std::string cpu;
  for (const auto& c : s.cpu) {
    if (c.name == "bench") continue;
    char buf[96];
    (void)std::snprintf(buf, sizeof buf, "%s%s %.2f", cpu.empty() ? "" : ", ", c.name.c_str(), c.cores);
    cpu += buf;
  }
  char others[64];
  (void)std::snprintf(others, sizeof others, "; other processes %.2f", s.other_cores);
  cpu += others;
  std::string verdict =
      s.sustained ? "yes" : "no: " + (s.not_sustained_because.empty() ? std::string("?") : s.not_sustained_because[0]);
  std::ostringstream o;
  o << "| " << run.date << " | " << Cell(run.machine.Describe()) << " | " << Cell(run.label) << " | `"
    << Cell(run.command) << "` | " << s.index << " (" << s.kind << ") | " << Grouped(s.target_rate) << " / "
    << Grouped(s.achieved_rate) << " / " << Grouped(s.stored_rate) << " | " << Ms(l.end_to_end.p50_ms) << " / "
    << Ms(l.end_to_end.p95_ms) << " / " << Ms(l.end_to_end.p99_ms) << " / " << Ms(l.end_to_end.max_ms) << " | "
    << Cell(worst) << " | " << Cell(lag) << " | " << Cell(cpu) << " | " << Cell(verdict) << " |";
  return o.str();
}

const char* kTableHeader =
    "| date | machine | setup | command | step | target / published / stored scans/s "
    "| end-to-end p50 / p95 / p99 / max ms | worst stage p99 | max consumer lag | CPU cores | sustained |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|";

const char* kSectionIntro =
    "Rows appended by `ovoflow bench` (one per step; the JSON file it writes has every figure). "
    "Latency counts the scans captured after each step's warm-up; \"sustained\" is defined in "
    "`ovoflow bench --help`. CPU cores are CPU seconds (user + system) over the step's wall time; "
    "\"other processes\" is the rest of the machine's busy CPU in that time (other work on the host).";

}  // namespace

std::string BenchJson(const BenchRun& run) {
  std::ostringstream o;
  o << "{\n  \"tool\": \"ovoflow bench\",\n  \"format_version\": 1,\n  \"started_at\": " << Quote(run.started_at)
    << ",\n  \"command\": " << Quote(run.command) << ",\n  \"label\": " << Quote(run.label)
    << ",\n  \"machine\": {\"cpu_model\": " << Quote(run.machine.cpu_model) << ", \"cpus\": " << run.machine.cpus
    << ", \"mem_total_bytes\": " << run.machine.mem_total_bytes
    << ", \"loadavg_1m_at_start\": " << Num(run.machine.loadavg_1m) << "},\n  \"work_dir\": " << Quote(run.work_dir)
    << ",\n  \"config\": {";
  for (std::size_t i = 0; i < run.config_json.size(); ++i)
    o << (i ? "," : "") << "\n    " << Quote(run.config_json[i].first) << ": " << run.config_json[i].second;
  o << "\n  },\n  \"steps\": [";
  for (std::size_t i = 0; i < run.steps.size(); ++i) o << (i ? ",\n" : "\n") << StepJson(run.steps[i]);
  o << "\n  ]";
  if (run.find_max) {
    o << ",\n  \"find_max\": {\"max_sustained_rate\": "
      << (run.max_sustained_rate ? Num(*run.max_sustained_rate) : std::string("null"))
      << ", \"first_unsustained_rate\": "
      << (run.first_unsustained_rate ? Num(*run.first_unsustained_rate) : std::string("null"))
      << ", \"note\": " << Quote(run.find_max_note) << "}";
  }
  if (!run.error.empty()) o << ",\n  \"error\": " << Quote(run.error);
  o << "\n}\n";
  return o.str();
}

Status WriteBenchJson(const BenchRun& run, const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return Status::FailedPrecondition("cannot write " + path + " (check --out)");
  out << BenchJson(run);
  out.close();
  if (!out) return Status::FailedPrecondition("error writing " + path);
  return Status::Ok();
}

std::vector<std::string> MarkdownRows(const BenchRun& run) {
  std::vector<std::string> rows;
  for (const auto& s : run.steps) rows.push_back(Row(run, s));
  return rows;
}

Status AppendMarkdownRows(const BenchRun& run, const std::string& path) {
  std::vector<std::string> lines;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  std::vector<std::string> rows = MarkdownRows(run);
  std::size_t heading = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (lines[i] == kBenchRunsHeading) heading = i;
  if (heading == lines.size()) {
    if (!lines.empty() && !lines.back().empty()) lines.emplace_back();
    lines.emplace_back(kBenchRunsHeading);
    lines.emplace_back();
    lines.emplace_back(kSectionIntro);
    lines.emplace_back();
    std::istringstream header(kTableHeader);
    for (std::string h; std::getline(header, h);) lines.push_back(h);
    lines.insert(lines.end(), rows.begin(), rows.end());
  } else {
    // End of the section's first table, or of the section when it has none.
    std::size_t end = heading + 1;
    while (end < lines.size() && lines[end].rfind("## ", 0) != 0 && lines[end].rfind('|', 0) != 0) ++end;
    bool has_table = end < lines.size() && lines[end].rfind('|', 0) == 0;
    while (end < lines.size() && lines[end].rfind('|', 0) == 0) ++end;
    if (!has_table) {
      std::vector<std::string> block;
      std::istringstream header(kTableHeader);
      for (std::string h; std::getline(header, h);) block.push_back(h);
      if (end > 0 && !lines[end - 1].empty()) block.insert(block.begin(), "");
      block.insert(block.end(), rows.begin(), rows.end());
      if (end < lines.size()) block.emplace_back();
      rows = block;
    }
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(end), rows.begin(), rows.end());
  }
  std::ofstream out(path, std::ios::trunc);
  if (!out) return Status::FailedPrecondition("cannot write " + path + " (check --append, or pass --no-append)");
  for (const auto& l : lines) out << l << '\n';
  out.close();
  if (!out) return Status::FailedPrecondition("error writing " + path);
  return Status::Ok();
}

}  // namespace ovoflow::exe
