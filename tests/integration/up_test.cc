// `ovoflow up` as a user runs it: `--scans N --exit-when-done` exits once its
// N eggs reached the store, also when an earlier run with the same
// `--run-id` stored them already (it counts this run's eggs, not new rows),
// and its labels file has a line per acknowledged scan.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "store/prediction_store.h"
#include "support/process.h"

namespace ovoflow::testing {
namespace {

int CountLines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

TEST(UpTest, ExitWhenDoneCountsThisRunsEggsEvenWhenAlreadyStored) {
  const std::string dir = MakeTempDir("up");
  const std::string run_id = "uptest" + std::to_string(getpid());
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    const std::string labels = dir + "/labels-" + std::to_string(run) + ".csv";
    Process up({OvoflowBinary(),
                "up",
                "--insecure-http",
                "--no-auth",
                "--brokers",
                TestBrokers(),
                "--db",
                "sqlite://" + dir + "/ovoflow.db",
                "--port",
                "0",
                "--scans",
                "50",
                "--rate",
                "100",
                "--run-id",
                run_id,
                "--exit-when-done",
                "--labels",
                labels,
                "--infer-group",
                run_id + "-infer",
                "--store-group",
                run_id + "-store"},
               dir + "/up-" + std::to_string(run) + ".log");
    const int rc = up.Wait(180000);
    ASSERT_EQ(rc, 0) << (rc == -1 ? "still running after 180 s\n" : "") << up.Log();
    EXPECT_NE(up.Log().find("stopped cleanly; 50 scans published"), std::string::npos) << up.Log();
    EXPECT_EQ(CountLines(labels), 1 + 50) << "a header and a line per acknowledged scan";
  }
  // Every egg of the run is stored, once. (Fresh consumer groups also store
  // what other tests left on the broker: only this run's eggs are checked.)
  auto store = store::OpenStore("sqlite://" + dir + "/ovoflow.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (int i = 0; i < 50; ++i) {
    char egg[64];
    (void)std::snprintf(egg, sizeof egg, "%s-%08d", run_id.c_str(), i);
    auto got = (*store)->GetEgg(store::TenantScope::All(), egg);
    EXPECT_TRUE(got.ok() && got->has_value()) << egg;
  }
}

}  // namespace
}  // namespace ovoflow::testing
