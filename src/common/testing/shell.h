// Test-only: runs a shell command and hands back what it printed (tests
// that get tokens and URLs from scripts/keycloak and the like).
#pragma once

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace ovoflow::testing {

// stdout of `cmd` (through /bin/sh), trailing newlines trimmed; empty when it
// could not run.
inline std::string ShellOutput(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  while (pipe && fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// The environment variable, or "" when it is not set.
inline std::string EnvOrEmpty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace ovoflow::testing
