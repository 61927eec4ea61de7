// The agent end to end on its real interfaces: DICOM series sent with
// C-STORE (the phantom's DCMTK client), Kafka (librdkafka's mock cluster
// here; tests/edge drives DCMTK's storescu against a real broker).
#include "edge/agent.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include "bus/consumer.h"
#include "bus/mock_cluster.h"
#include "bus/producer.h"
#include "common/testing/temp_dir.h"
#include "common/topics.h"
#include "common/validation.h"
#include "ovoflow/v1/dead_letter.pb.h"
#include "ovoflow/v1/sort_decision.pb.h"
#include "phantom/dicom_export.h"
#include "phantom/phantom.h"

namespace ovoflow::edge {
namespace {

uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  (void)::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  (void)::getsockname(fd, reinterpret_cast<sockaddr*>(&a),
                      &len);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  ::close(fd);
  return ntohs(a.sin_port);
}

class EdgeAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::move(bus::MockCluster::Create(1)).value();
    ASSERT_TRUE(cluster_->CreateTopic(kScansTopic, 1).ok());
    ASSERT_TRUE(cluster_->CreateTopic(kDeadLetterTopic, 1).ok());
    options_.tenant_id = "hatchery-a";
    options_.scanner_id = "mri-1";
    options_.line_id = "line-1";
    options_.belt_travel_ms = 90000;
    options_.brokers = cluster_->bootstrap();
    options_.spool_dir = dir_.path() + "/spool";
    options_.scp.port = FreePort();
    options_.scp.allowed_calling = {"OVOFLOW-SIM"};
    options_.series.quiet_ms = 500;
  }

  // The phantom's egg `index` as a DICOM series.
  std::vector<std::string> Series(uint64_t index, phantom::DicomLayout layout) {
    const phantom::EggVolume egg = gen_.RenderEgg(11, index);
    phantom::DicomSeriesInfo info;
    info.egg_id = "egg-" + std::to_string(index);
    info.tray_id = "tray-1";
    info.tray_position = static_cast<uint32_t>(index);
    info.incubation_day = 12;
    info.captured_at_ns = SystemClock().NowUnixNanos();
    info.layout = layout;
    return std::move(phantom::MakeDicomSeries(egg.volume, info)).value();
  }

  Status Send(const std::vector<std::string>& files, const std::string& calling = "OVOFLOW-SIM") {
    phantom::DicomSender::Options so;
    so.port = options_.scp.port;
    so.calling_ae = calling;
    auto sender = phantom::DicomSender::Connect(so);
    if (!sender.ok()) return sender.status();
    return (*sender)->SendSeries(files);
  }

  std::map<std::string, bus::Message> Consume(const std::string& topic, std::size_t want) {
    bus::ConsumerOptions co;
    co.brokers = cluster_->bootstrap();
    co.group_id = "check-" + topic;
    co.topics = {topic};
    auto c = std::move(bus::Consumer::Create(co)).value();
    std::map<std::string, bus::Message> got;
    for (int idle = 0; got.size() < want && idle < 100;) {
      auto r = c->Poll(100, 100);
      if (!r.ok() || r->empty()) ++idle;
      if (r.ok())
        for (auto& m : *r) got[m.key] = m;
    }
    return got;
  }

  testing::TempDir dir_{"edge-agent"};
  std::unique_ptr<bus::MockCluster> cluster_;
  EdgeAgentOptions options_;
  const phantom::PhantomGenerator gen_{phantom::PhantomOptions{}};
};

