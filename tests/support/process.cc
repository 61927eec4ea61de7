#include "support/process.h"

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <vector>

#include "common/env.h"
#include "common/testing/temp_dir.h"

namespace ovoflow::testing {

Process::Process(const std::vector<std::string>& argv, const std::string& log_path) {
  auto child = ChildProcess::Start(argv, {"", log_path, /*stop_grace_ms=*/0});
  if (!child.ok()) throw std::runtime_error(child.status().ToString());
  child_ = std::move(child).value();
}

int FreePort() {
  auto port = FreeLocalPort();
  if (!port.ok()) throw std::runtime_error(port.status().ToString());
  return *port;
}

static std::string Env(const char* name) {
  auto v = GetEnv(name);
  if (!v) throw std::runtime_error(std::string(name) + " is not set (run through ctest)");
  return *v;
}

std::string TestBrokers() {
  std::string b = EnvOr("OVOFLOW_TEST_BROKERS", "");
  return !b.empty() ? b : "127.0.0.1:19092";
}

std::string SourceDir() { return Env("OVOFLOW_SOURCE_DIR"); }
std::string BinaryDir() { return Env("OVOFLOW_BINARY_DIR"); }
std::string OvoflowBinary() { return BinaryDir() + "/src/exe/ovoflow"; }

std::string MakeTempDir(const std::string& prefix) {
  static std::vector<std::unique_ptr<TempDir>> dirs;  // removed at exit
  dirs.push_back(std::make_unique<TempDir>(prefix, BinaryDir() + "/test-tmp"));
  return dirs.back()->path();
}

}  // namespace ovoflow::testing
