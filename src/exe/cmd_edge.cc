// `ovoflow edge`: the agent beside a scanner (DICOM in, spool, Kafka out).
// `ovoflow phantom export`: phantom eggs as DICOM series, for storescu and
// other tools (docs/edge.md).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "common/clock.h"
#include "common/log.h"
#include "common/progress.h"
#include "edge/agent.h"
#include "exe/commands.h"
#include "exe/metrics_endpoint.h"
#include "exe/signals.h"
#include "phantom/dicom_export.h"

namespace ovoflow::exe {

void AddEdgeCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<edge::EdgeAgentOptions>();
  auto m = std::make_shared<MetricsFlags>();
  auto tag_map = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("edge", "Run the edge agent: DICOM C-STORE in, spool, EggScans to Kafka");
  cmd->add_option("--tenant", o->tenant_id, "the hatchery owning this scanner's eggs")->required();
  cmd->add_option("--scanner-id", o->scanner_id, "this scanner's id")->required();
  cmd->add_option("--line", o->line_id, "the sorting line the scanner feeds (sets each scan's deadline)");
  cmd->add_option("--belt-travel-ms", o->belt_travel_ms, "capture to the line's diverter (ms)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--spool", o->spool_dir, "spool directory (created if missing)")->required();
  cmd->add_option("--spool-max-bytes", o->spool_max_bytes, "bound of the spool; when full C-STORE answers A700")
      ->capture_default_str();
  cmd->add_option("--ae-title", o->scp.ae_title, "the agent's AE title")->capture_default_str();
  cmd->add_option("--dicom-port", o->scp.port, "DICOM port")->capture_default_str();
  cmd->add_option("--allow-ae", o->scp.allowed_calling, "calling AE title let in (repeatable; none: any)");
  cmd->add_option("--max-associations", o->scp.max_associations, "associations at once")->capture_default_str();
  cmd->add_option("--dicom-tls-cert", o->scp.tls_certificate, "DICOM over TLS: the agent's certificate (PEM)");
  cmd->add_option("--dicom-tls-key", o->scp.tls_private_key, "DICOM over TLS: its private key (PEM)");
  cmd->add_option("--dicom-tls-ca", o->scp.tls_ca, "DICOM over TLS: the CA of the scanners' client certificates");
  cmd->add_option("--tag-map", *tag_map, "DICOM attribute -> EggScan field map (docs/edge.md)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--series-quiet-ms", o->series.quiet_ms,
                  "a series without a new image this long is assembled as it is (ms)")
      ->capture_default_str();
  cmd->add_flag("--scan-topic-per-tenant", o->topic_per_tenant,
                "publish to ovoflow.scans.v1.<tenant> (secured clusters) instead of the shared topic");
  cmd->add_option("--max-clock-skew-s", o->max_clock_skew_s,
                  "dead-letter a series whose capture time is further ahead of this clock (s)")
      ->capture_default_str();
  cmd->add_option("--safety-margin-ms", o->safety_margin_ms,
                  "a prediction later than the deadline minus this is actuated RECHECK (ms)")
      ->capture_default_str();
  cmd->add_option("--positions", o->positions, "tray positions of the line")->capture_default_str();
  auto modbus = std::make_shared<std::string>();
  cmd->add_option("--modbus-listen", *modbus,
                  "serve the sorter's Modbus TCP register map on HOST:PORT (docs/sorter.md); needs --line");
  AddMetricsFlags(cmd, m.get(), 0);
  cmd->callback([&g, o, m, tag_map, modbus] {
    if (!modbus->empty()) {
      const auto colon = modbus->rfind(':');
      if (colon == std::string::npos || o->line_id.empty())
        Fatal("edge: --modbus-listen takes HOST:PORT and needs --line");
      o->modbus = true;
      o->modbus_options.host = modbus->substr(0, colon);
      o->modbus_options.port = static_cast<uint16_t>(std::stoi(modbus->substr(colon + 1)));
    }
    InitLogging(g.log_level);
    auto& stop = InstallStopSignals();
    o->brokers = g.brokers;
    if (!tag_map->empty()) {
      auto map = edge::TagMap::Load(*tag_map);
      if (!map.ok()) Fatal(map.status().ToString());
      o->scp.tag_map = *map;
    }
    auto metrics = StartMetricsEndpoint(*m);
    auto agent = edge::EdgeAgent::Start(*o);
    if (!agent.ok()) Fatal("edge: " + agent.status().ToString());
    std::printf("edge: listening on DICOM port %u\n", static_cast<unsigned>(o->scp.port));
    (void)std::fflush(stdout);
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (*agent)->Stop(5000);
    const auto s = (*agent)->stats();
    spdlog::info("edge: stored {} image(s), rejected {}, refused (full) {}, scans {}, failed series {}, forwarded {}",
                 s.instances_stored, s.instances_rejected, s.instances_refused_full, s.scans_spooled, s.series_failed,
                 s.forwarded);
  });
}

