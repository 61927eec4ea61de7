// REST + WebSocket API and the dashboard, on Boost.Beast/Asio.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/authn.h"
#include "common/status.h"
#include "ovoflow/v1/egg_scan.pb.h"
#include "ovoflow/v1/prediction.pb.h"
#include "store/prediction_store.h"

namespace ovoflow::api {

class ModelAdmin;  // api/model_admin.h

// HTTPS: a PEM certificate chain and its private key (api/tls.h). Without
// them the server refuses to start unless insecure_http is set and the
// listen address is a loopback address (plain HTTP, for local tests).
struct TlsOptions {
  std::string cert_file;
  std::string key_file;
  bool insecure_http = false;
};

struct ApiOptions {
  TlsOptions tls;
  std::string listen_address = "127.0.0.1";
  uint16_t port = 8080;         // 0: pick a free port (see ApiServer::port())
  int threads = 2;              // I/O threads (accept, parse, write; never block)
  int query_threads = 4;        // pool for store reads (GET /v1/eggs, /v1/stats); >= 1
  int ingest_threads = 4;       // pool for POST /v1/scans (decode, validate, wait for the bus); >= 1
  int read_timeout_ms = 30000;  // a request (or an idle keep-alive gap) taking longer is closed
  std::string web_root;         // dashboard files (index.html, app.js); empty: no dashboard
  // Larger request bodies get 413: a scan of the largest size the pipeline
  // takes (common/validation.h, 8 MiB of voxels) fits in JSON (base64).
  std::size_t max_body_bytes = 12u << 20;
  // The bytes of request bodies the server holds at once, over all
  // connections (OWASP API4): a request whose body (its Content-Length, or
  // max_body_bytes when chunked) does not fit gets 503 with Retry-After
  // before its body is read. >= max_body_bytes.
  std::size_t max_body_bytes_in_flight = 64u << 20;
  std::size_t max_ws_clients = 1000;  // further upgrades get 503 (exact, also under a burst)
  std::size_t ws_queue_limit = 1024;  // messages buffered per slow client before it is dropped
  // POST /v1/scans: captured_at at most this far ahead of the server's clock,
  // s (ScanLimits::max_future_skew_s; the workers apply theirs too).
  int64_t max_clock_skew_s = 300;
  // Identity: who may call which route (api/authn.h, docs/security.md).
  // Without ApiDeps::verifier the server serving a store refuses to start
  // unless auth.disabled is set on a plain-HTTP loopback address.
  AuthOptions auth;
  // Start() returns InvalidArgument when a field is out of range.
};

// Where POST /v1/scans sends accepted scans (Kafka in production).
class ScanSink {
 public:
  virtual ~ScanSink() = default;
  // Thread-safe. Unavailable/ResourceExhausted -> 503, others -> 500.
  virtual Status Submit(const v1::EggScan& scan) = 0;
};

struct ApiDeps {
  // Not owned; must outlive the server. nullptr: only /metrics, /healthz,
  // /readyz and the dashboard files are served; /v1/* answer 503.
  store::PredictionStore* store = nullptr;
  ScanSink* scans = nullptr;     // optional; POST /v1/scans answers 503 without it
  std::function<bool()> ready;   // /readyz; empty means always ready
  ModelAdmin* models = nullptr;  // optional; /v1/models* answer 503 without it
  // Checks bearer tokens; not owned. nullptr only with ApiOptions::auth.disabled,
  // or without a store (metrics and health only).
  const auth::JwtVerifier* verifier = nullptr;
};

// Thread-safe. Stops (closing all connections) when destroyed.
// The route table is in api/routes.h; the HTTP behaviour in docs/api.md.
class ApiServer {
 public:
  virtual ~ApiServer() = default;
  // Binds and starts serving; fails (Unavailable) when the port is taken.
  static Result<std::unique_ptr<ApiServer>> Start(const ApiOptions& options, ApiDeps deps);
  virtual uint16_t port() const = 0;
  // True when serving HTTPS.
  virtual bool tls() const = 0;
  // Reads the certificate and key files again (SIGHUP); new connections get
  // them, open ones keep theirs. On an error the files in force stay and the
  // error is returned (and logged). Ok without TLS.
  virtual Status ReloadTls() = 0;
  // Fans a prediction out to every /v1/live subscriber whose filter matches.
  // Thread-safe, non-blocking.
  virtual void PublishLive(const v1::Prediction& prediction) = 0;
  // Stops accepting, lets requests in progress finish (up to ~5 s), closes
  // live clients with 1001 and joins every thread. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace ovoflow::api
