#include "serving/xgb_runtime.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "serving/mlmodel.h"
#include "serving/testing/xgb_models.h"

namespace cairn::serving {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

fs::path TestDataDir() {
  if (const char* source = std::getenv("CAIRN_SOURCE_DIR")) {
    return fs::path(source) / "src/serving/testdata/xgb3";
  }
  return fs::path(__FILE__).parent_path() / "testdata/xgb3";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A ModelInput of `rows` (row-major floats, NaN → null) with `columns`.
ModelInput InputOf(const std::vector<std::string>& columns, const std::vector<float>& rows) {
  ModelInput input;
  input.columns = columns;
  input.rows = rows.size() / columns.size();
  for (float value : rows) {
    if (std::isnan(value)) {
      input.cells.emplace_back(std::monostate{});
    } else {
      input.cells.emplace_back(static_cast<double>(value));
    }
  }
  return input;
}

class XgbRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cairn_xgb_runtime_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Trains, writes a model directory and loads it.
  std::unique_ptr<ModelRuntime> Load(const testing::TestBoosterOptions& options,
                                     const std::vector<std::string>& signature = {},
                                     int threads = 1) {
    absl::StatusOr<std::string> model = testing::TrainTestBooster(options);
    EXPECT_TRUE(model.ok()) << model.status();
    model_json_ = *model;
    EXPECT_TRUE(testing::WriteXgbModelDir(dir_.string(), model_json_, signature).ok());
    absl::StatusOr<ModelInfo> info = ReadModelInfo(dir_.string());
    EXPECT_TRUE(info.ok()) << info.status();
    absl::StatusOr<std::unique_ptr<ModelRuntime>> runtime = LoadXgbRuntime(*info, threads);
    EXPECT_TRUE(runtime.ok()) << runtime.status();
    return runtime.ok() ? *std::move(runtime) : nullptr;
  }

  fs::path dir_;
  std::string model_json_;
};

TEST_F(XgbRuntimeTest, PredictsWhatTheBoosterPredicts) {
  testing::TestBoosterOptions options;
  options.features = 20;
  options.trees = 30;
  std::unique_ptr<ModelRuntime> runtime = Load(options);
  ASSERT_NE(runtime, nullptr);
  EXPECT_EQ(runtime->info().input_columns, testing::FeatureNames(20));

  const std::vector<float> rows = testing::SyntheticRows(50, 20, 99);
  absl::StatusOr<std::vector<float>> expected = testing::ReferencePredict(model_json_, rows, 20);
  ASSERT_TRUE(expected.ok()) << expected.status();
  absl::StatusOr<std::vector<double>> got =
      runtime->Predict(InputOf(testing::FeatureNames(20), rows));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 50u);
  for (size_t row = 0; row < 50; ++row) {
    EXPECT_EQ(static_cast<float>((*got)[row]), (*expected)[row]) << "row " << row;
  }
  // One row at a time gives the same answers.
  for (size_t row = 0; row < 5; ++row) {
    std::vector<float> one(rows.begin() + row * 20, rows.begin() + (row + 1) * 20);
    absl::StatusOr<std::vector<double>> single =
        runtime->Predict(InputOf(testing::FeatureNames(20), one));
    ASSERT_TRUE(single.ok()) << single.status();
    EXPECT_EQ(static_cast<float>(single->at(0)), (*expected)[row]);
  }
}

TEST_F(XgbRuntimeTest, ReordersColumnsByNameAndIgnoresExtras) {
  testing::TestBoosterOptions options;
  options.features = 4;
  options.trees = 10;
  std::unique_ptr<ModelRuntime> runtime = Load(options);
  ASSERT_NE(runtime, nullptr);
  const std::vector<float> row = {0.5f, -1.0f, 2.0f, 0.25f};
  absl::StatusOr<std::vector<float>> expected = testing::ReferencePredict(model_json_, row, 4);
  ASSERT_TRUE(expected.ok());

  ModelInput input;
  input.columns = {"extra", "f3", "f1", "f0", "f2"};
  input.rows = 1;
  input.cells = {features::Value(std::string("ignored")), 0.25, -1.0, 0.5, 2.0};
  absl::StatusOr<std::vector<double>> got = runtime->Predict(input);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(static_cast<float>(got->at(0)), expected->at(0));
}

