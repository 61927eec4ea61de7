// Test-only: runs a shell command and hands back what it printed (tests
// that get tokens and URLs from scripts/keycloak and the like).
#pragma once

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "common/env.h"

namespace ovoflow::testing {

// stdout of `cmd` (through /bin/sh), trailing newlines trimmed; empty when it
// could not run.
inline std::string ShellOutput(const std::string& cmd) {
  // Running `cmd` through the shell is this helper's purpose (tests pass
  // script invocations with pipes and arguments).
  // NOLINTNEXTLINE(cert-env33-c): a shell command is deliberate, see above
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  while (pipe && fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// The environment variable, or "" when it is not set.
inline std::string EnvOrEmpty(const char* name) { return EnvOr(name, ""); }

}  // namespace ovoflow::testing
