// The model registry: a directory tree <root>/<name>/<version>/ whose leaves
// are model directories (model.json + weights, see classifier.h), e.g.
// models/gonad-cnn/2.1.0/. Which version serves is decided elsewhere (a
// ModelActivation on ovoflow.models.v1, see model_control.h); without one,
// the highest version of kDefaultModelName does.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "ovoflow/v1/model.pb.h"

namespace ovoflow::inference {

inline constexpr char kDefaultModelName[] = "gonad-cnn";
// The committed default model, models/gonad-cnn/<this>/, which `ovoflow
// train` rebuilds with its defaults (docs/model.md).
inline constexpr char kDefaultModelVersion[] = "2.1.0";
// "<source_dir>/models/gonad-cnn/<kDefaultModelVersion>": the committed model.
inline std::string CommittedModelDir(const std::string& source_dir) {
  return source_dir + "/models/" + kDefaultModelName + "/" + kDefaultModelVersion;
}

struct RegisteredModel {
  std::string name;     // directory name == metadata.name()
  std::string version;  // directory name == metadata.version()
  std::string dir;      // <root>/<name>/<version>
  v1::ModelMetadata metadata;
};

// <0, 0 or >0 as a orders before, with or after b: dot-separated parts,
// numerically when both parts are digits ("1.10.0" after "1.9.0"), else as
// text; a missing part orders first ("1.0" before "1.0.1").
int CompareVersions(std::string_view a, std::string_view b);

// OK when `value` can name a registry directory: 1-64 characters of
// [A-Za-z0-9._-], not starting with '.' (no "..", no slashes).
// InvalidArgument naming `what` ("model name", "version") otherwise.
Status ValidateRegistryName(std::string_view what, std::string_view value);

// Read-only view of the directory tree; holds no state but the root, so it
// is cheap to copy and thread-safe. Every call reads the disk again.
class ModelRegistry {
 public:
  explicit ModelRegistry(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  // Every valid model, by name, then by ascending version. Directories that
  // are not valid models (no or broken model.json, or one naming another
  // name/version) are skipped; `skipped`, when given, receives why.
  // NotFound when the root is not a directory.
  Result<std::vector<RegisteredModel>> List(std::vector<std::string>* skipped = nullptr) const;

  // NotFound when <root>/<name>/<version> does not exist; InvalidArgument
  // for a bad name or version, a broken model.json, or a model.json whose
  // name/version differ from the path.
  Result<RegisteredModel> Find(const std::string& name, const std::string& version) const;

  // The highest valid version of `name`; NotFound when there is none.
  Result<RegisteredModel> Latest(const std::string& name) const;

 private:
  std::string root_;
};

// Which (name, version) pairs the registry holds, for the store writer's
// "unknown model" check. Thread-safe. A pair not seen before makes it list
// the registry again (a model added just now is found at once); a pair
// already found missing is answered from memory for `refresh_ms`, so a
// stream of predictions of an unknown model costs no disk reads.
class KnownModels {
 public:
  explicit KnownModels(ModelRegistry registry, int refresh_ms = 5000)
      : registry_(std::move(registry)), refresh_ms_(refresh_ms) {}
  // Whether the registry holds name/version; Unavailable when the registry
  // cannot be read (say so later, do not guess).
  Result<bool> Contains(const std::string& name, const std::string& version);

 private:
  ModelRegistry registry_;
  const int refresh_ms_;
  std::mutex mu_;
  std::set<std::pair<std::string, std::string>> known_;  // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, int64_t>
      missing_;  // GUARDED_BY(mu_): monotonic ns of the listing that missed it
};

}  // namespace ovoflow::inference
