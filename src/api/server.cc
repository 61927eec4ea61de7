// ApiServer on Boost.Asio: one io_context run by ApiOptions::threads
// threads; every connection on its own strand; blocking handlers on the
// query and ingest pools (see router.h and docs/api.md, "Threading").
#include "api/server.h"

#include <algorithm>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "api/api_metrics.h"
#include "api/http_session.h"
#include "api/live_hub.h"
#include "api/server_state.h"
#include "api/tls.h"

namespace ovoflow::api {

namespace net = boost::asio;
using tcp = net::ip::tcp;

void SessionRegistry::Add(const void* key, std::weak_ptr<Closeable> session) {
  std::lock_guard lock(mu_);
  sessions_.emplace(key, std::move(session));
}

void SessionRegistry::Remove(const void* key) {
  std::lock_guard lock(mu_);
  sessions_.erase(key);
  if (sessions_.empty()) empty_.notify_all();
}

void SessionRegistry::ShutdownAll() {
  std::vector<std::shared_ptr<Closeable>> open;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, weak] : sessions_)
      if (auto s = weak.lock()) open.push_back(std::move(s));
  }
  for (auto& s : open) s->Shutdown();
}

bool SessionRegistry::WaitEmpty(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return empty_.wait_for(lock, timeout, [this] { return sessions_.empty(); });
}

namespace {

constexpr auto kStopGrace = std::chrono::seconds(5);

Status ValidateOptions(const ApiOptions& o) {
  if (o.threads < 1 || o.query_threads < 1 || o.ingest_threads < 1)
    return Status::InvalidArgument("api: threads, query_threads and ingest_threads must be >= 1");
  if (o.read_timeout_ms < 1) return Status::InvalidArgument("api: read_timeout_ms must be >= 1");
  if (o.max_body_bytes < 1) return Status::InvalidArgument("api: max_body_bytes must be >= 1");
  if (o.max_body_bytes_in_flight < o.max_body_bytes)
    return Status::InvalidArgument("api: max_body_bytes_in_flight must be >= max_body_bytes");
  if (o.ws_queue_limit < 1) return Status::InvalidArgument("api: ws_queue_limit must be >= 1");
  const bool has_tls = !o.tls.cert_file.empty() || !o.tls.key_file.empty();
  if (has_tls && o.tls.insecure_http)
    return Status::InvalidArgument("api: --insecure-http and --tls-cert/--tls-key exclude each other");
  if (!has_tls) {
    if (!o.tls.insecure_http)
      return Status::InvalidArgument(
          "api: no TLS certificate: give --tls-cert and --tls-key (make up creates them under var/tls/), or "
          "--insecure-http to serve plain HTTP on a loopback address");
    boost::system::error_code ec;
    auto address = net::ip::make_address(o.listen_address, ec);
    if (ec) return Status::InvalidArgument("api: '" + o.listen_address + "' is not an IP address");
    if (!address.is_loopback())
      return Status::InvalidArgument("api: --insecure-http serves plain HTTP only on a loopback address, not on " +
                                     o.listen_address + "; use --tls-cert and --tls-key");
  }
  return Status::Ok();
}

// Who may call: a verifier, or (local development only) no identity at all.
Status ValidateAuth(const ApiOptions& o, const ApiDeps& d) {
  if (o.auth.failure_limit < 1 || o.auth.failure_window.count() < 1)
    return Status::InvalidArgument("api: the failed-authentication limit and window must be >= 1");
  if (o.auth.disabled) {
    if (d.verifier) return Status::InvalidArgument("api: --no-auth and --oidc-issuer exclude each other");
    if (!o.tls.insecure_http)
      return Status::InvalidArgument(
          "api: --no-auth (no identity provider) is for local development only: it needs --insecure-http on a "
          "loopback address");
    spdlog::warn("api: --no-auth: every caller may read and write every tenant's data (local development only)");
    return Status::Ok();
  }
  if (!d.verifier && d.store)
    return Status::InvalidArgument(
        "api: no identity provider: give --oidc-issuer URL (and --oidc-audience) so that callers can be told "
        "apart, or --no-auth with --insecure-http on a loopback address for local development");
  return Status::Ok();
}

class ApiServerImpl final : public ApiServer {
 public:
  ApiServerImpl(const ApiOptions& options, ApiDeps deps, std::unique_ptr<TlsContextSlot> tls)
      : state_(options, std::move(deps)),
        tls_(std::move(tls)),
        acceptor_(net::make_strand(ioc_)),
        retry_timer_(acceptor_.get_executor()) {}
  ~ApiServerImpl() override { Stop(); }

  Status Listen() {
    boost::system::error_code ec;
    auto address = net::ip::make_address(state_.options.listen_address, ec);
    if (ec) return Status::InvalidArgument("api: '" + state_.options.listen_address + "' is not an IP address");
    tcp::endpoint endpoint(address, state_.options.port);
    std::string where = state_.options.listen_address + ":" + std::to_string(state_.options.port);
    if (acceptor_.open(endpoint.protocol(), ec); ec)
      return Status::Unavailable("api: cannot open socket: " + ec.message());
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (acceptor_.bind(endpoint, ec); ec)
      return Status::Unavailable("api: cannot listen on " + where + ": " + ec.message() +
                                 (ec == net::error::address_in_use ? " (another process holds the port)" : ""));
    if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec)
      return Status::Unavailable("api: cannot listen on " + where + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    return Status::Ok();
  }

