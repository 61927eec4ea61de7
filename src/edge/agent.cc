#include "edge/agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "bus/consumer.h"
#include "bus/dead_letter.h"
#include "bus/producer.h"
#include "common/metrics.h"
#include "common/validation.h"
#include "common/volume.h"
#include "edge/spool.h"

namespace ovoflow::edge {
namespace {

// Spool record kinds.
constexpr uint8_t kInstanceRecord = 1;    // a received image: Explicit VR LE dataset, key SOPInstanceUID
constexpr uint8_t kScanRecord = 2;        // an EggScan to forward, key "scan:<scan_id>"
constexpr uint8_t kDeadLetterRecord = 3;  // a DeadLetter to forward, key "dl:<original key>"
constexpr uint8_t kDecisionRecord = 4;    // a SortDecision to forward, key "decision:<scan_id>:<sequence>[:late]"

struct AgentMetrics {
  prometheus::Family<prometheus::Counter>& instances;
  prometheus::Family<prometheus::Counter>& series;
  prometheus::Counter& forwarded;
  prometheus::Gauge& spool_records;
  prometheus::Gauge& spool_bytes;
  prometheus::Gauge& spool_full;
};

AgentMetrics& Metrics() {
  static AgentMetrics* m = [] {
    auto& reg = MetricsRegistry();
    auto& forwarded = prometheus::BuildCounter()
                          .Name("ovoflow_edge_forwarded_total")
                          .Help("Spooled records the broker acknowledged (scans and dead letters)")
                          .Register(reg);
    auto& records = prometheus::BuildGauge()
                        .Name("ovoflow_edge_spool_records")
                        .Help("Records waiting in the edge spool")
                        .Register(reg);
    auto& bytes =
        prometheus::BuildGauge().Name("ovoflow_edge_spool_bytes").Help("Bytes of the edge spool on disk").Register(reg);
    auto& full = prometheus::BuildGauge()
                     .Name("ovoflow_edge_spool_full")
                     .Help("1 while the spool is full (C-STORE answers A700)")
                     .Register(reg);
    return new AgentMetrics{prometheus::BuildCounter()
                                .Name("ovoflow_edge_instances_total")
                                .Help("DICOM images received, by outcome (stored, rejected, spool_full)")
                                .Register(reg),
                            prometheus::BuildCounter()
                                .Name("ovoflow_edge_series_total")
                                .Help("DICOM series finished, by outcome (scan, dead_letter)")
                                .Register(reg),
                            forwarded.Add({}),
                            records.Add({}),
                            bytes.Add({}),
                            full.Add({})};
  }();
  return *m;
}

std::string Hex(uint16_t v) {
  char buf[8];
  (void)std::snprintf(buf, sizeof buf, "%04X", v);
  return buf;
}

}  // namespace

struct EdgeAgent::Impl {
  EdgeAgentOptions options;
  const Clock* clock = nullptr;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<bus::Producer> producer;
  std::unique_ptr<SeriesAssembler> assembler;
  std::unique_ptr<StorageScp> scp;
  std::unique_ptr<SortScheduler> scheduler;
  std::unique_ptr<ModbusSorter> modbus;
  std::thread follower;
  std::atomic<uint64_t> decisions{0};
  EmbryoLocator locator;
  std::string scan_topic;

  std::mutex mu;
  std::condition_variable wake;
  std::map<std::string, std::vector<uint64_t>> instance_seqs;  // GUARDED_BY(mu): series UID -> spool seqs
  std::set<uint64_t> in_flight;                                // GUARDED_BY(mu)
  uint64_t resend_from = 0;                                    // GUARDED_BY(mu): 0 = none
  bool stopping = false;                                       // GUARDED_BY(mu)
  std::atomic<bool> stop_called{false};
  std::thread forwarder, expirer;
  std::atomic<uint64_t> stored{0}, rejected{0}, refused_full{0}, scans{0}, failed_series{0}, forwarded{0};

  // The listener and the producer go first: their threads call into the rest.
  ~Impl() {
    scp.reset();
    if (scheduler) scheduler->StopTimerThread();
    producer.reset();
  }

  // The scheduler's sink: Modbus at once, Kafka through the spool.
  void Decide(const v1::SortDecision& d) {
    decisions.fetch_add(1);
    if (modbus && !d.late()) {
      if (Status st = modbus->Apply(d); !st.ok()) spdlog::error("edge: Modbus: {}", st.ToString());
    }
    uint64_t seq = 0;
    const std::string key = "decision:" + d.scan_id() + ":" + std::to_string(d.sequence()) + (d.late() ? ":late" : "");
    if (Status st = spool->Append(kDecisionRecord, key, d.SerializeAsString(), &seq);
        !st.ok() && st.code() != StatusCode::kAlreadyExists)
      spdlog::error("edge: decision for {} not spooled: {}", d.egg_id(), st.ToString());
    wake.notify_all();
  }