void AddPhantomCommand(CLI::App& app, const GlobalFlags& g) {
  struct ExportFlags {
    phantom::PhantomOptions phantom;
    std::string out;
    std::string format = "dicom";
    std::string layout = "single";
    int count = 1;
    uint64_t seed = 42;
    std::string tray_id = "tray-1";
    uint32_t incubation_day = 12;
  };
  auto f = std::make_shared<ExportFlags>();
  CLI::App* cmd = app.add_subcommand("phantom", "The MRI phantom as files");
  cmd->require_subcommand(1);
  CLI::App* ex = cmd->add_subcommand("export", "Write phantom eggs as DICOM series (one folder per egg)");
  ex->add_option("--out", f->out, "output directory")->required();
  ex->add_option("--format", f->format, "dicom")->check(CLI::IsMember({"dicom"}))->capture_default_str();
  ex->add_option("--layout", f->layout, "single: one MR image per slice; enhanced: one Enhanced MR multi-frame")
      ->check(CLI::IsMember({"single", "enhanced"}))
      ->capture_default_str();
  ex->add_option("--count", f->count, "eggs")->check(CLI::Range(1, 100000))->capture_default_str();
  ex->add_option("--seed", f->seed, "phantom seed (egg i is phantom (seed, i))")->capture_default_str();
  ex->add_option("--tray", f->tray_id, "tray id (AccessionNumber); positions are 0..count-1 (StudyID)")
      ->capture_default_str();
  AddPhantomFlags(ex, &f->phantom);
  ex->callback([&g, f] {
    InitLogging(g.log_level);
    if (Status st = phantom::ValidatePhantomOptions(f->phantom); !st.ok()) Fatal(st.ToString());
    const phantom::PhantomGenerator gen(f->phantom);
    ProgressBar progress("phantom export", f->count);
    for (int i = 0; i < f->count; ++i) {
      const phantom::EggVolume egg = gen.RenderEgg(f->seed, static_cast<uint64_t>(i));
      phantom::DicomSeriesInfo info;
      info.egg_id = "phantom-" + std::to_string(f->seed) + "-" + std::to_string(i);
      info.tray_id = f->tray_id;
      info.tray_position = static_cast<uint32_t>(i);
      info.incubation_day = f->phantom.incubation_day;
      info.captured_at_ns = SystemClock().NowUnixNanos();
      info.station_name = "ovoflow-phantom";
      info.layout =
          f->layout == "enhanced" ? phantom::DicomLayout::kEnhancedMultiFrame : phantom::DicomLayout::kSingleFrame;
      auto paths = phantom::WriteDicomSeries(egg.volume, info, f->out + "/" + info.egg_id);
      if (!paths.ok()) Fatal(paths.status().ToString());
      progress.Update(i + 1);
    }
    progress.Done();
  });
}

}  // namespace ovoflow::exe
