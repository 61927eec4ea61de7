// The ground-truth part of the PredictionStore contract, on every backend
// (the StoreContractTest fixture of store_contract_test.h): recording an
// outcome against the stored prediction, idempotent repeats, conflicts,
// tenant isolation and the live-accuracy aggregates.
#include <thread>

#include "store/store_contract_test.h"
#include "store/store_test_util.h"

namespace ovoflow::store::test_util {
namespace {

constexpr int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24T16:00:00Z, ns
constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kDay = 86'400 * kSec;

Outcome MakeOutcome(const std::string& tenant, const std::string& egg, v1::Sex sex,
                    const std::string& source = "hatch") {
  Outcome o;
  o.tenant_id = tenant;
  o.egg_id = egg;
  o.sex = sex;
  o.source = source;
  o.observed_at_unix_nanos = kT0 + 21 * kDay;
  o.recorded_at_unix_nanos = kT0 + 21 * kDay + 60 * kSec;
  return o;
}

StatsQuery Scope(const std::string& tenant, std::optional<int64_t> from = {}, std::optional<int64_t> to = {}) {
  StatsQuery q;
  q.tenants = TenantScope::All();
  q.tenants = test_util::TenantOrAll(tenant);
  q.from_unix_nanos = from;
  q.to_unix_nanos = to;
  return q;
}

v1::Prediction Versioned(v1::Prediction p, const std::string& version) {
  p.set_model_version(version);
  return p;
}

TEST_P(StoreContractTest, OutcomeIsStoredWithThePredictionItJudges) {
  EXPECT_EQ(Insert({MakePrediction("h-a", "egg-1", v1::SEX_MALE, v1::DECISION_DIVERT, 0.0625f, kT0 + 7)}), 1);
  Outcome o = MakeOutcome("h-a", "egg-1", v1::SEX_FEMALE, "feather_sexing");
  o.recorded_by = "line-3 \"sexer\"";
  o.note = "late hatch; \xc3\xa9\xc3\xa9";
  auto rec = store_->RecordOutcome(o);
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  EXPECT_TRUE(rec->created);
  EXPECT_FALSE(rec->stored.correct());
  const JudgedPrediction& p = rec->stored.prediction;
  EXPECT_EQ(p.sex, v1::SEX_MALE);
  EXPECT_EQ(p.decision, v1::DECISION_DIVERT);
  EXPECT_EQ(p.p_female, 0.0625f);
  EXPECT_EQ(p.model_name, "ovo-cnn");
  EXPECT_EQ(p.model_version, "1.2.3");
  EXPECT_EQ(p.captured_at_unix_nanos, kT0 + 7);

  // Read back by another store on the same database, every field exact.
  store_.reset();
  auto reopened = harness_->Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  store_ = std::move(reopened).value();
  auto got = store_->GetOutcome("h-a", "egg-1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  const Outcome& g = (*got)->outcome;
  EXPECT_EQ(g.tenant_id, "h-a");
  EXPECT_EQ(g.egg_id, "egg-1");
  EXPECT_EQ(g.sex, v1::SEX_FEMALE);
  EXPECT_EQ(g.source, "feather_sexing");
  EXPECT_EQ(g.observed_at_unix_nanos, o.observed_at_unix_nanos);
  EXPECT_EQ(g.recorded_at_unix_nanos, o.recorded_at_unix_nanos);
  EXPECT_EQ(g.recorded_by, o.recorded_by);
  EXPECT_EQ(g.note, o.note);
  EXPECT_EQ((*got)->prediction.model_version, "1.2.3");
  EXPECT_EQ((*got)->prediction.p_female, 0.0625f);
  EXPECT_FALSE((*got)->correct());

  auto none = store_->GetOutcome("h-a", "egg-2");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(store_->GetOutcome("", "egg-1").status().code(), StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, SameOutcomeAgainIsIdempotentAnotherSexConflicts) {
  EXPECT_EQ(Insert({MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0)}), 1);
  ASSERT_TRUE(store_->RecordOutcome(MakeOutcome("h-a", "egg-1", v1::SEX_FEMALE, "hatch")).ok());

  // The same sex from another source, later: nothing changes, the first stays.
  Outcome again = MakeOutcome("h-a", "egg-1", v1::SEX_FEMALE, "vent_sexing");
  again.observed_at_unix_nanos += kDay;
  auto repeat = store_->RecordOutcome(again);
  ASSERT_TRUE(repeat.ok()) << repeat.status().ToString();
  EXPECT_FALSE(repeat->created);
  EXPECT_EQ(repeat->stored.outcome.source, "hatch");
  EXPECT_EQ(repeat->stored.outcome.observed_at_unix_nanos, kT0 + 21 * kDay);
  EXPECT_TRUE(repeat->stored.correct());

  auto conflict = store_->RecordOutcome(MakeOutcome("h-a", "egg-1", v1::SEX_MALE, "hatch"));
  EXPECT_EQ(conflict.status().code(), StatusCode::kAlreadyExists) << conflict.status().ToString();
  EXPECT_NE(conflict.status().message().find("SEX_FEMALE"), std::string::npos) << conflict.status().message();
  auto got = store_->GetOutcome("h-a", "egg-1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->outcome.sex, v1::SEX_FEMALE);
  EXPECT_EQ((*got)->outcome.source, "hatch");
  auto acc = store_->GetAccuracy(test_util::AllStats());
  ASSERT_TRUE(acc.ok());
  ASSERT_EQ(acc->size(), 1u);
  EXPECT_EQ((*acc)[0].outcomes, 1);
}

TEST_P(StoreContractTest, OutcomeNeedsThePredictionOfItsOwnTenant) {
  EXPECT_EQ(Insert({MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0)}), 1);
  auto unknown = store_->RecordOutcome(MakeOutcome("h-a", "egg-9", v1::SEX_FEMALE));
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound) << unknown.status().ToString();
  // Another tenant cannot judge (or see) h-a's egg.
  auto other = store_->RecordOutcome(MakeOutcome("h-b", "egg-1", v1::SEX_MALE));
  EXPECT_EQ(other.status().code(), StatusCode::kNotFound) << other.status().ToString();
  EXPECT_FALSE(store_->GetOutcome("h-b", "egg-1")->has_value());
  EXPECT_FALSE(store_->GetOutcome("h-a", "egg-1")->has_value());
  EXPECT_TRUE(store_->GetAccuracy(test_util::AllStats())->empty());
  // h-a's own outcome still goes in after the refusals.
  EXPECT_TRUE(store_->RecordOutcome(MakeOutcome("h-a", "egg-1", v1::SEX_MALE))->created);
}

TEST_P(StoreContractTest, InvalidOutcomeIsRefusedNamingTheField) {
  EXPECT_EQ(Insert({MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0)}), 1);
  struct Case {
    std::string field;
    void (*spoil)(Outcome&);
  };
  const Case cases[] = {
      {"tenant_id", [](Outcome& o) { o.tenant_id.clear(); }},
      {"egg_id", [](Outcome& o) { o.egg_id.clear(); }},
      {"sex", [](Outcome& o) { o.sex = v1::SEX_UNSPECIFIED; }},
      {"sex", [](Outcome& o) { o.sex = static_cast<v1::Sex>(7); }},
      {"source", [](Outcome& o) { o.source = "guess"; }},
      {"source", [](Outcome& o) { o.source.clear(); }},
      {"observed_at", [](Outcome& o) { o.observed_at_unix_nanos = 0; }},
      {"recorded_at", [](Outcome& o) { o.recorded_at_unix_nanos = -1; }},
  };
  for (const Case& c : cases) {
    Outcome o = MakeOutcome("h-a", "egg-1", v1::SEX_FEMALE);
    c.spoil(o);
    std::string field;
    EXPECT_EQ(CheckOutcome(o, &field).code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(field, c.field);
    auto rec = store_->RecordOutcome(o);
    EXPECT_EQ(rec.status().code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(rec.status().message().rfind(c.field + ":", 0), 0u) << rec.status().message();
  }
  EXPECT_FALSE(store_->GetOutcome("h-a", "egg-1")->has_value());
  EXPECT_TRUE(CheckOutcome(MakeOutcome("h-a", "egg-1", v1::SEX_MALE, "feather_sexing")).ok());
}

TEST_P(StoreContractTest, AccuracyIsExactPerTenantAndModelVersion) {
  // h-a, model 1.0: 4 outcomes. Correct: a1 (KEEP, female), a2 (DIVERT,
  // male), a3 (RECHECK, predicted female, female). Wrong: a4 (KEEP, male).
  // decided = 3 (a1, a2, a4), decided_correct = 2, rechecks = 1.
  // h-a, model 2.0: 1 outcome, a5 (RECHECK predicted male, female): wrong, undecided.
  // h-b, model 1.0: 1 outcome, b1 (DIVERT, male): correct. b2 has no outcome.
  const std::vector<v1::Prediction> preds = {
      Versioned(MakePrediction("h-a", "a1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0), "1.0"),
      Versioned(MakePrediction("h-a", "a2", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0 + kSec), "1.0"),
      Versioned(MakePrediction("h-a", "a3", v1::SEX_FEMALE, v1::DECISION_RECHECK, 0.6f, kT0 + 2 * kSec), "1.0"),
      Versioned(MakePrediction("h-a", "a4", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.92f, kT0 + 3 * kSec), "1.0"),
      Versioned(MakePrediction("h-a", "a5", v1::SEX_MALE, v1::DECISION_RECHECK, 0.4f, kT0 + kDay), "2.0"),
      Versioned(MakePrediction("h-b", "b1", v1::SEX_MALE, v1::DECISION_DIVERT, 0.02f, kT0), "1.0"),
      Versioned(MakePrediction("h-b", "b2", v1::SEX_MALE, v1::DECISION_DIVERT, 0.02f, kT0), "1.0"),
  };
  EXPECT_EQ(Insert(preds), 7);
  const std::vector<std::pair<std::string, v1::Sex>> truth = {
      {"h-a/a1", v1::SEX_FEMALE}, {"h-a/a2", v1::SEX_MALE},   {"h-a/a3", v1::SEX_FEMALE},
      {"h-a/a4", v1::SEX_MALE},   {"h-a/a5", v1::SEX_FEMALE}, {"h-b/b1", v1::SEX_MALE},
  };
  for (const auto& [key, sex] : truth) {
    const std::string tenant = key.substr(0, key.find('/')), egg = key.substr(key.find('/') + 1);
    auto rec = store_->RecordOutcome(MakeOutcome(tenant, egg, sex));
    ASSERT_TRUE(rec.ok()) << key << ": " << rec.status().ToString();
  }
  auto all = store_->GetAccuracy(test_util::AllStats());
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  auto expect_row = [](const ModelAccuracy& a, const std::string& tenant, const std::string& version, int64_t outcomes,
                       int64_t correct, int64_t decided, int64_t decided_correct, int64_t rechecks) {
    EXPECT_EQ(a.tenant_id, tenant);
    EXPECT_EQ(a.model_version, version);
    EXPECT_EQ(a.outcomes, outcomes) << tenant << " " << version;
    EXPECT_EQ(a.correct, correct) << tenant << " " << version;
    EXPECT_EQ(a.decided, decided) << tenant << " " << version;
    EXPECT_EQ(a.decided_correct, decided_correct) << tenant << " " << version;
    EXPECT_EQ(a.rechecks, rechecks) << tenant << " " << version;
  };
  expect_row((*all)[0], "h-a", "1.0", 4, 3, 3, 2, 1);
  expect_row((*all)[1], "h-a", "2.0", 1, 0, 0, 0, 1);
  expect_row((*all)[2], "h-b", "1.0", 1, 1, 1, 1, 0);

  // One tenant only.
  auto b = store_->GetAccuracy(Scope("h-b"));
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  expect_row((*b)[0], "h-b", "1.0", 1, 1, 1, 1, 0);
  // The time range applies to when the judged egg was scanned.
  auto day1 = store_->GetAccuracy(Scope("h-a", kT0 + kSec, kT0 + kDay));
  ASSERT_TRUE(day1.ok());
  ASSERT_EQ(day1->size(), 1u);
  expect_row((*day1)[0], "h-a", "1.0", 3, 2, 2, 1, 1);  // a2, a3, a4
  EXPECT_TRUE(store_->GetAccuracy(Scope("h-c"))->empty());
  EXPECT_EQ(store_->GetAccuracy(Scope("", kT0 + kSec, kT0)).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, ConcurrentConflictingOutcomesStoreOneEach) {
  constexpr int kEggs = 20;
  std::vector<v1::Prediction> preds;
  preds.reserve(kEggs);
  for (int i = 0; i < kEggs; ++i)
    preds.push_back(MakePrediction("h-a", "egg-" + std::to_string(i), v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f, kT0));
  EXPECT_EQ(Insert(preds), kEggs);
  auto second = harness_->Open();  // as a second API process would
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  std::vector<int> created(2, 0), conflicts(2, 0), errors(2, 0);
  auto record = [&](PredictionStore* store, v1::Sex sex, int slot) {
    for (int i = 0; i < kEggs; ++i) {
      auto rec = store->RecordOutcome(MakeOutcome("h-a", "egg-" + std::to_string(i), sex));
      if (rec.ok() && rec->created)
        ++created[static_cast<std::size_t>(slot)];
      else if (rec.status().code() == StatusCode::kAlreadyExists)
        ++conflicts[static_cast<std::size_t>(slot)];
      else
        ++errors[static_cast<std::size_t>(slot)];
    }
  };
  std::thread female([&] { record(store_.get(), v1::SEX_FEMALE, 0); });
  std::thread male([&] { record(second->get(), v1::SEX_MALE, 1); });
  female.join();
  male.join();
  EXPECT_EQ(errors[0] + errors[1], 0);
  EXPECT_EQ(created[0] + created[1], kEggs);      // each egg judged once
  EXPECT_EQ(conflicts[0] + conflicts[1], kEggs);  // and the other sex refused
  auto acc = store_->GetAccuracy(test_util::AllStats());
  ASSERT_TRUE(acc.ok() && acc->size() == 1u);
  EXPECT_EQ((*acc)[0].outcomes, kEggs);
  EXPECT_EQ((*acc)[0].correct, created[0]);  // the female records are the correct ones
}

}  // namespace
}  // namespace ovoflow::store::test_util
