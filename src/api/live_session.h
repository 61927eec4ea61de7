// One /v1/live WebSocket subscriber.
//
// Writes happen on the connection's strand, one at a time, from a queue the
// hub fills from any thread. Back-pressure policy: when more than
// ApiOptions::ws_queue_limit messages wait, the queue is discarded and the
// client is closed with code 1008 (policy violation) and a reason; if the
// close handshake cannot finish within a grace period the socket is cut.
// Frames from the client are read only to answer pings and closes.
// `Stream` is beast::tcp_stream (plain HTTP) or a TLS stream over it; the
// session keeps the TLS context its connection started with.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "api/query.h"
#include "api/response.h"
#include "api/server_state.h"

namespace ovoflow::api {

template <class Stream>
class LiveSession : public Closeable, public LiveSubscriber, public std::enable_shared_from_this<LiveSession<Stream>> {
 public:
  // `expires_at_unix`: when the caller's token expires (0: never); the
  // session is then closed with 1008 (policy violation), "token expired".
  LiveSession(Stream&& stream, std::shared_ptr<boost::asio::ssl::context> tls, PredictionFilter filter,
              ServerState& state, int64_t expires_at_unix);
  ~LiveSession() override;

  // Holds a slot of the hub (LiveHub::TakeSlot), given back when destroyed.
  // Completes the WebSocket handshake for `upgrade`, then joins the hub.
  void Start(Request upgrade);
  bool Matches(const v1::Prediction& p) const override { return filter_.Matches(p); }
  // Thread-safe, never blocks on the network.
  void Enqueue(std::shared_ptr<const std::string> message) override;
  // Thread-safe: closes with 1001 (going away).
  void Shutdown() override;

 private:
  void OnAccept(boost::beast::error_code ec);
  void DoRead();
  void WriteNext();
  void CloseWith(boost::beast::websocket::close_reason reason);
  void Finish();

  const std::shared_ptr<boost::asio::ssl::context> tls_;  // outlives ws_; nullptr on plain TCP
  boost::beast::websocket::stream<Stream> ws_;
  const PredictionFilter filter_;
  ServerState& state_;
  Request upgrade_;
  boost::beast::flat_buffer read_buffer_;
  boost::asio::steady_timer close_timer_;
  boost::asio::steady_timer expiry_timer_;
  const int64_t expires_at_unix_;

  std::mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_;  // GUARDED_BY(mu_)
  bool write_scheduled_ = false;                          // GUARDED_BY(mu_)
  bool closing_ = false;                                  // GUARDED_BY(mu_)

  // Strand only.
  bool joined_ = false;  // in the hub, counted in ovoflow_ws_clients
  bool close_started_ = false;
  bool finished_ = false;
};

using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
extern template class LiveSession<PlainStream>;
extern template class LiveSession<TlsStream>;

}  // namespace ovoflow::api
