#include "common/svg_chart.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>
#include <vector>

namespace ovoflow {
namespace {

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// The numbers at the start of an SVG points list ("x,y x,y ..."), up to
// `max`; it stops early at anything that is not a number.
std::vector<double> PointNumbers(const std::string& s, std::size_t max) {
  std::vector<double> out;
  out.reserve(max);
  const char* p = s.data();
  const char* const end = s.data() + s.size();
  while (out.size() < max && p < end) {
    double v = 0;
    const auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc()) break;
    out.push_back(v);
    p = next;
    if (p < end && (*p == ',' || *p == ' ')) ++p;
  }
  return out;
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
  const std::vector<double> v = PointNumbers(pts, 6);
  ASSERT_EQ(v.size(), 6U);
  const double x0 = v[0], y0 = v[1], x1 = v[2], y1 = v[3], y2 = v[5];
  EXPECT_LT(x0, x1);
  EXPECT_LT(y1, y0);
  EXPECT_DOUBLE_EQ(y2, y1);
}

}  // namespace
}  // namespace ovoflow
