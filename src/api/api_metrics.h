// Prometheus metrics of the HTTP/WebSocket API, registered once on
// MetricsRegistry() and shared by every ApiServer in the process.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "common/status.h"
#include "store/prediction_store.h"

namespace ovoflow::api {

// Thread-safe; never destroyed.
struct ApiMetrics {
  prometheus::Family<prometheus::Counter>& requests;        // ovoflow_http_requests_total{route,method,code}
  prometheus::Family<prometheus::Histogram>& durations;     // ovoflow_http_request_duration_seconds{route}
  prometheus::Gauge& ws_clients;                            // ovoflow_ws_clients
  prometheus::Counter& ws_messages_sent;                    // ovoflow_ws_messages_sent_total
  prometheus::Counter& ws_clients_dropped;                  // ovoflow_ws_clients_dropped_total
  prometheus::Counter& scans_accepted;                      // ovoflow_api_scans_accepted_total
  prometheus::Family<prometheus::Counter>& scans_rejected;  // ovoflow_api_scans_rejected_total{reason}
  // Ground truth (POST /v1/eggs/{egg_id}/outcome). Labels: tenant x model
  // version, a few dozen series at most (hatcheries x versions in service);
  // never egg ids.
  prometheus::Family<prometheus::Counter>& outcomes;     // ovoflow_outcomes_total{tenant,model_version,correct}
  prometheus::Family<prometheus::Gauge>& live_accuracy;  // ovoflow_live_accuracy_ratio{tenant,model_version}
  prometheus::Counter& tls_handshake_failures;           // ovoflow_tls_handshake_failures_total
  prometheus::Family<prometheus::Counter>& tls_reloads;  // ovoflow_tls_reloads_total{result}
  // Refused callers, by reason: missing, malformed, expired, signature, ...
  // (auth::TokenErrorKind), forbidden (a role the route does not take),
  // throttled (429 after too many failures from one address).
  prometheus::Family<prometheus::Counter>& auth_failures;  // ovoflow_api_auth_failures_total{reason}

  // route: the route template (never the raw path), or "unmatched".
  void RecordRequest(const std::string& route, const std::string& method, int code, double seconds);
  void RecordScanRejected(const std::string& reason);
  // One new outcome (not an idempotent repeat) recorded by this process:
  // the counter, and the live-accuracy tallies (GetLiveAccuracy().Add).
  void RecordOutcome(const std::string& tenant, const std::string& model_version, bool correct);
};

ApiMetrics& GetApiMetrics();

// ovoflow_live_accuracy_ratio{tenant,model_version} = correct / outcomes
// over every outcome in the store. Tallies come from the store (Reset) and
// advance with each outcome this process records (Add), so an outcome costs
// no aggregate query; the store is re-read per tenant at most once per
// kRefreshIntervalNanos (RefreshDue), which also takes in the outcomes other
// API processes recorded meanwhile. Thread-safe; never destroyed.
class LiveAccuracy {
 public:
  static constexpr int64_t kRefreshIntervalNanos = 10'000'000'000;  // 10 s

  explicit LiveAccuracy(prometheus::Family<prometheus::Gauge>& gauges) : gauges_(gauges) {}
  // Replaces the tallies of the rows' (tenant, model version) pairs.
  void Reset(const std::vector<store::ModelAccuracy>& rows);
  void Add(const std::string& tenant, const std::string& model_version, bool correct);
  // True when `tenant` was never re-read, or last re-read more than
  // kRefreshIntervalNanos before `now_monotonic_nanos`; then notes the time.
  bool RefreshDue(const std::string& tenant, int64_t now_monotonic_nanos);

 private:
  struct Tally {
    int64_t outcomes = 0;
    int64_t correct = 0;
  };
  using Key = std::pair<std::string, std::string>;    // tenant, model version
  void SetGauge(const Key& key, const Tally& tally);  // requires mu_

  prometheus::Family<prometheus::Gauge>& gauges_;
  std::mutex mu_;
  std::map<Key, Tally> tallies_;                    // GUARDED_BY(mu_)
  std::map<std::string, int64_t> last_refresh_ns_;  // GUARDED_BY(mu_), monotonic
};

LiveAccuracy& GetLiveAccuracy();

// Reads the accuracy of the tenants of `tenants` from the store,
// over all time, into GetLiveAccuracy(). Blocks on one store read; the
// store's error, if any (the gauges then keep their values).
Status RefreshLiveAccuracy(store::PredictionStore& store, const store::TenantScope& tenants);

}  // namespace ovoflow::api
