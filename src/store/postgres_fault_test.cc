// The PostgreSQL backend when things go wrong: connections terminated (once
// and repeatedly under load), the server restarted, DDL lock timeouts, a
// partition dropped behind the store's back.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "common/child_process.h"
#include "common/env.h"
#include "store/postgres_store.h"
#include "store/postgres_test_util.h"
#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

using test_util::PgBatch;
using test_util::Retrying;

constexpr int64_t kT0 = test_util::kPgT0;  // 2025-11-24T16:00:00Z

class PostgresFaultTest : public test_util::PgStoreTest {};

TEST_F(PostgresFaultTest, ReconnectsAfterItsConnectionsAreTerminated) {
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(*store->InsertBatch(PgBatch(0, 10), kT0), 10);
  ASSERT_EQ(*store->Count(TenantScope::All()), 10);
  for (int round = 0; round < 3; ++round) {
    TerminateStoreConnections();
    // Each call may report the lost connection once (Unavailable); the next
    // one runs on a new connection.
    auto expect_recovers = [&](const char* what, auto call) {
      int failures = 0;
      auto r = Retrying(call, 10, &failures);
      EXPECT_TRUE(r.ok()) << what << ": " << r.status().ToString();
      EXPECT_LE(failures, 1) << what;
      return r;
    };
    auto n = expect_recovers("InsertBatch", [&] { return store->InsertBatch(PgBatch(10 + round * 10, 10), kT0); });
    if (n.ok()) {
      EXPECT_EQ(*n, 10);
    }
    auto count = expect_recovers("Count", [&] { return store->Count(TenantScope::All()); });
    if (count.ok()) {
      EXPECT_EQ(*count, 20 + round * 10);
    }
    EXPECT_EQ(expect_recovers("ListEggs", [&] { return store->ListEggs(test_util::AllEggs()); })->items.size(),
              static_cast<std::size_t>(20 + round * 10));
    EXPECT_TRUE(
        expect_recovers("GetEgg", [&] { return store->GetEgg(TenantScope::Only("h-a"), "egg-1"); })->has_value());
    EXPECT_EQ(expect_recovers("GetStats", [&] { return store->GetStats(test_util::AllStats()); })->overall.total,
              20 + round * 10);
  }
}

TEST_F(PostgresFaultTest, WriterAndReadersRideOutRepeatedlyKilledConnections) {
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  std::atomic<bool> done{false};
  std::atomic<int> kills{0}, write_retries{0}, read_errors{0};
  std::thread killer([&] {
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      TerminateStoreConnections();
      ++kills;
    }
  });
  std::thread reader([&] {
    while (!done.load()) {
      auto page = store->ListEggs(test_util::AllEggs());
      if (!page.ok()) {
        EXPECT_TRUE(page.status().retryable()) << page.status().ToString();
        ++read_errors;
      }
    }
  });
  int64_t inserted = 0;
  int batches = 0;
  // At least 40 batches, and until the connections were killed 5 times.
  for (; batches < 40 || (kills.load() < 5 && batches < 4000); ++batches) {
    const int b = batches;
    int failures = 0;
    auto n = Retrying([&] { return store->InsertBatch(PgBatch(b * 50, 50), kT0); }, 30, &failures);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    inserted += *n;
    write_retries += failures;
  }
  done = true;
  killer.join();
  reader.join();
  // A batch whose commit was cut off may have been stored and reported as
  // an error: its retry then stores nothing. Either way, every egg once.
  EXPECT_LE(inserted, batches * 50);
  auto count = Retrying([&] { return store->Count(TenantScope::All()); });
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(*count, batches * 50);
  EXPECT_EQ(Admin().Value("SELECT count(*) FROM egg_keys"), std::to_string(batches * 50));
  EXPECT_GE(kills.load(), 5);
  std::printf("%d batches; connections killed %d times; %d insert retries, %d read errors\n", batches, kills.load(),
              write_retries.load(), read_errors.load());
}

