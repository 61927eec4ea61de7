// Prometheus metrics of the HTTP/WebSocket API, registered once on
// MetricsRegistry() and shared by every ApiServer in the process.
#pragma once

#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

namespace ovoflow::api {

// Thread-safe; never destroyed.
struct ApiMetrics {
  prometheus::Family<prometheus::Counter>& requests;      // ovoflow_http_requests_total{route,method,code}
  prometheus::Family<prometheus::Histogram>& durations;   // ovoflow_http_request_duration_seconds{route}
  prometheus::Gauge& ws_clients;                          // ovoflow_ws_clients
  prometheus::Counter& ws_messages_sent;                  // ovoflow_ws_messages_sent_total
  prometheus::Counter& ws_clients_dropped;                // ovoflow_ws_clients_dropped_total
  prometheus::Counter& scans_accepted;                    // ovoflow_api_scans_accepted_total
  prometheus::Family<prometheus::Counter>& scans_rejected;  // ovoflow_api_scans_rejected_total{reason}

  // route: the route template (never the raw path), or "unmatched".
  void RecordRequest(const std::string& route, const std::string& method, int code, double seconds);
  void RecordScanRejected(const std::string& reason);
};

ApiMetrics& GetApiMetrics();

}  // namespace ovoflow::api
