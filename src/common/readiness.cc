#include "common/readiness.h"

#include <map>
#include <mutex>

namespace ovoflow {
namespace {

struct State {
  std::mutex mu;
  std::map<std::string, std::string> problems;  // GUARDED_BY(mu)
};

State& Get() {
  static State* s = new State();  // never destroyed: reporters may outlive static destruction order
  return *s;
}

}  // namespace

void Readiness::Report(const std::string& component, const std::string& problem) {
  State& s = Get();
  std::lock_guard lock(s.mu);
  s.problems[component] = problem;
}

void Readiness::Clear(const std::string& component) {
  State& s = Get();
  std::lock_guard lock(s.mu);
  s.problems.erase(component);
}

std::vector<std::string> Readiness::Problems() {
  State& s = Get();
  std::lock_guard lock(s.mu);
  std::vector<std::string> out;
  for (const auto& [c, p] : s.problems) out.push_back(c + ": " + p);
  return out;
}

}  // namespace ovoflow
