#include "api/testing/api_fixture.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "common/clock.h"
#include "common/testing/test_scan.h"

namespace ovoflow::api::testing {

std::string MakeTempDir(const std::string& name) {
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() /
             ("ovoflow-" + name + "-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

v1::Prediction MakePrediction(const std::string& egg_id, const std::string& tenant_id, v1::Sex sex,
                              v1::Decision decision, int64_t offset_s, float p_female) {
  v1::Prediction p;
  p.set_egg_id(egg_id);
  p.set_tenant_id(tenant_id);
  p.set_scanner_id("scanner-1");
  p.set_tray_id("tray-7");
  p.set_tray_position(static_cast<uint32_t>(offset_s % 150));
  p.set_incubation_day(12);
  p.set_sex(sex);
  p.set_p_female(p_female);
  p.set_decision(decision);
  p.set_model_name("ovonet");
  p.set_model_version("1.0.0");
  p.set_keep_threshold(0.8f);
  p.set_divert_threshold(0.2f);
  p.set_worker_id("worker-0");
  int64_t captured = kBaseUnixNanos + offset_s * kSecond;
  auto* t = p.mutable_times();
  *t->mutable_captured_at() = ToTimestamp(captured);
  *t->mutable_published_at() = ToTimestamp(captured + 10'000'000);
  *t->mutable_consumed_at() = ToTimestamp(captured + 20'000'000);
  *t->mutable_inferred_at() = ToTimestamp(captured + 45'000'000);
  return p;
}

v1::EggScan MakeScan(const std::string& egg_id, const std::string& tenant_id) {
  v1::EggScan s = ovoflow::testing::MakeTestScan(egg_id, tenant_id, kBaseUnixNanos, {8, 8, 4});
  s.set_scanner_id("scanner-1");
  s.set_tray_id("tray-1");
  s.set_tray_position(3);
  return s;
}

Status RecordingSink::Submit(const v1::EggScan& scan) {
  std::lock_guard lock(mu_);
  if (!result_.ok()) return result_;
  scans_.push_back(scan);
  return Status::Ok();
}

std::vector<v1::EggScan> RecordingSink::scans() {
  std::lock_guard lock(mu_);
  return scans_;
}

void RecordingSink::set_result(Status s) {
  std::lock_guard lock(mu_);
  result_ = std::move(s);
}

ApiOptions ApiHarness::DefaultOptions() {
  ApiOptions o;
  o.port = 0;
  o.tls.insecure_http = true;  // loopback; the TLS tests set a certificate instead
  return o;
}

Result<std::unique_ptr<ApiHarness>> ApiHarness::Start(ApiOptions options, bool with_store, ScanSink* sink,
                                                       ModelAdmin* models) {
  auto h = std::unique_ptr<ApiHarness>(new ApiHarness());
  h->dir_ = MakeTempDir("api");
  ApiDeps deps;
  if (with_store) {
    OVOFLOW_ASSIGN_OR_RETURN(h->store_, store::OpenStore("sqlite://" + h->dir_ + "/t.db"));
    deps.store = h->store_.get();
  }
  deps.scans = sink;
  deps.models = models;
  OVOFLOW_ASSIGN_OR_RETURN(auto server, ApiServer::Start(options, deps));
  h->server_ = std::move(server);
  return h;
}

ApiHarness::~ApiHarness() {
  server_.reset();
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void ApiHarness::Insert(const std::vector<v1::Prediction>& predictions) {
  ASSERT_NE(store_, nullptr);
  for (const auto& p : predictions) {
    auto n = store_->InsertBatch({p}, FromTimestamp(p.times().captured_at()) + kSecond);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
  }
}

}  // namespace ovoflow::api::testing

namespace ovoflow::api::testing {

FakeModelAdmin::FakeModelAdmin() {
  input.set_dim_x(8);
  input.set_dim_y(8);
  input.set_dim_z(4);
  input.set_channels(1);
}

Result<ModelCatalog> FakeModelAdmin::List() {
  ModelCatalog c;
  for (const char* v : {"1.0.0", "1.1.0"}) {
    ModelEntry e;
    e.metadata.set_name("gonad-cnn");
    e.metadata.set_version(v);
    e.metadata.set_created_at("2026-11-25T10:50:08Z");
    e.metadata.mutable_held_out_metrics()->set_accuracy(0.9768);
    e.active = std::string(v) == "1.1.0";
    e.shadow = std::string(v) == "1.0.0";
    c.models.push_back(e);
  }
  v1::ModelActivation a;
  a.set_model_name("gonad-cnn");
  a.set_model_version("1.1.0");
  a.set_role(v1::MODEL_ROLE_ACTIVE);
  c.active = a;
  return c;
}

Result<v1::ModelActivation> FakeModelAdmin::Activate(const ActivationRequest& r) {
  std::lock_guard lock(mu_);
  requests.push_back(r);
  if (!activate_error.ok()) return activate_error;
  v1::ModelActivation a;
  a.set_model_name(r.model_name.empty() ? "gonad-cnn" : r.model_name);
  a.set_model_version(r.model_version);
  a.set_role(r.role);
  a.set_activated_by(r.activated_by);
  a.set_reason(r.reason);
  return a;
}

Result<v1::ModelActivation> FakeModelAdmin::DeactivateShadow(const std::string&, const std::string& version,
                                                             const std::string&, const std::string&) {
  if (version != "1.0.0") return Status::FailedPrecondition(version + " is not the shadow model");
  v1::ModelActivation a;
  a.set_model_name("gonad-cnn");
  a.set_role(v1::MODEL_ROLE_SHADOW);
  return a;
}

Result<v1::InputSpec> FakeModelAdmin::ServingInput() { return input; }

}  // namespace ovoflow::api::testing
