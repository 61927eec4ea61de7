#include "api/api_metrics.h"

#include "common/metrics.h"

namespace ovoflow::api {

void ApiMetrics::RecordRequest(const std::string& route, const std::string& method, int code, double seconds) {
  requests.Add({{"route", route}, {"method", method}, {"code", std::to_string(code)}}).Increment();
  durations.Add({{"route", route}}, LatencyBucketsSeconds()).Observe(seconds);
}

void ApiMetrics::RecordScanRejected(const std::string& reason) { scans_rejected.Add({{"reason", reason}}).Increment(); }

void ApiMetrics::RecordOutcome(const std::string& tenant, const std::string& model_version, bool correct) {
  outcomes.Add({{"tenant", tenant}, {"model_version", model_version}, {"correct", correct ? "true" : "false"}})
      .Increment();
  GetLiveAccuracy().Add(tenant, model_version, correct);
}

void LiveAccuracy::Reset(const std::vector<store::ModelAccuracy>& rows) {
  std::lock_guard lock(mu_);
  for (const store::ModelAccuracy& a : rows) {
    Key key{a.tenant_id, a.model_version};
    Tally& t = tallies_[key];
    t.outcomes = a.outcomes;
    t.correct = a.correct;
    SetGauge(key, t);
  }
}

void LiveAccuracy::Add(const std::string& tenant, const std::string& model_version, bool correct) {
  std::lock_guard lock(mu_);
  Key key{tenant, model_version};
  Tally& t = tallies_[key];
  ++t.outcomes;
  if (correct) ++t.correct;
  SetGauge(key, t);
}

bool LiveAccuracy::RefreshDue(const std::string& tenant, int64_t now_monotonic_nanos) {
  std::lock_guard lock(mu_);
  auto [it, first] = last_refresh_ns_.try_emplace(tenant, now_monotonic_nanos);
  if (first) return true;
  if (now_monotonic_nanos - it->second <= kRefreshIntervalNanos) return false;
  it->second = now_monotonic_nanos;
  return true;
}

void LiveAccuracy::SetGauge(const Key& key, const Tally& tally) {
  if (tally.outcomes <= 0) return;
  gauges_.Add({{"tenant", key.first}, {"model_version", key.second}})
      .Set(static_cast<double>(tally.correct) / static_cast<double>(tally.outcomes));
}

LiveAccuracy& GetLiveAccuracy() {
  static LiveAccuracy* live = new LiveAccuracy(GetApiMetrics().live_accuracy);
  return *live;
}

Status RefreshLiveAccuracy(store::PredictionStore& store, const store::TenantScope& tenants) {
  store::StatsQuery query;
  query.tenants = tenants;
  OVOFLOW_ASSIGN_OR_RETURN(auto rows, store.GetAccuracy(query));
  GetLiveAccuracy().Reset(rows);
  return Status::Ok();
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
    auto& outcomes = prometheus::BuildCounter()
                         .Name("ovoflow_outcomes_total")
                         .Help(
                             "Ground-truth outcomes recorded by this process, by tenant, model version of the "
                             "judged prediction and whether it was correct")
                         .Register(r);
    auto& accuracy = prometheus::BuildGauge()
                         .Name("ovoflow_live_accuracy_ratio")
                         .Help(
                             "Correct predictions / eggs with an outcome, all time, by tenant and model version "
                             "(from the store, advanced by each outcome this process records)")
                         .Register(r);
    auto& handshakes = prometheus::BuildCounter()
                           .Name("ovoflow_tls_handshake_failures_total")
                           .Help("TLS handshakes that failed or timed out (plain HTTP on the HTTPS port, old clients)")
                           .Register(r)
                           .Add({});
    auto& reloads = prometheus::BuildCounter()
                        .Name("ovoflow_tls_reloads_total")
                        .Help("Reloads of the TLS certificate and key (SIGHUP), by result (ok, rejected)")
                        .Register(r);
    auto& auth_failures = prometheus::BuildCounter()
                              .Name("ovoflow_api_auth_failures_total")
                              .Help(
                                  "Requests refused by authentication or authorisation, by reason (missing, "
                                  "expired, signature, audience, forbidden, throttled, ...)")
                              .Register(r);
    return new ApiMetrics{requests, durations, clients,  sent,       dropped, accepted,
                          rejected, outcomes,  accuracy, handshakes, reloads, auth_failures};
  }();
  return *metrics;
}

}  // namespace ovoflow::api
