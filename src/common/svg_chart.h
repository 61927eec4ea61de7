// Line charts as standalone SVG documents, for the plots the project makes
// of its own measurements (docs/model-card.md). No plotting library: a few
// primitives are enough, and the output is plain text that diffs well.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace ovoflow {

struct ChartSeries {
  std::string name;       // legend entry
  std::vector<double> x;  // same length as y; points with a non-finite coordinate are skipped
  std::vector<double> y;
};

struct ChartOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  double y_min = 0;  // y axis range; values outside are clipped to it
  double y_max = 1;
  bool log_x = false;  // logarithmic x axis (x must be > 0)
  int width_px = 640;
  int height_px = 400;
  // Optional horizontal reference line (e.g. a target), drawn dashed; NaN = none.
  double reference_y = std::numeric_limits<double>::quiet_NaN();
  std::string reference_label;
};

// The whole SVG document: axes with ticks, one polyline with markers per
// series (colour-blind-safe palette, cycling), a legend. Text is escaped.
std::string LineChartSvg(const ChartOptions& options, const std::vector<ChartSeries>& series);

}  // namespace ovoflow