  void Begin() {
    DoAccept();
    threads_.reserve(static_cast<std::size_t>(state_.options.threads));
    for (int i = 0; i < state_.options.threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    spdlog::info("api: serving {}://{}:{} ({} I/O threads)", tls_ ? "https" : "http", state_.options.listen_address,
                 port_, state_.options.threads);
  }

  uint16_t port() const override { return port_; }
  bool tls() const override { return tls_ != nullptr; }

  Status ReloadTls() override {
    if (!tls_) return Status::Ok();
    Status st = tls_->Reload();
    GetApiMetrics().tls_reloads.Add({{"result", st.ok() ? "ok" : "rejected"}}).Increment();
    if (st.ok())
      spdlog::info("api: TLS certificate reloaded from {}", state_.options.tls.cert_file);
    else
      spdlog::error("api: TLS reload refused, the certificate in force stays: {}", st.ToString());
    return st;
  }

  void PublishLive(const v1::Prediction& prediction) override { state_.hub.Publish(prediction); }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    state_.stopping.store(true);
    net::post(acceptor_.get_executor(), [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      retry_timer_.cancel();
    });
    // Idle connections close now; busy ones after their response.
    state_.sessions.ShutdownAll();
    const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
    bool drained = state_.sessions.WaitEmpty(kStopGrace);
    // Handlers already queued or running finish and post their answers to the
    // still-running I/O threads; after the joins no handler holds a session.
    state_.query_pool.join();
    state_.ingest_pool.join();
    if (!drained) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (!state_.sessions.WaitEmpty(std::max(left, std::chrono::milliseconds(100))))
        spdlog::warn("api: connections still open after the grace period; cutting them");
    }
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    state_.hub.Clear();
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](boost::system::error_code ec, tcp::socket socket) {
      if (state_.stopping.load() || ec == net::error::operation_aborted) return;
      if (ec) {
        // Out of file descriptors and the like: back off instead of spinning.
        spdlog::warn("api: accept failed: {}", ec.message());
        retry_timer_.expires_after(std::chrono::milliseconds(100));
        retry_timer_.async_wait([this](boost::system::error_code e) {
          if (!e) DoAccept();
        });
        return;
      }
      if (tls_)
        std::make_shared<HttpSession<TlsStream>>(std::move(socket), tls_->Current(), state_)->Run();
      else
        std::make_shared<HttpSession<PlainStream>>(std::move(socket), nullptr, state_)->Run();
      DoAccept();
    });
  }

  // Members die in reverse order: the io_context (and any handler still
  // queued in it, which may own a session) before the state the sessions
  // reference. The pools in the state are empty by then (Stop joined them).
  ServerState state_;
  const std::unique_ptr<TlsContextSlot> tls_;  // nullptr: plain HTTP
  net::io_context ioc_;
  // Keeps the I/O threads running while a pooled handler's answer is on its way.
  net::executor_work_guard<net::io_context::executor_type> work_{ioc_.get_executor()};
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace

Result<std::unique_ptr<ApiServer>> ApiServer::Start(const ApiOptions& options, ApiDeps deps) {
  OVOFLOW_RETURN_IF_ERROR(ValidateOptions(options));
  OVOFLOW_RETURN_IF_ERROR(ValidateAuth(options, deps));
  GetApiMetrics();  // registers the families, so /metrics lists them from the start
  if (deps.store != nullptr) {
    // ovoflow_live_accuracy_ratio from the outcomes stored so far; metrics
    // only, so a store that cannot answer yet does not stop the server.
    if (Status st = RefreshLiveAccuracy(*deps.store, store::TenantScope::All()); !st.ok())
      spdlog::warn("api: live accuracy not read at start-up: {}", st.ToString());
  }
  ApiOptions resolved = options;
  if (resolved.auth.audience.empty() && deps.verifier) resolved.auth.audience = deps.verifier->audience();
  if (resolved.auth.dashboard_issuer.empty() && deps.verifier && !deps.verifier->issuers().empty())
    resolved.auth.dashboard_issuer = deps.verifier->issuers().front();
  std::unique_ptr<TlsContextSlot> tls;
  if (!options.tls.cert_file.empty() || !options.tls.key_file.empty()) {
    tls = std::make_unique<TlsContextSlot>(options.tls.cert_file, options.tls.key_file);
    OVOFLOW_RETURN_IF_ERROR(tls->Reload());
  }
  auto server = std::make_unique<ApiServerImpl>(resolved, std::move(deps), std::move(tls));
  OVOFLOW_RETURN_IF_ERROR(server->Listen());
  server->Begin();
  return std::unique_ptr<ApiServer>(std::move(server));
}

}  // namespace ovoflow::api
