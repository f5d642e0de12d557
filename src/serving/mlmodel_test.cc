#include "serving/mlmodel.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::serving {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The Cairn demo's MLmodel (src/demo/steps.cc MlmodelYaml): both flavors, no signature.
constexpr char kDemoMlmodel[] = R"(artifact_path: model
flavors:
  python_function:
    data: model.json
    loader_module: mlflow.xgboost
  xgboost:
    code: null
    data: model.json
    model_class: xgboost.core.Booster
    model_format: json
    xgb_version: 1.7.4
run_id: 0123
utc_time_created_ms: 1700000000000
)";

// What mlflow 3.17.2's mlflow.sklearn.save_model writes (with infer_signature).
constexpr char kSklearnMlmodel[] = R"(flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.skops
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.skops
    serialization_format: skops
    sklearn_version: 1.9.1
mlflow_version: 3.17.2
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}, {"type": "double",
    "name": "y", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: null
)";

// What mlflow 3.17.2's mlflow.xgboost.save_model writes with xgboost 3.2 (UBJSON).
constexpr char kMlflowXgboostMlmodel[] = R"(flavors:
  python_function:
    data: model.ubj
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.xgboost
    python_version: 3.11.7
  xgboost:
    code: null
    data: model.ubj
    model_class: xgboost.core.Booster
    model_format: ubj
    xgb_version: 3.2.0
signature:
  inputs: '[{"type": "double", "name": "a", "required": true}, {"type": "long",
    "name": "b", "required": true}, {"type": "boolean", "name": "c", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]'
)";

TEST(ParseMlmodelTest, DemoModelIsXgboostWithoutColumns) {
  absl::StatusOr<ModelInfo> info = ParseMlmodel(kDemoMlmodel, "MLmodel");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->flavor, "xgboost");
  EXPECT_EQ(info->data_file, "model.json");
  EXPECT_THAT(info->input_columns, IsEmpty());
}

TEST(ParseMlmodelTest, SklearnModelIsPythonFunctionWithSignatureColumns) {
  absl::StatusOr<ModelInfo> info = ParseMlmodel(kSklearnMlmodel, "MLmodel");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->flavor, "python_function");
  EXPECT_EQ(info->data_file, "");
  EXPECT_THAT(info->input_columns, ElementsAre("x", "y"));
}

TEST(ParseMlmodelTest, MlflowXgboostModelKeepsSignatureOrder) {
  absl::StatusOr<ModelInfo> info = ParseMlmodel(kMlflowXgboostMlmodel, "MLmodel");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->flavor, "xgboost");
  EXPECT_EQ(info->data_file, "model.ubj");
  EXPECT_THAT(info->input_columns, ElementsAre("a", "b", "c"));
}

TEST(ParseMlmodelTest, AskedFlavorIsRead) {
  absl::StatusOr<ModelInfo> info = ParseMlmodel(kMlflowXgboostMlmodel, "MLmodel",
                                                "python_function");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->flavor, "python_function");
  EXPECT_EQ(info->data_file, "model.ubj");

  absl::StatusOr<ModelInfo> missing = ParseMlmodel(kSklearnMlmodel, "dir/MLmodel", "xgboost");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("dir/MLmodel:2: the model has no 'xgboost' "
                                                    "flavor (it has: python_function, sklearn)"));

  EXPECT_EQ(ParseMlmodel(kSklearnMlmodel, "MLmodel", "onnx").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseMlmodelTest, TensorSignatureNamesNoColumns) {
  absl::StatusOr<ModelInfo> info = ParseMlmodel(
      "flavors:\n  xgboost:\n    data: m.json\nsignature:\n  inputs: '[{\"type\": \"tensor\", "
      "\"tensor-spec\": {\"dtype\": \"float32\", \"shape\": [-1, 4]}}]'\n",
      "MLmodel");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->input_columns, IsEmpty());
}

