// Logging setup. Components log with spdlog (spdlog::info(...)); this sets
// the level and pattern once per process.
#pragma once

#include <string>

namespace ovoflow {

// level: trace, debug, info, warn, error, off. Bad level -> Fatal.
void InitLogging(const std::string& level);

}  // namespace ovoflow
