// Store throughput (not a test; numbers go to docs/store.md and
// docs/benchmarks.md):
//   build-store/src/store/store_bench --benchmark_counters_tabular=true
// Rows/s is the `items_per_second` counter. The SQLite database lives in
// $TMPDIR (default /tmp); put it on the disk you want to measure.
//
// With OVOFLOW_BENCH_PG_URL set to a PostgreSQL server the same benchmarks
// also run there (names ending in "Pg"), each in a new database created on
// that server and dropped afterwards (the URL's user needs CREATEDB):
//   scripts/pg start
//   OVOFLOW_BENCH_PG_URL=$(scripts/pg url) build-store/src/store/store_bench --benchmark_filter=Pg
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <pqxx/pqxx>
#include <thread>

#include "common/env.h"
#include "store/sqlite_store.h"
#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

constexpr int64_t kT0 = 1'764'000'000'000'000'000;

[[noreturn]] void Die(const std::string& message) {
  (void)std::fprintf(stderr, "store_bench: %s\n", message.c_str());
  // Not std::exit, whose static destructors would race any thread still
  // running: flush what it would have flushed (the report so far on stdout)
  // and leave at once.
  (void)std::fflush(nullptr);
  std::_Exit(1);
}

// A store on an empty database, and how to delete the database afterwards.
struct BenchDatabase {
  std::unique_ptr<PredictionStore> store;
  std::function<void()> drop;  // run after `store` is closed
};
using Backend = std::function<BenchDatabase()>;

BenchDatabase OpenSqlite() {
  const std::string dir = test_util::FreshDir(EnvOr("TMPDIR", "/tmp"), "bench");
  SqliteOptions o;
  o.path = dir + "/bench.db";
  auto store = SqliteStore::Open(o);
  if (!store.ok()) Die(store.status().ToString());
  return {std::move(store).value(), [dir] { std::filesystem::remove_all(dir); }};
}

// A new database on the server of `server_url` (any database there).
BenchDatabase OpenPostgres(const std::string& server_url) {
  static std::atomic<int> counter{0};
  const std::string name = "ovoflow_bench_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  auto admin = [server_url](const std::string& sql) {
    pqxx::connection conn(server_url);
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
  };
  try {
    admin("DROP DATABASE IF EXISTS " + name);
    admin("CREATE DATABASE " + name);
  } catch (const std::exception& e) {
    Die("cannot create database " + name + " via OVOFLOW_BENCH_PG_URL: " + e.what());
  }
  const std::size_t query = server_url.find('?');
  const std::string base = server_url.substr(0, query);
  const std::size_t slash = base.find('/', base.find("://") + 3);
  const std::string url =
      base.substr(0, slash) + "/" + name + (query == std::string::npos ? "" : server_url.substr(query));
  auto store = OpenStore(url);
  if (!store.ok()) Die(store.status().ToString());
  return {std::move(store).value(), [admin, name] { admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); }};
}

// Realistic rows: 8 tenants, mixed sex/decision, increasing capture time
// (1 ms apart: every benchmark stays within one UTC day, one partition).
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
void InsertBatchBench(benchmark::State& state, const Backend& backend) {
  const int batch_size = static_cast<int>(state.range(0));
  const int readers = static_cast<int>(state.range(1));
  BenchDatabase db = backend();
  PredictionStore* store = db.store.get();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> reads{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(readers));
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      EggQuery q;
      q.tenants = TenantScope::All();
      q.tenants = test_util::TenantOrAll("hatchery-" + std::to_string(r % 8));
      q.limit = 100;
      while (!stop.load()) {
        if (store->ListEggs(q).ok() && store->GetEgg(TenantScope::All(), "egg-" + std::to_string(r)).ok()) reads += 2;
        if (r == 0 && store->GetStats(test_util::AllStats()).ok()) ++reads;
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
  db.store.reset();
  db.drop();
}

// Redelivered batches: every row already stored (the conflict path).
void InsertDuplicatesBench(benchmark::State& state, const Backend& backend) {
  BenchDatabase db = backend();
  auto batch = MakeBatch(0, 500);
  if (!db.store->InsertBatch(batch, kT0).ok()) state.SkipWithError("seed insert failed");
  for (auto _ : state) {
    auto n = db.store->InsertBatch(batch, kT0);
    if (!n.ok() || *n != 0) state.SkipWithError("duplicate insert stored rows");
  }
  state.SetItemsProcessed(state.iterations() * 500);
  db.store.reset();
  db.drop();
}

// One page of 100 from a 100,000-row table, deep in the keyset.
void ListEggsPageBench(benchmark::State& state, const Backend& backend) {
  BenchDatabase db = backend();
  for (int64_t i = 0; i < 100'000; i += 1000) {
    if (!db.store->InsertBatch(MakeBatch(i, 1000), kT0).ok()) state.SkipWithError("seed insert failed");
  }
  EggQuery q;
  q.tenants = TenantScope::All();
  q.tenants = test_util::TenantOrAll(state.range(0) ? "hatchery-3" : "");
  if (state.range(1)) q.decision = v1::DECISION_RECHECK;
  q.limit = 100;
  for (int i = 0; i < 20; ++i) q.cursor = db.store->ListEggs(q)->next_cursor;  // page 21
  for (auto _ : state) {
    auto page = db.store->ListEggs(q);
    if (!page.ok() || page->items.size() != 100) state.SkipWithError("list failed");
  }
  state.SetItemsProcessed(state.iterations() * 100);
  db.store.reset();
  db.drop();
}

// The three benchmarks on one backend; `suffix` ends their names.
void RegisterAll(const std::string& suffix, const Backend& backend) {
  benchmark::RegisterBenchmark(("BM_InsertBatch" + suffix).c_str(), InsertBatchBench, backend)
      ->ArgNames({"batch", "readers"})
      ->Args({100, 0})
      ->Args({500, 0})
      ->Args({100, 8})
      ->Args({500, 8})
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("BM_InsertDuplicates" + suffix).c_str(), InsertDuplicatesBench, backend)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("BM_ListEggsPage" + suffix).c_str(), ListEggsPageBench, backend)
      ->ArgNames({"tenant", "decision"})
      ->Args({0, 0})
      ->Args({1, 0})
      ->Args({1, 1})
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace
}  // namespace ovoflow::store

int main(int argc, char** argv) {
  using namespace ovoflow::store;  // NOLINT(google-build-using-namespace): main only
  RegisterAll("", OpenSqlite);
  if (auto url = ovoflow::GetEnv("OVOFLOW_BENCH_PG_URL"); url && !url->empty()) {
    RegisterAll("Pg", [server = *url] { return OpenPostgres(server); });
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
