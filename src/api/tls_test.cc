// HTTPS and WSS on the API server: the certificate from scripts/tls, the
// Mozilla intermediate profile (old protocols and non-AEAD ciphers refused),
// HSTS, plain HTTP refused on the TLS port, a SIGHUP-style reload that keeps
// open connections, and the options that refuse to serve plain HTTP.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "api/api_metrics.h"
#include "api/testing/api_fixture.h"
#include "api/tls.h"
#include "common/child_process.h"
#include "common/env.h"
#include "common/testing/temp_dir.h"

namespace ovoflow::api {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using testing::ApiHarness;
using testing::MakePrediction;

// Runs scripts/tls (the same script `make up` uses) into `dir`.
void MakeCertificates(const std::string& dir) {
  auto source = GetEnv("OVOFLOW_SOURCE_DIR");
  ASSERT_TRUE(source.has_value()) << "OVOFLOW_SOURCE_DIR is not set (run through ctest)";
  CommandResult r = RunCommand(*source + "/scripts/tls --dir '" + dir + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

// A blocking HTTPS client that verifies the server against `ca_file`.
class TlsClient {
 public:
  // `configure` may restrict the client's protocols or ciphers.
  TlsClient(int port, const std::string& ca_file, void (*configure)(SSL_CTX*) = nullptr)
      : ctx_(MakeContext(ca_file, configure)), stream_(ioc_, ctx_) {
    stream_.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    beast::get_lowest_layer(stream_).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(10));
    stream_.handshake(ssl::stream_base::client, handshake_error_);
  }

  // The stream takes the context's settings when it is made: set them first.
  static ssl::context MakeContext(const std::string& ca_file, void (*configure)(SSL_CTX*)) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file(ca_file);
    ctx.set_verify_mode(ssl::verify_peer);
    if (configure) configure(ctx.native_handle());
    return ctx;
  }

  const beast::error_code& handshake_error() const { return handshake_error_; }
  std::string protocol() { return SSL_get_version(stream_.native_handle()); }

  http::response<http::string_body> Get(const std::string& target, const std::string& token = "") {
    http::request<http::empty_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(10));
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return res;
  }

 private:
  net::io_context ioc_;
  ssl::context ctx_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  beast::error_code handshake_error_;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeCertificates(dir_.path());
    ApiOptions o = ApiHarness::DefaultOptions();
    o.tls.insecure_http = false;
    o.tls.cert_file = dir_.path() + "/server.pem";
    o.tls.key_file = dir_.path() + "/server.key";
    auto h = ApiHarness::Start(o, true, nullptr, nullptr, &identity_);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    harness_ = std::move(h).value();
  }
  int port() const { return harness_->port(); }
  std::string ca() const { return dir_.path() + "/ca.pem"; }

  std::string token() const { return identity_.Token({"viewer"}, {"hatchery-a"}); }

  ovoflow::testing::TempDir dir_{"tls"};
  testing::TestIdentity identity_;
  std::unique_ptr<ApiHarness> harness_;
};

TEST_F(TlsTest, ServesHttpsWithHstsToAClientThatTrustsTheLocalCa) {
  ASSERT_TRUE(harness_->server().tls());
  TlsClient client(port(), ca());
  ASSERT_FALSE(client.handshake_error()) << client.handshake_error().message();
  EXPECT_EQ(client.protocol(), "TLSv1.3");
  auto res = client.Get("/healthz");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::strict_transport_security], kHstsHeader);
  // Keep-alive: a second request on the same connection.
  EXPECT_EQ(client.Get("/v1/eggs?limit=1", token()).result_int(), 200);
}

TEST_F(TlsTest, AClientThatDoesNotTrustTheCaFailsVerification) {
  ovoflow::testing::TempDir other("tls-other");
  MakeCertificates(other.path());
  TlsClient client(port(), other.path() + "/ca.pem");
  EXPECT_TRUE(client.handshake_error());
}

TEST_F(TlsTest, Tls12WithAnAeadCipherIsAccepted) {
  TlsClient client(port(), ca(), [](SSL_CTX* c) { SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION); });
  ASSERT_FALSE(client.handshake_error()) << client.handshake_error().message();
  EXPECT_EQ(client.protocol(), "TLSv1.2");
  EXPECT_EQ(client.Get("/healthz").result_int(), 200);
}

