#include "common/readiness.h"

#include <map>
#include <mutex>
#include <utility>

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
  out.reserve(s.problems.size());
  for (const auto& [c, p] : s.problems) {
    std::string line = c;
    line += ": ";
    line += p;
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace ovoflow
