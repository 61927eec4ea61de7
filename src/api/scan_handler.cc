// POST /v1/scans: decodes an EggScan (protobuf or JSON), validates it with
// the rules the inference worker applies (common/validation.h with the
// default ScanLimits, and the input geometry of the model this process
// believes active), and hands it to the ScanSink (Kafka). So a scan answered
// 202 is one the worker will score, unless the workers run other limits or
// another model than the API sees.
#include <algorithm>
#include <cctype>
#include <string>

#include <google/protobuf/util/json_util.h>

#include "api/api_metrics.h"
#include "api/handlers.h"
#include "api/json.h"
#include "api/model_admin.h"
#include "api/query.h"
#include "common/validation.h"
#include "common/volume.h"

namespace ovoflow::api {

namespace {

namespace http = boost::beast::http;

// The media type without parameters, lower case: "application/json; charset=utf-8" -> "application/json".
std::string MediaType(std::string_view content_type) {
  std::string out(content_type.substr(0, content_type.find(';')));
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  std::size_t start = out.find_first_not_of(" \t");
  out = start == std::string::npos ? std::string() : out.substr(start);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

Response Reject(const std::string& reason, Response res) {
  GetApiMetrics().RecordScanRejected(reason);
  return res;
}

}  // namespace

Response HandlePostScan(const RequestContext& ctx) {
  const std::string instance(ctx.request.target());
  std::string type = MediaType(Sv(ctx.request[http::field::content_type]));
  v1::EggScan scan;
  if (type == "application/x-protobuf" || type == "application/protobuf") {
    if (ctx.request.body().size() > kMaxScanMessageBytes)
      return Reject("too_large", Problem(kPayloadTooLarge,
                                         "a scan of " + std::to_string(ctx.request.body().size()) +
                                             " bytes exceeds the largest the pipeline takes (" +
                                             std::to_string(kMaxScanMessageBytes) + " bytes)",
                                         instance));
    if (!scan.ParseFromString(ctx.request.body()))
      return Reject("unparsable",
                    Problem(kBadRequest, "the body is not a valid ovoflow.v1.EggScan protobuf", instance));
  } else if (type == "application/json") {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto st = google::protobuf::util::JsonStringToMessage(ctx.request.body(), &scan, options);
    if (!st.ok())
      return Reject(
          "unparsable",
          Problem(kBadRequest, "the body is not a valid ovoflow.v1.EggScan in JSON: " + st.ToString(), instance));
  } else {
    return Reject("unsupported_media_type",
                  Problem(kUnsupportedMediaType,
                          "Content-Type '" + type +
                              "' is not accepted; use application/x-protobuf, application/protobuf or application/json",
                          instance));
  }
  // Unknown fields would travel to Kafka unchecked (and padded a scan to 16 MiB).
  if (Status st = CheckNoUnknownFields(scan); !st.ok())
    return Reject("unparsable",
                  Problem(kBadRequest, "the body is not a valid ovoflow.v1.EggScan: " + st.message(), instance));
  if (const std::size_t size = scan.ByteSizeLong(); size > kMaxScanMessageBytes)
    return Reject("too_large",
                  Problem(kPayloadTooLarge,
                          "a scan of " + std::to_string(size) + " bytes exceeds the largest the pipeline takes (" +
                              std::to_string(kMaxScanMessageBytes) + " bytes)",
                          instance));
  // A scanner posts only its own scans: its tenant, its scanner id (the
  // token's claims), never another's; checked before the scan's own rules,
  // so that nobody learns those for a tenant that is not theirs.
  if (const auth::Principal* p = ctx.principal; p && !p->local_development) {
    if (!p->ActsFor(scan.tenant_id()))
      return Reject(
          "forbidden",
          Problem(kForbidden, "tenant_id '" + scan.tenant_id() + "' is not the tenant of this scanner's credentials",
                  instance, "tenant_id"));
    if (p->scanner_id.empty() || p->scanner_id != scan.scanner_id())
      return Reject(
          "forbidden",
          Problem(kForbidden, "scanner_id '" + scan.scanner_id() + "' is not the scanner id of these credentials",
                  instance, "scanner_id"));
  }
  ScanLimits limits;
  limits.max_future_skew_s = ctx.options.max_clock_skew_s;
  if (Status st = ValidateScan(scan, limits); !st.ok())
    return Reject("invalid", Problem(kInvalidScan, st.message(), instance));
  if (ctx.deps.models) {  // the workers refuse scans their model cannot take
    Result<v1::InputSpec> input = ctx.deps.models->ServingInput();
    if (input.ok()) {
      if (Status st = CheckModelInput(scan.volume(), *input); !st.ok())
        return Reject("invalid", Problem(kInvalidScan, st.message(), instance));
    }
  }
  if (!ctx.deps.scans) return Reject("no_sink", Problem(kUnavailable, "this process does not ingest scans", instance));
  if (Status st = ctx.deps.scans->Submit(scan); !st.ok()) {
    bool busy = st.code() == StatusCode::kUnavailable || st.code() == StatusCode::kResourceExhausted ||
                st.code() == StatusCode::kDeadlineExceeded;
    return Reject(busy ? "unavailable" : "error",
                  busy ? Problem(kUnavailable, "the scan bus is not accepting scans: " + st.message(), instance)
                       : Problem(kInternal, "submitting the scan failed: " + st.ToString(), instance));
  }
  GetApiMetrics().scans_accepted.Increment();
  std::string body = "{";
  JsonObjectWriter(&body).String("egg_id", scan.egg_id()).String("status", "accepted");
  body.push_back('}');
  Response res = JsonResponse(202, std::move(body));
  res.set(http::field::location, "/v1/eggs/" + PercentEncodeSegment(scan.egg_id()));
  return res;
}

}  // namespace ovoflow::api
