#include "api/http_session.h"

#include <array>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "api/api_metrics.h"
#include "api/handlers.h"
#include "api/live_session.h"
#include "api/tls.h"

namespace ovoflow::api {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {
constexpr std::size_t kHeaderLimitBytes = std::size_t{16} * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kDrainTimeout = std::chrono::seconds(5);

Response RunHandler(const RouteMatch& m, const Request& req, const ServerState& state,
                    const auth::Principal* principal = nullptr) {
  try {
    return m.spec->handler(RequestContext{req, m.target, m.path_params, state.options, state.deps, principal});
  } catch (const std::exception& e) {  // a bug or a library throwing: answer 500, keep serving
    spdlog::error("handler for {} {} threw: {}", m.spec->info.method, m.route_label, e.what());
    return Problem(kInternal, "unexpected error", std::string(req.target()));
  }
}
}  // namespace

template <class Stream>
HttpSession<Stream>::HttpSession(net::ip::tcp::socket&& socket, std::shared_ptr<net::ssl::context> tls,
                                 ServerState& state)
    : tls_(std::move(tls)), stream_(MakeStream(std::move(socket))), executor_(stream_.get_executor()), state_(state) {
  beast::error_code ec;
  auto peer = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
  client_address_ = ec ? "unknown" : peer.address().to_string();
}

template <class Stream>
Stream HttpSession<Stream>::MakeStream(net::ip::tcp::socket&& socket) {
  if constexpr (kTls)
    return Stream(beast::tcp_stream(std::move(socket)), *tls_);
  else
    return Stream(std::move(socket));
}

template <class Stream>
HttpSession<Stream>::~HttpSession() {
  ReleaseBody();
  state_.sessions.Remove(this);
}

template <class Stream>
void HttpSession<Stream>::ReleaseBody() {
  if (body_reserved_ > 0) state_.body_bytes.Give(std::exchange(body_reserved_, 0));
}

template <class Stream>
void HttpSession<Stream>::Run() {
  state_.sessions.Add(this, this->weak_from_this());
  if constexpr (kTls) {
    net::dispatch(executor_, [self = this->shared_from_this()] {
      beast::get_lowest_layer(self->stream_)
          .expires_after(std::chrono::milliseconds(self->state_.options.read_timeout_ms));
      self->stream_.async_handshake(net::ssl::stream_base::server,
                                    [self](beast::error_code ec) { self->OnHandshake(ec); });
    });
  } else {
    net::dispatch(executor_, [self = this->shared_from_this()] { self->DoRead(); });
  }
}

template <class Stream>
void HttpSession<Stream>::OnHandshake(beast::error_code ec) {
  if (closed_) return;
  if (ec) {
    // Scanners, plain-HTTP clients and timeouts: counted, not logged per connection.
    GetApiMetrics().tls_handshake_failures.Increment();
    return Close();
  }
  DoRead();
}

template <class Stream>
void HttpSession<Stream>::Shutdown() {
  net::post(executor_, [self = this->shared_from_this()] {
    if (!self->busy_ && !self->closed_) self->Close();
  });
}

template <class Stream>
void HttpSession<Stream>::DoRead() {
  if (state_.stopping.load()) return Close();
  busy_ = false;
  req_ = {};  // an idle keep-alive connection holds no body
  ReleaseBody();
  parser_.emplace();
  parser_->header_limit(kHeaderLimitBytes);
  parser_->body_limit(state_.options.max_body_bytes);
  beast::get_lowest_layer(stream_).expires_after(std::chrono::milliseconds(state_.options.read_timeout_ms));
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
}

template <class Stream>
void HttpSession<Stream>::OnHeader(beast::error_code ec) {
  if (closed_) return;
  if (ec || parser_->is_done()) return OnRead(ec);
  busy_ = true;
  // The body's bytes come out of the server-wide budget before it is read.
  // A chunked body may be as large as the limit; no Content-Length and no chunks: no body.
  const std::size_t want = parser_->chunked()          ? state_.options.max_body_bytes
                           : parser_->content_length() ? static_cast<std::size_t>(*parser_->content_length())
                                                       : 0;
  if (want > 0 && want <= state_.options.max_body_bytes) {
    if (!state_.body_bytes.TryTake(want)) {
      req_ = Request(parser_->get().base());
      match_ = MatchRoute(req_, state_.deps.store != nullptr);
      started_ = std::chrono::steady_clock::now();
      Response busy = Problem(kUnavailable,
                              "the server holds its limit of " + std::to_string(state_.body_bytes.limit()) +
                                  " bytes of request bodies; retry shortly",
                              std::string(req_.target()));
      busy.set(http::field::retry_after, "1");
      return Reply(std::move(busy), /*close=*/true, /*drain=*/true);
    }
    body_reserved_ = want;
  }
  const auto& head = parser_->get();
  if (head.version() < 11 || !beast::iequals(head[http::field::expect], "100-continue")) return ReadBody();
  // The client waits for this before it sends the body (curl does for large scans).
  auto interim = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
  beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
  http::async_write(stream_, *interim, [self = this->shared_from_this(), interim](beast::error_code e, std::size_t) {
    if (e) return self->Close();
    self->ReadBody();
  });
}

template <class Stream>
void HttpSession<Stream>::ReadBody() {
  beast::get_lowest_layer(stream_).expires_after(std::chrono::milliseconds(state_.options.read_timeout_ms));
  http::async_read(stream_, buffer_, *parser_,
                   [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
}

template <class Stream>
void HttpSession<Stream>::OnRead(beast::error_code ec) {
  if (closed_) return;
  busy_ = true;
  started_ = std::chrono::steady_clock::now();
  if (ec == http::error::body_limit) {
    req_ = Request(parser_->get().base());
    match_ = MatchRoute(req_, state_.deps.store != nullptr);
    return Reply(Problem(kPayloadTooLarge,
                         "the body exceeds the limit of " + std::to_string(state_.options.max_body_bytes) + " bytes",
                         std::string(req_.target())),
                 /*close=*/true, /*drain=*/true);
  }
  if (ec && &ec.category() == &http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    req_ = Request{};
    match_ = RouteMatch{};
    match_.route_label = "unmatched";
    return Reply(Problem(kBadRequest, "malformed HTTP request: " + ec.message(), ""), /*close=*/true);
  }
  if (ec) return Close();  // end of stream, idle timeout, reset, or aborted by Shutdown()
  req_ = parser_->release();
  match_ = MatchRoute(req_, state_.deps.store != nullptr);
  Dispatch();
}

template <class Stream>
void HttpSession<Stream>::Dispatch() {
  if (match_.error) return Reply(std::move(*match_.error));
  const Access& access = match_.spec->info.access;
  const bool is_public =
      access.is_public() || (state_.options.auth.metrics_public && match_.spec->handler == HandleMetrics);
  if (!is_public) {
    // Every route that is not public: a caller with a role the route takes
    // (Authenticator), checked here and nowhere else. Verification may fetch
    // the provider's keys, so it runs on a pool, never on this I/O thread.
    if (access.kind != Access::Kind::kAnyRole) {
      spdlog::error("route {} {} declares no access; refused", match_.spec->info.method, match_.route_label);
      return Reply(Problem(kInternal, "this route declares no access rule", std::string(req_.target())));
    }
    Response throttled;
    if (state_.authn.Throttled(client_address_, req_, &throttled)) return Reply(std::move(throttled));
    if (state_.stopping.load())
      return Reply(Problem(kUnavailable, "the server is stopping", std::string(req_.target())), /*close=*/true);
    return AuthenticateAndRun(match_.spec->lane == Lane::kIngest ? state_.ingest_pool : state_.query_pool);
  }
  switch (match_.spec->lane) {
    case Lane::kInline:
      return Reply(RunHandler(match_, req_, state_));
    case Lane::kQuery:
    case Lane::kIngest: {
      // Stop() joins the pools once connections drained; nothing may be queued after that.
      if (state_.stopping.load())
        return Reply(Problem(kUnavailable, "the server is stopping", std::string(req_.target())), /*close=*/true);
      auto& pool = match_.spec->lane == Lane::kQuery ? state_.query_pool : state_.ingest_pool;
      net::post(pool, [self = this->shared_from_this()] {
        Response res = RunHandler(self->match_, self->req_, self->state_);
        net::post(self->executor_, [self, res = std::move(res)]() mutable { self->Reply(std::move(res)); });
      });
      return;
    }
  }
}

template <class Stream>
void HttpSession<Stream>::AuthenticateAndRun(net::thread_pool& pool) {
  net::post(pool, [self = this->shared_from_this()] {
    auto outcome = self->state_.authn.Authenticate(self->req_, self->match_.spec->info.access, self->client_address_);
    if (outcome.refusal) {
      net::post(self->executor_, [self, res = std::move(*outcome.refusal)]() mutable { self->Reply(std::move(res)); });
      return;
    }
    if (self->match_.spec->websocket && beast::websocket::is_upgrade(self->req_)) {
      net::post(self->executor_, [self, p = outcome.principal]() mutable { self->Upgrade(*p); });
      return;
    }
    Response res = RunHandler(self->match_, self->req_, self->state_, outcome.principal.get());
    net::post(self->executor_, [self, res = std::move(res)]() mutable { self->Reply(std::move(res)); });
  });
}

template <class Stream>
void HttpSession<Stream>::Upgrade(auth::Principal principal) {
  PredictionFilter filter;
  if (auto e = ParseFilter(match_.target.query, &filter))
    return Reply(Problem(kInvalidParameter, "query parameter '" + e->parameter + "': " + e->detail,
                         std::string(req_.target()), e->parameter));
  // Only the caller's tenants, also when it names one.
  if (!filter.tenant_id.empty() && !principal.ActsFor(filter.tenant_id))
    return Reply(Problem(kForbidden, "tenant_id '" + filter.tenant_id + "' is not one of your tenants",
                         std::string(req_.target()), "tenant_id"));
  filter.scope = TenantScopeOf(principal);
  if (!state_.hub.TakeSlot(state_.options.max_ws_clients))
    return Reply(Problem(kUnavailable,
                         "too many live clients (limit " + std::to_string(state_.options.max_ws_clients) + ")",
                         std::string(req_.target())));
  GetApiMetrics().RecordRequest(match_.route_label, "GET", 101,
                                std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  closed_ = true;  // the socket now belongs to the live session
  auto live = std::make_shared<LiveSession<Stream>>(std::move(stream_), tls_, std::move(filter), state_,
                                                    principal.expires_at_unix);
  live->Start(std::move(req_));
}

template <class Stream>
void HttpSession<Stream>::Reply(Response res, bool close, bool drain) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  GetApiMetrics().RecordRequest(match_.route_label, std::string(req_.method_string()),
                                static_cast<int>(res.result_int()), seconds);
  if (closed_) return;
  bool keep_alive = !close && req_.keep_alive() && !state_.stopping.load();
  res.version(11);
  res.set(http::field::server, "ovoflow");
  if constexpr (kTls) res.set(http::field::strict_transport_security, kHstsHeader);
  res.keep_alive(keep_alive);
  res_ = std::move(res);
  beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
  http::async_write(stream_, res_,
                    [self = this->shared_from_this(), keep_alive, drain](beast::error_code ec, std::size_t) {
                      if (ec) return self->Close();
                      if (drain) return self->DrainAndClose();
                      if (!keep_alive || self->state_.stopping.load()) return self->Close();
                      self->DoRead();
                    });
}

// Lingering close: a client still sending a refused body would otherwise get
// a reset before it reads our answer.
template <class Stream>
void HttpSession<Stream>::DrainAndClose() {
  beast::error_code ec;
  beast::get_lowest_layer(stream_).socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  beast::get_lowest_layer(stream_).expires_after(kDrainTimeout);
  DrainRead();
}

template <class Stream>
void HttpSession<Stream>::DrainRead() {
  buffer_.clear();
  beast::get_lowest_layer(stream_).async_read_some(
      buffer_.prepare(std::size_t{64} * 1024), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return self->Close();  // the client finished (EOF) or the drain timed out
        self->DrainRead();
      });
}

template <class Stream>
void HttpSession<Stream>::Close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ec;
  beast::get_lowest_layer(stream_).socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(stream_).socket().close(ec);
}

template class HttpSession<PlainStream>;
template class HttpSession<TlsStream>;

}  // namespace ovoflow::api
