// Store throughput on a real file (not a test; numbers go to docs/store.md):
//   build-store/src/store/store_bench --benchmark_counters_tabular=true
// Rows/s is the `items_per_second` counter. The database lives in
// $TMPDIR (default /tmp); put it on the disk you want to measure.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "store/sqlite_store.h"
#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

constexpr int64_t kT0 = 1'764'000'000'000'000'000;

std::string BenchDir() {
  const char* tmp = std::getenv("TMPDIR");
  return test_util::FreshDir(tmp ? tmp : "/tmp", "bench");
}

std::unique_ptr<SqliteStore> OpenBenchStore(const std::string& dir) {
  SqliteOptions o;
  o.path = dir + "/bench.db";
  auto store = SqliteStore::Open(o);
  if (!store.ok()) {
    std::fprintf(stderr, "store_bench: %s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(store).value();
}

// Realistic rows: 8 tenants, mixed sex/decision, increasing capture time.
std::vector<v1::Prediction> MakeBatch(int64_t first, int n) {
  std::vector<v1::Prediction> batch;
  batch.reserve(static_cast<std::size_t>(n));
  const v1::Decision decisions[] = {v1::DECISION_KEEP, v1::DECISION_DIVERT, v1::DECISION_RECHECK};
  for (int64_t i = first; i < first + n; ++i) {
    const float p = static_cast<float>(i % 101) / 100.0f;
    batch.push_back(test_util::MakePrediction("hatchery-" + std::to_string(i % 8), "egg-" + std::to_string(i),
                                              p >= 0.5f ? v1::SEX_FEMALE : v1::SEX_MALE, decisions[i % 3], p,
                                              kT0 + i * 1'000'000));
  }
  return batch;
}

// Inserts new rows in batches of range(0); with range(1) > 0, that many
// threads run ListEggs/GetStats/GetEgg against the same store meanwhile.
void BM_InsertBatch(benchmark::State& state) {
  const int batch_size = static_cast<int>(state.range(0));
  const int readers = static_cast<int>(state.range(1));
  const std::string dir = BenchDir();
  auto store = OpenBenchStore(dir);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> reads{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      EggQuery q;
      q.tenant_id = "hatchery-" + std::to_string(r % 8);
      q.limit = 100;
      while (!stop.load()) {
        if (store->ListEggs(q).ok() && store->GetEgg("", "egg-" + std::to_string(r)).ok()) reads += 2;
        if (r == 0 && store->GetStats({}).ok()) ++reads;
      }
    });
  }
  int64_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto batch = MakeBatch(next, batch_size);
    next += batch_size;
    state.ResumeTiming();
    auto n = store->InsertBatch(batch, kT0 + next * 1'000'000 + 5'000'000);
    if (!n.ok() || *n != batch_size) state.SkipWithError("insert failed");
  }
  stop = true;
  for (auto& t : threads) t.join();
  state.SetItemsProcessed(state.iterations() * batch_size);
  state.counters["reads"] = benchmark::Counter(static_cast<double>(reads.load()), benchmark::Counter::kIsRate);
  state.counters["rows_in_db"] = static_cast<double>(next);
  store.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_InsertBatch)
    ->ArgNames({"batch", "readers"})
    ->Args({100, 0})
    ->Args({500, 0})
    ->Args({100, 8})
    ->Args({500, 8})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Redelivered batches: every row already stored (the conflict path).
void BM_InsertDuplicates(benchmark::State& state) {
  const std::string dir = BenchDir();
  auto store = OpenBenchStore(dir);
  auto batch = MakeBatch(0, 500);
  if (!store->InsertBatch(batch, kT0).ok()) state.SkipWithError("seed insert failed");
  for (auto _ : state) {
    auto n = store->InsertBatch(batch, kT0);
    if (!n.ok() || *n != 0) state.SkipWithError("duplicate insert stored rows");
  }
  state.SetItemsProcessed(state.iterations() * 500);
  store.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_InsertDuplicates)->UseRealTime()->Unit(benchmark::kMillisecond);

// One page of 100 from a 100,000-row table, deep in the keyset.
void BM_ListEggsPage(benchmark::State& state) {
  const std::string dir = BenchDir();
  auto store = OpenBenchStore(dir);
  for (int64_t i = 0; i < 100'000; i += 1000) {
    if (!store->InsertBatch(MakeBatch(i, 1000), kT0).ok()) state.SkipWithError("seed insert failed");
  }
  EggQuery q;
  q.tenant_id = state.range(0) ? "hatchery-3" : "";
  if (state.range(1)) q.decision = v1::DECISION_RECHECK;
  q.limit = 100;
  for (int i = 0; i < 20; ++i) q.cursor = store->ListEggs(q)->next_cursor;  // page 21
  for (auto _ : state) {
    auto page = store->ListEggs(q);
    if (!page.ok() || page->items.size() != 100) state.SkipWithError("list failed");
  }
  state.SetItemsProcessed(state.iterations() * 100);
  store.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ListEggsPage)->ArgNames({"tenant", "decision"})->Args({0, 0})->Args({1, 0})->Args({1, 1})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace ovoflow::store

BENCHMARK_MAIN();
