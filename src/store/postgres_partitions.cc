#include "store/postgres_partitions.h"

#include <vector>

#include "store/postgres_sql.h"

namespace ovoflow::store {
namespace {

// pg_advisory_xact_lock key held while creating partitions ("ovoflow2").
constexpr int64_t kPartitionLockKey = 0x6f766f666c6f7732;

}  // namespace

Status DayPartitions::Load(PgConnection& db) {
  std::set<int64_t> days;
  Status st = db.Autocommit([&](PgSession& s) {
    return s.Query({ListPartitionsSql(), {}}, [&](const RowReader& row) {
      if (auto day = PartitionDay(row.Text(0))) days.insert(*day);
    });
  });
  if (!st.ok()) return st;
  known_ = std::move(days);
  return db.Autocommit([&](PgSession& s) {
    return s.Query({"SELECT to_regprocedure('ovoflow_create_partition(text,text,text)') IS NOT NULL", {}},
                   [&](const RowReader& row) { definer_ = row.Text(0) == "t"; });
  });
}

Status DayPartitions::Ensure(PgConnection& db, const std::set<int64_t>& days) {
  std::vector<int64_t> missing;
  for (int64_t day : days) {
    if (!known_.contains(day)) missing.push_back(day);
  }
  if (missing.empty()) return Status::Ok();
  Status st = db.Transaction([&](PgSession& s) {
    OVOFLOW_RETURN_IF_ERROR(s.Exec("SET LOCAL lock_timeout = " + std::to_string(lock_timeout_ms_)));
    OVOFLOW_RETURN_IF_ERROR(
        s.Query({"SELECT pg_advisory_xact_lock($1)", {kPartitionLockKey}}, [](const RowReader&) {}));
    for (int64_t day : missing) {
      bool attached = false;
      OVOFLOW_RETURN_IF_ERROR(s.Query({PartitionAttachedSql(), {PartitionName(day)}},
                                      [&](const RowReader& row) { attached = row.Text(0) == "t"; }));
      if (attached) continue;  // another writer created it
      if (definer_) {
        OVOFLOW_RETURN_IF_ERROR(s.Query(CreatePartitionCall(day), [](const RowReader&) {}));
      } else {
        for (const std::string& sql : CreatePartitionSql(day)) OVOFLOW_RETURN_IF_ERROR(s.Exec(sql));
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  known_.insert(missing.begin(), missing.end());
  return Status::Ok();
}

std::vector<int64_t> DayPartitions::NoteRows(const std::map<int64_t, int64_t>& rows_per_day) {
  constexpr int64_t kThresholds[] = {1'000, 10'000, 100'000, 1'000'000};
  std::vector<int64_t> due;
  for (const auto& [day, rows] : rows_per_day) {
    int64_t& sent = rows_sent_[day];
    const int64_t before = sent;
    sent += rows;
    for (int64_t threshold : kThresholds) {
      if (before < threshold && sent >= threshold) {
        due.push_back(day);
        break;
      }
    }
  }
  return due;
}

Status DayPartitions::Analyze(PgConnection& db, int64_t day) {
  return db.Transaction([&](PgSession& s) {
    OVOFLOW_RETURN_IF_ERROR(s.Exec("SET LOCAL lock_timeout = " + std::to_string(lock_timeout_ms_)));
    return s.Exec("ANALYZE " + PartitionName(day));
  });
}

}  // namespace ovoflow::store
