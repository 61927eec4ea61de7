#include "common/svg_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace ovoflow {
namespace {

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(SvgChartTest, DrawsOnePolylineAndOneMarkerPerFinitePoint) {
  ChartOptions o;
  o.title = "Accuracy <by> SNR & day";
  o.x_label = "SNR";
  o.y_label = "accuracy";
  o.y_min = 0.5;
  o.y_max = 1.0;
  o.log_x = true;
  o.reference_y = 0.995;
  o.reference_label = "target";
  const std::string svg =
      LineChartSvg(o, {{"day 12", {4, 8, 16}, {0.8, 0.9, 0.99}}, {"day 9", {4, 8, 16, 32}, {0.6, NAN, 0.7, 0.75}}});
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<polyline"), 2);
  EXPECT_EQ(Count(svg, "<circle"), 6);  // the NaN point is skipped
  EXPECT_NE(svg.find("Accuracy &lt;by&gt; SNR &amp; day"), std::string::npos);
  EXPECT_EQ(svg.find("<by>"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  EXPECT_NE(svg.find(">day 9<"), std::string::npos);
}

TEST(SvgChartTest, PlacesHigherValuesHigherAndClipsToTheRange) {
  ChartOptions o;
  o.y_min = 0;
  o.y_max = 1;
  const std::string svg = LineChartSvg(o, {{"s", {0, 1, 2}, {0.0, 1.0, 7.0}}});
  // Points in order: y pixel of 1.0 is above (smaller than) that of 0.0; 7.0 is clipped to 1.0.
  const auto pts = svg.substr(svg.find("points=\"") + 8);
  double x0, y0, x1, y1, x2, y2;
  ASSERT_EQ(std::sscanf(pts.c_str(), "%lf,%lf %lf,%lf %lf,%lf", &x0, &y0, &x1, &y1, &x2, &y2), 6);
  EXPECT_LT(x0, x1);
  EXPECT_LT(y1, y0);
  EXPECT_DOUBLE_EQ(y2, y1);
}

}  // namespace
}  // namespace ovoflow
