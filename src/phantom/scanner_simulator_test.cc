// The scanner agent against librdkafka's mock cluster: every scan arrives
// valid and unique, tenants and scanners rotate, and the true sex goes only
// to the labels file.
#include "phantom/scanner_simulator.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "bus/consumer.h"
#include "bus/mock_cluster.h"
#include "common/testing/temp_dir.h"
#include "common/topics.h"
#include "common/validation.h"
#include "common/volume.h"
#include "edge/embryo_locator.h"
#include "ovoflow/v1/egg_scan.pb.h"

namespace ovoflow::phantom {
namespace {

TEST(ScannerSimulatorTest, PublishesValidUniqueScansAndSeparateLabels) {
  auto cluster = std::move(bus::MockCluster::Create(1)).value();
  ASSERT_TRUE(cluster->CreateTopic(kScansTopic, 2).ok());
  ScannerOptions o;
  o.brokers = cluster->bootstrap();
  o.count = 120;
  o.rate_per_s = 0;
  o.run_id = "t1";
  o.tenants = {"h-a", "h-b", "h-c"};
  o.scanners_per_tenant = 2;
  o.tray_size = 10;
  ovoflow::testing::TempDir dir("scanner-labels");
  o.labels_path = dir.path() + "/labels.csv";
  auto agent = ScannerSimulator::Create(o);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  std::atomic<bool> stop{false};
  auto report = (*agent)->Run(stop);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->published, 120);
  EXPECT_EQ(report->failed, 0);

  bus::ConsumerOptions co;
  co.brokers = cluster->bootstrap();
  co.group_id = "check";
  co.topics = {kScansTopic};
  auto c = std::move(bus::Consumer::Create(co)).value();
  std::map<std::string, v1::EggScan> scans;
  for (int idle = 0; scans.size() < 120 && idle < 100;) {
    auto r = c->Poll(200, 100);
    if (r->empty()) ++idle;
    for (auto& m : *r) {
      v1::EggScan s;
      ASSERT_TRUE(s.ParseFromString(m.value));
      EXPECT_EQ(m.key, s.egg_id());
      EXPECT_TRUE(m.Header("traceparent").has_value());
      EXPECT_TRUE(ValidateScan(s).ok()) << ValidateScan(s).ToString();
      scans[s.egg_id()] = s;
    }
  }
  ASSERT_EQ(scans.size(), 120u);
  std::map<std::string, int> per_tenant;
  std::set<std::string> scanners;
  for (const auto& [id, s] : scans) {
    ++per_tenant[s.tenant_id()];
    scanners.insert(s.scanner_id());
    EXPECT_LT(s.tray_position(), 10u);
    EXPECT_EQ(s.incubation_day(), 12u);
  }
  EXPECT_EQ(per_tenant["h-a"], 40);
  EXPECT_EQ(per_tenant["h-c"], 40);
  EXPECT_EQ(scanners.size(), 6u);

  std::ifstream labels(o.labels_path);
  std::string line;
  std::getline(labels, line);
  EXPECT_EQ(line, "egg_id,tenant_id,scanner_id,sex");
  int n = 0, female = 0;
  while (std::getline(labels, line)) {
    ++n;
    auto egg = line.substr(0, line.find(','));
    EXPECT_TRUE(scans.count(egg)) << egg;
    female += line.back() == 'F';
  }
  EXPECT_EQ(n, 120);
  EXPECT_GT(female, 30);
  EXPECT_LT(female, 90);
}

// A label is written once the broker acknowledged its scan, and reaches the
// file at once: a kill never leaves a published egg without its label, nor
// a label for an egg that was never published.
TEST(ScannerSimulatorTest, LabelsFollowAcknowledgements) {
  auto cluster = std::move(bus::MockCluster::Create(1)).value();
  ASSERT_TRUE(cluster->CreateTopic(kScansTopic, 1).ok());
  ScannerOptions o;
  o.brokers = cluster->bootstrap();
  o.count = 5;
  o.rate_per_s = 0;
  o.run_id = "t3";
  ovoflow::testing::TempDir dir("scanner-labels-acked");
  o.labels_path = dir.path() + "/labels-acked.csv";
  auto agent = ScannerSimulator::Create(o);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  auto lines = [&] {
    std::ifstream f(o.labels_path);
    int n = 0;
    for (std::string line; std::getline(f, line);) ++n;
    return n - 1;  // the header
  };
  cluster->SetBrokerDown(1, true);
  std::atomic<bool> stop{false};
  Result<ScannerReport> report = Status::Internal("not run");
  std::thread run([&] { report = (*agent)->Run(stop); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(lines(), 0) << "nothing acknowledged yet";
  cluster->SetBrokerDown(1, false);
  run.join();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->published, 5);
  EXPECT_EQ(lines(), 5) << "on disk while the agent still lives";
}

TEST(ScannerSimulatorTest, RejectsBadOptions) {
  ScannerOptions o;
  o.tenants = {};
  EXPECT_EQ(ScannerSimulator::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = ScannerOptions{};
  o.rate_per_s = -1;
  EXPECT_EQ(ScannerSimulator::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = ScannerOptions{};
  o.tenants = {"hatch%ry-a"};
  EXPECT_EQ(ScannerSimulator::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = ScannerOptions{};
  o.labels_path = "/nonexistent-dir/labels.csv";
  EXPECT_EQ(ScannerSimulator::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = ScannerOptions{};
  o.phantom.incubation_day = 20;  // refused with a message, not Fatal in the generator
  auto bad = ScannerSimulator::Create(o);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("incubation_day"), std::string::npos);
}

TEST(ScannerSimulatorTest, FullEggAcquisitionPublishesCroppedRegionsWithMaps) {
  auto cluster = std::move(bus::MockCluster::Create(1)).value();
  ASSERT_TRUE(cluster->CreateTopic(kScansTopic, 1).ok());
  ScannerOptions o;
  o.brokers = cluster->bootstrap();
  o.count = 6;
  o.rate_per_s = 0;
  o.run_id = "t2";
  o.phantom.acquisition = Acquisition::kFullEgg;
  o.phantom.locate_abdomen = edge::AbdomenLocator();
  o.phantom.quantitative_maps = true;
  o.phantom.incubation_day = 10;
  auto agent = ScannerSimulator::Create(o);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  std::atomic<bool> stop{false};
  auto report = (*agent)->Run(stop);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->published, 6);

  bus::ConsumerOptions co;
  co.brokers = cluster->bootstrap();
  co.group_id = "check";
  co.topics = {kScansTopic};
  auto c = std::move(bus::Consumer::Create(co)).value();
  int seen = 0;
  for (int idle = 0; seen < 6 && idle < 100;) {
    auto r = c->Poll(200, 100);
    if (r->empty()) ++idle;
    for (auto& m : *r) {
      v1::EggScan s;
      ASSERT_TRUE(s.ParseFromString(m.value));
      EXPECT_TRUE(ValidateScan(s).ok()) << ValidateScan(s).ToString();
      EXPECT_EQ(s.incubation_day(), 10u);
      EXPECT_EQ(s.volume().dim_x(), 32u);  // the cropped ROI, not the whole egg
      EXPECT_EQ(s.volume().dim_z(), 16u);
      EXPECT_EQ(s.volume().channels_size(), 3);
      EXPECT_EQ(s.volume().dtype(), v1::DTYPE_UINT16);
      ++seen;
    }
  }
  EXPECT_EQ(seen, 6);
}

}  // namespace
}  // namespace ovoflow::phantom
