#include "common/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <string_view>

namespace ovoflow {
namespace {

// Okabe-Ito palette (colour-blind safe).
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
constexpr int kMarginLeft = 64, kMarginRight = 150, kMarginTop = 36, kMarginBottom = 52;

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Appends the parts to `out` without building temporary strings.
void Append(std::string& out, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) out += p;
}

std::string Num(double v) {
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string Tick(double v) {
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Up to ~6 "nice" tick values covering [lo, hi].
std::vector<double> NiceTicks(double lo, double hi) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  const double first = std::ceil(lo / step - 1e-9) * step;
  for (int i = 0;; ++i) {
    const double v = first + i * step;
    if (v > hi + step * 1e-9) break;
    t.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  }
  return t;
}

}  // namespace

std::string LineChartSvg(const ChartOptions& o, const std::vector<ChartSeries>& series) {
  const double plot_w = o.width_px - kMarginLeft - kMarginRight;
  const double plot_h = o.height_px - kMarginTop - kMarginBottom;
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -std::numeric_limits<double>::infinity();
  for (const auto& s : series)
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      const double x = s.x[i];
      if (!std::isfinite(x) || !std::isfinite(s.y[i]) || (o.log_x && x <= 0)) continue;
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
    }
  if (!(x_hi >= x_lo)) x_lo = 0, x_hi = 1;
  if (x_hi == x_lo) x_lo -= 0.5, x_hi += 0.5;
  auto fx = [&](double x) { return o.log_x ? std::log10(x) : x; };
  const double tx_lo = fx(x_lo), tx_hi = fx(x_hi);
  const double y_span = o.y_max > o.y_min ? o.y_max - o.y_min : 1;
  auto px = [&](double x) { return kMarginLeft + (fx(x) - tx_lo) / (tx_hi - tx_lo) * plot_w; };
  auto py = [&](double y) {
    return kMarginTop + plot_h - (std::clamp(y, o.y_min, o.y_min + y_span) - o.y_min) / y_span * plot_h;
  };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(o.width_px) + "\" height=\"" +
                    std::to_string(o.height_px) + "\" viewBox=\"0 0 " + std::to_string(o.width_px) + " " +
                    std::to_string(o.height_px) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + Num(kMarginLeft + plot_w / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" +
         Escape(o.title) + "</text>\n";
  // Grid and ticks.
  for (double t : NiceTicks(o.y_min, o.y_min + y_span)) {
    const std::string y = Num(py(t));
    Append(svg, {"<line x1=\"", Num(kMarginLeft), "\" y1=\"", y, "\" x2=\"", Num(kMarginLeft + plot_w), "\" y2=\"", y,
                 "\" stroke=\"#ddd\"/>\n<text x=\"", Num(kMarginLeft - 6), "\" y=\"", y,
                 "\" text-anchor=\"end\" dominant-baseline=\"middle\">", Tick(t), "</text>\n"});
  }
  std::vector<double> x_ticks;
  if (o.log_x) {
    const double first_decade = std::pow(10, std::floor(std::log10(x_lo)));
    for (int decade = 0;; ++decade) {
      const double d = first_decade * std::pow(10, decade);
      if (d > x_hi * 1.0001) break;
      for (double m : {1.0, 2.0, 5.0})
        if (m * d >= x_lo * 0.9999 && m * d <= x_hi * 1.0001) x_ticks.push_back(m * d);
    }
  } else {
    x_ticks = NiceTicks(x_lo, x_hi);
  }
  for (double t : x_ticks) {
    const std::string x = Num(px(t));
    Append(svg, {"<line x1=\"", x, "\" y1=\"", Num(kMarginTop), "\" x2=\"", x, "\" y2=\"", Num(kMarginTop + plot_h),
                 "\" stroke=\"#eee\"/>\n<text x=\"", x, "\" y=\"", Num(kMarginTop + plot_h + 16),
                 "\" text-anchor=\"middle\">", Tick(t), "</text>\n"});
  }
  svg += "<rect x=\"" + Num(kMarginLeft) + "\" y=\"" + Num(kMarginTop) + "\" width=\"" + Num(plot_w) + "\" height=\"" +
         Num(plot_h) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  svg += "<text x=\"" + Num(kMarginLeft + plot_w / 2) + "\" y=\"" + Num(o.height_px - 12) +
         "\" text-anchor=\"middle\">" + Escape(o.x_label) + "</text>\n";
  svg += "<text transform=\"translate(16," + Num(kMarginTop + plot_h / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
         Escape(o.y_label) + "</text>\n";
  if (std::isfinite(o.reference_y)) {
    const std::string y = Num(py(o.reference_y));
    svg += "<line x1=\"" + Num(kMarginLeft) + "\" y1=\"" + y + "\" x2=\"" + Num(kMarginLeft + plot_w) + "\" y2=\"" + y +
           "\" stroke=\"#888\" stroke-dasharray=\"6 4\"/>\n<text x=\"" + Num(kMarginLeft + plot_w - 4) + "\" y=\"" +
           Num(py(o.reference_y) - 4) + "\" text-anchor=\"end\" fill=\"#555\">" + Escape(o.reference_label) +
           "</text>\n";
  }
  // Series and legend.
  for (std::size_t k = 0; k < series.size(); ++k) {
    const ChartSeries& s = series[k];
    const std::string colour = kColours[k % (sizeof kColours / sizeof kColours[0])];
    std::string points, markers;
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (o.log_x && s.x[i] <= 0)) continue;
      const std::string x = Num(px(s.x[i])), y = Num(py(s.y[i]));
      Append(points, {points.empty() ? "" : " ", x, ",", y});
      Append(markers, {"<circle cx=\"", x, "\" cy=\"", y, "\" r=\"3\" fill=\"", colour, "\"/>\n"});
    }
    Append(svg,
           {"<polyline fill=\"none\" stroke=\"", colour, "\" stroke-width=\"2\" points=\"", points, "\"/>\n", markers});
    const double ly = kMarginTop + 10 + 18 * static_cast<double>(k);
    Append(svg, {"<line x1=\"", Num(kMarginLeft + plot_w + 12), "\" y1=\"", Num(ly), "\" x2=\"",
                 Num(kMarginLeft + plot_w + 32), "\" y2=\"", Num(ly), "\" stroke=\"", colour,
                 "\" stroke-width=\"2\"/>\n<text x=\"", Num(kMarginLeft + plot_w + 38), "\" y=\"", Num(ly),
                 "\" dominant-baseline=\"middle\">", Escape(s.name), "</text>\n"});
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace ovoflow
