#include "api/client/http_client.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <stdexcept>

#include <google/protobuf/util/json_util.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace ovoflow::api::client {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

tcp::endpoint Local(int port) { return {net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}; }

}  // namespace

std::string HttpResult::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpConnection::Impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  bool open = false;
  int port = 0;
  std::chrono::milliseconds timeout{60000};

  // Runs the queued operations for at most `timeout` (a silent server
  // cannot hang the caller). False, with out->error set, on timeout or error.
  bool Finish(const beast::error_code& ec, HttpResult* out) {
    ioc.run_for(timeout);
    if (!ioc.stopped()) {
      stream.cancel();
      ioc.run();
      out->error = "timed out";
      open = false;
      return false;
    }
    if (ec) {
      out->error = ec.message();
      open = false;
      return false;
    }
    return true;
  }

  void TakeResponse(const http::response<http::string_body>& res, HttpResult* out) {
    out->status = static_cast<int>(res.result_int());
    for (const auto& f : res) out->headers[Lower(std::string(f.name_string()))] = std::string(f.value());
    out->body = res.body();
    if (!res.keep_alive()) open = false;
  }
};

HttpConnection::HttpConnection(int port, std::chrono::milliseconds timeout) : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  impl_->timeout = timeout;
  beast::error_code ec;
  impl_->stream.socket().connect(Local(port), ec);
  impl_->open = !ec;
}

HttpConnection::~HttpConnection() {
  beast::error_code ec;
  impl_->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

bool HttpConnection::open() const { return impl_->open; }

HttpResult HttpConnection::Request(const std::string& method, const std::string& target, const std::string& body,
                                   const std::string& content_type, const std::map<std::string, std::string>& headers) {
  HttpResult out;
  if (!impl_->open) {
    out.error = "connection not open";
    return out;
  }
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  if (req.method() == http::verb::unknown) req.method_string(method);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(impl_->port));
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(true);
  for (const auto& [name, value] : headers) req.set(name, value);
  // Async with run_for so a silent server cannot hang the test.
  beast::error_code ec;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u << 20);
  impl_->ioc.restart();
  http::async_write(impl_->stream, req, [&](beast::error_code e, std::size_t) {
    // A server refusing the body (413) may close before reading it all; read its answer anyway.
    (void)e;
    http::async_read(impl_->stream, impl_->buffer, parser, [&](beast::error_code e2, std::size_t) { ec = e2; });
  });
  if (!impl_->Finish(ec, &out)) return out;
  auto& res = parser.get();
  impl_->TakeResponse(res, &out);
  return out;
}

HttpResult HttpConnection::PostExpectingContinue(const std::string& target, const std::string& body,
                                                 const std::string& content_type, int* interim) {
  HttpResult out;
  *interim = 0;
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(impl_->port));
  req.set(http::field::content_type, content_type);
  req.set(http::field::expect, "100-continue");
  req.body() = body;
  req.prepare_payload();
  http::request_serializer<http::string_body> serializer{req};
  http::response_parser<http::string_body> first, final_answer;
  bool continued = false;
  beast::error_code ec;
  impl_->ioc.restart();
  http::async_write_header(impl_->stream, serializer, [&](beast::error_code e, std::size_t) {
    if ((ec = e)) return;
    http::async_read(impl_->stream, impl_->buffer, first, [&](beast::error_code e2, std::size_t) {
      if ((ec = e2) || first.get().result() != http::status::continue_) return;
      continued = true;
      http::async_write(impl_->stream, serializer, [&](beast::error_code e3, std::size_t) {
        if ((ec = e3)) return;
        http::async_read(impl_->stream, impl_->buffer, final_answer,
                         [&](beast::error_code e4, std::size_t) { ec = e4; });
      });
    });
  });
  if (!impl_->Finish(ec, &out)) return out;
  *interim = static_cast<int>(first.get().result_int());
  auto& res = continued ? final_answer.get() : first.get();
  impl_->TakeResponse(res, &out);
  return out;
}

HttpResult Fetch(int port, const std::string& method, const std::string& target, const std::string& body,
                 const std::string& content_type, std::chrono::milliseconds timeout,
                 const std::map<std::string, std::string>& headers) {
  HttpConnection c(port, timeout);
  if (!c.open()) {
    HttpResult out;
    out.error = "cannot connect to 127.0.0.1:" + std::to_string(port);
    return out;
  }
  return c.Request(method, target, body, content_type, headers);
}

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
};

