// Reads the Prometheus text that `ovoflow` children serve on /metrics.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ovoflow::exe {

// GET http://127.0.0.1:<port>/metrics with a `timeout_ms` bound on connect
// and read. Unavailable when nothing answers (the child is starting or gone).
Result<std::string> ScrapeMetrics(int port, int timeout_ms = 2000);

// Sum of the samples of metric `name` (exact name, any labels) in
// Prometheus text `text`; 0 when absent.
double SumSamples(std::string_view text, std::string_view name);

// Samples of metric `name` summed by the value of label `label`, e.g. the
// consumer lag by group: {"ovoflow-infer": 12, "ovoflow-store": 0}.
std::map<std::string, double> SumByLabel(std::string_view text, std::string_view name, std::string_view label);

}  // namespace ovoflow::exe
