#include "api/response.h"

#include "api/json.h"

namespace ovoflow::api {

namespace http = boost::beast::http;

namespace {

Response ProblemWith(const ProblemSpec& spec, std::string_view detail, std::string_view instance,
                     std::string_view extension, std::string_view value) {
  std::string body = "{";
  JsonObjectWriter w(&body);
  w.String("type", "urn:ovoflow:problem:" + std::string(spec.slug))
      .String("title", spec.title)
      .Int("status", spec.status)
      .String("detail", detail)
      .String("instance", instance);
  if (!value.empty()) w.String(extension, value);
  body.push_back('}');
  Response res = TextResponse(spec.status, "application/problem+json", std::move(body));
  if (spec.status == 503) res.set(http::field::retry_after, "1");
  return res;
}

}  // namespace

Response Problem(const ProblemSpec& spec, std::string_view detail, std::string_view instance,
                 std::string_view parameter) {
  return ProblemWith(spec, detail, instance, "parameter", parameter);
}

Response FieldProblem(std::string_view detail, std::string_view instance, std::string_view field) {
  return ProblemWith(kInvalidField, detail, instance, "field", field);
}

Response ProblemFromStatus(const Status& status, std::string_view instance) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return Problem(kBadRequest, status.message(), instance);
    case StatusCode::kNotFound:
      return Problem(kNotFound, status.message(), instance);
    case StatusCode::kAlreadyExists:
      return Problem(kConflict, status.message(), instance);
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
    case StatusCode::kDeadlineExceeded:
      return Problem(kUnavailable, status.message(), instance);
    default:
      return Problem(kInternal, status.ToString(), instance);
  }
}

Response JsonResponse(int status, std::string body) {
  return TextResponse(status, "application/json", std::move(body));
}

Response TextResponse(int status, std::string_view content_type, std::string body) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, boost::beast::string_view(content_type.data(), content_type.size()));
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace ovoflow::api
