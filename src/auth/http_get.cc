#include "auth/http_get.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace ovoflow::auth {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

struct Url {
  bool tls = false;
  std::string host, port, target;
};

Result<Url> ParseUrl(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return Status::InvalidArgument("not an http(s) URL: '" + url + "'");
  }
  std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  std::size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.empty() || u.port.empty()) return Status::InvalidArgument("no host in URL '" + url + "'");
  return u;
}

template <class Stream>
Result<std::string> Exchange(Stream& stream, const Url& u, const std::string& url, const HttpGetOptions& o) {
  http::request<http::empty_body> req(http::verb::get, u.target, 11);
  // RFC 9110 §7.2: the port too unless it is the scheme's default (providers
  // such as Keycloak build their issuer URL from it).
  const bool default_port = u.port == (u.tls ? "443" : "80");
  req.set(http::field::host, default_port ? u.host : u.host + ":" + u.port);
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "ovoflow");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(o.max_bytes);
  beast::error_code ec;
  http::read(stream, buffer, parser, ec);
  if (ec) return Status::Unavailable("GET " + url + ": " + ec.message());
  auto& res = parser.get();
  if (res.result_int() != 200)
    return Status::Unavailable("GET " + url + " answered " + std::to_string(res.result_int()));
  return std::move(res.body());
}

}  // namespace

Result<std::string> HttpGet(const std::string& url, const HttpGetOptions& o) {
  OVOFLOW_ASSIGN_OR_RETURN(Url u, ParseUrl(url));
  try {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto endpoints = resolver.resolve(u.host, u.port, ec);
    if (ec) return Status::Unavailable("GET " + url + ": cannot resolve " + u.host + ": " + ec.message());
    if (!u.tls) {
      beast::tcp_stream stream(ioc);
      stream.expires_after(o.timeout);
      stream.connect(endpoints, ec);
      if (ec) return Status::Unavailable("GET " + url + ": " + ec.message());
      return Exchange(stream, u, url, o);
    }
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    if (o.ca_file.empty())
      ctx.set_default_verify_paths();
    else
      ctx.load_verify_file(o.ca_file);
    ctx.set_verify_mode(ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    // SSL_set_tlsext_host_name, without the macro's C cast.
    if (SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(u.host.c_str())) != 1)
      return Status::Unavailable("GET " + url + ": cannot set SNI");
    stream.set_verify_callback(ssl::host_name_verification(u.host));
    beast::get_lowest_layer(stream).expires_after(o.timeout);
    beast::get_lowest_layer(stream).connect(endpoints, ec);
    if (ec) return Status::Unavailable("GET " + url + ": " + ec.message());
    stream.handshake(ssl::stream_base::client, ec);
    if (ec) return Status::Unavailable("GET " + url + ": TLS: " + ec.message());
    return Exchange(stream, u, url, o);
  } catch (const std::exception& e) {  // write() and the TLS set-up throw
    return Status::Unavailable("GET " + url + ": " + e.what());
  }
}

}  // namespace ovoflow::auth
