#include "common/trace.h"

#include <cstdint>
#include <random>

namespace ovoflow {
namespace {

std::string RandomHex(std::size_t n_chars) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n_chars);
  while (out.size() < n_chars) {
    uint64_t bits = rng();
    for (int i = 0; i < 16 && out.size() < n_chars; ++i, bits >>= 4) out.push_back(kHex[bits & 0xf]);
  }
  if (out.find_first_not_of('0') == std::string::npos) out.back() = '1';
  return out;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

TraceContext NewTrace() { return {RandomHex(32), RandomHex(16), true}; }

TraceContext ChildSpan(const TraceContext& parent) { return {parent.trace_id, RandomHex(16), parent.sampled}; }

std::string FormatTraceparent(const TraceContext& ctx) {
  return "00-" + ctx.trace_id + "-" + ctx.span_id + (ctx.sampled ? "-01" : "-00");
}

std::optional<TraceContext> ParseTraceparent(std::string_view v) {
  // 00-<32 hex>-<16 hex>-<2 hex>
  if (v.size() != 55 || v.substr(0, 3) != "00-" || v[35] != '-' || v[52] != '-') return std::nullopt;
  std::string_view trace = v.substr(3, 32), span = v.substr(36, 16), flags = v.substr(53, 2);
  if (!IsLowerHex(trace) || !IsLowerHex(span) || !IsLowerHex(flags)) return std::nullopt;
  if (trace.find_first_not_of('0') == std::string_view::npos) return std::nullopt;
  if (span.find_first_not_of('0') == std::string_view::npos) return std::nullopt;
  int f = std::stoi(std::string(flags), nullptr, 16);
  return TraceContext{std::string(trace), std::string(span), (f & 1) != 0};
}

}  // namespace ovoflow
