// Keyset pagination cursors for PredictionStore::ListEggs.
//
// A cursor names the last row of a page by its sort key
// (captured_at_ns, tenant_id, egg_id); the next page starts strictly after
// it in the order captured_at_ns DESC, tenant_id ASC, egg_id ASC. On the wire
// it is opaque: unpadded base64url of a versioned binary encoding. Backend
// independent, so a cursor stays valid when the backend changes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ovoflow::store {

struct CursorKey {
  int64_t captured_at_ns = 0;
  std::string tenant_id;
  std::string egg_id;

  bool operator==(const CursorKey&) const = default;
};

// Never fails; the result contains only [A-Za-z0-9_-].
std::string EncodeCursor(const CursorKey& key);

// InvalidArgument for anything EncodeCursor cannot have produced (bad
// alphabet, bad length, unknown version, trailing bytes).
Result<CursorKey> DecodeCursor(std::string_view cursor);

// RFC 4648 section 5 base64url without padding, exposed for tests.
std::string Base64UrlEncode(std::string_view bytes);
// InvalidArgument on characters outside the alphabet, '=' padding, an
// impossible length or non-zero trailing bits (so every input has one
// canonical encoding).
Result<std::string> Base64UrlDecode(std::string_view text);

}  // namespace ovoflow::store
