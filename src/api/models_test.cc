// GET /v1/models and POST /v1/models/{version}:activate|:deactivate against
// a real server: the catalogue's JSON, platform-admin only (401/403 problems),
// the custom-method path, and how ModelAdmin errors map to statuses.
#include <gtest/gtest.h>

#include <mutex>

#include "api/client/http_client.h"
#include "api/model_admin.h"
#include "api/testing/api_fixture.h"

namespace ovoflow::api::testing {
namespace {

class ModelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_token_ = identity_.Token({"platform-admin"}, {}, "", "alice");
    auto h = ApiHarness::Start(ApiHarness::DefaultOptions(), true, nullptr, &admin_, &identity_);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    harness_ = std::move(h).value();
  }
  HttpResult Post(const std::string& target, const std::string& body = "") { return Post(target, body, admin_token_); }
  HttpResult Post(const std::string& target, const std::string& body, const std::string& token) {
    HttpConnection c(harness_->port());
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return c.Request("POST", target, body, body.empty() ? "" : "application/json", headers);
  }
  static void ExpectProblem(const HttpResult& r, int status, const std::string& slug) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.ContentType(), "application/problem+json") << r.body;
    auto p = ParseJson(r.body);
    EXPECT_EQ(Field(p, "type").string_value(), "urn:ovoflow:problem:" + slug) << r.body;
    EXPECT_EQ(Field(p, "status").number_value(), status);
  }

  TestIdentity identity_;
  std::string admin_token_;
  FakeModelAdmin admin_;
  std::unique_ptr<ApiHarness> harness_;
};

TEST_F(ModelsTest, ListsTheCatalogue) {
  HttpResult r = Fetch(harness_->port(), "GET", "/v1/models", "", "", kDefaultTimeout,
                       BearerHeader(identity_.Token({"viewer"}, {"hatchery-a"})));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.ContentType(), "application/json");
  auto body = ParseJson(r.body);
  const auto& items = Field(body, "items").list_value().values();
  ASSERT_EQ(items.size(), 2);
  EXPECT_EQ(Field(items[0], "version").string_value(), "1.0.0");
  EXPECT_TRUE(Field(items[0], "shadow").bool_value());
  EXPECT_FALSE(Field(items[0], "active").bool_value());
  EXPECT_TRUE(Field(items[1], "active").bool_value());
  EXPECT_EQ(Field(items[1], "created_at").string_value(), "2026-11-25T10:50:08Z");
  EXPECT_NEAR(Field(Field(items[1], "held_out_metrics"), "accuracy").number_value(), 0.9768, 1e-9);
  EXPECT_EQ(Field(Field(body, "active_activation"), "role").string_value(), "MODEL_ROLE_ACTIVE");
  EXPECT_EQ(Field(body, "shadow_activation").kind_case(), google::protobuf::Value::kNullValue);
}

TEST_F(ModelsTest, ActivationNeedsPlatformAdmin) {
  HttpResult none = Post("/v1/models/1.1.0:activate", "", "");
  ExpectProblem(none, 401, "unauthorized");
  EXPECT_EQ(none.Header("www-authenticate"), "Bearer realm=\"ovoflow\"");
  ExpectProblem(Post("/v1/models/1.1.0:activate", "", "0123456789abcdef-wrong"), 401, "unauthorized");
  // A hatchery's own administrator switches no model for everyone.
  for (const char* role : {"hatchery-admin", "operator", "viewer", "scanner"}) {
    HttpResult r = Post("/v1/models/1.1.0:activate", "", identity_.Token({role}, {"hatchery-a"}, "s1"));
    ExpectProblem(r, 403, "forbidden");
    EXPECT_NE(r.Header("www-authenticate").find("insufficient_scope"), std::string::npos);
    ExpectProblem(Post("/v1/models/1.0.0:deactivate", "", identity_.Token({role})), 403, "forbidden");
  }
  EXPECT_TRUE(admin_.requests.empty());
}

TEST_F(ModelsTest, ActivatesAndAnswers202WithTheRecord) {
  HttpResult r = Post("/v1/models/1.1.0:activate", R"({"reason": "better held-out accuracy"})");
  ASSERT_EQ(r.status, 202) << r.body;
  auto rec = ParseJson(r.body);
  EXPECT_EQ(Field(rec, "model_version").string_value(), "1.1.0");
  EXPECT_EQ(Field(rec, "role").string_value(), "MODEL_ROLE_ACTIVE");
  EXPECT_EQ(Field(rec, "reason").string_value(), "better held-out accuracy");
  ASSERT_EQ(admin_.requests.size(), 1u);
  EXPECT_EQ(admin_.requests[0].activated_by, "alice");  // the token's subject

  // The colon percent-encoded, and the shadow role.
  r = Post("/v1/models/1.0.0%3Aactivate", R"({"name": "gonad-cnn", "role": "shadow"})");
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_EQ(admin_.requests.size(), 2u);
  EXPECT_EQ(admin_.requests[1].model_version, "1.0.0");
  EXPECT_EQ(admin_.requests[1].role, v1::MODEL_ROLE_SHADOW);
  EXPECT_EQ(admin_.requests[1].model_name, "gonad-cnn");
}

