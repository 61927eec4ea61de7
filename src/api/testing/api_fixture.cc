#include "api/testing/api_fixture.h"

#include <gtest/gtest.h>

#include <chrono>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "common/clock.h"
#include "common/testing/test_scan.h"

#include "api/json.h"

namespace ovoflow::api::testing {

std::string MakeTempDir(const std::string& name) {
  std::random_device rd;
  auto dir =
      std::filesystem::temp_directory_path() / ("ovoflow-" + name + "-" + std::to_string(rd()) + std::to_string(rd()));
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
  o.auth.disabled = true;      // the identity tests pass a TestIdentity instead
  return o;
}

TestIdentity::TestIdentity() {
  key_ = auth::testing::SigningKey::Ec256("test-key-1");
  keys_ = std::make_unique<auth::testing::StaticKeySource>(kIssuer, auth::testing::Jwks({key_.get()}));
  auth::VerifierOptions vo;
  vo.issuers = {kIssuer};
  vo.audience = kAudience;
  auto v = auth::JwtVerifier::Create(vo, keys_.get());
  if (!v.ok()) std::abort();
  verifier_ = std::move(v).value();
}

std::string TestIdentity::ClaimsJson(const Claims& c) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto array = [](const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& i : items) out += (out.size() > 1 ? "," : "") + JsonQuote(i);
    return out + "]";
  };
  std::string json = "{\"iss\":" + JsonQuote(c.issuer) + ",\"aud\":" + JsonQuote(c.audience) +
                     ",\"sub\":" + JsonQuote(c.subject) + ",\"iat\":" + std::to_string(now) +
                     ",\"nbf\":" + std::to_string(now + c.not_before_s) +
                     ",\"exp\":" + std::to_string(now + c.lifetime_s) + ",\"ovoflow_roles\":" + array(c.roles) +
                     ",\"ovoflow_tenants\":" + array(c.tenants);
  if (!c.scanner_id.empty()) json += ",\"ovoflow_scanner_id\":" + JsonQuote(c.scanner_id);
  return json + "}";
}

std::string TestIdentity::Token(const Claims& claims) const { return key_->Sign(ClaimsJson(claims)); }

std::string TestIdentity::Token(std::vector<std::string> roles, std::vector<std::string> tenants,
                                std::string scanner_id, std::string subject) const {
  Claims c;
  c.roles = std::move(roles);
  c.tenants = std::move(tenants);
  c.scanner_id = std::move(scanner_id);
  c.subject = std::move(subject);
  return Token(c);
}

std::map<std::string, std::string> BearerHeader(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

Result<std::unique_ptr<ApiHarness>> ApiHarness::Start(ApiOptions options, bool with_store, ScanSink* sink,
                                                      ModelAdmin* models, const TestIdentity* identity) {
  auto h = std::unique_ptr<ApiHarness>(new ApiHarness());
  h->dir_ = MakeTempDir("api");
  ApiDeps deps;
  if (with_store) {
    OVOFLOW_ASSIGN_OR_RETURN(h->store_, store::OpenStore("sqlite://" + h->dir_ + "/t.db"));
    deps.store = h->store_.get();
  }
  deps.scans = sink;
  deps.models = models;
  if (identity) {
    options.auth.disabled = false;
    deps.verifier = identity->verifier();
  }
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
