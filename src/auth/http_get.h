// A blocking GET over HTTP or HTTPS, for the identity provider's discovery
// document and key set. HTTPS verifies the server against the system's
// trusted CAs (or `ca_file`) and its host name.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "common/status.h"

namespace ovoflow::auth {

struct HttpGetOptions {
  std::chrono::milliseconds timeout{5000};  // the whole exchange
  std::size_t max_bytes = 1u << 20;         // a larger body is refused
  std::string ca_file;                      // PEM CAs to trust instead of the system's
};

// The body of a 200 answer. InvalidArgument for a URL that is not
// http(s)://host[:port]/path; Unavailable for network, TLS, status or size
// trouble (the message says which).
Result<std::string> HttpGet(const std::string& url, const HttpGetOptions& options = {});

}  // namespace ovoflow::auth