  // Follows this scanner's predictions (read_committed) into the scheduler.
  void Follow() {
    bus::ConsumerOptions co;
    co.brokers = options.brokers;
    co.group_id = options.predictions_group.empty() ? "ovoflow-edge-" + options.scanner_id : options.predictions_group;
    co.client_id = "ovoflow-edge-" + options.scanner_id;
    co.topics = {kPredictionsTopic};
    co.auto_offset_reset = options.predictions_offset_reset;
    co.read_committed = true;
    auto consumer = bus::Consumer::Create(co);
    if (!consumer.ok()) {
      spdlog::error("edge: cannot follow predictions: {}", consumer.status().ToString());
      return;
    }
    while (true) {
      {
        std::lock_guard lock(mu);
        if (stopping) break;
      }
      auto batch = (*consumer)->Poll(256, 200);
      if (!batch.ok()) {
        spdlog::warn("edge: predictions: {}", batch.status().ToString());
        continue;
      }
      for (const bus::Message& m : *batch) {
        v1::Prediction p;
        if (!p.ParseFromString(m.value) || p.scanner_id() != options.scanner_id) continue;
        (void)scheduler->OnPrediction(p);
      }
      if (!batch->empty()) (void)(*consumer)->Commit(*batch);
    }
    (*consumer)->Close();
  }

  int64_t NowMs() const { return clock->MonotonicNanos() / 1'000'000; }

  // Spools a dead letter for `key` (an image's or a series' UID).
  void DeadLetter(const std::string& key, const std::string& original, const std::string& kind,
                  const std::string& reason) {
    bus::Message m;
    m.topic = "dicom:" + options.scanner_id;
    m.key = key;
    m.value = original;
    const bus::OutgoingMessage dl = bus::DeadLetterFor(m, "edge", kind, reason);
    uint64_t seq = 0;
    const Status st = spool->Append(kDeadLetterRecord, "dl:" + key, dl.value, &seq);
    if (!st.ok() && st.code() != StatusCode::kAlreadyExists)
      spdlog::error("edge: dead letter for {} could not be spooled ({}): {}", key, st.ToString(), reason);
    bus::CountDeadLetter("edge", kind);
    spdlog::warn("edge: dead letter for {}: {}", key, reason);
    wake.notify_all();
  }

  // A finished series: its EggScan (or its dead letter) is spooled, then
  // its images are acknowledged in the spool.
  void Finish(const SeriesOutcome& outcome) {
    std::vector<uint64_t> seqs;
    {
      std::lock_guard lock(mu);
      auto it = instance_seqs.find(outcome.series_instance_uid);
      if (it != instance_seqs.end()) {
        seqs = std::move(it->second);
        instance_seqs.erase(it);
      }
    }
    Result<v1::EggScan> scan = MakeScan(outcome);
    if (scan.ok()) {
      uint64_t seq = 0;
      const Status st = spool->Append(kScanRecord, "scan:" + scan->scan_id(), scan->SerializeAsString(), &seq);
      if (!st.ok() && st.code() != StatusCode::kAlreadyExists) {
        // The images stay in the spool: the series is assembled again after a restart.
        spdlog::error("edge: scan {} could not be spooled: {}", scan->scan_id(), st.ToString());
        return;
      }
      scans.fetch_add(1);
      Metrics().series.Add({{"outcome", "scan"}}).Increment();
      if (scheduler && st.ok()) {
        if (Status e = scheduler->Expect(TicketForScan(*scan)); !e.ok())
          spdlog::warn("edge: scan {} not armed for the sorter: {}", scan->scan_id(), e.ToString());
      }
    } else {
      failed_series.fetch_add(1);
      Metrics().series.Add({{"outcome", "dead_letter"}}).Increment();
      DeadLetter(outcome.series_instance_uid, std::string(), "invalid_series", scan.status().message());
    }
    if (!seqs.empty()) {
      if (Status st = spool->AckBatch(seqs); !st.ok()) spdlog::error("edge: acking images: {}", st.ToString());
    }
    wake.notify_all();
  }

