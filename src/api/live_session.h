// One /v1/live WebSocket subscriber.
//
// Writes happen on the connection's strand, one at a time, from a queue the
// hub fills from any thread. Back-pressure policy: when more than
// ApiOptions::ws_queue_limit messages wait, the queue is discarded and the
// client is closed with code 1008 (policy violation) and a reason; if the
// close handshake cannot finish within a grace period the socket is cut.
// Frames from the client are read only to answer pings and closes.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "api/query.h"
#include "api/response.h"
#include "api/server_state.h"

namespace ovoflow::api {

class LiveSession : public Closeable, public std::enable_shared_from_this<LiveSession> {
 public:
  LiveSession(boost::beast::tcp_stream&& stream, PredictionFilter filter, ServerState& state);
  ~LiveSession() override;

  // Completes the WebSocket handshake for `upgrade`, then joins the hub.
  void Start(Request upgrade);
  bool Matches(const v1::Prediction& p) const { return filter_.Matches(p); }
  // Thread-safe, never blocks on the network.
  void Enqueue(std::shared_ptr<const std::string> message);
  // Thread-safe: closes with 1001 (going away).
  void Shutdown() override;

 private:
  void OnAccept(boost::beast::error_code ec);
  void DoRead();
  void WriteNext();
  void CloseWith(boost::beast::websocket::close_reason reason);
  void Finish();

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  const PredictionFilter filter_;
  ServerState& state_;
  Request upgrade_;
  boost::beast::flat_buffer read_buffer_;
  boost::asio::steady_timer close_timer_;

  std::mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_;  // GUARDED_BY(mu_)
  bool write_scheduled_ = false;                          // GUARDED_BY(mu_)
  bool closing_ = false;                                  // GUARDED_BY(mu_)

  // Strand only.
  bool joined_ = false;  // in the hub, counted in ovoflow_ws_clients
  bool close_started_ = false;
  bool finished_ = false;
};

}  // namespace ovoflow::api
