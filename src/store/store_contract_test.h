// The behaviour every PredictionStore backend must show, written once
// against the interface (store_contract_test.cc) and run by each backend's
// test binary on its own databases:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
//                            ::testing::Values(SqliteBackend()), BackendName);
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/prediction_store.h"

namespace ovoflow::store::test_util {

// Gives one test an empty database of one backend. Not thread-safe.
class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  // Creates an empty database for the test `name` and opens a store on it.
  virtual Result<std::unique_ptr<PredictionStore>> Create(const std::string& name) = 0;
  // Opens another store on the database from Create, as a second process would.
  virtual Result<std::unique_ptr<PredictionStore>> Open() = 0;
  // Deletes the database. Every store on it must be closed first.
  virtual void Destroy() = 0;
};

struct StoreBackend {
  std::string name;  // "Sqlite", "Postgres": part of the test names
  std::function<std::unique_ptr<StoreHarness>()> make;
};

inline std::string BackendName(const ::testing::TestParamInfo<StoreBackend>& info) { return info.param.name; }

class StoreContractTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Inserts and expects success; returns the new rows (-1 on failure).
  int64_t Insert(const std::vector<v1::Prediction>& batch, int64_t stored_at);
  int64_t Insert(const std::vector<v1::Prediction>& batch);
  // Every page of `q`, checking page sizes; returns the eggs in order.
  std::vector<StoredPrediction> ListAll(EggQuery q, int* pages = nullptr);

  std::unique_ptr<StoreHarness> harness_;
  std::unique_ptr<PredictionStore> store_;
};

// "tenant/egg" for each item, in order.
std::vector<std::string> EggIds(const std::vector<StoredPrediction>& items);

}  // namespace ovoflow::store::test_util