TEST_F(XgbRuntimeTest, ConvertsNullBoolAndIntegerCells) {
  testing::TestBoosterOptions options;
  options.features = 4;
  options.trees = 10;
  std::unique_ptr<ModelRuntime> runtime = Load(options);
  ASSERT_NE(runtime, nullptr);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  absl::StatusOr<std::vector<float>> expected =
      testing::ReferencePredict(model_json_, {nan, 1.0f, 0.0f, 3.0f}, 4);
  ASSERT_TRUE(expected.ok());
  ModelInput input;
  input.columns = testing::FeatureNames(4);
  input.rows = 1;
  input.cells = {features::Value(std::monostate{}), features::Value(true),
                 features::Value(false), features::Value(int64_t{3})};
  absl::StatusOr<std::vector<double>> got = runtime->Predict(input);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(static_cast<float>(got->at(0)), expected->at(0));
}

TEST_F(XgbRuntimeTest, BadInputsAreInvalidArgumentNamingColumnAndRow) {
  testing::TestBoosterOptions options;
  options.features = 4;
  options.trees = 5;
  std::unique_ptr<ModelRuntime> runtime = Load(options);
  ASSERT_NE(runtime, nullptr);

  ModelInput strings;
  strings.columns = testing::FeatureNames(4);
  strings.rows = 2;
  strings.cells = {1.0, 2.0, 3.0, 4.0, 1.0, features::Value(std::string("abc")), 3.0, 4.0};
  absl::StatusOr<std::vector<double>> got = runtime->Predict(strings);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(),
              HasSubstr("input column 'f1' row 1: the string 'abc' where the model needs a "
                        "number"));

  ModelInput missing;
  missing.columns = {"f0", "f1", "f2"};
  missing.rows = 1;
  missing.cells = {1.0, 2.0, 3.0};
  got = runtime->Predict(missing);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(),
              HasSubstr("missing model input 'f3' (the model reads f0, f1, f2, f3)"));

  ModelInput twice;
  twice.columns = {"f0", "f1", "f2", "f3", "f1"};
  twice.rows = 1;
  twice.cells = {1.0, 2.0, 3.0, 4.0, 5.0};
  got = runtime->Predict(twice);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("input column 'f1' is given twice"));

  ModelInput ragged;
  ragged.columns = testing::FeatureNames(4);
  ragged.rows = 2;
  ragged.cells = {1.0, 2.0, 3.0};
  got = runtime->Predict(ragged);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("expected rows × columns = 2 × 4"));

  ModelInput empty;
  empty.columns = testing::FeatureNames(4);
  got = runtime->Predict(empty);
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(*got, IsEmpty());
}

TEST_F(XgbRuntimeTest, UnnamedBoosterTakesColumnsByPosition) {
  testing::TestBoosterOptions options;
  options.features = 3;
  options.trees = 5;
  options.named = false;
  std::unique_ptr<ModelRuntime> runtime = Load(options);
  ASSERT_NE(runtime, nullptr);
  EXPECT_THAT(runtime->info().input_columns, IsEmpty());
  const std::vector<float> row = {0.1f, 0.2f, -0.3f};
  absl::StatusOr<std::vector<float>> expected = testing::ReferencePredict(model_json_, row, 3);
  ASSERT_TRUE(expected.ok());
  absl::StatusOr<std::vector<double>> got = runtime->Predict(InputOf({"x", "y", "z"}, row));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(static_cast<float>(got->at(0)), expected->at(0));

  got = runtime->Predict(InputOf({"x", "y"}, {0.1f, 0.2f}));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(),
              HasSubstr("the model reads 3 features by position (it names none) but the input "
                        "has 2 columns (x, y)"));
}

TEST_F(XgbRuntimeTest, SignatureNamesTheColumnsOfAnUnnamedBooster) {
  testing::TestBoosterOptions options;
  options.features = 3;
  options.trees = 5;
  options.named = false;
  std::unique_ptr<ModelRuntime> runtime = Load(options, {"age", "plan", "tenure"});
  ASSERT_NE(runtime, nullptr);
  EXPECT_THAT(runtime->info().input_columns, ElementsAre("age", "plan", "tenure"));
  const std::vector<float> row = {0.1f, 0.2f, -0.3f};
  absl::StatusOr<std::vector<float>> expected = testing::ReferencePredict(model_json_, row, 3);
  ASSERT_TRUE(expected.ok());
  absl::StatusOr<std::vector<double>> got =
      runtime->Predict(InputOf({"tenure", "age", "plan"}, {-0.3f, 0.1f, 0.2f}));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(static_cast<float>(got->at(0)), expected->at(0));
}

