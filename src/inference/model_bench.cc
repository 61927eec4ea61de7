// Throughput of the sexing model on this machine (not a test):
//   build/src/inference/model_bench [--benchmark_filter=...]
// Forward: items_per_second = scans/s. Args: {batch, LibTorch threads}.
// Uses the committed model in models/gonad-cnn/2.1.0 (OVOFLOW_MODEL_DIR overrides).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "common/env.h"
#include "inference/classifier.h"
#include "inference/gonad_net.h"
#include "inference/model_registry.h"
#include "phantom/phantom.h"

namespace ovoflow::inference {
namespace {

std::string ModelDir() {
  if (auto dir = GetEnv("OVOFLOW_MODEL_DIR")) return *dir;
  return CommittedModelDir(OVOFLOW_SOURCE_DIR);
}

std::vector<v1::Volume> PhantomVolumes(int n) {
  phantom::PhantomGenerator gen{phantom::PhantomOptions{}};
  std::vector<v1::Volume> v;
  v.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v.push_back(gen.Generate(9, static_cast<uint64_t>(i)).volume);
  return v;
}

// The serving path: uint8 volumes -> normalise -> forward -> p_female.
void BM_ClassifierPredict(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  auto clf = SexClassifier::Load(ModelDir(), static_cast<int>(state.range(1)));
  if (!clf.ok()) {
    state.SkipWithError(clf.status().ToString().c_str());
    return;
  }
  const std::vector<v1::Volume> volumes = PhantomVolumes(batch);
  std::vector<const v1::Volume*> ptrs;
  ptrs.reserve(volumes.size());
  for (const auto& v : volumes) ptrs.push_back(&v);
  for (auto _ : state) {
    auto p = (*clf)->PredictBatch(ptrs);
    if (!p.ok()) state.SkipWithError(p.status().ToString().c_str());
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

// The network alone on normalised float inputs.
void BM_GonadNetLogits(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  SetTorchThreads(static_cast<int>(state.range(1)));
  auto meta = ReadModelMetadata(ModelDir());
  if (!meta.ok()) {
    state.SkipWithError(meta.status().ToString().c_str());
    return;
  }
  NetConfig c;
  c.in_channels = static_cast<int>(meta->input().dim_z() * meta->input().channels());
  c.height = static_cast<int>(meta->input().dim_y());
  c.width = static_cast<int>(meta->input().dim_x());
  c.conv_channels.assign(meta->net().conv_channels().begin(), meta->net().conv_channels().end());
  c.conv_strides.assign(meta->net().conv_strides().begin(), meta->net().conv_strides().end());
  c.crop = meta->net().crop();
  c.pool = meta->net().pool();
  c.hidden = meta->net().hidden();
  auto net = GonadNet::Load(c, ModelDir() + "/" + meta->weights_file());
  if (!net.ok()) {
    state.SkipWithError(net.status().ToString().c_str());
    return;
  }
  const auto per_scan = static_cast<std::size_t>(c.in_channels) * c.height * c.width;
  std::vector<float> x(static_cast<std::size_t>(batch) * per_scan, 0.5f), logits(static_cast<std::size_t>(batch));
  for (auto _ : state) {
    if (!(*net)->Logits(x.data(), batch, logits.data()).ok()) state.SkipWithError("forward failed");
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["flops_per_scan"] = static_cast<double>(FlopsPerScan(c));
  state.SetLabel((*net)->DeviceName());
}

void ForwardArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"batch", "threads"});
  for (int threads : {1, 2})
    for (int batch : {1, 2, 4, 8, 16, 32, 64, 128, 256}) b->Args({batch, threads});
  b->UseRealTime()->MinTime(0.5);
}

BENCHMARK(BM_ClassifierPredict)->Apply(ForwardArgs);
BENCHMARK(BM_GonadNetLogits)->Apply(ForwardArgs);

// Phantom data generation, one core.
void BM_PhantomGenerateVoxels(benchmark::State& state) {
  phantom::PhantomGenerator gen{phantom::PhantomOptions{}};
  std::vector<uint8_t> voxels(std::size_t{32} * 32 * 16);
  uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(gen.GenerateVoxels(1, i++, voxels.data()));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PhantomGenerateVoxels);

}  // namespace
}  // namespace ovoflow::inference

BENCHMARK_MAIN();
