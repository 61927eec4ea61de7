#include "exe/bench_metrics.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "api/client/http_client.h"

namespace ovoflow::exe {
namespace {

// One sample line split into its metric name, label text (without braces) and value.
struct Sample {
  std::string_view name;
  std::string_view labels;
  double value = 0;
};

bool ParseSample(std::string_view line, Sample* s) {
  if (line.empty() || line.front() == '#') return false;
  std::size_t name_end = line.find_first_of("{ ");
  if (name_end == std::string_view::npos) return false;
  s->name = line.substr(0, name_end);
  std::size_t value_start = name_end;
  s->labels = {};
  if (line[name_end] == '{') {
    std::size_t close = line.find('}', name_end);
    if (close == std::string_view::npos) return false;
    s->labels = line.substr(name_end + 1, close - name_end - 1);
    value_start = close + 1;
  }
  std::string value(line.substr(value_start));
  char* end = nullptr;
  s->value = std::strtod(value.c_str(), &end);
  return end != value.c_str();
}

// The value of `label` in `labels` (a="x",b="y"); empty when absent.
std::string LabelValue(std::string_view labels, std::string_view label) {
  std::string key = std::string(label) + "=\"";
  std::size_t pos = 0;
  while ((pos = labels.find(key, pos)) != std::string_view::npos) {
    if (pos == 0 || labels[pos - 1] == ',') {
      std::size_t start = pos + key.size();
      std::size_t end = labels.find('"', start);
      return std::string(labels.substr(start, end == std::string_view::npos ? end : end - start));
    }
    pos += key.size();
  }
  return "";
}

template <typename Fn>
void ForEachSample(std::string_view text, std::string_view name, Fn fn) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    Sample s;
    if (ParseSample(text.substr(pos, eol - pos), &s) && s.name == name) fn(s);
    pos = eol + 1;
  }
}

}  // namespace

Result<std::string> ScrapeMetrics(int port, int timeout_ms) {
  api::client::HttpResult r =
      api::client::Fetch(port, "GET", "/metrics", "", "", std::chrono::milliseconds(timeout_ms));
  const std::string where = "metrics endpoint 127.0.0.1:" + std::to_string(port);
  if (r.status == 0) return Status::Unavailable(where + ": " + r.error);
  if (r.status != 200) return Status::Unavailable(where + " answered " + std::to_string(r.status));
  return std::move(r.body);
}

double SumSamples(std::string_view text, std::string_view name) {
  double sum = 0;
  ForEachSample(text, name, [&](const Sample& s) { sum += s.value; });
  return sum;
}

std::map<std::string, double> SumByLabel(std::string_view text, std::string_view name, std::string_view label) {
  std::map<std::string, double> out;
  ForEachSample(text, name, [&](const Sample& s) { out[LabelValue(s.labels, label)] += s.value; });
  return out;
}

}  // namespace ovoflow::exe