TEST_F(XgbRuntimeTest, SignatureOfTheWrongWidthIsRefusedAtLoad) {
  absl::StatusOr<std::string> model = testing::TrainTestBooster({.features = 3, .trees = 2});
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(testing::WriteXgbModelDir(dir_.string(), *model, {"a", "b"}).ok());
  absl::StatusOr<ModelInfo> info = ReadModelInfo(dir_.string());
  ASSERT_TRUE(info.ok());
  absl::StatusOr<std::unique_ptr<ModelRuntime>> runtime = LoadXgbRuntime(*info, 1);
  EXPECT_EQ(runtime.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(runtime.status().message(),
              HasSubstr("signature names 2 inputs (a, b) but the booster reads 3 features"));
}

TEST_F(XgbRuntimeTest, MultiClassProbabilitiesAreRefusedAtPredict) {
  testing::TestBoosterOptions options;
  options.features = 4;
  options.trees = 3;
  options.objective = "multi:softprob";
  options.num_class = 3;
  std::unique_ptr<ModelRuntime> runtime = Load(options);
  ASSERT_NE(runtime, nullptr);
  absl::StatusOr<std::vector<double>> got =
      runtime->Predict(InputOf(testing::FeatureNames(4), {0, 0, 0, 0}));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("the model returns 3 values per row"));
}