  Result<v1::EggScan> MakeScan(const SeriesOutcome& outcome) {
    if (!outcome.result.ok())
      return Status::InvalidArgument("series " + outcome.series_instance_uid + ": " +
                                     outcome.result.status().message());
    const AssembledSeries& series = *outcome.result;
    v1::EggScan scan;
    OVOFLOW_RETURN_IF_ERROR(ApplyTagMap(options.scp.tag_map, series.mapped, &scan));
    scan.set_tenant_id(options.tenant_id);
    scan.set_scanner_id(options.scanner_id);
    scan.set_scan_id(series.series_instance_uid);
    if (!options.line_id.empty()) {
      scan.set_line_id(options.line_id);
      *scan.mutable_deadline() =
          ToTimestamp(FromTimestamp(scan.captured_at()) + options.belt_travel_ms * int64_t{1'000'000});
    }
    auto found = locator.Locate(series.volume);
    if (!found.ok())
      return Status::InvalidArgument("series " + series.series_instance_uid + ": no embryo located (" +
                                     found.status().message() + ")");
    const std::array<uint32_t, 3> dims{series.volume.dim_x(), series.volume.dim_y(), series.volume.dim_z()};
    for (std::size_t a = 0; a < 3; ++a)
      if (dims[a] < options.roi_dims[a])
        return Status::InvalidArgument("series " + series.series_instance_uid + ": the volume is smaller than the ROI");
    OVOFLOW_ASSIGN_OR_RETURN(
        v1::Volume roi,
        CropVolume(series.volume, RoiOrigin(found->abdomen_voxel, dims, options.roi_dims), options.roi_dims));
    if (options.compress) OVOFLOW_RETURN_IF_ERROR(CompressVolume(&roi));
    *scan.mutable_volume() = std::move(roi);
    ScanLimits limits;
    limits.max_future_skew_s = options.max_clock_skew_s;
    if (Status st = ValidateScan(scan, limits, *clock); !st.ok())
      return Status::InvalidArgument("series " + series.series_instance_uid + ": " + st.message());
    return scan;
  }

  // Adds a (received or recovered) image to its series.
  void Assemble(DicomInstance instance, uint64_t seq) {
    const std::string series = instance.series_instance_uid;
    const std::string sop = instance.sop_instance_uid;
    {
      std::lock_guard lock(mu);
      instance_seqs[series].push_back(seq);
    }
    auto added = assembler->Add(std::move(instance), NowMs());
    if (!added.ok()) {
      DeadLetter(sop, std::string(), "invalid_image", added.status().message());
      (void)spool->Ack(seq);
      return;
    }
    if (*added) Finish(**added);
  }

  void Resume() {
    uint64_t after = 0;
    std::size_t images = 0;
    for (;;) {
      auto batch = spool->NextPending(256, after);
      if (!batch.ok() || batch->empty()) break;
      for (SpoolRecord& r : *batch) {
        after = r.seq;
        if (r.kind != kInstanceRecord) continue;
        ReadResult read = ReadDicom(r.payload, options.scp.tag_map, options.scp.limits);
        if (!read.instance) {
          (void)spool->Ack(r.seq);
          continue;
        }
        Assemble(std::move(*read.instance), r.seq);
        ++images;
      }
    }
    if (images > 0) spdlog::info("edge: resumed {} spooled image(s) into their series", images);
  }

