// The OpenAPI 3.1 description of the API (src/api/openapi.yaml), embedded in
// the binary at build time so GET /openapi.yaml needs no file at runtime.
#pragma once

#include <string_view>

namespace ovoflow::api {

std::string_view OpenApiYaml();

}  // namespace ovoflow::api