TEST_F(TlsTest, OldProtocolsAndNonAeadCiphersAreRefused) {
  TlsClient tls11(port(), ca(), [](SSL_CTX* c) {
    SSL_CTX_set_security_level(c, 0);  // this OpenSSL would not even offer TLS 1.1 otherwise
    SSL_CTX_set_min_proto_version(c, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(c, TLS1_1_VERSION);
  });
  EXPECT_TRUE(tls11.handshake_error());
  TlsClient cbc(port(), ca(), [](SSL_CTX* c) {
    SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384");
  });
  EXPECT_TRUE(cbc.handshake_error());
}

TEST_F(TlsTest, PlainHttpOnTheTlsPortGetsNoAnswerAndIsCounted) {
  double before = GetApiMetrics().tls_handshake_failures.Value();
  auto res = testing::Fetch(port(), "GET", "/healthz");
  EXPECT_NE(res.status, 200);
  for (int i = 0; i < 100 && GetApiMetrics().tls_handshake_failures.Value() <= before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GT(GetApiMetrics().tls_handshake_failures.Value(), before);
}

TEST_F(TlsTest, AReloadServesTheNewCertificateAndKeepsOpenConnections) {
  TlsClient open_before(port(), ca());
  ASSERT_FALSE(open_before.handshake_error());
  ASSERT_EQ(open_before.Get("/healthz").result_int(), 200);

  // A new CA and certificate replace the files (as a renewal would).
  ovoflow::testing::TempDir next("tls-next");
  MakeCertificates(next.path());
  for (const char* f : {"server.pem", "server.key"})
    std::filesystem::copy_file(next.path() + "/" + f, dir_.path() + "/" + f,
                               std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(harness_->server().ReloadTls().ok());

  EXPECT_EQ(open_before.Get("/healthz").result_int(), 200) << "the reload dropped an open connection";
  TlsClient old_ca(port(), ca());
  EXPECT_TRUE(old_ca.handshake_error()) << "new connections still get the old certificate";
  TlsClient new_ca(port(), next.path() + "/ca.pem");
  ASSERT_FALSE(new_ca.handshake_error()) << new_ca.handshake_error().message();
  EXPECT_EQ(new_ca.Get("/healthz").result_int(), 200);
}

TEST_F(TlsTest, AReloadOfBrokenFilesKeepsTheCertificateInForce) {
  { std::ofstream(dir_.path() + "/server.pem") << "not a certificate\n"; }
  Status st = harness_->server().ReloadTls();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("server.pem"), std::string::npos) << st.ToString();
  TlsClient client(port(), ca());
  ASSERT_FALSE(client.handshake_error());
  EXPECT_EQ(client.Get("/healthz").result_int(), 200);
}

TEST_F(TlsTest, LivePredictionsArriveOverWss) {
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(ca());
  ctx.set_verify_mode(ssl::verify_peer);
  beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc, ctx);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port()));
  beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(10));
  ws.next_layer().handshake(ssl::stream_base::client);
  const std::string bearer = "Bearer " + token();
  ws.set_option(beast::websocket::stream_base::decorator(
      [bearer](beast::websocket::request_type& req) { req.set(http::field::authorization, bearer); }));
  ws.handshake("127.0.0.1", "/v1/live?tenant_id=hatchery-a");
  // The session joins the hub just after the handshake: publish until it answers.
  beast::flat_buffer buffer;
  bool got = false;
  ws.async_read(buffer, [&](beast::error_code ec, std::size_t) { got = !ec; });
  for (int i = 0; i < 100 && !got; ++i) {
    harness_->server().PublishLive(MakePrediction("wss-egg", "hatchery-a", v1::SEX_FEMALE, v1::DECISION_KEEP, 1));
    ioc.run_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(got);
  EXPECT_NE(beast::buffers_to_string(buffer.data()).find("wss-egg"), std::string::npos);
}

TEST(TlsOptionsTest, PlainHttpNeedsTheFlagAndALoopbackAddress) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.tls.insecure_http = false;
  auto none = ApiServer::Start(o, ApiDeps{});
  ASSERT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("--tls-cert"), std::string::npos);

  o.tls.insecure_http = true;
  o.listen_address = "0.0.0.0";
  auto wide = ApiServer::Start(o, ApiDeps{});
  ASSERT_EQ(wide.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wide.status().message().find("loopback"), std::string::npos);

  o.listen_address = "127.0.0.1";
  o.tls.cert_file = "/nonexistent.pem";
  EXPECT_EQ(ApiServer::Start(o, ApiDeps{}).status().code(), StatusCode::kInvalidArgument) << "both modes at once";

  o.tls.insecure_http = false;
  o.auth.disabled = false;  // (--no-auth needs plain HTTP; a metrics-only server needs no identity)
  auto missing = ApiServer::Start(o, ApiDeps{});
  ASSERT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("--tls-key"), std::string::npos) << missing.status().ToString();
}

}  // namespace
}  // namespace ovoflow::api