  void Forward() {
    uint64_t after = 0;
    uint64_t idle_passes = 0;
    while (true) {
      {
        std::unique_lock lock(mu);
        if (resend_from != 0) {
          after = resend_from - 1;
          resend_from = 0;
        }
        if (stopping) break;  // after Stop()'s flush: what is left stays in the spool
      }
      Metrics().spool_records.Set(static_cast<double>(spool->pending_count()));
      Metrics().spool_bytes.Set(static_cast<double>(spool->bytes_used()));
      Metrics().spool_full.Set(spool->full() ? 1 : 0);
      auto batch = spool->NextPending(64, after, std::size_t{16} << 20);
      if (!batch.ok()) {
        spdlog::error("edge: reading the spool: {}", batch.status().ToString());
        batch = std::vector<SpoolRecord>();
      }
      if (batch->empty()) {
        std::unique_lock lock(mu);
        if (stopping) break;
        wake.wait_for(lock, std::chrono::milliseconds(200));
        // Now and then a full pass again (a record synced after a later one was read).
        if (++idle_passes % 25 == 0) after = 0;
        continue;
      }
      for (SpoolRecord& r : *batch) {
        after = r.seq;
        if (r.kind == kInstanceRecord) continue;
        {
          std::lock_guard lock(mu);
          if (!in_flight.insert(r.seq).second) continue;
        }
        std::string topic, key;
        if (r.kind == kScanRecord) {
          v1::EggScan scan;
          if (!scan.ParseFromString(r.payload)) {
            spdlog::error("edge: spool record {} is no EggScan: dropped", r.seq);
            (void)spool->Ack(r.seq);
            std::lock_guard lock(mu);
            in_flight.erase(r.seq);
            continue;
          }
          topic = scan_topic.empty() ? ScanTopicFor(scan.tenant_id()) : scan_topic;
          key = scan.egg_id();
        } else if (r.kind == kDecisionRecord) {
          v1::SortDecision d;
          (void)d.ParseFromString(r.payload);
          topic = kDecisionsTopic;
          key = d.egg_id();
        } else {
          topic = kDeadLetterTopic;
          key = r.key.substr(3);
        }
        const uint64_t seq = r.seq;
        const Status st =
            producer->Send(topic, key, r.payload, {{"ovoflow-source", "edge"}}, [this, seq](const Status& s) {
              if (s.ok()) {
                (void)spool->Ack(seq);
                forwarded.fetch_add(1);
                Metrics().forwarded.Increment();
              } else {
                spdlog::warn("edge: forwarding spool record {} failed ({}); it is sent again", seq, s.ToString());
              }
              std::lock_guard lock(mu);
              in_flight.erase(seq);
              if (!s.ok() && (resend_from == 0 || seq < resend_from)) resend_from = seq;
              wake.notify_all();
            });
        if (!st.ok()) {
          std::lock_guard lock(mu);
          in_flight.erase(seq);
          if (resend_from == 0 || seq < resend_from) resend_from = seq;
          if (st.code() == StatusCode::kInvalidArgument)
            spdlog::error("edge: record {} refused: {}", seq, st.ToString());
        }
      }
    }
  }

