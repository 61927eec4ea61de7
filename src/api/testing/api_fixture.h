// A real ApiServer on port 0 over a real SQLite store in a temporary folder,
// plus builders for predictions and scans, for the API tests.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/client/http_client.h"
#include "api/model_admin.h"
#include "api/server.h"
#include "auth/jwt_verifier.h"
#include "auth/testing/token_factory.h"
#include "common/status.h"
#include "store/prediction_store.h"

namespace ovoflow::api::testing {

// The tests drive the server through the API's one client.
using client::Fetch;
using client::Field;
using client::HasField;
using client::HttpConnection;
using client::HttpResult;
using client::kDefaultTimeout;
using client::MetricValue;
using client::ParseJson;
using client::WsClient;

// 2026-05-01T00:00:00Z: a fixed base so tests never depend on the wall clock.
inline constexpr int64_t kBaseUnixNanos = 1777593600LL * 1000000000LL;
inline constexpr int64_t kSecond = 1000000000LL;

std::string MakeTempDir(const std::string& name);

// A complete prediction captured at kBaseUnixNanos + offset_s seconds.
v1::Prediction MakePrediction(const std::string& egg_id, const std::string& tenant_id, v1::Sex sex,
                              v1::Decision decision, int64_t offset_s, float p_female = 0.9f);

// A scan that passes ValidateScan (8x8x4 uint8, one channel).
v1::EggScan MakeScan(const std::string& egg_id, const std::string& tenant_id = "hatchery-a");

// ScanSink that records what it was given; Submit answers `result` (OK by default).
class RecordingSink final : public ScanSink {
 public:
  Status Submit(const v1::EggScan& scan) override;
  std::vector<v1::EggScan> scans();
  void set_result(Status s);

 private:
  std::mutex mu_;
  std::vector<v1::EggScan> scans_;  // GUARDED_BY(mu_)
  Status result_;                   // GUARDED_BY(mu_)
};

// ModelAdmin that answers from a fixed catalogue (gonad-cnn 1.0.0 shadow,
// 1.1.0 active); Activate records each request and fails with
// `activate_error` when set; ServingInput answers `input` (8x8x4, one channel:
// what MakeScan builds).
class FakeModelAdmin final : public ModelAdmin {
 public:
  FakeModelAdmin();
  Result<ModelCatalog> List() override;
  Result<v1::ModelActivation> Activate(const ActivationRequest& r) override;
  Result<v1::ModelActivation> DeactivateShadow(const std::string& model_name, const std::string& version,
                                               const std::string& activated_by, const std::string& reason) override;
  Result<v1::InputSpec> ServingInput() override;

  std::mutex mu_;
  std::vector<ActivationRequest> requests;  // GUARDED_BY(mu_)
  Status activate_error;
  v1::InputSpec input;
};

// An identity provider for the tests: one EC P-256 signing key that the
// verifier trusts (issuer kTestIssuer, audience "ovoflow-api", the default
// claim names), and tokens signed with it.
class TestIdentity {
 public:
  static constexpr const char* kIssuer = "https://id.test.ovoflow";
  static constexpr const char* kAudience = "ovoflow-api";
  TestIdentity();
  const auth::JwtVerifier* verifier() const { return verifier_.get(); }

  struct Claims {
    std::vector<std::string> roles;
    std::vector<std::string> tenants;
    std::string scanner_id;
    std::string subject = "tester";
    int64_t lifetime_s = 600;    // exp = now + lifetime_s
    int64_t not_before_s = -60;  // nbf = now + not_before_s
    std::string issuer = kIssuer;
    std::string audience = kAudience;
  };
  // A token signed with the trusted key.
  std::string Token(const Claims& claims) const;
  std::string Token(std::vector<std::string> roles, std::vector<std::string> tenants = {}, std::string scanner_id = "",
                    std::string subject = "tester") const;
  // The same claims as JSON, for forgeries (auth::testing::UnsignedToken, ...).
  static std::string ClaimsJson(const Claims& claims);
  const auth::testing::SigningKey& key() const { return *key_; }

 private:
  std::unique_ptr<auth::testing::SigningKey> key_;
  std::unique_ptr<auth::testing::StaticKeySource> keys_;
  std::unique_ptr<auth::JwtVerifier> verifier_;
};

// {"Authorization": "Bearer <token>"}
std::map<std::string, std::string> BearerHeader(const std::string& token);

// Owns the store (unless without one) and the server; stops the server first.
class ApiHarness {
 public:
  // with_store false: the metrics/health-only mode (ApiDeps.store == nullptr).
  // With `identity` (not owned, must outlive the harness) callers need its
  // tokens; without, the server runs with auth.disabled (DefaultOptions).
  static Result<std::unique_ptr<ApiHarness>> Start(ApiOptions options = DefaultOptions(), bool with_store = true,
                                                   ScanSink* sink = nullptr, ModelAdmin* models = nullptr,
                                                   const TestIdentity* identity = nullptr);
  // Port 0, plain HTTP on loopback, no identity provider (auth.disabled).
  static ApiOptions DefaultOptions();
  ~ApiHarness();

  int port() const { return static_cast<int>(server_->port()); }
  ApiServer& server() { return *server_; }
  store::PredictionStore* store() { return store_.get(); }
  const std::string& dir() const { return dir_; }
  // Stores the predictions (stored_at = captured_at + 1 s); aborts the test on failure.
  void Insert(const std::vector<v1::Prediction>& predictions);

 private:
  std::string dir_;
  std::unique_ptr<store::PredictionStore> store_;
  std::unique_ptr<ApiServer> server_;
};

}  // namespace ovoflow::api::testing
