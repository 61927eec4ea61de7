#include "api/api_metrics.h"

#include "common/metrics.h"

namespace ovoflow::api {

void ApiMetrics::RecordRequest(const std::string& route, const std::string& method, int code, double seconds) {
  requests.Add({{"route", route}, {"method", method}, {"code", std::to_string(code)}}).Increment();
  durations.Add({{"route", route}}, LatencyBucketsSeconds()).Observe(seconds);
}

void ApiMetrics::RecordScanRejected(const std::string& reason) {
  scans_rejected.Add({{"reason", reason}}).Increment();
}

ApiMetrics& GetApiMetrics() {
  static ApiMetrics* metrics = [] {
    auto& r = MetricsRegistry();
    auto& requests = prometheus::BuildCounter()
                         .Name("ovoflow_http_requests_total")
                         .Help("HTTP requests answered, by route template, method and status code")
                         .Register(r);
    auto& durations = prometheus::BuildHistogram()
                          .Name("ovoflow_http_request_duration_seconds")
                          .Help("Time from a request's last byte to its response being ready, by route template")
                          .Register(r);
    auto& clients = prometheus::BuildGauge()
                        .Name("ovoflow_ws_clients")
                        .Help("WebSocket clients connected to /v1/live")
                        .Register(r)
                        .Add({});
    auto& sent = prometheus::BuildCounter()
                     .Name("ovoflow_ws_messages_sent_total")
                     .Help("Live prediction messages written to WebSocket clients")
                     .Register(r)
                     .Add({});
    auto& dropped = prometheus::BuildCounter()
                        .Name("ovoflow_ws_clients_dropped_total")
                        .Help("WebSocket clients closed because they fell behind the live feed")
                        .Register(r)
                        .Add({});
    auto& accepted = prometheus::BuildCounter()
                         .Name("ovoflow_api_scans_accepted_total")
                         .Help("Scans accepted by POST /v1/scans and handed to the bus")
                         .Register(r)
                         .Add({});
    auto& rejected = prometheus::BuildCounter()
                         .Name("ovoflow_api_scans_rejected_total")
                         .Help("Scans refused by POST /v1/scans, by reason")
                         .Register(r);
    return new ApiMetrics{requests, durations, clients, sent, dropped, accepted, rejected};
  }();
  return *metrics;
}

}  // namespace ovoflow::api
