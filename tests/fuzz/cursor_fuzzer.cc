// Page cursors (GET /v1/eggs?cursor=...), which clients hand back to us:
// decoding never crashes, and whatever decodes re-encodes to the same text
// (one canonical encoding, so a tampered cursor cannot alias another).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "store/cursor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace ovoflow::store;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto key = DecodeCursor(text);
  if (key.ok() && EncodeCursor(*key) != text) std::abort();
  auto bytes = Base64UrlDecode(text);
  if (bytes.ok() && Base64UrlEncode(*bytes) != text) std::abort();
  return 0;
}
