#include "support/process.h"

#include <sys/stat.h>

#include <cstdlib>
#include <stdexcept>

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
  const char* v = std::getenv(name);
  if (!v) throw std::runtime_error(std::string(name) + " is not set (run through ctest)");
  return v;
}

std::string TestBrokers() {
  const char* b = std::getenv("OVOFLOW_TEST_BROKERS");
  return b && *b ? b : "127.0.0.1:19092";
}

std::string SourceDir() { return Env("OVOFLOW_SOURCE_DIR"); }
std::string BinaryDir() { return Env("OVOFLOW_BINARY_DIR"); }
std::string OvoflowBinary() { return BinaryDir() + "/src/exe/ovoflow"; }

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = BinaryDir() + "/test-tmp";
  mkdir(tmpl.c_str(), 0755);
  tmpl += "/" + prefix + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

}  // namespace ovoflow::testing
