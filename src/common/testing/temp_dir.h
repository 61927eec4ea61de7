// A fresh directory for a test, removed with everything in it when the
// object goes, also when the test fails. Test code only.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace ovoflow::testing {

class TempDir {
 public:
  // <base>/ovoflow-<name>-XXXXXX; base defaults to the system's temp
  // directory. Characters of `name` that are not letters, digits, '-' or
  // '_' become '_' (a parameterised test's name holds '/').
  explicit TempDir(const std::string& name, std::string base = "") {
    namespace fs = std::filesystem;
    if (base.empty()) base = fs::temp_directory_path().string();
    fs::create_directories(base);
    std::string clean = name;
    for (char& c : clean) {
      const bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok) c = '_';
    }
    std::string pattern = base + "/ovoflow-" + clean + "-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern + " failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace ovoflow::testing
