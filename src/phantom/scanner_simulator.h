// Edge scanner agent: publishes EggScans from the MRI phantom simulator to
// ovoflow.scans.v1 at a paced rate. The true sex never travels with the
// scan; it goes to a separate labels file, for evaluation only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/topics.h"
#include "phantom/phantom.h"

namespace ovoflow::phantom {

struct ScannerOptions {
  std::string brokers = kDefaultBrokers;
  std::vector<std::string> tenants = {"hatchery-a", "hatchery-b"};  // hatcheries simulated
  int scanners_per_tenant = 2;
  double rate_per_s = 100;  // scans/s over all scanners; 0 = as fast as the producer takes them
  int64_t count = 0;        // scans to publish; 0 = until stopped
  uint64_t seed = 42;       // phantom stream seed (scan i is phantom (seed, first_index + i))
  uint64_t first_index = 0;
  std::string run_id;             // egg_id prefix; default: derived from the start time
  std::string labels_path;        // CSV egg_id,tenant_id,scanner_id,sex, a line per acknowledged scan; empty = none
  int tray_size = 150;            // eggs per tray
  bool compress = false;          // zstd the volume
  bool topic_per_tenant = false;  // ovoflow.scans.v1.<tenant> (secured clusters) instead of the shared topic
  PhantomOptions phantom;
};

struct ScannerReport {
  int64_t published = 0;  // acknowledged by the broker
  int64_t failed = 0;     // given up after retries (only on stop while the broker is away)
  double seconds = 0;
  double achieved_rate_per_s = 0;
};

class ScannerSimulator {
 public:
  ~ScannerSimulator();
  static Result<std::unique_ptr<ScannerSimulator>> Create(const ScannerOptions& options);
  // Publishes until `count` scans are acknowledged or `stop` is true; then
  // flushes. Failed deliveries are re-sent with the same egg_id. An error
  // when a scan cannot be built or the producer refuses it for good.
  Result<ScannerReport> Run(const std::atomic<bool>& stop);
  const std::string& run_id() const;

 private:
  ScannerSimulator() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::phantom
