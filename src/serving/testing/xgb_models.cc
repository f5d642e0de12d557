#include "serving/testing/xgb_models.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"

namespace cairn::serving::testing {
namespace {

absl::Status Check(int rc, const char* what) {
  if (rc == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("xgboost ", what, ": ", XGBGetLastError()));
}

#define XGB_TRY(call)                                        \
  do {                                                       \
    absl::Status xgb_status_ = Check((call), #call);         \
    if (!xgb_status_.ok()) return xgb_status_;               \
  } while (0)

struct Handles {
  DMatrixHandle dmat = nullptr;
  BoosterHandle booster = nullptr;
  ~Handles() {
    if (booster != nullptr) XGBoosterFree(booster);
    if (dmat != nullptr) XGDMatrixFree(dmat);
  }
};

}  // namespace

std::vector<float> SyntheticRows(int rows, int features, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> out(static_cast<size_t>(rows) * features);
  for (float& value : out) {
    value = unit(rng) < 0.02f ? std::numeric_limits<float>::quiet_NaN() : normal(rng);
  }
  return out;
}

std::vector<std::string> FeatureNames(int features) {
  std::vector<std::string> names;
  for (int index = 0; index < features; ++index) names.push_back(absl::StrCat("f", index));
  return names;
}

absl::StatusOr<std::string> TrainTestBooster(const TestBoosterOptions& options) {
  const std::vector<float> rows = SyntheticRows(options.rows, options.features, options.seed);
  std::vector<float> labels(options.rows);
  for (int row = 0; row < options.rows; ++row) {
    const float* x = rows.data() + static_cast<size_t>(row) * options.features;
    double score = 0;
    for (int column = 0; column < options.features; ++column) {
      const float value = std::isnan(x[column]) ? 0.0f : x[column];
      score += value * ((column % 3) - 1) * (1.0 + column * 0.1);
    }
    if (options.num_class > 1) {
      labels[row] = static_cast<float>(
          std::min(options.num_class - 1, std::max(0, static_cast<int>(score + 1.0))));
    } else if (options.objective.rfind("binary:", 0) == 0) {
      labels[row] = score > 0.3 ? 1.0f : 0.0f;
    } else {
      labels[row] = static_cast<float>(score);
    }
  }
  Handles handles;
  XGB_TRY(XGDMatrixCreateFromMat(rows.data(), options.rows, options.features,
                                 std::numeric_limits<float>::quiet_NaN(), &handles.dmat));
  XGB_TRY(XGDMatrixSetFloatInfo(handles.dmat, "label", labels.data(), options.rows));
  if (options.named) {
    const std::vector<std::string> names = FeatureNames(options.features);
    std::vector<const char*> pointers;
    for (const std::string& name : names) pointers.push_back(name.c_str());
    XGB_TRY(XGDMatrixSetStrFeatureInfo(handles.dmat, "feature_name", pointers.data(),
                                       pointers.size()));
  }
  XGB_TRY(XGBoosterCreate(&handles.dmat, 1, &handles.booster));
  if (options.named) {  // the C API does not copy the DMatrix's names into the booster
    const std::vector<std::string> names = FeatureNames(options.features);
    std::vector<const char*> pointers;
    for (const std::string& name : names) pointers.push_back(name.c_str());
    XGB_TRY(XGBoosterSetStrFeatureInfo(handles.booster, "feature_name", pointers.data(),
                                       pointers.size()));
  }
  XGB_TRY(XGBoosterSetParam(handles.booster, "objective", options.objective.c_str()));
  if (options.num_class > 1) {
    XGB_TRY(XGBoosterSetParam(handles.booster, "num_class",
                              absl::StrCat(options.num_class).c_str()));
  }
  XGB_TRY(XGBoosterSetParam(handles.booster, "max_depth",
                            absl::StrCat(options.max_depth).c_str()));
  XGB_TRY(XGBoosterSetParam(handles.booster, "tree_method", "hist"));
  XGB_TRY(XGBoosterSetParam(handles.booster, "seed", absl::StrCat(options.seed).c_str()));
  XGB_TRY(XGBoosterSetParam(handles.booster, "nthread", "1"));
  XGB_TRY(XGBoosterSetParam(handles.booster, "verbosity", "0"));
  for (int round = 0; round < options.trees; ++round) {
    XGB_TRY(XGBoosterUpdateOneIter(handles.booster, round, handles.dmat));
  }
  bst_ulong length = 0;
  const char* bytes = nullptr;
  XGB_TRY(XGBoosterSaveModelToBuffer(handles.booster, R"({"format": "json"})", &length, &bytes));
  return std::string(bytes, length);
}

absl::Status WriteXgbModelDir(const std::string& dir, const std::string& model_json,
                              const std::vector<std::string>& signature_columns) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  std::ofstream model(std::filesystem::path(dir) / "model.json", std::ios::binary);
  model << model_json;
  std::string mlmodel =
      "artifact_path: model\n"
      "flavors:\n"
      "  python_function:\n"
      "    data: model.json\n"
      "    loader_module: mlflow.xgboost\n"
      "  xgboost:\n"
      "    code: null\n"
      "    data: model.json\n"
      "    model_class: xgboost.core.Booster\n"
      "    model_format: json\n"
      "    xgb_version: 1.7.4\n";
  if (!signature_columns.empty()) {
    std::string inputs;
    for (const std::string& column : signature_columns) {
      if (!inputs.empty()) inputs += ", ";
      absl::StrAppend(&inputs, R"({"type": "double", "name": ")", column,
                      R"(", "required": true})");
    }
    absl::StrAppend(&mlmodel, "signature:\n  inputs: '[", inputs, "]'\n");
  }
  std::ofstream out(std::filesystem::path(dir) / "MLmodel", std::ios::binary);
  out << mlmodel;
  out.close();
  model.close();
  if (!out || !model) return absl::InternalError(absl::StrCat("cannot write into ", dir));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> ReferencePredict(const std::string& model_json,
                                                    const std::vector<float>& rows,
                                                    size_t columns) {
  Handles handles;
  XGB_TRY(XGBoosterCreate(nullptr, 0, &handles.booster));
  XGB_TRY(XGBoosterLoadModelFromBuffer(handles.booster, model_json.data(), model_json.size()));
  XGB_TRY(XGDMatrixCreateFromMat(rows.data(), rows.size() / columns, columns,
                                 std::numeric_limits<float>::quiet_NaN(), &handles.dmat));
  bst_ulong length = 0;
  const float* scores = nullptr;
  XGB_TRY(XGBoosterPredict(handles.booster, handles.dmat, 0, 0, 0, &length, &scores));
  return std::vector<float>(scores, scores + length);
}

}  // namespace cairn::serving::testing