  void Expire() {
    std::unique_lock lock(mu);
    while (!stopping) {
      wake.wait_for(lock, std::chrono::milliseconds(250));
      lock.unlock();
      for (const SeriesOutcome& o : assembler->Expire(NowMs())) Finish(o);
      lock.lock();
    }
  }
};

EdgeAgent::~EdgeAgent() { Stop(0); }

Result<std::unique_ptr<EdgeAgent>> EdgeAgent::Start(const EdgeAgentOptions& options, const Clock& clock) {
  OVOFLOW_RETURN_IF_ERROR(CheckTenantId("tenant_id", options.tenant_id));
  OVOFLOW_RETURN_IF_ERROR(CheckText("scanner_id", options.scanner_id, kMaxNameBytes, true));
  OVOFLOW_RETURN_IF_ERROR(CheckText("line_id", options.line_id, kMaxNameBytes, false));
  if (options.spool_dir.empty()) return Status::InvalidArgument("edge: a spool directory is required");
  if (options.belt_travel_ms < 1) return Status::InvalidArgument("edge: belt_travel_ms must be >= 1");
  std::unique_ptr<EdgeAgent> agent(new EdgeAgent());
  agent->impl_ = std::make_unique<Impl>();
  Impl& im = *agent->impl_;
  im.options = options;
  im.clock = &clock;
  im.locator = EmbryoLocator(options.locator);
  im.scan_topic = options.topic_per_tenant ? std::string() : std::string(kScansTopic);
  SpoolOptions so;
  so.dir = options.spool_dir;
  so.max_bytes = options.spool_max_bytes;
  so.segment_bytes = std::min<uint64_t>(so.segment_bytes, std::max<uint64_t>(options.spool_max_bytes / 4, 1u << 20));
  OVOFLOW_ASSIGN_OR_RETURN(im.spool, Spool::Open(so));
  bus::ProducerOptions po;
  po.brokers = options.brokers;
  po.client_id = "ovoflow-edge-" + options.scanner_id;
  po.delivery_timeout_ms = 300000;  // the spool keeps every record: librdkafka may give up, the agent resends
  OVOFLOW_ASSIGN_OR_RETURN(im.producer, bus::Producer::Create(po));
  im.assembler = std::make_unique<SeriesAssembler>(options.series);
  if (!options.line_id.empty()) {
    if (options.modbus) {
      ModbusSorterOptions mo = options.modbus_options;
      mo.line_id = options.line_id;
      mo.positions = options.positions;
      OVOFLOW_ASSIGN_OR_RETURN(im.modbus, ModbusSorter::Start(mo));
      im.modbus->SetReady(true);
    }
    SortSchedulerOptions so2;
    so2.line_id = options.line_id;
    so2.belt_travel_ms = options.belt_travel_ms;
    so2.safety_margin_ms = options.safety_margin_ms;
    so2.positions = options.positions;
    OVOFLOW_ASSIGN_OR_RETURN(im.scheduler, SortScheduler::Create(
                                               so2, [&im](const v1::SortDecision& d) { im.Decide(d); }, clock));
    im.scheduler->StartTimerThread();
  }
  im.Resume();
  im.forwarder = std::thread([&im] { im.Forward(); });
  im.expirer = std::thread([&im] { im.Expire(); });
  if (im.scheduler) im.follower = std::thread([&im] { im.Follow(); });
  auto scp = StorageScp::Start(options.scp, agent.get());
  if (!scp.ok()) {
    agent->Stop(0);
    return scp.status();
  }
  im.scp = std::move(scp).value();
  spdlog::info("edge: tenant {} scanner {} line {}; spool {} ({} record(s) pending)", options.tenant_id,
               options.scanner_id, options.line_id.empty() ? "-" : options.line_id, options.spool_dir,
               im.spool->pending_count());
  return agent;
}

void EdgeAgent::Stop(int flush_ms) {
  if (!impl_) return;
  Impl& im = *impl_;
  if (im.scp) im.scp->Stop();
  if (im.stop_called.exchange(true)) return;
  // Let the forwarder send what is spooled for up to flush_ms, then stop it.
  if (im.producer && flush_ms > 0) {
    const int64_t until = im.NowMs() + flush_ms;
    while (im.NowMs() < until && im.spool->pending_count() > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    (void)im.producer->Flush(static_cast<int>(std::max<int64_t>(0, until - im.NowMs())));
  }
  {
    std::lock_guard lock(im.mu);
    im.stopping = true;
  }
  im.wake.notify_all();
  if (im.expirer.joinable()) im.expirer.join();
  if (im.follower.joinable()) im.follower.join();
  if (im.scheduler) im.scheduler->StopTimerThread();
  if (im.modbus) im.modbus->SetReady(false);
  if (im.forwarder.joinable()) im.forwarder.join();
}

EdgeAgentStats EdgeAgent::stats() const {
  const Impl& im = *impl_;
  return EdgeAgentStats{im.stored.load(),          im.rejected.load(),      im.refused_full.load(),
                        im.scans.load(),           im.failed_series.load(), im.forwarded.load(),
                        im.spool->pending_count(), im.spool->bytes_used(),  im.decisions.load()};
}

uint16_t EdgeAgent::modbus_port() const { return impl_->modbus ? impl_->modbus->port() : 0; }

uint16_t EdgeAgent::OnInstance(const std::string& calling_ae, ReadResult read, std::string dataset) {
  Impl& im = *impl_;
  if (!read.instance) {
    const DicomRejection& why = read.rejection ? *read.rejection : DicomRejection{kDicomCannotUnderstand, "unreadable"};
    im.rejected.fetch_add(1);
    Metrics().instances.Add({{"outcome", "rejected"}}).Increment();
    const std::string key = !why.sop_instance_uid.empty() ? why.sop_instance_uid
                                                          : calling_ae + "@" + std::to_string(im.clock->NowUnixNanos());
    im.DeadLetter(key, dataset, "invalid_image",
                  "C-STORE status " + Hex(why.status) + " to " + calling_ae + ": " + why.reason);
    return why.status;
  }
  uint64_t seq = 0;
  const Status st = im.spool->Append(kInstanceRecord, read.instance->sop_instance_uid, dataset, &seq);
  if (st.code() == StatusCode::kAlreadyExists) return kDicomSuccess;  // a repeat: stored already
  if (st.code() == StatusCode::kResourceExhausted) {
    im.refused_full.fetch_add(1);
    Metrics().instances.Add({{"outcome", "spool_full"}}).Increment();
    spdlog::warn("edge: spool full ({} bytes): C-STORE from {} answered A700", im.spool->bytes_used(), calling_ae);
    return kDicomOutOfResources;
  }
  if (!st.ok()) {
    spdlog::error("edge: spooling an image failed: {}", st.ToString());
    return kDicomOutOfResources;
  }
  im.stored.fetch_add(1);
  Metrics().instances.Add({{"outcome", "stored"}}).Increment();
  im.Assemble(std::move(*read.instance), seq);
  return kDicomSuccess;
}

}  // namespace ovoflow::edge
