// The per-tenant thresholds file and the order in which bands apply.
#include "inference/tenant_thresholds.h"

#include <gtest/gtest.h>

namespace ovoflow::inference {
namespace {

v1::ModelMetadata ModelRecommending(float keep, float divert) {
  v1::ModelMetadata m;
  m.mutable_recommended_thresholds()->set_keep_min_p_female(keep);
  m.mutable_recommended_thresholds()->set_divert_max_p_female(divert);
  return m;
}

TEST(TenantThresholdsTest, ParsesDefaultAndTenants) {
  auto t = ParseTenantThresholds(R"({"default": {"keep_min_p_female": 0.8, "divert_max_p_female": 0.2},
      "tenants": {"hatchery-a": {"keep_min_p_female": 0.95, "divert_max_p_female": 0.05}}})",
                                 "t.json");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_TRUE(t->default_band.has_value());
  EXPECT_FLOAT_EQ(t->default_band->keep_min_p_female, 0.8f);
  ASSERT_EQ(t->tenants.count("hatchery-a"), 1u);
  EXPECT_FLOAT_EQ(t->tenants.at("hatchery-a").divert_max_p_female, 0.05f);
}

TEST(TenantThresholdsTest, ErrorsNameTheTenantAndTheField) {
  struct Case {
    const char* json;
    const char* says;
  };
  for (const Case& c : {
           Case{R"({"tenants": {"hatchery-b": {"keep_min_p_female": 0.4, "divert_max_p_female": 0.1}}})",
                "t.json: tenant 'hatchery-b': keep_min_p_female: keep threshold must be in (0.5, 1]"},
           Case{R"({"tenants": {"hatchery-b": {"keep_min_p_female": 0.9, "divert_max_p_female": 0.6}}})",
                "t.json: tenant 'hatchery-b': divert_max_p_female: divert threshold must be in [0, 0.5)"},
           Case{R"({"tenants": {"hatchery-c": {"keep_min_p_female": 0.9}}})",
                "t.json: tenant 'hatchery-c': divert_max_p_female is missing"},
           Case{R"({"default": {"divert_max_p_female": 0.1}})", "t.json: default: keep_min_p_female is missing"},
           Case{R"({"tenant": {}})", "t.json: "},
           Case{R"({"tenants": {"a": {"keep_min_p_femal": 0.9}}})", "t.json: "},
           Case{"not json", "t.json: "},
       }) {
    auto t = ParseTenantThresholds(c.json, "t.json");
    ASSERT_FALSE(t.ok()) << c.json;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(t.status().message().rfind(c.says, 0), 0u) << t.status().message();
  }
  EXPECT_EQ(LoadTenantThresholds("/nonexistent/thresholds.json").status().code(), StatusCode::kNotFound);
}

TEST(ThresholdPolicyTest, TenantThenFileDefaultThenFlagsThenModelThenBuiltIn) {
  const v1::ModelMetadata recommending = ModelRecommending(0.97f, 0.03f);
  const v1::ModelMetadata silent;

  ThresholdPolicy builtin;
  EXPECT_FLOAT_EQ(builtin.For("x", silent).keep_min_p_female, Thresholds{}.keep_min_p_female);
  EXPECT_FLOAT_EQ(builtin.For("x", recommending).keep_min_p_female, 0.97f);
  EXPECT_FLOAT_EQ(builtin.For("x", ModelRecommending(0.3f, 0.1f)).keep_min_p_female,
                  Thresholds{}.keep_min_p_female);  // an invalid recommendation is ignored

  ThresholdPolicy flags({}, Thresholds{0.85f, 0.15f});
  EXPECT_FLOAT_EQ(flags.For("x", recommending).keep_min_p_female, 0.85f);

  TenantThresholds file;
  file.tenants["hatchery-a"] = Thresholds{0.99f, 0.01f};
  ThresholdPolicy tenants_only(file, Thresholds{0.85f, 0.15f});
  EXPECT_FLOAT_EQ(tenants_only.For("hatchery-a", recommending).keep_min_p_female, 0.99f);
  EXPECT_FLOAT_EQ(tenants_only.For("hatchery-b", recommending).keep_min_p_female, 0.85f);

  file.default_band = Thresholds{0.7f, 0.3f};
  ThresholdPolicy with_default(file, Thresholds{0.85f, 0.15f});
  EXPECT_FLOAT_EQ(with_default.For("hatchery-b", recommending).divert_max_p_female, 0.3f);
  EXPECT_FLOAT_EQ(with_default.For("hatchery-a", recommending).divert_max_p_female, 0.01f);
}

}  // namespace
}  // namespace ovoflow::inference
