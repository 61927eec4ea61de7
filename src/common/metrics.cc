#include "common/metrics.h"

#include <prometheus/text_serializer.h>

namespace ovoflow {

prometheus::Registry& MetricsRegistry() {
  static auto* registry = new prometheus::Registry();
  return *registry;
}

std::string SerializeMetrics() {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(MetricsRegistry().Collect());
}

const std::vector<double>& LatencyBucketsSeconds() {
  static const std::vector<double> buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                              0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
  return buckets;
}

}  // namespace ovoflow