TEST(ParseMlmodelTest, ErrorsNameFileLineAndField) {
  absl::StatusOr<ModelInfo> no_flavors = ParseMlmodel("artifact_path: model\n", "d/MLmodel");
  EXPECT_EQ(no_flavors.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_flavors.status().message(), HasSubstr("d/MLmodel:1: missing field 'flavors'"));

  absl::StatusOr<ModelInfo> other = ParseMlmodel(
      "run_id: x\nflavors:\n  sklearn:\n    pickled_model: m.pkl\n  onnx: {}\n", "d/MLmodel");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.status().message(),
              HasSubstr("d/MLmodel:3: field 'flavors': value a map of 2 keys has neither "
                        "'xgboost' nor 'python_function' (found: sklearn, onnx)"));

  absl::StatusOr<ModelInfo> no_data =
      ParseMlmodel("flavors:\n  xgboost:\n    model_format: json\n", "d/MLmodel");
  EXPECT_EQ(no_data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_data.status().message(), HasSubstr("d/MLmodel:3: field 'flavors.xgboost.data'"));

  absl::StatusOr<ModelInfo> bad_json = ParseMlmodel(
      "flavors:\n  xgboost:\n    data: m.json\nsignature:\n  inputs: '[{\"name\": '\n",
      "d/MLmodel");
  EXPECT_EQ(bad_json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_json.status().message(),
              HasSubstr("d/MLmodel:5: field 'signature.inputs': is not valid JSON"));

  absl::StatusOr<ModelInfo> bad_name = ParseMlmodel(
      "flavors:\n  xgboost:\n    data: m.json\nsignature:\n  inputs: '[{\"name\": 3}]'\n",
      "d/MLmodel");
  EXPECT_EQ(bad_name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_name.status().message(),
              HasSubstr("input 0: 'name' must be a non-empty string, got 3"));

  absl::StatusOr<ModelInfo> not_map = ParseMlmodel("- a\n- b\n", "d/MLmodel");
  EXPECT_EQ(not_map.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_map.status().message(), HasSubstr("MLmodel must be a map"));
}

class ReadModelInfoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cairn_mlmodel_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const fs::path& relative, const std::string& text) {
    fs::create_directories((dir_ / relative).parent_path());
    std::ofstream out(dir_ / relative, std::ios::binary);
    out << text;
  }

  fs::path dir_;
};

TEST_F(ReadModelInfoTest, ReadsFlavorAndSizeOfAllFiles) {
  Write("MLmodel", kDemoMlmodel);
  Write("model.json", std::string(1000, 'x'));
  Write("extra/notes.txt", std::string(24, 'y'));
  absl::StatusOr<ModelInfo> info = ReadModelInfo(dir_.string());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model_dir, dir_.string());
  EXPECT_EQ(info->flavor, "xgboost");
  EXPECT_EQ(info->size_bytes, static_cast<int64_t>(sizeof(kDemoMlmodel) - 1 + 1000 + 24));
}

TEST_F(ReadModelInfoTest, RelativeDirectoryBecomesAbsolute) {
  Write("MLmodel", kDemoMlmodel);
  Write("model.json", "{}");
  const fs::path previous = fs::current_path();
  fs::current_path(dir_.parent_path());
  absl::StatusOr<ModelInfo> info = ReadModelInfo(dir_.filename().string());
  fs::current_path(previous);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model_dir, dir_.string());
}

TEST_F(ReadModelInfoTest, MissingDirectoryMlmodelOrModelFileIsNotFound) {
  absl::StatusOr<ModelInfo> no_dir = ReadModelInfo((dir_ / "nope").string());
  EXPECT_EQ(no_dir.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(no_dir.status().message(), HasSubstr("nope does not exist"));

  absl::StatusOr<ModelInfo> no_mlmodel = ReadModelInfo(dir_.string());
  EXPECT_EQ(no_mlmodel.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(no_mlmodel.status().message(), HasSubstr("has no MLmodel file"));

  Write("MLmodel", kDemoMlmodel);
  absl::StatusOr<ModelInfo> no_model = ReadModelInfo(dir_.string());
  EXPECT_EQ(no_model.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(no_model.status().message(),
              HasSubstr("the xgboost flavor's model file 'model.json' is not in"));
}

}  // namespace
}  // namespace cairn::serving
