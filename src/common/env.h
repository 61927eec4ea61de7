// The process environment and errno's text, safe to read from any thread.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>

namespace ovoflow {

// The environment variable `name`, or nullopt when it is not set. Safe from
// any thread because ovoflow never changes its environment once running (no
// setenv or putenv anywhere), which concurrency-mt-unsafe cannot know.
inline std::optional<std::string> GetEnv(const char* name) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): the environment is never written
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// The environment variable `name`, or `fallback` when it is not set.
inline std::string EnvOr(const char* name, std::string fallback) {
  auto value = GetEnv(name);
  return value ? *std::move(value) : std::move(fallback);
}

// The text of an errno value (std::strerror is not thread-safe; the error
// category's message is).
inline std::string ErrnoMessage(int err = errno) { return std::generic_category().message(err); }

}  // namespace ovoflow
