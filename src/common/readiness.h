// Why this process is not ready to serve, for /readyz. A component that
// cannot make progress (a stage stalled on one batch) reports it here and
// clears it once it moves again; /readyz answers 503 naming every problem.
#pragma once

#include <string>
#include <vector>

namespace ovoflow {

// Process-wide; thread-safe.
class Readiness {
 public:
  // Records (or replaces) `component`'s problem.
  static void Report(const std::string& component, const std::string& problem);
  // Forgets `component`'s problem, if any.
  static void Clear(const std::string& component);
  // "component: problem", one per component with a problem, sorted; empty
  // when nothing is wrong.
  static std::vector<std::string> Problems();
};

}  // namespace ovoflow
