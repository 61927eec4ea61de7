#include "store/cursor.h"

#include <array>

namespace ovoflow::store {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kCursorVersion = 1;
// Ids longer than this are not ids; bounds the decoded allocation.
constexpr uint32_t kMaxIdBytes = 4096;

constexpr std::array<int8_t, 256> DecodeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kDecode = DecodeTable();

void PutU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint64_t GetBigEndian(std::string_view in, std::size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[pos + static_cast<std::size_t>(i)]);
  return v;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16) |
                 (static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8) |
                 static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 2]));
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    uint32_t v = (static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16) |
                 (static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return Status::InvalidArgument("base64url text has an impossible length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int8_t v = kDecode[static_cast<uint8_t>(c)];
    if (v < 0) return Status::InvalidArgument("base64url text contains a character outside [A-Za-z0-9_-]");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return Status::InvalidArgument("base64url text has non-zero trailing bits");
  return out;
}

// Layout: version (1 byte) | captured_at_ns (8, big-endian two's complement)
//         | tenant length (4, big-endian) | tenant bytes | egg bytes (the rest).
std::string EncodeCursor(const CursorKey& key) {
  std::string raw;
  raw.reserve(13 + key.tenant_id.size() + key.egg_id.size());
  raw.push_back(static_cast<char>(kCursorVersion));
  const auto at = static_cast<uint64_t>(key.captured_at_ns);
  for (int shift = 56; shift >= 0; shift -= 8) raw.push_back(static_cast<char>((at >> shift) & 0xff));
  PutU32(&raw, static_cast<uint32_t>(key.tenant_id.size()));
  raw += key.tenant_id;
  raw += key.egg_id;
  return Base64UrlEncode(raw);
}

Result<CursorKey> DecodeCursor(std::string_view cursor) {
  auto raw = Base64UrlDecode(cursor);
  if (!raw.ok()) return Status::InvalidArgument("malformed cursor: " + raw.status().message());
  const std::string& r = *raw;
  if (r.size() < 13) return Status::InvalidArgument("malformed cursor: too short");
  if (static_cast<uint8_t>(r[0]) != kCursorVersion)
    return Status::InvalidArgument("malformed cursor: unknown version " + std::to_string(static_cast<uint8_t>(r[0])));
  CursorKey key;
  key.captured_at_ns = static_cast<int64_t>(GetBigEndian(r, 1, 8));
  const auto tenant_len = static_cast<uint32_t>(GetBigEndian(r, 9, 4));
  if (tenant_len > kMaxIdBytes || tenant_len > r.size() - 13)
    return Status::InvalidArgument("malformed cursor: tenant length out of range");
  key.tenant_id = r.substr(13, tenant_len);
  key.egg_id = r.substr(13 + tenant_len);
  if (key.egg_id.empty() || key.egg_id.size() > kMaxIdBytes)
    return Status::InvalidArgument("malformed cursor: egg id length out of range");
  return key;
}

}  // namespace ovoflow::store