// Runs scripts/pg with the fixture's data dir and port; true on exit 0.
bool RunPgScript(const std::string& args) {
  const auto source = GetEnv("OVOFLOW_SOURCE_DIR");
  const auto data = GetEnv("OVOFLOW_TEST_PG_DATA");
  const auto port = GetEnv("OVOFLOW_TEST_PG_PORT");
  if (!source || !data || !port) return false;
  const std::string cmd = *source + "/scripts/pg " + args + " --data-dir '" + *data + "' --port " + *port;
  const CommandResult r = RunCommand(cmd);
  if (r.exit_code != 0) std::printf("scripts/pg %s exited %d:\n%s\n", args.c_str(), r.exit_code, r.output.c_str());
  return r.exit_code == 0;
}

TEST_F(PostgresFaultTest, ServerRestartIsUnavailableUntilItIsBack) {
  if (!GetEnv("OVOFLOW_TEST_PG_DATA")) {
    GTEST_SKIP() << "needs the CTest fixture's server (OVOFLOW_TEST_PG_DATA, OVOFLOW_TEST_PG_PORT) to restart it";
  }
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(*store->InsertBatch(PgBatch(0, 10), kT0), 10);

  // Like a crash: no shutdown checkpoint, recovery on the next start.
  ASSERT_TRUE(RunPgScript("stop --mode immediate"));
  struct RestartOnExit {  // the server stays up for the tests after this one
    ~RestartOnExit() { RunPgScript("start"); }
  } restart_on_exit;
  auto down = store->InsertBatch(PgBatch(10, 10), kT0);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().ToString();
  EXPECT_TRUE(down.status().retryable());
  auto count = store->Count(TenantScope::All());
  EXPECT_EQ(count.status().code(), StatusCode::kUnavailable) << count.status().ToString();
  EXPECT_NE(count.status().message().find("cannot connect to PostgreSQL"), std::string::npos)
      << count.status().message();

  // The writer keeps retrying while the server comes back.
  std::atomic<bool> stored{false};
  int failures = 0;
  std::thread writer([&] {
    auto n = Retrying([&] { return store->InsertBatch(PgBatch(10, 10), kT0); }, 60, &failures);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (n.ok()) {
      EXPECT_EQ(*n, 10);
    }
    stored = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(stored.load());
  ASSERT_TRUE(RunPgScript("start"));
  writer.join();
  EXPECT_GT(failures, 0);
  EXPECT_EQ(*Retrying([&] { return store->Count(TenantScope::All()); }), 20);
  auto egg = store->GetEgg(TenantScope::Only("h-b"), "egg-0");
  ASSERT_TRUE(egg.ok() && egg->has_value()) << egg.status().ToString();
}

TEST_F(PostgresFaultTest, DdlWaitsForLocksOnlyUpToLockTimeout) {
  options_.lock_timeout_ms = 200;
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  {
    // Another session holds predictions exclusively (e.g. a long maintenance job).
    pqxx::connection other(db_->url());
    pqxx::work tx(other);
    tx.exec("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE");
    const auto start = std::chrono::steady_clock::now();
    auto n = store->InsertBatch(PgBatch(0, 5), kT0);  // needs a new day's partition
    const auto waited = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.status().code(), StatusCode::kUnavailable) << n.status().ToString();
    EXPECT_NE(n.status().message().find("lock timeout"), std::string::npos) << n.status().message();
    EXPECT_LT(waited, std::chrono::seconds(5));
  }  // rolled back: the lock is gone
  EXPECT_EQ(*store->InsertBatch(PgBatch(0, 5), kT0), 5);
}

TEST_F(PostgresFaultTest, DroppedPartitionIsCreatedAgain) {
  // Retention drops a day's partition and its keys behind the store's back.
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(*store->InsertBatch(PgBatch(0, 5), kT0), 5);
  Admin().Exec("DROP TABLE predictions_d20251124; DELETE FROM egg_keys");
  EXPECT_EQ(*store->InsertBatch(PgBatch(0, 5), kT0), 5);
  EXPECT_EQ(*store->Count(TenantScope::All()), 5);
}

}  // namespace
}  // namespace ovoflow::store
