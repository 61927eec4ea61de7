// Minimal blocking HTTP/1.1 and WebSocket client on Boost.Beast, for tests
// that drive the real API over real sockets.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/struct.pb.h>

namespace ovoflow::testing {

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

// One request on a fresh connection. status 0 when the connection failed.
HttpResponse HttpRequest(const std::string& host, int port, const std::string& method, const std::string& target,
                         const std::string& body = "", const std::string& content_type = "");

// Parses any JSON text; throws std::runtime_error on a syntax error.
google::protobuf::Value ParseJson(const std::string& text);
// Shortcuts on a parsed object (throw when the field is missing).
const google::protobuf::Value& Field(const google::protobuf::Value& obj, const std::string& name);

// Reads text frames from ws://host:port/target on a background thread.
class WebSocketReader {
 public:
  WebSocketReader(const std::string& host, int port, const std::string& target);
  ~WebSocketReader();
  bool connected() const { return connected_.load(); }
  std::vector<std::string> Messages();  // snapshot
  std::size_t Count();
  std::string error();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> connected_{false};
};

}  // namespace ovoflow::testing
