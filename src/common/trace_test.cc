#include "common/trace.h"

#include <gtest/gtest.h>

namespace ovoflow {
namespace {

TEST(TraceTest, FormatParsesBack) {
  TraceContext t = NewTrace();
  std::string header = FormatTraceparent(t);
  EXPECT_EQ(header.size(), 55u);
  auto parsed = ParseTraceparent(header);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->trace_id, t.trace_id);
  EXPECT_EQ(parsed->span_id, t.span_id);
  EXPECT_TRUE(parsed->sampled);
}

TEST(TraceTest, ChildKeepsTraceId) {
  TraceContext parent = NewTrace();
  TraceContext child = ChildSpan(parent);
  EXPECT_EQ(child.trace_id, parent.trace_id);
  EXPECT_NE(child.span_id, parent.span_id);
}

TEST(TraceTest, RejectsMalformed) {
  EXPECT_FALSE(ParseTraceparent("").has_value());
  EXPECT_FALSE(ParseTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").has_value());
  EXPECT_FALSE(ParseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").has_value());
  EXPECT_FALSE(ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").has_value());
  auto ok = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(ok.has_value());
  EXPECT_FALSE(ok->sampled);
}

}  // namespace
}  // namespace ovoflow
