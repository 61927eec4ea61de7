#include "common/log.h"

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace ovoflow {

void InitLogging(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    Fatal("unknown log level '" + level + "' (use trace, debug, info, warn, error, off)");
  spdlog::set_level(lvl);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
}

}  // namespace ovoflow
