// `ovoflow bench`: a short step against the test broker (JSON report and
// markdown row), clear failures for an unreachable broker and bad flags,
// and the statistics, metrics parsing and report helpers it is built from
// (src/exe/bench_*.cc, compiled into this test).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "api/client/http_client.h"
#include "exe/bench_metrics.h"
#include "exe/bench_report.h"
#include "exe/bench_stats.h"
#include "support/process.h"

namespace ovoflow::testing {
namespace {

using api::client::Fetch;
using api::client::Field;
using api::client::HttpResult;
using api::client::ParseJson;
using api::client::WsReader;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountLinesStartingWith(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.rfind(prefix, 0) == 0;
  return n;
}

void ExpectOrderedPercentiles(const google::protobuf::Value& p, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_GT(Field(p, "count").number_value(), 0);
  EXPECT_LE(Field(p, "p50").number_value(), Field(p, "p95").number_value());
  EXPECT_LE(Field(p, "p95").number_value(), Field(p, "p99").number_value());
  EXPECT_LE(Field(p, "p99").number_value(), Field(p, "max").number_value());
}

TEST(BenchCommand, MeasuresAStepWritesJsonAndAppendsAMarkdownRow) {
  const std::string dir = MakeTempDir("bench");
  const std::string md = dir + "/b.md";
  { std::ofstream(md) << "# Benchmarks\n\nText before.\n"; }
  Process bench({OvoflowBinary(), "bench",
                 "--brokers",     TestBrokers(),
                 "--rates",       "200",
                 "--duration",    "6",
                 "--warmup",      "1",
                 "--prime-scans", "100",
                 "--db",          "sqlite://" + dir + "/b.db",
                 "--out",         dir + "/b.json",
                 "--append",      md,
                 "--label",       "test broker + SQLite",
                 "--work-dir",    dir + "/work"},
                dir + "/bench.log");
  const int rc = bench.Wait(400000);
  ASSERT_EQ(rc, 0) << bench.Log();
  EXPECT_NE(bench.Log().find("step 1 @ 200/s"), std::string::npos) << "no progress lines:\n" << bench.Log();

  auto doc = ParseJson(ReadAll(dir + "/b.json"));
  EXPECT_EQ(Field(doc, "label").string_value(), "test broker + SQLite");
  EXPECT_NE(Field(doc, "command").string_value().find("--rates 200"), std::string::npos);
  EXPECT_GT(Field(Field(doc, "machine"), "cpus").number_value(), 0);
  const auto& steps = Field(doc, "steps").list_value().values();
  ASSERT_EQ(steps.size(), 1u);
  const auto& step = steps[0];
  EXPECT_EQ(Field(step, "target_rate").number_value(), 200);
  EXPECT_EQ(Field(step, "scans").number_value(), 1200);
  EXPECT_EQ(Field(step, "published").number_value(), 1200);
  EXPECT_EQ(Field(step, "stored").number_value(), Field(step, "published").number_value());
  EXPECT_TRUE(Field(step, "drained").bool_value());
  EXPECT_GT(Field(step, "achieved_rate").number_value(), 0);
  EXPECT_GT(Field(step, "stored_rate").number_value(), 0);
  const auto& latency = Field(step, "latency_ms");
  EXPECT_GT(Field(latency, "excluded_warmup").number_value(), 0);
  ExpectOrderedPercentiles(Field(latency, "end_to_end"), "end_to_end");
  for (const char* stage :
       {"captured_to_published", "published_to_consumed", "consumed_to_inferred", "inferred_to_stored"})
    ExpectOrderedPercentiles(Field(latency, stage), stage);
  EXPECT_FALSE(Field(latency, "worst_stage").string_value().empty());
  const auto& lag = Field(step, "consumer_lag");
  EXPECT_GE(Field(Field(lag, "ovoflow-infer"), "max").number_value(), 0);
  EXPECT_GE(Field(Field(lag, "ovoflow-store"), "max").number_value(), 0);
  std::set<std::string> measured;
  for (const auto& c : Field(step, "cpu").list_value().values()) {
    const std::string name = Field(c, "name").string_value();
    EXPECT_GT(Field(c, "cpu_seconds").number_value(), 0) << name;
    EXPECT_GT(Field(c, "cores").number_value(), 0) << name;
    measured.insert(name);
  }
  for (const char* stage : {"scanner", "infer-0", "store", "kafka"}) EXPECT_TRUE(measured.count(stage)) << stage;
  EXPECT_EQ(Field(step, "sustained").kind_case(), google::protobuf::Value::kBoolValue);

  const std::string text = ReadAll(md);
  EXPECT_EQ(text.rfind("# Benchmarks\n\nText before.\n", 0), 0u) << text;
  EXPECT_NE(text.find(exe::kBenchRunsHeading), std::string::npos) << text;
  EXPECT_EQ(CountLinesStartingWith(text, "| 20"), 1) << text;  // the step's row, dated
  EXPECT_NE(text.find("| test broker + SQLite |"), std::string::npos) << text;
}

TEST(BenchCommand, UnreachableBrokerFailsWithAClearMessage) {
  const std::string dir = MakeTempDir("bench-unreachable");
  Process bench(
      {OvoflowBinary(), "bench", "--brokers", "127.0.0.1:1", "--connect-timeout", "3", "--rates", "100", "--duration",
       "2", "--warmup", "0", "--no-append", "--out", dir + "/x.json", "--work-dir", dir + "/work"},
      dir + "/bench.log");
  const int rc = bench.Wait(60000);
  ASSERT_NE(rc, -1) << "still running after 60 s:\n" << bench.Log();
  EXPECT_EQ(rc, 1) << bench.Log();
  EXPECT_NE(bench.Log().find("cannot reach Kafka at 127.0.0.1:1"), std::string::npos) << bench.Log();
  EXPECT_NE(bench.Log().find("scripts/kafka start"), std::string::npos) << bench.Log();
}

TEST(BenchCommand, BadFlagsAreRefusedBeforeAnythingStarts) {
  const std::string dir = MakeTempDir("bench-usage");
  Process bench(
      {OvoflowBinary(), "bench", "--brokers", "127.0.0.1:1", "--duration", "5", "--warmup", "5", "--no-append"},
      dir + "/bench.log");
  EXPECT_EQ(bench.Wait(30000), 2) << bench.Log();
  EXPECT_NE(bench.Log().find("--warmup"), std::string::npos) << bench.Log();
}

TEST(BenchStats, PercentilesUseTheNearestRank) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  exe::Percentiles p = exe::ComputePercentiles(v);
  EXPECT_EQ(p.count, 100);
  EXPECT_EQ(p.p50_ms, 50);
  EXPECT_EQ(p.p95_ms, 95);
  EXPECT_EQ(p.p99_ms, 99);
  EXPECT_EQ(p.max_ms, 100);
  std::vector<double> one = {7};
  p = exe::ComputePercentiles(one);
  EXPECT_EQ(p.p50_ms, 7);
  EXPECT_EQ(p.max_ms, 7);
}

TEST(BenchStats, LatencyLeavesOutTheWarmUpAndFindsTheWorstStage) {
  const int64_t ms = 1'000'000;
  std::vector<exe::RowTimes> rows;
  for (int i = 0; i < 10; ++i) {
    int64_t c = 1'000'000'000'000 + int64_t{i} * 100 * ms;  // one scan every 100 ms
    rows.push_back({c, c + 1 * ms, c + 2 * ms, c + 30 * ms, c + 35 * ms});
  }
  exe::LatencyStats l = exe::ComputeLatency(rows, 250 * ms);  // scans 0, 1, 2 are in the warm-up
  EXPECT_EQ(l.excluded_warmup, 3);
  EXPECT_EQ(l.end_to_end.count, 7);
  EXPECT_DOUBLE_EQ(l.end_to_end.p99_ms, 35);
  EXPECT_DOUBLE_EQ(l.stages[2].p50_ms, 28);
  EXPECT_STREQ(exe::kStageNames[l.worst_stage], "consumed_to_inferred");
}

TEST(BenchStats, AStepIsSustainedOnlyWhenAllThreeCriteriaHold) {
  exe::StepResult s;
  s.target_rate = 1000;
  s.scans = s.published = s.stored = 60000;
  s.drained = true;
  s.achieved_rate = 990;
  s.latency.end_to_end.count = 50000;
  s.latency.end_to_end.p99_ms = 400;
  exe::JudgeStep({}, &s);
  EXPECT_TRUE(s.sustained);
  s.achieved_rate = 960;  // below 97 %
  exe::JudgeStep({}, &s);
  EXPECT_FALSE(s.sustained);
  ASSERT_EQ(s.not_sustained_because.size(), 1u);
  EXPECT_NE(s.not_sustained_because[0].find("below 97%"), std::string::npos);
  s.achieved_rate = 1000;
  s.latency.end_to_end.p99_ms = 1500;
  s.stored = 59000;
  s.drained = false;
  exe::JudgeStep({}, &s);
  EXPECT_EQ(s.not_sustained_because.size(), 2u);
}

TEST(BenchMetrics, SumsSamplesAndGroupsByLabel) {
  const std::string text =
      "# HELP ovoflow_consumer_lag Messages not yet consumed\n"
      "# TYPE ovoflow_consumer_lag gauge\n"
      "ovoflow_consumer_lag{group=\"ovoflow-infer\"} 12\n"
      "ovoflow_consumer_lag{group=\"ovoflow-store\"} 3\n"
      "ovoflow_consumer_lag{group=\"ovoflow-infer\"} 5\n"
      "ovoflow_consumer_lag_total 99\n"
      "ovoflow_predictions_stored_total 1200\n";
  auto lag = exe::SumByLabel(text, "ovoflow_consumer_lag", "group");
  EXPECT_EQ(lag["ovoflow-infer"], 17);
  EXPECT_EQ(lag["ovoflow-store"], 3);
  EXPECT_EQ(lag.size(), 2u);
  EXPECT_EQ(exe::SumSamples(text, "ovoflow_predictions_stored_total"), 1200);
  EXPECT_EQ(exe::SumSamples(text, "ovoflow_missing"), 0);
}

exe::BenchRun TwoStepRun() {
  exe::BenchRun run;
  run.date = "2026-11-26";
  run.command = "ovoflow bench --rates 500,1000 | tee x";
  run.label = "local Kafka + SQLite";
  run.machine.cpu_model = "Test CPU";
  run.machine.cpus = 2;
  run.machine.mem_total_bytes = int64_t{4} << 30;
  for (int i = 1; i <= 2; ++i) {
    exe::StepResult s;
    s.index = i;
    s.kind = "fixed";
    s.target_rate = 500.0 * i;
    s.sustained = i == 1;
    if (!s.sustained) s.not_sustained_because = {"end-to-end p99 1500 ms over the 1000 ms budget"};
    s.cpu = {{"scanner", {1}, 3, 0.05, ""}, {"infer-0", {2}, 60, 1.0, ""}};
    run.steps.push_back(s);
  }
  return run;
}

TEST(BenchReport, AppendsRowsToTheExistingSectionTable) {
  const std::string dir = MakeTempDir("bench-md");
  const std::string md = dir + "/b.md";
  exe::BenchRun run = TwoStepRun();
  ASSERT_TRUE(exe::AppendMarkdownRows(run, md).ok());  // creates the file and the section
  { std::ofstream(md, std::ios::app) << "\n## Later section\n\nkept after the table\n"; }
  ASSERT_TRUE(exe::AppendMarkdownRows(run, md).ok());
  const std::string text = ReadAll(md);
  EXPECT_EQ(CountLinesStartingWith(text, exe::kBenchRunsHeading), 1) << text;
  EXPECT_EQ(CountLinesStartingWith(text, "| 2026-11-26"), 4) << text;
  // The new rows sit in the table, before the later section.
  EXPECT_LT(text.rfind("| 2026-11-26"), text.find("## Later section")) << text;
  EXPECT_NE(text.find("--rates 500,1000 \\| tee x"), std::string::npos) << "a '|' must be escaped:\n" << text;
  EXPECT_NE(text.find("Test CPU, 2 CPUs, 4.0 GiB"), std::string::npos) << text;
  EXPECT_NE(text.find("no: end-to-end p99 1500 ms"), std::string::npos) << text;
  EXPECT_NE(text.find("infer-0 1.00"), std::string::npos) << text;
}

TEST(BenchReport, JsonIsValidAndCarriesEveryStep) {
  exe::BenchRun run = TwoStepRun();
  run.config_json = {{"rates", "[500, 1000]"}};
  run.find_max = true;
  run.max_sustained_rate = 500;
  run.first_unsustained_rate = 1000;
  auto doc = ParseJson(exe::BenchJson(run));
  EXPECT_EQ(Field(doc, "steps").list_value().values_size(), 2);
  EXPECT_EQ(Field(Field(doc, "find_max"), "max_sustained_rate").number_value(), 500);
  EXPECT_EQ(Field(Field(doc, "config"), "rates").list_value().values_size(), 2);
}

}  // namespace
}  // namespace ovoflow::testing
