// POST /v1/scans bodies through the real handler: the first byte picks the
// media type (protobuf or JSON), the rest is the body. The handler must
// answer every input (202, or a 4xx problem), never crash, and hand the
// sink only scans that pass the pipeline's record rules.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/handlers.h"
#include "api/router.h"
#include "common/validation.h"

namespace {

class CheckingSink final : public ovoflow::api::ScanSink {
 public:
  ovoflow::Status Submit(const ovoflow::v1::EggScan& scan) override {
    if (!ovoflow::ValidateScan(scan).ok()) std::abort();  // the handler let an invalid scan through
    return ovoflow::Status::Ok();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace ovoflow::api;
  if (size < 1) return 0;
  static CheckingSink sink;
  static const ApiOptions options;
  ApiDeps deps;
  deps.scans = &sink;
  Request req{boost::beast::http::verb::post, "/v1/scans", 11};
  req.set(boost::beast::http::field::content_type, (data[0] & 1) ? "application/json" : "application/x-protobuf");
  req.body().assign(reinterpret_cast<const char*>(data + 1), size - 1);
  Target target;
  target.path = "/v1/scans";
  const std::vector<std::string> params;
  Response res = HandlePostScan(RequestContext{req, target, params, options, deps});
  const unsigned code = res.result_int();
  if (code != 202 && (code < 400 || code >= 500)) std::abort();
  return 0;
}
