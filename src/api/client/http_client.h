// Blocking HTTP/1.1 and WebSocket clients of the API on Boost.Beast, over
// real sockets to 127.0.0.1: what the tests drive the server with and what
// `ovoflow bench` scrapes /metrics with. Every network wait has a timeout,
// so a silent server fails the caller instead of hanging it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/struct.pb.h>

namespace ovoflow::api::client {

struct HttpResult {
  int status = 0;                              // 0: no response (see error)
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
  std::string error;
  std::string Header(const std::string& lower_name) const;
  std::string ContentType() const { return Header("content-type"); }
};

inline constexpr std::chrono::milliseconds kDefaultTimeout{60000};

// One keep-alive connection to 127.0.0.1:port; each request may take up to `timeout`.
class HttpConnection {
 public:
  explicit HttpConnection(int port, std::chrono::milliseconds timeout = kDefaultTimeout);
  ~HttpConnection();
  HttpResult Request(const std::string& method, const std::string& target, const std::string& body = "",
                     const std::string& content_type = "", const std::map<std::string, std::string>& headers = {});
  // POST with "Expect: 100-continue": sends the head, waits for the server's
  // first answer and sends the body only after "100 Continue". *interim is
  // that first status (100, or the final one when the server refused at once).
  HttpResult PostExpectingContinue(const std::string& target, const std::string& body, const std::string& content_type,
                                   int* interim);
  // True while the server has not closed the connection.
  bool open() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a fresh connection; status 0 and `error` set when there was no answer.
HttpResult Fetch(int port, const std::string& method, const std::string& target, const std::string& body = "",
                 const std::string& content_type = "", std::chrono::milliseconds timeout = kDefaultTimeout,
                 const std::map<std::string, std::string>& headers = {});

// A /v1/live subscriber.
class WsClient {
 public:
  // receive_buffer_bytes > 0 shrinks the socket's receive buffer (slow-client tests).
  // `headers` go with the upgrade request (Authorization, Sec-WebSocket-Protocol).
  WsClient(int port, const std::string& target, int receive_buffer_bytes = 0,
           const std::map<std::string, std::string>& headers = {});
  ~WsClient();
  bool connected() const { return connected_; }
  int upgrade_status() const { return upgrade_status_; }           // 101, or the HTTP status of the refusal
  const std::string& subprotocol() const { return subprotocol_; }  // the server's Sec-WebSocket-Protocol
  const std::string& error() const { return error_; }

  // The next text message; nullopt when the connection closed or `timeout` passed.
  std::optional<std::string> Read(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // After Read() returned nullopt: the close code the server sent (0 if none).
  int close_code() const { return close_code_; }
  std::string close_reason() const { return close_reason_; }
  void Close();
  // From another thread: ends a Read in progress (it returns nullopt).
  void Interrupt();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool connected_ = false;
  int upgrade_status_ = 0;
  std::string subprotocol_;
  int close_code_ = 0;
  std::string close_reason_;
  std::string error_;
};

// Reads a /v1/live feed on a background thread into memory, for callers
// that watch the feed while something else runs. Thread-safe.
class WsReader {
 public:
  WsReader(int port, const std::string& target);
  ~WsReader();
  bool connected();                     // connected, and the feed has not ended
  std::vector<std::string> Messages();  // snapshot
  std::size_t Count();
  std::string error();

 private:
  std::unique_ptr<WsClient> client_;
  std::mutex mu_;
  std::vector<std::string> messages_;  // GUARDED_BY(mu_)
  std::string error_;                  // GUARDED_BY(mu_)
  std::thread reader_;
};

// JSON helpers: parse any JSON text (throws std::runtime_error on bad JSON).
google::protobuf::Value ParseJson(const std::string& text);
const google::protobuf::Value& Field(const google::protobuf::Value& object, const std::string& name);
bool HasField(const google::protobuf::Value& object, const std::string& name);

// The value of one sample in Prometheus text, e.g. `ovoflow_ws_clients`;
// 0 when the series is absent.
double MetricValue(const std::string& metrics_text, const std::string& series);

}  // namespace ovoflow::api::client
