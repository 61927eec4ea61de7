// The model registry on temporary directory trees built from the committed
// model: listing, version order, lookup, and what makes a directory invalid.
#include "inference/model_registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/env.h"
#include "inference/classifier.h"

namespace ovoflow::inference {
namespace {
namespace fs = std::filesystem;

std::string CommittedModel() { return CommittedModelDir(EnvOr("OVOFLOW_SOURCE_DIR", "")); }

class ModelRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ovoflow-registry-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // <root>/<dir_name>/<dir_version> holding the committed model, its
  // model.json saying `name` `version`.
  void AddModel(const std::string& dir_name, const std::string& dir_version, const std::string& name = "",
                const std::string& version = "") {
    fs::path dir = root_ / dir_name / dir_version;
    fs::create_directories(dir);
    fs::copy_file(fs::path(CommittedModel()) / "model.pt", dir / "model.pt");
    auto meta = ReadModelMetadata(CommittedModel());
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    meta->set_name(name.empty() ? dir_name : name);
    meta->set_version(version.empty() ? dir_version : version);
    ASSERT_TRUE(WriteModelMetadata(dir.string(), *meta).ok());
  }

  fs::path root_;
};

TEST(CompareVersionsTest, NumericPartsCompareAsNumbers) {
  EXPECT_LT(CompareVersions("1.9.0", "1.10.0"), 0);
  EXPECT_GT(CompareVersions("2.0.0", "1.99.99"), 0);
  EXPECT_EQ(CompareVersions("1.0.0", "1.0.0"), 0);
  EXPECT_EQ(CompareVersions("1.01", "1.1"), 0);
  EXPECT_LT(CompareVersions("1.0", "1.0.1"), 0);
  EXPECT_LT(CompareVersions("1.0.0-rc1", "1.0.0-rc2"), 0);
}

TEST(ValidateRegistryNameTest, RejectsPathTricks) {
  EXPECT_TRUE(ValidateRegistryName("version", "1.0.0").ok());
  EXPECT_TRUE(ValidateRegistryName("model name", "gonad-cnn_2").ok());
  for (const char* bad : {"", "..", ".hidden", "a/b", "1.0.0/../../etc", "a b", "x%2f"})
    EXPECT_EQ(ValidateRegistryName("version", bad).code(), StatusCode::kInvalidArgument) << bad;
}

TEST_F(ModelRegistryTest, ListsValidModelsByNameThenVersion) {
  AddModel("gonad-cnn", "1.10.0");
  AddModel("gonad-cnn", "1.0.0");
  AddModel("gonad-cnn", "1.9.0");
  AddModel("other-net", "0.1.0");
  ModelRegistry registry(root_.string());
  auto all = registry.List();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::vector<std::string> seen;
  for (const auto& m : *all) {
    seen.push_back(m.name + " " + m.version);
    EXPECT_EQ(m.metadata.name(), m.name);
    EXPECT_EQ(m.metadata.version(), m.version);
    EXPECT_EQ(m.dir, (root_ / m.name / m.version).string());
  }
  EXPECT_EQ(seen,
            (std::vector<std::string>{"gonad-cnn 1.0.0", "gonad-cnn 1.9.0", "gonad-cnn 1.10.0", "other-net 0.1.0"}));
  auto latest = registry.Latest("gonad-cnn");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, "1.10.0");
  EXPECT_EQ(registry.Latest("nothing").status().code(), StatusCode::kNotFound);
}

TEST_F(ModelRegistryTest, SkipsAndExplainsInvalidDirectories) {
  AddModel("gonad-cnn", "1.0.0");
  AddModel("gonad-cnn", "2.0.0", "gonad-cnn", "1.0.0");   // model.json says another version
  fs::create_directories(root_ / "gonad-cnn" / "3.0.0");  // no model.json
  fs::create_directories(root_ / "gonad-cnn" / "4.0.0");
  std::ofstream(root_ / "gonad-cnn" / "4.0.0" / "model.json") << "{ not json";
  ModelRegistry registry(root_.string());
  std::vector<std::string> skipped;
  auto all = registry.List(&skipped);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].version, "1.0.0");
  EXPECT_EQ(skipped.size(), 3u);
  std::string why;
  for (const auto& s : skipped) why += s + "\n";
  EXPECT_NE(why.find("names gonad-cnn 1.0.0, not the gonad-cnn 2.0.0 of its path"), std::string::npos) << why;
  EXPECT_EQ(registry.Latest("gonad-cnn")->version, "1.0.0");
}

TEST_F(ModelRegistryTest, FindResolvesOrSaysWhy) {
  AddModel("gonad-cnn", "1.0.0");
  AddModel("gonad-cnn", "1.1.0", "other-name", "1.1.0");
  ModelRegistry registry(root_.string());
  auto found = registry.Find("gonad-cnn", "1.0.0");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->metadata.input().dim_z(), 16u);
  EXPECT_EQ(registry.Find("gonad-cnn", "9.9.9").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry.Find("gonad-cnn", "1.1.0").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Find("gonad-cnn", "../1.0.0").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Find("..", "gonad-cnn").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ModelRegistryTest, MissingRootIsNotFound) {
  ModelRegistry registry((root_ / "absent").string());
  EXPECT_EQ(registry.List().status().code(), StatusCode::kNotFound);
}

TEST_F(ModelRegistryTest, KnownModelsFindsAModelAddedJustNow) {
  AddModel("gonad-cnn", "1.0.0");
  KnownModels known(ModelRegistry(root_.string()), /*refresh_ms=*/3'600'000);
  EXPECT_TRUE(*known.Contains("gonad-cnn", "1.0.0"));
  AddModel("gonad-cnn", "1.1.0");  // activated a moment after the last listing
  EXPECT_TRUE(*known.Contains("gonad-cnn", "1.1.0")) << "a pair not seen before lists the registry again";
  EXPECT_FALSE(*known.Contains("gonad-cnn", "9.9.9"));
  AddModel("gonad-cnn", "9.9.9");
  EXPECT_FALSE(*known.Contains("gonad-cnn", "9.9.9")) << "a pair found missing is answered from memory";
  KnownModels fresh(ModelRegistry(root_.string()), /*refresh_ms=*/0);
  EXPECT_FALSE(*fresh.Contains("gonad-cnn", "2.0.0"));
  AddModel("gonad-cnn", "2.0.0");
  EXPECT_TRUE(*fresh.Contains("gonad-cnn", "2.0.0")) << "listed again once refresh_ms passed";
  KnownModels gone(ModelRegistry((root_ / "absent").string()));
  EXPECT_EQ(gone.Contains("gonad-cnn", "1.0.0").status().code(), StatusCode::kUnavailable);
}

TEST(CommittedRegistryTest, HoldsTheDefaultModel) {
  ModelRegistry registry(EnvOr("OVOFLOW_SOURCE_DIR", "") + "/models");
  auto latest = registry.Latest(kDefaultModelName);
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->metadata.name(), "gonad-cnn");
}

}  // namespace
}  // namespace ovoflow::inference
