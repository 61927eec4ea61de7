// Store URLs: which backend and where. Parsing is separate from opening so
// it can be checked at start-up and tested without a database.
#pragma once

#include <string>

#include "common/status.h"

namespace ovoflow::store {

enum class StoreBackend { kSqlite, kPostgres };

struct StoreLocation {
  StoreBackend backend = StoreBackend::kSqlite;
  // kSqlite: the file path, absolute or relative to the working directory.
  // kPostgres: the URL as given (libpq connection URI).
  std::string target;
};

// Accepted forms:
//   sqlite:///abs/path.db      -> SQLite, "/abs/path.db"
//   sqlite://rel/path.db       -> SQLite, "rel/path.db" (relative to the working directory)
//   /abs/path.db, rel/path.db  -> SQLite (a plain path: no "scheme://")
//   postgresql://..., postgres://...  -> PostgreSQL
// InvalidArgument, saying what is accepted, for an empty URL or path, an
// unknown scheme, or an in-memory SQLite database (":memory:"), which the
// store's separate writer and reader connections cannot share.
Result<StoreLocation> ParseStoreUrl(const std::string& url);

}  // namespace ovoflow::store
