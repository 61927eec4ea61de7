// One HTTP/1.1 connection: reads requests one at a time (keep-alive),
// routes each, runs its handler on the lane the route names and writes the
// response; hands the socket to a LiveSession on a /v1/live upgrade.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "api/live_session.h"
#include "api/response.h"
#include "api/router.h"
#include "api/server_state.h"

namespace ovoflow::api {

template <class Stream>
class HttpSession : public Closeable, public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  // `tls`: the context of the TLS handshake (TlsStream only; nullptr for PlainStream).
  HttpSession(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<boost::asio::ssl::context> tls,
              ServerState& state);
  ~HttpSession() override;

  // Starts the session (the TLS handshake first, within read_timeout_ms).
  void Run();
  // Thread-safe: an idle connection closes now, a busy one after its response.
  void Shutdown() override;

 private:
  // Reads the request head (idle gap included) within read_timeout_ms, then
  // the body within another read_timeout_ms, answering "Expect: 100-continue"
  // in between; a body over the limit is refused from its Content-Length.
  Stream MakeStream(boost::asio::ip::tcp::socket&& socket);  // over tls_ when kTls
  void OnHandshake(boost::beast::error_code ec);
  void DoRead();
  void OnHeader(boost::beast::error_code ec);
  void ReadBody();
  void OnRead(boost::beast::error_code ec);
  void Dispatch();
  // Runs on a pool: authenticates, then answers (or upgrades, on the strand).
  void AuthenticateAndRun(boost::asio::thread_pool& pool);
  void Upgrade(auth::Principal principal);
  // Writes `res`; closes afterwards when `close` (or the request said so), and
  // first reads and discards what the client still sends when `drain`.
  void Reply(Response res, bool close = false, bool drain = false);
  void DrainAndClose();
  void DrainRead();
  void Close();
  void ReleaseBody();  // gives the body's bytes back to ServerState::body_bytes

  static constexpr bool kTls = !std::is_same_v<Stream, PlainStream>;

  const std::shared_ptr<boost::asio::ssl::context> tls_;  // outlives stream_
  Stream stream_;
  const boost::asio::any_io_executor executor_;  // the connection's strand
  ServerState& state_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;

  // Strand only (one request at a time).
  Request req_;
  RouteMatch match_;
  Response res_;
  std::chrono::steady_clock::time_point started_;
  std::string client_address_;     // the peer's IP, for the failed-authentication limit
  std::size_t body_reserved_ = 0;  // taken from ServerState::body_bytes for the request in progress
  bool busy_ = false;              // a request head arrived; its response is not written yet
  bool closed_ = false;            // closed, or handed to a LiveSession
};

extern template class HttpSession<PlainStream>;
extern template class HttpSession<TlsStream>;

}  // namespace ovoflow::api
