// OpenStore: the one place that maps a URL to a backend.
#include "store/postgres_store.h"
#include "store/prediction_store.h"
#include "store/sqlite_store.h"
#include "store/store_url.h"

namespace ovoflow::store {

Result<std::unique_ptr<PredictionStore>> OpenStore(const std::string& url) {
  auto loc = ParseStoreUrl(url);
  if (!loc.ok()) return loc.status();
  switch (loc->backend) {
    case StoreBackend::kPostgres: {
      PostgresOptions options;
      options.url = loc->target;
      auto store = PostgresStore::Open(options);
      if (!store.ok()) return store.status();
      return std::unique_ptr<PredictionStore>(std::move(store).value());
    }
    case StoreBackend::kSqlite: {
      SqliteOptions options;
      options.path = loc->target;
      auto store = SqliteStore::Open(options);
      if (!store.ok()) return store.status();
      return std::unique_ptr<PredictionStore>(std::move(store).value());
    }
  }
  return Status::Internal("unknown store backend");
}

}  // namespace ovoflow::store
