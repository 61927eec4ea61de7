// Request targets and query strings, as the router sees them: the first
// line of every request an attacker sends. Each input is a target; routing,
// query parsing and the filter parameters must never crash, and a target
// that parses must route to a route of the table or to a problem answer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/query.h"
#include "api/router.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace ovoflow::api;
  const std::string target(reinterpret_cast<const char*>(data), size);
  for (auto verb : {boost::beast::http::verb::get, boost::beast::http::verb::post}) {
    Request req;
    req.method(verb);
    try {
      req.target(target);
    } catch (const std::exception&) {
      return 0;  // Beast refuses it before we see it
    }
    RouteMatch m = MatchRoute(req, /*have_store=*/true);
    if ((m.spec == nullptr) == !m.error.has_value()) std::abort();  // exactly one of a route and an answer
    if (m.error && m.error->result_int() < 400) std::abort();
  }
  Target t;
  if (!ParseTarget(target, &t)) {
    PredictionFilter f;
    (void)ParseFilter(t.query, &f);
    for (const auto& [name, value] : t.query) {
      (void)ParseRfc3339(value);
      (void)ParseBoundedInt(value, 1, 1000);
      std::string encoded = PercentEncodeSegment(value);
      auto back = PercentDecode(encoded, false);
      if (!back || *back != value) std::abort();  // encoding a segment round-trips
    }
  }
  return 0;
}
