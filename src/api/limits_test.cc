// Resource limits over all connections (OWASP API4): the bytes of request
// bodies in flight, and the number of live WebSocket clients under a burst.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "api/testing/api_fixture.h"

namespace ovoflow::api::testing {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::size_t kBody = 1u << 20;

// A client that sends a POST head announcing kBody bytes and then only part
// of the body, so the server holds the request open.
class HeldUpload {
 public:
  explicit HeldUpload(int port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    std::string head =
        "POST /v1/scans HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
        "Content-Length: " +
        std::to_string(kBody) + "\r\n\r\n";
    net::write(socket_, net::buffer(head));
    net::write(socket_, net::buffer(std::string(1024, 'x')));
  }
  // The server's answer so far (waits up to `ms` for one), "" if none.
  std::string Answer(int ms) {
    std::string out;
    socket_.non_blocking(true);
    for (int waited = 0; waited < ms; waited += 20) {
      char buf[4096];
      boost::system::error_code ec;
      std::size_t n = socket_.read_some(net::buffer(buf), ec);
      if (n > 0) out.append(buf, n);
      if (!out.empty() && out.find("\r\n\r\n") != std::string::npos) break;
      if (ec && ec != net::error::would_block) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return out;
  }
  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
};

TEST(LimitsTest, RequestBodiesInFlightAreBoundedOverAllConnections) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.max_body_bytes = kBody;
  o.max_body_bytes_in_flight = 2 * kBody;
  RecordingSink sink;
  auto h = ApiHarness::Start(o, true, &sink);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  const int port = (*h)->port();

  HeldUpload first(port), second(port);
  EXPECT_EQ(first.Answer(200), "") << "the first two bodies fit in the budget";
  EXPECT_EQ(second.Answer(200), "");
  HeldUpload third(port);
  std::string refused = third.Answer(5000);
  EXPECT_EQ(refused.rfind("HTTP/1.1 503", 0), 0u) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  EXPECT_NE(refused.find("application/problem+json"), std::string::npos) << refused;

  // A closed upload gives its bytes back: a new one fits again.
  first.Close();
  bool fits = false;
  for (int i = 0; i < 100 && !fits; ++i) {
    HeldUpload next(port);
    fits = next.Answer(100).empty();
  }
  EXPECT_TRUE(fits) << "the bytes of a closed connection were not given back";
  // Requests without a body are never held back by the budget.
  EXPECT_EQ(Fetch(port, "GET", "/healthz").status, 200);
}

TEST(LimitsTest, OptionsKeepTheBudgetAboveOneBody) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.max_body_bytes_in_flight = o.max_body_bytes - 1;
  EXPECT_EQ(ApiServer::Start(o, ApiDeps{}).status().code(), StatusCode::kInvalidArgument);
}

TEST(LimitsTest, ABurstOfLiveClientsStaysWithinTheLimit) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.max_ws_clients = 5;
  auto h = ApiHarness::Start(o);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  const int port = (*h)->port();

  constexpr int kClients = 40;
  std::vector<std::unique_ptr<WsClient>> clients(kClients);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  threads.reserve(kClients);
  for (int i = 0; i < kClients; ++i)
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      clients[static_cast<std::size_t>(i)] = std::make_unique<WsClient>(port, "/v1/live");
    });
  go.store(true);
  for (auto& t : threads) t.join();
  int connected = 0, refused = 0;
  for (const auto& c : clients) {
    if (c->connected()) ++connected;
    if (c->upgrade_status() == 503) ++refused;
  }
  EXPECT_EQ(connected, 5);
  EXPECT_EQ(refused, kClients - 5);

  // A client that leaves frees its place.
  for (auto& c : clients)
    if (c->connected()) {
      c->Close();
      break;
    }
  bool joined = false;
  for (int i = 0; i < 100 && !joined; ++i) {
    WsClient again(port, "/v1/live");
    joined = again.connected();
    if (!joined) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(joined);
}

}  // namespace
}  // namespace ovoflow::api::testing
