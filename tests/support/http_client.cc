#include "support/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <mutex>
#include <stdexcept>

namespace ovoflow::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

HttpResponse HttpRequest(const std::string& host, int port, const std::string& method, const std::string& target,
                         const std::string& body, const std::string& content_type) {
  HttpResponse out;
  try {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(host, std::to_string(port)));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host);
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    http::read(stream, buffer, parser);
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.body = res.body();
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const std::exception& e) {
    out.status = 0;
    out.body = e.what();
  }
  return out;
}

google::protobuf::Value ParseJson(const std::string& text) {
  google::protobuf::Value v;
  auto st = google::protobuf::util::JsonStringToMessage(text, &v);
  if (!st.ok()) throw std::runtime_error("bad JSON: " + st.ToString() + " in: " + text.substr(0, 200));
  return v;
}

const google::protobuf::Value& Field(const google::protobuf::Value& obj, const std::string& name) {
  const auto& fields = obj.struct_value().fields();
  auto it = fields.find(name);
  if (it == fields.end()) throw std::runtime_error("JSON field '" + name + "' missing");
  return it->second;
}

struct WebSocketReader::Impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  std::mutex mu;
  std::vector<std::string> messages;  // GUARDED_BY(mu)
  std::string error;                  // GUARDED_BY(mu)
  std::thread reader;
};

WebSocketReader::WebSocketReader(const std::string& host, int port, const std::string& target)
    : impl_(std::make_unique<Impl>()) {
  try {
    tcp::resolver resolver(impl_->ioc);
    net::connect(impl_->ws.next_layer(), resolver.resolve(host, std::to_string(port)));
    impl_->ws.handshake(host + ":" + std::to_string(port), target);
    connected_ = true;
  } catch (const std::exception& e) {
    impl_->error = e.what();
    return;
  }
  impl_->reader = std::thread([this] {
    Impl& d = *impl_;
    try {
      for (;;) {
        beast::flat_buffer buf;
        d.ws.read(buf);
        std::lock_guard<std::mutex> lock(d.mu);
        d.messages.push_back(beast::buffers_to_string(buf.data()));
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(d.mu);
      d.error = e.what();
    }
    connected_ = false;
  });
}

WebSocketReader::~WebSocketReader() {
  beast::error_code ec;
  impl_->ws.next_layer().shutdown(tcp::socket::shutdown_both, ec);
  impl_->ws.next_layer().close(ec);
  if (impl_->reader.joinable()) impl_->reader.join();
}

std::vector<std::string> WebSocketReader::Messages() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->messages;
}

std::size_t WebSocketReader::Count() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->messages.size();
}

std::string WebSocketReader::error() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->error;
}

}  // namespace ovoflow::testing