TEST_F(ModelsTest, ErrorsAreProblems) {
  ExpectProblem(Post("/v1/models/1.1.0:activate", R"({"role": "boss"})"), 400, "invalid-field");
  ExpectProblem(Post("/v1/models/1.1.0:activate", R"({"version": "x"})"), 400, "invalid-field");
  ExpectProblem(Post("/v1/models/1.1.0:activate", "[1"), 400, "bad-request");
  admin_.activate_error = Status::NotFound("no model gonad-cnn 9.9.9 in models");
  ExpectProblem(Post("/v1/models/9.9.9:activate"), 404, "not-found");
  admin_.activate_error = Status::InvalidArgument("gonad-cnn 2.0.0 does not load: junk weights");
  ExpectProblem(Post("/v1/models/2.0.0:activate"), 422, "model-not-loadable");
  admin_.activate_error = Status::Unavailable("activation not acknowledged");
  ExpectProblem(Post("/v1/models/1.1.0:activate"), 503, "unavailable");
  ExpectProblem(Post("/v1/models/1.1.0:deactivate"), 409, "conflict");
  EXPECT_EQ(Post("/v1/models/1.0.0:deactivate").status, 202);
  ExpectProblem(Post("/v1/models/1.1.0:promote"), 404, "not-found");
  HttpResult get = Fetch(harness_->port(), "GET", "/v1/models/1.1.0:activate");
  ExpectProblem(get, 405, "method-not-allowed");
  EXPECT_EQ(get.Header("allow"), "POST");
}

// Limits count characters, as the document's maxLength does: 1024 two-byte
// characters (2048 bytes) are a valid reason, 1025 are not.
TEST_F(ModelsTest, ReasonLimitCountsCharactersNotBytes) {
  std::string reason;
  for (int i = 0; i < 1024; ++i) reason += "\u00e9";
  HttpResult r = Post("/v1/models/1.1.0:activate", "{\"reason\": \"" + reason + "\"}");
  ASSERT_EQ(r.status, 202) << r.body.substr(0, 300);
  ExpectProblem(Post("/v1/models/1.1.0:activate", "{\"reason\": \"" + reason + "e\"}"), 400, "invalid-field");
}

// A registry whose directory does not exist (ModelRegistry::List: NotFound).
class NoRegistry final : public ModelAdmin {
 public:
  Result<ModelCatalog> List() override { return Status::NotFound("no model registry directory /nowhere"); }
  Result<v1::ModelActivation> Activate(const ActivationRequest&) override {
    return Status::NotFound("no model gonad-cnn 1.1.0 in /nowhere");
  }
  Result<v1::ModelActivation> DeactivateShadow(const std::string&, const std::string&, const std::string&,
                                               const std::string&) override {
    return Status::FailedPrecondition("not the shadow model");
  }
  Result<v1::InputSpec> ServingInput() override { return Status::NotFound("no model in the registry /nowhere"); }
};

// GET /v1/models without a registry was a 404 for a route that exists
// (schemathesis: an undocumented status); it is the process lacking a
// dependency: 503 with Retry-After, as documented.
TEST(ModelsWithoutRegistryTest, ListIsUnavailable) {
  TestIdentity identity;
  NoRegistry models;
  auto h = ApiHarness::Start(ApiHarness::DefaultOptions(), true, nullptr, &models, &identity);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  HttpResult r = Fetch((*h)->port(), "GET", "/v1/models", "", "", kDefaultTimeout,
                       BearerHeader(identity.Token({"viewer"}, {"hatchery-a"})));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.ContentType(), "application/problem+json");
  EXPECT_EQ(Field(ParseJson(r.body), "type").string_value(), "urn:ovoflow:problem:unavailable");
  EXPECT_EQ(r.Header("retry-after"), "1");
  // A version the (missing) registry does not hold is still a 404.
  HttpConnection c((*h)->port());
  HttpResult a = c.Request("POST", "/v1/models/1.1.0:activate", "", "",
                           {{"Authorization", "Bearer " + identity.Token({"platform-admin"})}});
  EXPECT_EQ(a.status, 404) << a.body;
}

}  // namespace
}  // namespace ovoflow::api::testing
