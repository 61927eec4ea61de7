#include "inference/calibration.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ovoflow::inference {
namespace {

Status CheckInputs(std::size_t scores, const std::vector<uint8_t>& female) {
  if (scores == 0) return Status::InvalidArgument("no scored scans");
  if (scores != female.size()) return Status::InvalidArgument("scores and labels differ in count");
  return Status::Ok();
}

}  // namespace

float ScaledProbability(float logit, double temperature) {
  const double z = static_cast<double>(logit) / temperature;
  return static_cast<float>(z >= 0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z)));
}

double LogLoss(const std::vector<float>& logits, const std::vector<uint8_t>& female, double temperature) {
  const std::size_t n = std::min(logits.size(), female.size());
  if (n == 0) return 0;
  double loss = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double p = std::clamp(static_cast<double>(ScaledProbability(logits[i], temperature)), 1e-7, 1 - 1e-7);
    loss -= female[i] ? std::log(p) : std::log(1 - p);
  }
  return loss / static_cast<double>(n);
}

Result<double> FitTemperature(const std::vector<float>& logits, const std::vector<uint8_t>& female) {
  OVOFLOW_RETURN_IF_ERROR(CheckInputs(logits.size(), female));
  const auto females = std::count(female.begin(), female.end(), uint8_t{1});
  if (females == 0 || females == static_cast<std::ptrdiff_t>(female.size()))
    return Status::InvalidArgument("calibration needs scans of both sexes");
  // Golden-section search on u = log T over [log 0.05, log 20].
  const double phi = (std::sqrt(5.0) - 1) / 2;
  double lo = std::log(0.05), hi = std::log(20.0);
  double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo);
  double fa = LogLoss(logits, female, std::exp(a)), fb = LogLoss(logits, female, std::exp(b));
  for (int it = 0; it < 60 && hi - lo > 1e-6; ++it) {
    if (fa <= fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - phi * (hi - lo);
      fa = LogLoss(logits, female, std::exp(a));
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + phi * (hi - lo);
      fb = LogLoss(logits, female, std::exp(b));
    }
  }
  return std::exp(0.5 * (lo + hi));
}

double ExpectedCalibrationError(const std::vector<float>& p, const std::vector<uint8_t>& female, int bins) {
  const std::size_t n = std::min(p.size(), female.size());
  if (n == 0 || bins < 1) return 0;
  std::vector<double> sum_p(static_cast<std::size_t>(bins)), sum_f(static_cast<std::size_t>(bins));
  std::vector<int64_t> count(static_cast<std::size_t>(bins));
  for (std::size_t i = 0; i < n; ++i) {
    const double q = std::clamp(static_cast<double>(p[i]), 0.0, 1.0);
    const auto b = static_cast<std::size_t>(std::min(bins - 1, static_cast<int>(q * bins)));
    sum_p[b] += q;
    sum_f[b] += female[i];
    ++count[b];
  }
  double ece = 0;
  for (std::size_t b = 0; b < count.size(); ++b)
    if (count[b] > 0) ece += std::fabs(sum_p[b] - sum_f[b]);  // = count * |mean p - fraction female|
  return ece / static_cast<double>(n);
}

BandOutcome ScoreBand(const std::vector<float>& p, const std::vector<uint8_t>& female, float keep_min,
                      float divert_max) {
  BandOutcome o;
  const std::size_t n = std::min(p.size(), female.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] >= keep_min) {
      ++o.decided;
      o.decided_correct += female[i];
    } else if (p[i] <= divert_max) {
      ++o.decided;
      o.decided_correct += 1 - female[i];
    } else {
      ++o.abstained;
    }
  }
  return o;
}

double AccuracyLowerBound(int64_t correct, int64_t n, double z) {
  if (n <= 0) return 0;
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(correct) / nn;
  if (z <= 0) return p;
  const double z2 = z * z;
  const double centre = p + z2 / (2 * nn);
  const double spread = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  return std::max(0.0, (centre - spread) / (1 + z2 / nn));
}