WsClient::WsClient(int port, const std::string& target, int receive_buffer_bytes,
                   const std::map<std::string, std::string>& headers)
    : impl_(std::make_unique<Impl>()) {
  beast::error_code ec;
  auto& sock = beast::get_lowest_layer(impl_->ws).socket();
  sock.open(tcp::v4(), ec);
  if (receive_buffer_bytes > 0) sock.set_option(net::socket_base::receive_buffer_size(receive_buffer_bytes), ec);
  sock.connect(Local(port), ec);
  if (ec) {
    error_ = "connect: " + ec.message();
    return;
  }
  websocket::response_type res;
  impl_->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  impl_->ws.handshake(res, "127.0.0.1:" + std::to_string(port), target, ec);
  upgrade_status_ = static_cast<int>(res.result_int());
  subprotocol_ = std::string(res[beast::http::field::sec_websocket_protocol]);
  if (ec == websocket::error::upgrade_declined) {
    // Beast 1.74 does not hand the refusal back; ask again over plain HTTP to learn its status.
    std::map<std::string, std::string> upgrade = {{"Upgrade", "websocket"},
                                                  {"Connection", "Upgrade"},
                                                  {"Sec-WebSocket-Version", "13"},
                                                  {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
    upgrade.insert(headers.begin(), headers.end());
    HttpResult refusal = HttpConnection(port).Request("GET", target, "", "", upgrade);
    upgrade_status_ = refusal.status;
  }
  if (ec) {
    error_ = "handshake: " + ec.message();
    return;
  }
  connected_ = true;
}

WsClient::~WsClient() {
  try {
    Close();
  } catch (...) {  // a destructor may not throw; the socket closes with the object
  }
}

std::optional<std::string> WsClient::Read(std::chrono::milliseconds timeout) {
  if (!connected_) return std::nullopt;
  beast::flat_buffer buffer;
  beast::error_code ec;
  bool done = false;
  impl_->ioc.restart();
  impl_->ws.async_read(buffer, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  impl_->ioc.run_for(timeout);
  if (!done) {
    beast::get_lowest_layer(impl_->ws).cancel();
    impl_->ioc.run();
    error_ = "read timed out";
    connected_ = false;
    return std::nullopt;
  }
  if (ec) {
    error_ = ec.message();
    close_code_ = impl_->ws.reason().code;
    close_reason_ = std::string(impl_->ws.reason().reason.c_str());
    connected_ = false;
    return std::nullopt;
  }
  return beast::buffers_to_string(buffer.data());
}

void WsClient::Interrupt() {
  // Runs on the thread in Read (the io_context's), not on the caller's:
  // the socket is only touched by one thread.
  net::post(impl_->ioc, [this] {
    beast::error_code ec;
    beast::get_lowest_layer(impl_->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
  });
}

void WsClient::Close() {
  if (!connected_) return;
  connected_ = false;
  beast::error_code ec;
  impl_->ioc.restart();
  impl_->ws.async_close(websocket::close_code::normal, [](beast::error_code) {});
  impl_->ioc.run_for(std::chrono::seconds(5));
  beast::get_lowest_layer(impl_->ws).socket().close(ec);
}

WsReader::WsReader(int port, const std::string& target) : client_(std::make_unique<WsClient>(port, target)) {
  if (!client_->connected()) {
    error_ = client_->error();
    return;
  }
  reader_ = std::thread([this] {
    while (auto m = client_->Read(std::chrono::hours(24))) {
      std::lock_guard lock(mu_);
      messages_.push_back(std::move(*m));
    }
    std::lock_guard lock(mu_);
    error_ = client_->error();
  });
}

WsReader::~WsReader() {
  if (reader_.joinable()) {
    client_->Interrupt();
    reader_.join();
  }
}

bool WsReader::connected() {
  std::lock_guard lock(mu_);
  return reader_.joinable() && error_.empty();
}

std::vector<std::string> WsReader::Messages() {
  std::lock_guard lock(mu_);
  return messages_;
}

std::size_t WsReader::Count() {
  std::lock_guard lock(mu_);
  return messages_.size();
}

std::string WsReader::error() {
  std::lock_guard lock(mu_);
  return error_;
}

google::protobuf::Value ParseJson(const std::string& text) {
  google::protobuf::Value v;
  auto st = google::protobuf::util::JsonStringToMessage(text, &v);
  if (!st.ok()) throw std::runtime_error("bad JSON (" + st.ToString() + "): " + text.substr(0, 300));
  return v;
}

const google::protobuf::Value& Field(const google::protobuf::Value& object, const std::string& name) {
  const auto& fields = object.struct_value().fields();
  auto it = fields.find(name);
  if (it == fields.end()) throw std::runtime_error("JSON field '" + name + "' missing");
  return it->second;
}

bool HasField(const google::protobuf::Value& object, const std::string& name) {
  return object.struct_value().fields().count(name) > 0;
}

double MetricValue(const std::string& metrics_text, const std::string& series) {
  std::istringstream in(metrics_text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

}  // namespace ovoflow::api::client