TEST_F(XgbRuntimeTest, ConcurrentCallersGetTheirOwnAnswers) {
  testing::TestBoosterOptions options;
  options.features = 20;
  options.trees = 50;
  std::unique_ptr<ModelRuntime> runtime = Load(options);
  ASSERT_NE(runtime, nullptr);
  const std::vector<float> rows = testing::SyntheticRows(64, 20, 5);
  absl::StatusOr<std::vector<float>> expected = testing::ReferencePredict(model_json_, rows, 20);
  ASSERT_TRUE(expected.ok());
  const std::vector<std::string> names = testing::FeatureNames(20);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int worker = 0; worker < 4; ++worker) {
    threads.emplace_back([&, worker] {
      for (int iteration = 0; iteration < 500; ++iteration) {
        const size_t row = (iteration * 7 + worker * 13) % 64;
        // Alternate single rows and small batches so the scratch buffers change size.
        const size_t count = (iteration % 3 == 0) ? std::min<size_t>(4, 64 - row) : 1;
        std::vector<float> slice(rows.begin() + row * 20, rows.begin() + (row + count) * 20);
        absl::StatusOr<std::vector<double>> got = runtime->Predict(InputOf(names, slice));
        if (!got.ok() || got->size() != count) {
          ++mismatches[worker];
          continue;
        }
        for (size_t index = 0; index < count; ++index) {
          if (static_cast<float>((*got)[index]) != (*expected)[row + index]) ++mismatches[worker];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
  EXPECT_EQ(runtime->Stats().in_flight, 0);
  EXPECT_EQ(runtime->Stats().replicas, 1);
}

TEST_F(XgbRuntimeTest, LoadErrors) {
  ModelInfo info;
  info.model_dir = dir_.string();
  info.flavor = "python_function";
  info.data_file = "model.json";
  EXPECT_EQ(LoadXgbRuntime(info, 1).status().code(), absl::StatusCode::kFailedPrecondition);

  info.flavor = "xgboost";
  absl::StatusOr<std::unique_ptr<ModelRuntime>> missing = LoadXgbRuntime(info, 1);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("model.json cannot be opened"));

  fs::create_directories(dir_);
  std::ofstream(dir_ / "model.json") << "{\"learner\": 3}";
  absl::StatusOr<std::unique_ptr<ModelRuntime>> garbage = LoadXgbRuntime(info, 1);
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(), HasSubstr("libxgboost cannot load it"));

  EXPECT_EQ(LoadXgbRuntime(info, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

// Models saved by Python xgboost 3.2 (testdata/xgb3/make_models.py) in JSON and UBJSON:
// libxgboost 1.7.4 must give Python's own predictions once the files are normalized.
class PythonXgboostModelTest : public XgbRuntimeTest,
                               public ::testing::WithParamInterface<std::string> {};

TEST_P(PythonXgboostModelTest, PredictsWhatPythonXgboostPredicted) {
  const std::string file = GetParam();
  const std::string name = file.substr(0, file.find('.'));
  absl::StatusOr<Json> expected = ParseJson(ReadFile(TestDataDir() / "expected.json"));
  ASSERT_TRUE(expected.ok()) << expected.status() << " in " << TestDataDir();
  fs::create_directories(dir_);
  fs::copy_file(TestDataDir() / file, dir_ / file);
  std::ofstream(dir_ / "MLmodel") << "flavors:\n  xgboost:\n    data: " << file << "\n";
  absl::StatusOr<ModelInfo> info = ReadModelInfo(dir_.string());
  ASSERT_TRUE(info.ok()) << info.status();
  absl::StatusOr<std::unique_ptr<ModelRuntime>> runtime = LoadXgbRuntime(*info, 1);
  ASSERT_TRUE(runtime.ok()) << runtime.status();
  EXPECT_THAT((*runtime)->info().input_columns, ElementsAre("a", "b", "c", "d"));

  ModelInput input;
  input.columns = {"a", "b", "c", "d"};
  for (const Json& row : (*expected)["rows"]) {
    for (const Json& cell : row) {
      input.cells.push_back(cell.is_null() ? features::Value(std::monostate{})
                                           : features::Value(cell.get<double>()));
    }
    ++input.rows;
  }
  absl::StatusOr<std::vector<double>> got = (*runtime)->Predict(input);
  ASSERT_TRUE(got.ok()) << got.status();
  const Json& want = (*expected)["predictions"][name];
  ASSERT_EQ(got->size(), want.size());
  for (size_t row = 0; row < want.size(); ++row) {
    EXPECT_NEAR((*got)[row], want[row].get<double>(), 2e-6) << name << " row " << row;
  }
}

INSTANTIATE_TEST_SUITE_P(Xgboost3, PythonXgboostModelTest,
                         ::testing::Values("binary.json", "binary.ubj", "regression.json",
                                           "regression.ubj", "softmax.json", "softmax.ubj"));

TEST(NormalizeXgbModelTest, OneElementBaseScoreBecomesTheScalar) {
  bool changed = false;
  absl::StatusOr<std::string> out = NormalizeXgbModel(
      R"({"learner": {"learner_model_param": {"base_score": "[5.14E-1]", "num_target": "1"}},)"
      R"( "version": [3, 2, 0]})",
      "m.json", &changed);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(changed);
  absl::StatusOr<Json> parsed = ParseJson(*out);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)["learner"]["learner_model_param"]["base_score"], "5.14E-1");
}

TEST(NormalizeXgbModelTest, PerClassInterceptsAreFoldedIntoTheFirstTreeOfEachClass) {
  bool changed = false;
  absl::StatusOr<std::string> out = NormalizeXgbModel(
      R"({"learner": {"learner_model_param": {"base_score": "[1E-1,-2E-1]"},)"
      R"( "gradient_booster": {"model": {"tree_info": [0, 1, 0],)"
      R"( "trees": [{"left_children": [1, -1, -1], "split_conditions": [0.5, 1.0, 2.0]},)"
      R"( {"left_children": [-1], "split_conditions": [3.0]},)"
      R"( {"left_children": [-1], "split_conditions": [4.0]}]}}}})",
      "m.json", &changed);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(changed);
  absl::StatusOr<Json> parsed = ParseJson(*out);
  ASSERT_TRUE(parsed.ok());
  const Json& trees = (*parsed)["learner"]["gradient_booster"]["model"]["trees"];
  EXPECT_EQ((*parsed)["learner"]["learner_model_param"]["base_score"], "0");
  EXPECT_DOUBLE_EQ(trees[0]["split_conditions"][0].get<double>(), 0.5);  // a split: kept
  EXPECT_DOUBLE_EQ(trees[0]["split_conditions"][1].get<double>(), 1.1);
  EXPECT_DOUBLE_EQ(trees[0]["split_conditions"][2].get<double>(), 2.1);
  EXPECT_DOUBLE_EQ(trees[1]["split_conditions"][0].get<double>(), 2.8);
  EXPECT_DOUBLE_EQ(trees[2]["split_conditions"][0].get<double>(), 4.0);  // class 0 again
}

TEST(NormalizeXgbModelTest, OldModelsAreLeftAlone) {
  bool changed = true;
  absl::StatusOr<std::string> out = NormalizeXgbModel(
      R"({"learner": {"learner_model_param": {"base_score": "5E-1"}}, "version": [1, 7, 4]})",
      "m.json", &changed);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(changed);
  EXPECT_EQ(*out, "");
}

TEST(NormalizeXgbModelTest, UnservableModelsAreRefused) {
  bool changed = false;
  absl::StatusOr<std::string> targets = NormalizeXgbModel(
      R"({"learner": {"learner_model_param": {"base_score": "[5E-1,5E-1]", "num_target": "2"}}})",
      "m.json", &changed);
  EXPECT_EQ(targets.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(targets.status().message(), HasSubstr("m.json: the model has 2 targets"));

  absl::StatusOr<std::string> cats = NormalizeXgbModel(
      R"({"learner": {"learner_model_param": {"base_score": "[5E-1]"}, "gradient_booster":)"
      R"( {"model": {"cats": {"enc": [["x", "y"]]}}}}})",
      "m.json", &changed);
  EXPECT_EQ(cats.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cats.status().message(), HasSubstr("re-codes categorical features"));

  absl::StatusOr<std::string> broken = NormalizeXgbModel(R"({"base_score": "[5E-1" )", "m.json",
                                                         &changed);
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(broken.status().message(), HasSubstr("m.json: not an XGBoost model"));
}

}  // namespace
}  // namespace cairn::serving
