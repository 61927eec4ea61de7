// `ovoflow edge`: the agent beside a scanner (docs/edge.md). DICOM images
// come in by C-STORE; each is written to the disk spool (fsync) before the
// scanner hears "success"; a complete series becomes one volume, the
// embryo is located and only its ROI (zstd) is spooled as an EggScan and
// forwarded to Kafka by an idempotent producer; a spool record is deleted
// only after the broker acknowledged it. Bad images and series become dead
// letters (spooled and forwarded the same way), never silent drops. While
// Kafka is away the spool fills up to its bound; when full, C-STORE answers
// Out of Resources (A700). On restart the agent resumes from the spool.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "common/topics.h"
#include "edge/dicom/series_assembler.h"
#include "edge/dicom/storage_scp.h"
#include "edge/embryo_locator.h"
#include "edge/sorter/modbus_sorter.h"
#include "edge/sorter/sort_scheduler.h"

namespace ovoflow::edge {

struct EdgeAgentOptions {
  std::string tenant_id;           // required: the hatchery owning this scanner's eggs
  std::string scanner_id;          // required
  std::string line_id;             // the sorting line this scanner feeds; empty: no deadline
  int64_t belt_travel_ms = 60000;  // capture to the line's diverter, ms (the scan's deadline)
  std::string brokers = kDefaultBrokers;
  bool topic_per_tenant = false;  // ovoflow.scans.v1.<tenant> (secured clusters) instead of the shared topic
  std::string spool_dir;          // required
  uint64_t spool_max_bytes = uint64_t{2} << 30;  // bound of the spool on disk, bytes
  StorageScpOptions scp;
  SeriesOptions series;
  LocatorOptions locator;
  std::array<uint32_t, 3> roi_dims = {32, 32, 16};  // the ROI cropped around the abdomen, voxels (x, y, z)
  bool compress = true;                             // zstd the ROI
  int64_t max_clock_skew_s = 300;                   // captured_at further ahead of this clock: dead letter
  // The sorting line (with line_id): the agent follows the predictions of
  // its scanner (read_committed) and actuates each scan once, by its
  // deadline (docs/sorter.md); decisions go to ovoflow.decisions.v1 (through
  // the spool) and, with modbus.port set, to the Modbus registers.
  int64_t safety_margin_ms = 500;  // a prediction later than deadline minus this: RECHECK
  uint32_t positions = 150;        // tray positions of the line
  bool modbus = false;             // serve the register map (modbus_options: host, port)
  ModbusSorterOptions modbus_options;
  std::string predictions_group;                    // consumer group; empty: "ovoflow-edge-<scanner_id>"
  std::string predictions_offset_reset = "latest";  // where a new group starts: a new agent does not actuate the past
};

struct EdgeAgentStats {
  uint64_t instances_stored = 0;        // C-STORE success after the spool's fsync
  uint64_t instances_rejected = 0;      // C-STORE error status (and a dead letter)
  uint64_t instances_refused_full = 0;  // A700: the spool was full
  uint64_t scans_spooled = 0;           // EggScans made from complete series
  uint64_t series_failed = 0;           // dead-lettered series
  uint64_t forwarded = 0;               // records the broker acknowledged (scans and dead letters)
  std::size_t spool_pending = 0;        // records waiting in the spool
  uint64_t spool_bytes = 0;
  uint64_t decisions = 0;  // actuations and late notices of this agent's scans
};

class EdgeAgent final : public InstanceSink {
 public:
  ~EdgeAgent() override;  // Stop()
  // Opens the spool (resuming what it holds), starts the forwarder and the
  // DICOM listener. InvalidArgument for bad options.
  static Result<std::unique_ptr<EdgeAgent>> Start(const EdgeAgentOptions& options, const Clock& clock = SystemClock());
  // Stops listening, assembles nothing more, waits up to `flush_ms` for the
  // forwarder to empty the spool (what remains stays for the next start).
  void Stop(int flush_ms = 5000);
  EdgeAgentStats stats() const;
  // The bound Modbus port (0 without Modbus).
  uint16_t modbus_port() const;

  uint16_t OnInstance(const std::string& calling_ae, ReadResult read, std::string dataset) override;

 private:
  EdgeAgent() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::edge
