// Process-wide Prometheus registry. Every component registers its metric
// families here (names: ovoflow_ prefix, base units, _total counters,
// histograms for latencies); the HTTP server exposes it at /metrics.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace ovoflow {

// Thread-safe; never destroyed.
prometheus::Registry& MetricsRegistry();

// Renders the registry in the Prometheus text exposition format 0.0.4.
std::string SerializeMetrics();

// Latency buckets in seconds, 100 us .. 10 s.
const std::vector<double>& LatencyBucketsSeconds();

}  // namespace ovoflow