TEST_F(EdgeAgentTest, SeriesInScanOutWithOnlyTheRoi) {
  auto agent = EdgeAgent::Start(options_);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  ASSERT_TRUE(Send(Series(1, phantom::DicomLayout::kSingleFrame)).ok());
  ASSERT_TRUE(Send(Series(2, phantom::DicomLayout::kEnhancedMultiFrame)).ok());
  auto got = Consume(kScansTopic, 2);
  ASSERT_EQ(got.size(), 2u);
  for (const auto& [key, m] : got) {
    v1::EggScan scan;
    ASSERT_TRUE(scan.ParseFromString(m.value));
    EXPECT_TRUE(ValidateScan(scan).ok()) << ValidateScan(scan).ToString();
    EXPECT_EQ(scan.egg_id(), key);
    EXPECT_EQ(scan.tenant_id(), "hatchery-a");
    EXPECT_EQ(scan.scanner_id(), "mri-1");
    EXPECT_EQ(scan.line_id(), "line-1");
    EXPECT_EQ(scan.incubation_day(), 12u);
    EXPECT_FALSE(scan.scan_id().empty()) << "the SeriesInstanceUID";
    EXPECT_EQ(FromTimestamp(scan.deadline()) - FromTimestamp(scan.captured_at()), 90'000'000'000);
    EXPECT_EQ(scan.volume().dim_x(), 32u);
    EXPECT_EQ(scan.volume().dim_z(), 16u);
    EXPECT_EQ(scan.volume().encoding(), v1::ENCODING_ZSTD);
  }
  (*agent)->Stop();
  EXPECT_EQ((*agent)->stats().spool_pending, 0u) << "acknowledged records leave the spool";
}

TEST_F(EdgeAgentTest, BadImagesGetTheirStatusAndADeadLetter) {
  auto agent = EdgeAgent::Start(options_);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  // A calling AE outside the allow-list cannot even associate.
  EXPECT_EQ(Send(Series(3, phantom::DicomLayout::kSingleFrame), "STRANGER").code(), StatusCode::kUnavailable);
  // A series missing a slice: every image is stored, the series is a dead letter.
  auto files = Series(4, phantom::DicomLayout::kSingleFrame);
  files.erase(files.begin() + 10);
  ASSERT_TRUE(Send(files).ok());
  auto dead = Consume(kDeadLetterTopic, 1);
  ASSERT_EQ(dead.size(), 1u);
  v1::DeadLetter dl;
  ASSERT_TRUE(dl.ParseFromString(dead.begin()->second.value));
  EXPECT_EQ(dl.stage(), "edge");
  EXPECT_NE(dl.reason().find("incomplete series"), std::string::npos) << dl.reason();
  EXPECT_EQ((*agent)->stats().series_failed, 1u);
}

// Kafka away: the spool fills to its bound, then C-STORE answers A700 and
// nothing is lost; a restart with the broker back forwards every scan.
TEST_F(EdgeAgentTest, FullSpoolAnswersA700AndLosesNothing) {
  options_.brokers = "127.0.0.1:1";  // nothing listens there
  options_.spool_max_bytes = 8u << 20;
  int accepted = 0;
  {
    auto agent = EdgeAgent::Start(options_);
    ASSERT_TRUE(agent.ok()) << agent.status().ToString();
    Status st;
    for (uint64_t i = 10; i < 40 && st.ok(); ++i) {
      st = Send(Series(i, phantom::DicomLayout::kEnhancedMultiFrame));
      if (st.ok()) ++accepted;
    }
    EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
    EXPECT_GT((*agent)->stats().instances_refused_full, 0u);
    EXPECT_GT(accepted, 0);
    (*agent)->Stop(0);
  }
  options_.brokers = cluster_->bootstrap();
  auto agent = EdgeAgent::Start(options_);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  auto got = Consume(kScansTopic, static_cast<std::size_t>(accepted));
  EXPECT_EQ(got.size(), static_cast<std::size_t>(accepted)) << "every series stored before the spool was full";
}

// The sorting line: a prediction in time is actuated as the model decided; a
// scan without one is actuated RECHECK at its deadline; both reach
// ovoflow.decisions.v1 once and the Modbus registers.
TEST_F(EdgeAgentTest, DecisionsByTheDeadline) {
  ASSERT_TRUE(cluster_->CreateTopic(kPredictionsTopic, 1).ok());
  ASSERT_TRUE(cluster_->CreateTopic(kDecisionsTopic, 1).ok());
  options_.belt_travel_ms = 20000;
  options_.safety_margin_ms = 1000;
  options_.modbus = true;
  options_.modbus_options.host = "127.0.0.1";
  options_.modbus_options.port = 0;
  options_.predictions_offset_reset = "earliest";
  auto agent = EdgeAgent::Start(options_);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  EXPECT_NE((*agent)->modbus_port(), 0);
  ASSERT_TRUE(Send(Series(21, phantom::DicomLayout::kEnhancedMultiFrame)).ok());
  ASSERT_TRUE(Send(Series(22, phantom::DicomLayout::kEnhancedMultiFrame)).ok());
  auto scans = Consume(kScansTopic, 2);
  ASSERT_EQ(scans.size(), 2u);
  // A worker's verdict for egg-21 only.
  v1::EggScan scan;
  ASSERT_TRUE(scan.ParseFromString(scans.at("egg-21").value));
  v1::Prediction p;
  p.set_egg_id(scan.egg_id());
  p.set_tenant_id(scan.tenant_id());
  p.set_scanner_id(scan.scanner_id());
  p.set_tray_id(scan.tray_id());
  p.set_tray_position(scan.tray_position());
  p.set_scan_id(scan.scan_id());
  p.set_line_id(scan.line_id());
  *p.mutable_deadline() = scan.deadline();
  p.set_sex(v1::SEX_FEMALE);
  p.set_p_female(0.97f);
  p.set_decision(v1::DECISION_KEEP);
  p.set_model_name("gonad-cnn");
  p.set_model_version("test");
  *p.mutable_times()->mutable_captured_at() = scan.captured_at();
  bus::ProducerOptions po;
  po.brokers = cluster_->bootstrap();
  auto producer = std::move(bus::Producer::Create(po)).value();
  ASSERT_TRUE(producer->Send(kPredictionsTopic, p.egg_id(), p.SerializeAsString(), {}).ok());
  ASSERT_TRUE(producer->Flush(5000).ok());
  // egg-22's deadline passes (20 s after capture) without a prediction.
  std::map<std::string, v1::SortDecision> decided;
  for (int round = 0; round < 40 && decided.size() < 2; ++round)
    for (const auto& [key, m] : Consume(kDecisionsTopic, 2)) {
      v1::SortDecision d;
      ASSERT_TRUE(d.ParseFromString(m.value));
      decided[key] = d;
    }
  ASSERT_EQ(decided.size(), 2u);
  EXPECT_EQ(decided["egg-21"].actuated(), v1::DECISION_KEEP);
  EXPECT_EQ(decided["egg-21"].reason(), v1::SORT_REASON_PREDICTION);
  EXPECT_EQ(decided["egg-21"].scan_id(), scan.scan_id());
  EXPECT_EQ(decided["egg-22"].actuated(), v1::DECISION_RECHECK);
  EXPECT_EQ(decided["egg-22"].reason(), v1::SORT_REASON_DEADLINE);
  EXPECT_EQ((*agent)->stats().decisions, 2u);
}

}  // namespace
}  // namespace ovoflow::edge
