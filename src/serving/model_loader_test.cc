#include "serving/model_loader.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "serving/testing/xgb_models.h"

namespace cairn::serving {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ModelLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cairn_model_loader_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    absl::StatusOr<std::string> model = testing::TrainTestBooster({.features = 3, .trees = 3});
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE(testing::WriteXgbModelDir(dir_.string(), *model).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(ModelLoaderTest, AutoLoadsAnXgboostModelInProcess) {
  for (const char* runtime : {"auto", "xgboost"}) {
    absl::StatusOr<std::unique_ptr<ModelRuntime>> loaded =
        LoadModelRuntime(dir_.string(), {.runtime = runtime});
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->info().flavor, "xgboost");
    ModelInput input;
    input.columns = {"f0", "f1", "f2"};
    input.rows = 1;
    input.cells = {0.0, 1.0, 2.0};
    absl::StatusOr<std::vector<double>> got = (*loaded)->Predict(input);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->size(), 1u);
  }
}

TEST_F(ModelLoaderTest, UnknownRuntimeIsInvalidArgument) {
  absl::StatusOr<std::unique_ptr<ModelRuntime>> loaded =
      LoadModelRuntime(dir_.string(), {.runtime = "onnx"});
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(), HasSubstr("runtime: 'onnx' is not auto, xgboost or python"));
}

TEST_F(ModelLoaderTest, ForcedRuntimeNeedsItsFlavor) {
  std::ofstream(dir_ / "MLmodel") << "flavors:\n  xgboost:\n    data: model.json\n";
  absl::StatusOr<std::unique_ptr<ModelRuntime>> python =
      LoadModelRuntime(dir_.string(), {.runtime = "python"});
  EXPECT_EQ(python.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(python.status().message(),
              HasSubstr("has no 'python_function' flavor (it has: xgboost)"));

  std::ofstream(dir_ / "MLmodel", std::ios::trunc)
      << "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n";
  absl::StatusOr<std::unique_ptr<ModelRuntime>> xgboost =
      LoadModelRuntime(dir_.string(), {.runtime = "xgboost"});
  EXPECT_EQ(xgboost.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(xgboost.status().message(), HasSubstr("has no 'xgboost' flavor"));
}

TEST_F(ModelLoaderTest, MissingDirectoryIsNotFound) {
  EXPECT_EQ(LoadModelRuntime((dir_ / "absent").string(), {}).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace cairn::serving
