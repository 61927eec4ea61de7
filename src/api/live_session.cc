#include "api/live_session.h"

#include <chrono>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "api/api_metrics.h"

namespace ovoflow::api {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;

namespace {
// How long a closing client may take to finish the close handshake before the socket is cut.
constexpr auto kCloseGrace = std::chrono::seconds(2);
}  // namespace

template <class Stream>
LiveSession<Stream>::LiveSession(Stream&& stream, std::shared_ptr<net::ssl::context> tls, PredictionFilter filter,
                                 ServerState& state, int64_t expires_at_unix)
    : tls_(std::move(tls)),
      ws_(std::move(stream)),
      filter_(std::move(filter)),
      state_(state),
      close_timer_(ws_.get_executor()),
      expiry_timer_(ws_.get_executor()),
      expires_at_unix_(expires_at_unix) {}

template <class Stream>
LiveSession<Stream>::~LiveSession() {
  if (joined_) GetApiMetrics().ws_clients.Decrement();
  state_.hub.GiveSlot();
  state_.sessions.Remove(this);
}

template <class Stream>
void LiveSession<Stream>::Start(Request upgrade) {
  state_.sessions.Add(this, this->weak_from_this());
  upgrade_ = std::move(upgrade);
  beast::get_lowest_layer(ws_).expires_never();  // the websocket stream keeps its own timeouts
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.idle_timeout = std::chrono::seconds(60);
  timeouts.keep_alive_pings = true;  // a dead peer is noticed within a minute
  ws_.set_option(timeouts);
  // A browser that offered subprotocols (its token rides in one, see
  // api/authn.h) needs one of them back, or it fails the connection.
  bool offered = false;
  if (auto it = upgrade_.find(beast::http::field::sec_websocket_protocol); it != upgrade_.end())
    offered = Sv(it->value()).find(kLiveSubprotocol) != std::string_view::npos;
  ws_.set_option(websocket::stream_base::decorator([offered](websocket::response_type& res) {
    res.set(beast::http::field::server, "ovoflow");
    if (offered) res.set(beast::http::field::sec_websocket_protocol, std::string(kLiveSubprotocol));
  }));
  ws_.async_accept(upgrade_, [self = this->shared_from_this()](beast::error_code ec) { self->OnAccept(ec); });
}

template <class Stream>
void LiveSession<Stream>::OnAccept(beast::error_code ec) {
  if (ec) return Finish();
  if (state_.stopping.load()) return CloseWith({websocket::close_code::going_away, "server stopping"});
  joined_ = true;
  GetApiMetrics().ws_clients.Increment();
  state_.hub.Add(this->shared_from_this());
  if (expires_at_unix_ > 0) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    expiry_timer_.expires_after(std::chrono::seconds(expires_at_unix_) -
                                std::chrono::duration_cast<std::chrono::seconds>(now));
    expiry_timer_.async_wait([self = this->shared_from_this()](beast::error_code e) {
      if (!e) self->CloseWith({websocket::close_code::policy_error, "token expired"});
    });
  }
  DoRead();
}

template <class Stream>
void LiveSession<Stream>::DoRead() {
  read_buffer_.clear();
  ws_.async_read(read_buffer_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
    if (ec) return self->Finish();  // closed by the client, timed out, or cut
    self->DoRead();                 // client messages carry nothing; ignore them
  });
}

template <class Stream>
void LiveSession<Stream>::Enqueue(std::shared_ptr<const std::string> message) {
  bool schedule = false, drop = false;
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    if (queue_.size() >= state_.hub.queue_limit()) {
      closing_ = drop = true;
      queue_.clear();
    } else {
      queue_.push_back(std::move(message));
      schedule = !write_scheduled_;
      write_scheduled_ = true;
    }
  }
  if (drop) {
    GetApiMetrics().ws_clients_dropped.Increment();
    std::string reason = "client too slow: more than " + std::to_string(state_.hub.queue_limit()) + " messages waiting";
    net::post(ws_.get_executor(), [self = this->shared_from_this(), reason] {
      self->CloseWith({websocket::close_code::policy_error, reason});
    });
  } else if (schedule) {
    net::post(ws_.get_executor(), [self = this->shared_from_this()] { self->WriteNext(); });
  }
}

template <class Stream>
void LiveSession<Stream>::WriteNext() {
  std::shared_ptr<const std::string> message;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty() || closing_ || finished_) {
      write_scheduled_ = false;
      return;
    }
    message = std::move(queue_.front());
    queue_.pop_front();
  }
  ws_.text(true);
  ws_.async_write(net::buffer(*message), [self = this->shared_from_this(), message](beast::error_code ec, std::size_t) {
    if (ec) {
      std::lock_guard lock(self->mu_);
      self->write_scheduled_ = false;
      return;  // the read side sees the failure too and finishes the session
    }
    GetApiMetrics().ws_messages_sent.Increment();
    self->WriteNext();
  });
}

template <class Stream>
void LiveSession<Stream>::Shutdown() {
  net::post(ws_.get_executor(), [self = this->shared_from_this()] {
    {
      std::lock_guard lock(self->mu_);
      self->closing_ = true;
      self->queue_.clear();
    }
    self->CloseWith({websocket::close_code::going_away, "server stopping"});
  });
}

template <class Stream>
void LiveSession<Stream>::CloseWith(websocket::close_reason reason) {
  if (close_started_ || finished_) return;
  close_started_ = true;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  if (reason.code == websocket::close_code::policy_error)
    spdlog::warn("dropping live client: {}", reason.reason.c_str());
  close_timer_.expires_after(kCloseGrace);
  close_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
    if (!ec) self->Finish();  // the peer did not complete the close handshake in time
  });
  ws_.async_close(reason, [self = this->shared_from_this()](beast::error_code) { self->Finish(); });
}

template <class Stream>
void LiveSession<Stream>::Finish() {
  if (finished_) return;
  finished_ = true;
  {
    std::lock_guard lock(mu_);
    closing_ = true;  // a publisher still holding this session queues nothing more
    queue_.clear();
  }
  if (joined_) state_.hub.Remove(this);
  close_timer_.cancel();
  expiry_timer_.cancel();
  beast::error_code ec;
  beast::get_lowest_layer(ws_).socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(ws_).socket().close(ec);
}

template class LiveSession<PlainStream>;
template class LiveSession<TlsStream>;

}  // namespace ovoflow::api
