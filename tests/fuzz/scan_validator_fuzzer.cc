// The pipeline's scan rules (common/validation.h) on any EggScan protobuf:
// what the inference worker applies to every record it reads from Kafka.
#include <cstddef>
#include <cstdint>

#include "common/validation.h"
#include "ovoflow/v1/egg_scan.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  ovoflow::v1::EggScan scan;
  if (!scan.ParseFromArray(data, static_cast<int>(size))) return 0;
  (void)ovoflow::CheckNoUnknownFields(scan);
  (void)ovoflow::ValidateScan(scan);
  return 0;
}