Result<BandChoice> ChooseBand(const std::vector<float>& p, const std::vector<uint8_t>& female, double target_accuracy,
                              double max_abstention, double confidence_z) {
  OVOFLOW_RETURN_IF_ERROR(CheckInputs(p.size(), female));
  if (!(target_accuracy > 0 && target_accuracy <= 1)) return Status::InvalidArgument("target_accuracy not in (0, 1]");
  if (!(max_abstention >= 0 && max_abstention <= 1)) return Status::InvalidArgument("max_abstention not in [0, 1]");
  if (!(confidence_z >= 0 && confidence_z < 10)) return Status::InvalidArgument("confidence_z not in [0, 10)");
  const std::size_t n = p.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  std::vector<float> s(n);
  std::vector<int64_t> males_below(n + 1, 0), females_above(n + 1, 0);  // in the first i / last j scans
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = p[order[i]];
    males_below[i + 1] = males_below[i] + (female[order[i]] ? 0 : 1);
  }
  for (std::size_t j = 0; j < n; ++j) females_above[j + 1] = females_above[j] + female[order[n - 1 - j]];
  // DIVERT the first i scans, KEEP the last j. A cut must fall between two
  // different scores, on the right side of 0.5, and be expressible as a threshold.
  auto divert_cut_ok = [&](std::size_t i) {
    if (i == 0) return s[0] > 0.0f;
    return s[i - 1] < 0.5f && (i == n || s[i] > s[i - 1]);
  };
  auto keep_cut_ok = [&](std::size_t j) {
    if (j == 0) return s[n - 1] < 1.0f;
    return s[n - j] > 0.5f && (j == n || s[n - j - 1] < s[n - j]);
  };
  const auto max_abstain = static_cast<std::size_t>(std::floor(max_abstention * static_cast<double>(n)));
  // Fewest abstentions first; past max_abstention the result is infeasible
  // but still the safest band: accuracy before throughput.
  BandChoice best, fallback;
  bool have = false, have_fallback = false;
  for (std::size_t a = 0; a <= n && !have; ++a) {
    const std::size_t decided = n - a;
    for (std::size_t i = 0; i <= decided; ++i) {
      const std::size_t j = decided - i;
      if (!divert_cut_ok(i) || !keep_cut_ok(j)) continue;
      const int64_t correct = males_below[i] + females_above[j];
      BandOutcome o{static_cast<int64_t>(decided), correct, static_cast<int64_t>(a)};
      BandChoice c;
      c.divert_max_p_female = i == 0 ? std::nextafter(s[0], 0.0f) : (i == n ? s[n - 1] : 0.5f * (s[i - 1] + s[i]));
      c.divert_max_p_female = std::min(c.divert_max_p_female, std::nextafter(0.5f, 0.0f));
      c.keep_min_p_female = j == 0 ? 1.0f : (j == n ? s[0] : 0.5f * (s[n - j - 1] + s[n - j]));
      c.keep_min_p_female = std::max(c.keep_min_p_female, std::nextafter(0.5f, 1.0f));
      c.outcome = o;
      if (o.decided > 0 && AccuracyLowerBound(o.decided_correct, o.decided, confidence_z) >= target_accuracy) {
        if (!have || o.decided_accuracy() > best.outcome.decided_accuracy()) {
          best = c;
          best.feasible = a <= max_abstain;
          have = true;
        }
      } else if (a == std::min(max_abstain, n) &&
                 (!have_fallback || o.decided_accuracy() > fallback.outcome.decided_accuracy())) {
        fallback = c;
        have_fallback = true;
      }
    }
  }
  if (have) return best;
  if (have_fallback) return fallback;
  return Status::InvalidArgument("no decision band fits these scores (every cut falls on a tie)");
}

}  // namespace ovoflow::inference
