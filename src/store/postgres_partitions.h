// The daily partitions of the PostgreSQL predictions table: which exist, and
// creating the missing ones before a batch is inserted.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "common/status.h"
#include "store/postgres_connection.h"

namespace ovoflow::store {

// A cache of the UTC days (UtcDay) whose partition is attached. Not
// thread-safe: the store's writer mutex guards it.
class DayPartitions {
 public:
  // DDL waits at most `lock_timeout_ms` for locks held by other sessions.
  explicit DayPartitions(int lock_timeout_ms) : lock_timeout_ms_(lock_timeout_ms) {}

  // Reads the partitions attached now (at open).
  Status Load(PgConnection& db);
  // Makes sure each of `days` has its partition. Days not in the cache are
  // checked and, if missing, created and attached in one transaction that
  // first takes an advisory lock, so writers in several processes creating
  // the same day never collide. Unavailable when a lock was not granted in
  // time (retry).
  Status Ensure(PgConnection& db, const std::set<int64_t>& days);
  // Empties the cache: after an insert found no partition for a row (one
  // was detached or dropped behind our back), the next Ensure checks again.
  void Forget() { known_.clear(); }

  // Counts rows this writer sent to each day (day -> rows in a batch) and
  // returns the days whose count just crossed 1,000, 10,000, 100,000 or
  // 1,000,000: their partitions should be analyzed now. A new partition has
  // no statistics until autovacuum analyzes it (up to a minute, and then
  // only after 10% growth); meanwhile the planner guesses row counts and may
  // sort a whole tenant's day instead of reading an index in order.
  std::vector<int64_t> NoteRows(const std::map<int64_t, int64_t>& rows_per_day);
  // ANALYZE of the day's partition; waits at most lock_timeout_ms for locks.
  Status Analyze(PgConnection& db, int64_t day);

 private:
  int lock_timeout_ms_;
  std::set<int64_t> known_;
  bool definer_ = false;                  // ovoflow_create_partition exists (schema version >= 4)
  std::map<int64_t, int64_t> rows_sent_;  // day -> rows this writer sent
};

}  // namespace ovoflow::store
