// OpenStore: the one place that maps a URL to a backend.
#include "store/postgres_store.h"
#include "store/prediction_store.h"
#include "store/sqlite_store.h"
#include "store/store_url.h"

namespace ovoflow::store {

Result<std::unique_ptr<PredictionStore>> OpenStore(const std::string& url) {
  OVOFLOW_ASSIGN_OR_RETURN(auto loc, ParseStoreUrl(url));
  switch (loc.backend) {
    case StoreBackend::kPostgres: {
      PostgresOptions options;
      options.url = loc.target;
      OVOFLOW_ASSIGN_OR_RETURN(auto store, PostgresStore::Open(options));
      return std::unique_ptr<PredictionStore>(std::move(store));
    }
    case StoreBackend::kSqlite: {
      SqliteOptions options;
      options.path = loc.target;
      OVOFLOW_ASSIGN_OR_RETURN(auto store, SqliteStore::Open(options));
      return std::unique_ptr<PredictionStore>(std::move(store));
    }
  }
  return Status::Internal("unknown store backend");
}

}  // namespace ovoflow::store
