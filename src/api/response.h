// HTTP response helpers: JSON bodies and RFC 9457 problem details.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "common/status.h"

namespace ovoflow::api {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// Beast (Boost 1.74) has its own string_view.
inline std::string_view Sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

// Problem types (the "type" member is "urn:ovoflow:problem:<slug>"); the
// catalogue is in docs/api.md and openapi.yaml.
struct ProblemSpec {
  int status;
  std::string_view slug;   // e.g. "invalid-parameter"
  std::string_view title;  // short, the same for every occurrence of the type
};

inline constexpr ProblemSpec kBadRequest{400, "bad-request", "Malformed request"};
inline constexpr ProblemSpec kInvalidParameter{400, "invalid-parameter", "Invalid query parameter"};
inline constexpr ProblemSpec kInvalidField{400, "invalid-field", "Invalid request body field"};
inline constexpr ProblemSpec kNotFound{404, "not-found", "Not found"};
inline constexpr ProblemSpec kMethodNotAllowed{405, "method-not-allowed", "Method not allowed"};
inline constexpr ProblemSpec kConflict{409, "conflict", "Conflicts with the stored state"};
inline constexpr ProblemSpec kPayloadTooLarge{413, "payload-too-large", "Request body too large"};
inline constexpr ProblemSpec kUnsupportedMediaType{415, "unsupported-media-type", "Unsupported media type"};
inline constexpr ProblemSpec kInvalidScan{422, "invalid-scan", "Scan failed validation"};
inline constexpr ProblemSpec kUpgradeRequired{426, "upgrade-required", "WebSocket upgrade required"};
inline constexpr ProblemSpec kInternal{500, "internal", "Internal error"};
inline constexpr ProblemSpec kUnavailable{503, "unavailable", "Service unavailable"};

// application/problem+json with type, title, status, detail, instance and,
// when `parameter` is not empty, the extension member "parameter".
Response Problem(const ProblemSpec& spec, std::string_view detail, std::string_view instance,
                 std::string_view parameter = {});

// kInvalidField with the extension member "field": the offending member of
// the JSON request body.
Response FieldProblem(std::string_view detail, std::string_view instance, std::string_view field);

// A store or sink failure as a problem: InvalidArgument 400, NotFound 404,
// AlreadyExists 409, Unavailable/ResourceExhausted/DeadlineExceeded 503
// (with Retry-After), else 500.
Response ProblemFromStatus(const Status& status, std::string_view instance);

Response JsonResponse(int status, std::string body);
Response TextResponse(int status, std::string_view content_type, std::string body);

}  // namespace ovoflow::api
