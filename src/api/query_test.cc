// Pure parsing of request targets and the typed query parameters.
#include "api/query.h"

#include <gtest/gtest.h>

namespace ovoflow::api {
namespace {

TEST(QueryTest, SplitsAndDecodesTheTarget) {
  Target t;
  ASSERT_FALSE(ParseTarget("/v1/eggs?tenant_id=hatch%20a&x=1+2&empty=&flag", &t));
  EXPECT_EQ(t.path, "/v1/eggs");
  EXPECT_EQ(t.query.at("tenant_id"), "hatch a");
  EXPECT_EQ(t.query.at("x"), "1 2");
  EXPECT_EQ(t.query.at("empty"), "");
  EXPECT_EQ(t.query.at("flag"), "");
  auto err = ParseTarget("/a?x=%zz", &t);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->parameter, "x");
  err = ParseTarget("/a?x=1&x=2", &t);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->detail, "given more than once");
  EXPECT_FALSE(PercentDecode("%4", false));
  EXPECT_EQ(*PercentDecode("a%2Fb+c", false), "a/b+c");
  EXPECT_EQ(PercentEncodeSegment("egg 1/a~b"), "egg%201%2Fa~b");
}

TEST(QueryTest, ParsesEnumsInShortAndFullForm) {
  EXPECT_EQ(*ParseSex("FEMALE"), v1::SEX_FEMALE);
  EXPECT_EQ(*ParseSex("sex_male"), v1::SEX_MALE);
  EXPECT_FALSE(ParseSex("UNKNOWN").ok());
  EXPECT_FALSE(ParseSex("UNSPECIFIED").ok());
  EXPECT_EQ(*ParseDecision("recheck"), v1::DECISION_RECHECK);
  EXPECT_EQ(*ParseDecision("DECISION_DIVERT"), v1::DECISION_DIVERT);
  EXPECT_FALSE(ParseDecision("").ok());
}

TEST(QueryTest, ParsesRfc3339Times) {
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:01Z"), 1000000000);
  EXPECT_EQ(*ParseRfc3339("1970-01-01T01:00:01.5+01:00"), 1500000000);
  EXPECT_FALSE(ParseRfc3339("1970-01-01").ok());
  EXPECT_EQ(*ParseRfc3339("2026-05-01T00:00:00Z"), 1777593600LL * 1000000000LL);
  EXPECT_EQ(*ParseRfc3339("2026-05-01t02:30:00+02:30"), 1777593600LL * 1000000000LL);  // RFC 3339 5.6: any case
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00.000000001z"), 1);
  EXPECT_EQ(*ParseRfc3339("1969-12-31T23:59:59.5Z"), -500000000);
  EXPECT_EQ(*ParseRfc3339("2024-02-29T23:59:59-00:00"), 1709251199LL * 1000000000LL);
}

TEST(QueryTest, RefusesEverythingThatIsNotStrictRfc3339) {
  for (const char* bad : {"",
                          "2026-05-01T00:00:00",
                          "2026-05-01 00:00:00Z",
                          "2026-5-01T00:00:00Z",
                          "2026-05-01T00:00Z",
                          "2026-02-29T00:00:00Z",
                          "2026-04-31T00:00:00Z",
                          "2026-13-01T00:00:00Z",
                          "2026-05-01T24:00:00Z",
                          "2026-05-01T23:60:00Z",
                          "2026-06-30T23:59:60Z",
                          "2026-05-01T00:00:00.Z",
                          "2026-05-01T00:00:00.1234567891Z",
                          "2026-05-01T00:00:00+0100",
                          "2026-05-01T00:00:00+24:00",
                          "2026-05-01T00:00:00Zjunk",
                          "2300-01-01T00:00:00Z",
                          "1600-01-01T00:00:00Z",
                          "+2026-05-01T00:00:00Z",
                          "2026-05-01T00:00:00 Z"}) {
    auto r = ParseRfc3339(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("RFC 3339"), std::string::npos);
    }
  }
}

TEST(QueryTest, ParsesBoundedInts) {
  EXPECT_EQ(*ParseBoundedInt("1000", 1, 1000), 1000);
  EXPECT_FALSE(ParseBoundedInt("0", 1, 1000).ok());
  EXPECT_FALSE(ParseBoundedInt("12abc", 1, 1000).ok());
  EXPECT_FALSE(ParseBoundedInt("", 1, 1000).ok());
}

TEST(QueryTest, FilterMatchesPredictions) {
  PredictionFilter f;
  ASSERT_FALSE(ParseFilter({{"tenant_id", "a"}, {"sex", "MALE"}}, &f));
  v1::Prediction p;
  p.set_tenant_id("a");
  p.set_sex(v1::SEX_MALE);
  EXPECT_FALSE(f.Matches(p)) << "no tenant in scope: nothing matches";
  f.scope = store::TenantScope::Of({"a", "b"});
  EXPECT_TRUE(f.Matches(p));
  p.set_tenant_id("b");
  EXPECT_FALSE(f.Matches(p));
  auto err = ParseFilter({{"decision", "NO"}}, &f);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->parameter, "decision");
}

}  // namespace
}  // namespace ovoflow::api
