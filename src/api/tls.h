// TLS for the API's listeners (REST, WebSocket, metrics): OpenSSL 3 through
// Boost.Asio's ssl::context, set up to Mozilla's "intermediate" server
// profile (docs/security.md): TLS 1.2 and 1.3 only, ECDHE key exchange with
// AEAD ciphers, groups X25519, prime256v1 and secp384r1, no renegotiation,
// no compression; the server's cipher order.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "common/status.h"

namespace ovoflow::api {

// The TLS 1.2 cipher list and TLS 1.3 suites of the profile (OpenSSL names).
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
inline constexpr const char* kTlsGroups = "X25519:prime256v1:secp384r1";
// Sent on every HTTPS response (two years, as the profile recommends).
inline constexpr const char* kHstsHeader = "max-age=63072000";

// A server context for the certificate chain and private key in PEM files.
// InvalidArgument (naming the file and OpenSSL's reason) when a file cannot
// be read, does not parse, or the key does not match the certificate.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(const std::string& cert_file,
                                                                        const std::string& key_file);

// The context new connections get. Reload() reads the files again and swaps
// the context in; connections already open keep the one they started with,
// so a reload drops none. Thread-safe.
class TlsContextSlot {
 public:
  TlsContextSlot(std::string cert_file, std::string key_file)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

  // Loads the files; on failure the context in force stays and the error is returned.
  Status Reload();
  // nullptr before the first successful Reload().
  std::shared_ptr<boost::asio::ssl::context> Current() const;

 private:
  const std::string cert_file_;
  const std::string key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_;  // GUARDED_BY(mu_)
};

}  // namespace ovoflow::api
