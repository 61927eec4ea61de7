#include "api/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace ovoflow::api {

namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's queued errors as one line (and the queue cleared).
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeServerTlsContext(const std::string& cert_file, const std::string& key_file) {
  if (cert_file.empty() || key_file.empty())
    return Status::InvalidArgument("tls: both a certificate (--tls-cert) and a key (--tls-key) are needed");
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  // The server picks from its own order (AES-GCM first): every suite offered
  // is strong, and testssl.sh rates a client-chosen order HIGH.
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1 || SSL_CTX_set_ciphersuites(native, kTls13Suites) != 1 ||
      SSL_CTX_set1_groups_list(native, kTlsGroups) != 1)
    return Status::Internal("tls: this OpenSSL refuses the profile: " + OpenSslErrors());
  if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1)
    return Status::InvalidArgument("tls: cannot use certificate file '" + cert_file + "': " + OpenSslErrors());
  if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return Status::InvalidArgument("tls: cannot use key file '" + key_file + "': " + OpenSslErrors());
  if (SSL_CTX_check_private_key(native) != 1)
    return Status::InvalidArgument("tls: key '" + key_file + "' does not match certificate '" + cert_file +
                                   "': " + OpenSslErrors());
  return ctx;
}

Status TlsContextSlot::Reload() {
  auto ctx = MakeServerTlsContext(cert_file_, key_file_);
  if (!ctx.ok()) return ctx.status();
  std::lock_guard lock(mu_);
  current_ = std::move(*ctx);
  return Status::Ok();
}

std::shared_ptr<ssl::context> TlsContextSlot::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

}  // namespace ovoflow::api
