#include "inference/model_registry.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

#include "common/clock.h"
#include "common/validation.h"
#include "inference/classifier.h"

namespace ovoflow::inference {
namespace fs = std::filesystem;

namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::string_view NextPart(std::string_view* rest) {
  std::size_t dot = rest->find('.');
  std::string_view part = rest->substr(0, dot);
  rest->remove_prefix(dot == std::string_view::npos ? rest->size() : dot + 1);
  return part;
}

}  // namespace

int CompareVersions(std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    if (a.empty()) return -1;
    if (b.empty()) return 1;
    std::string_view pa = NextPart(&a), pb = NextPart(&b);
    if (AllDigits(pa) && AllDigits(pb)) {
      pa.remove_prefix(std::min(pa.find_first_not_of('0'), pa.size() - 1));
      pb.remove_prefix(std::min(pb.find_first_not_of('0'), pb.size() - 1));
      if (pa.size() != pb.size()) return pa.size() < pb.size() ? -1 : 1;
    }
    if (int c = pa.compare(pb); c != 0) return c < 0 ? -1 : 1;
  }
  return 0;
}

Status ValidateRegistryName(std::string_view what, std::string_view value) { return CheckRegistryName(what, value); }

Result<RegisteredModel> ModelRegistry::Find(const std::string& name, const std::string& version) const {
  OVOFLOW_RETURN_IF_ERROR(ValidateRegistryName("model name", name));
  OVOFLOW_RETURN_IF_ERROR(ValidateRegistryName("version", version));
  const fs::path dir = fs::path(root_) / name / version;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound("no model " + name + " " + version + " in " + root_);
  Result<v1::ModelMetadata> meta = ReadModelMetadata(dir.string());
  if (!meta.ok()) return Status::InvalidArgument(dir.string() + ": " + meta.status().message());
  if (meta->name() != name || meta->version() != version)
    return Status::InvalidArgument(dir.string() + "/model.json names " + meta->name() + " " + meta->version() +
                                   ", not the " + name + " " + version + " of its path");
  return RegisteredModel{name, version, dir.string(), std::move(meta).value()};
}

Result<std::vector<RegisteredModel>> ModelRegistry::List(std::vector<std::string>* skipped) const {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return Status::NotFound("no model registry directory " + root_);
  std::vector<RegisteredModel> out;
  auto skip = [&](std::string why) {
    if (skipped) skipped->push_back(std::move(why));
  };
  try {  // directory_iterator's increment throws on I/O errors
    for (const auto& name_entry : fs::directory_iterator(root_, ec)) {
      if (!name_entry.is_directory(ec)) continue;
      const std::string name = name_entry.path().filename().string();
      if (!ValidateRegistryName("model name", name).ok()) continue;  // hidden or foreign directories
      for (const auto& version_entry : fs::directory_iterator(name_entry.path(), ec)) {
        if (!version_entry.is_directory(ec)) continue;
        auto model = Find(name, version_entry.path().filename().string());
        if (model.ok())
          out.push_back(std::move(model).value());
        else
          skip(model.status().message());
      }
    }
  } catch (const fs::filesystem_error& e) {
    return Status::Unavailable("reading " + root_ + ": " + e.what());
  }
  if (ec) return Status::Unavailable("reading " + root_ + ": " + ec.message());
  std::sort(out.begin(), out.end(), [](const RegisteredModel& a, const RegisteredModel& b) {
    if (a.name != b.name) return a.name < b.name;
    return CompareVersions(a.version, b.version) < 0;
  });
  return out;
}

Result<RegisteredModel> ModelRegistry::Latest(const std::string& name) const {
  OVOFLOW_ASSIGN_OR_RETURN(auto all, List());
  const RegisteredModel* best = nullptr;
  for (const auto& m : all)
    if (m.name == name) best = &m;  // ascending: the last one is the highest
  if (best == nullptr) return Status::NotFound("no valid version of model " + name + " in " + root_);
  return *best;
}

Result<bool> KnownModels::Contains(const std::string& name, const std::string& version) {
  std::lock_guard lock(mu_);
  const std::pair<std::string, std::string> key{name, version};
  if (known_.count(key)) return true;
  const int64_t now = SystemClock().MonotonicNanos();
  if (auto it = missing_.find(key); it != missing_.end() && now - it->second < int64_t{refresh_ms_} * 1'000'000)
    return false;
  auto models = registry_.List();
  if (!models.ok()) return Status::Unavailable("model registry " + registry_.root() + ": " + models.status().message());
  for (const auto& m : *models) known_.insert({m.name, m.version});
  if (known_.count(key)) {
    missing_.erase(key);
    return true;
  }
  missing_[key] = now;
  return false;
}

}  // namespace ovoflow::inference
