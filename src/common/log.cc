#include "common/log.h"

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include "common/status.h"

namespace ovoflow {
namespace {

// protobuf's own messages (a parse that met invalid UTF-8, say) go through
// our logger instead of raw "[libprotobuf ERROR]" lines on stderr.
void ProtobufLog(google::protobuf::LogLevel level, const char* filename, int line, const std::string& message) {
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
    case google::protobuf::LOGLEVEL_WARNING:
      spdlog::debug("protobuf {}:{}: {}", filename, line, message);
      break;
    default:
      spdlog::warn("protobuf {}:{}: {}", filename, line, message);
      break;
  }
}

}  // namespace

void InitLogging(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    Fatal("unknown log level '" + level + "' (use trace, debug, info, warn, error, off)");
  spdlog::set_level(lvl);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  google::protobuf::SetLogHandler(ProtobufLog);
}

}  // namespace ovoflow
