#include "demo/xgb_trainer.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <cstdio>
#include <numeric>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status.h"

namespace cairn::demo {
namespace {

absl::Status XgbCheck(int rc, const char* call) {
  if (rc == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("xgboost ", call, " failed: ", XGBGetLastError()));
}

#define CAIRN_XGB(call) CAIRN_RETURN_IF_ERROR(XgbCheck((call), #call))

// Owns a DMatrixHandle.
class DMatrix {
 public:
  DMatrix() = default;
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  ~DMatrix() {
    if (handle_ != nullptr) XGDMatrixFree(handle_);
  }
  DMatrixHandle* out() { return &handle_; }
  DMatrixHandle get() const { return handle_; }

 private:
  DMatrixHandle handle_ = nullptr;
};

// Owns a BoosterHandle.
class Booster {
 public:
  Booster() = default;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;
  ~Booster() {
    if (handle_ != nullptr) XGBoosterFree(handle_);
  }
  BoosterHandle* out() { return &handle_; }
  BoosterHandle get() const { return handle_; }

 private:
  BoosterHandle handle_ = nullptr;
};

absl::Status MakeDMatrix(const Dataset& data, int threads, bool with_labels, DMatrix& out) {
  const float missing = std::numeric_limits<float>::quiet_NaN();
  CAIRN_XGB(XGDMatrixCreateFromMat_omp(data.features.data(), data.rows(), data.cols(), missing,
                                       out.out(), threads));
  if (with_labels) {
    CAIRN_XGB(XGDMatrixSetFloatInfo(out.get(), "label", data.labels.data(), data.rows()));
  }
  return absl::OkStatus();
}

std::string FormatDouble(double value) { return absl::StrFormat("%g", value); }

// Parses XGBoosterEvalOneIter's "[3]\ttrain-logloss:0.41\ttrain-auc:0.86\t..." into `out`.
absl::Status ParseEval(std::string_view text, IterationMetrics& out) {
  int found = 0;
  for (absl::string_view field : absl::StrSplit(absl::string_view(text.data(), text.size()),
                                                '\t', absl::SkipEmpty())) {
    if (field.empty() || field.front() == '[') continue;
    const size_t colon = field.rfind(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view name = field.substr(0, colon);
    double value = 0;
    if (!absl::SimpleAtod(field.substr(colon + 1), &value)) {
      return absl::InternalError(absl::StrCat("xgboost eval: cannot parse '", field, "'"));
    }
    double* target = nullptr;
    if (name == "train-logloss") target = &out.train_logloss;
    if (name == "train-auc") target = &out.train_auc;
    if (name == "validation-logloss") target = &out.val_logloss;
    if (name == "validation-auc") target = &out.val_auc;
    if (target != nullptr) {
      *target = value;
      ++found;
    }
  }
  if (found != 4) {
    return absl::InternalError(absl::StrCat("xgboost eval: expected 4 metrics in '",
                                            std::string(text), "'"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDataset(const Dataset& data, std::string_view name) {
  if (data.rows() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(name), ": has no rows"));
  }
  if (data.features.size() != data.rows() * data.cols()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(name), ": features hold ", data.features.size(),
                     " values, expected rows × cols = ", data.rows() * data.cols()));
  }
  return absl::OkStatus();
}

}  // namespace

std::map<std::string, std::string> XgbParams::AsParams() const {
  return {{"max_depth", absl::StrCat(max_depth)},
          {"eta", FormatDouble(eta)},
          {"num_round", absl::StrCat(num_round)},
          {"subsample", FormatDouble(subsample)},
          {"colsample_bytree", FormatDouble(colsample_bytree)},
          {"min_child_weight", FormatDouble(min_child_weight)},
          {"objective", "binary:logistic"},
          {"tree_method", "hist"},
          {"seed", absl::StrCat(seed)}};
}

absl::StatusOr<TrainResult> TrainXgbClassifier(const Dataset& train, const Dataset& validation,
                                               const XgbParams& params,
                                               const IterationCallback& on_iteration) {
  CAIRN_RETURN_IF_ERROR(ValidateDataset(train, "train"));
  CAIRN_RETURN_IF_ERROR(ValidateDataset(validation, "validation"));
  if (train.cols() != validation.cols()) {
    return absl::InvalidArgumentError(absl::StrCat("validation: has ", validation.cols(),
                                                   " columns, train has ", train.cols()));
  }
  if (params.num_round < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_round: must be at least 1, got ", params.num_round));
  }

  DMatrix dtrain;
  DMatrix dvalid;
  CAIRN_RETURN_IF_ERROR(MakeDMatrix(train, params.threads, true, dtrain));
  CAIRN_RETURN_IF_ERROR(MakeDMatrix(validation, params.threads, true, dvalid));

  DMatrixHandle cache[] = {dtrain.get(), dvalid.get()};
  Booster booster;
  CAIRN_XGB(XGBoosterCreate(cache, 2, booster.out()));
  for (const auto& [key, value] : params.AsParams()) {
    if (key == "num_round") continue;  // a training-loop setting, not a booster parameter
    CAIRN_XGB(XGBoosterSetParam(booster.get(), key.c_str(), value.c_str()));
  }
  CAIRN_XGB(XGBoosterSetParam(booster.get(), "nthread", absl::StrCat(params.threads).c_str()));
  CAIRN_XGB(XGBoosterSetParam(booster.get(), "verbosity", "0"));
  // Setting eval_metric twice evaluates both.
  CAIRN_XGB(XGBoosterSetParam(booster.get(), "eval_metric", "logloss"));
  CAIRN_XGB(XGBoosterSetParam(booster.get(), "eval_metric", "auc"));

  TrainResult result;
  result.history.reserve(params.num_round);
  const char* eval_names[] = {"train", "validation"};
  const auto start = std::chrono::steady_clock::now();
  for (int iteration = 0; iteration < params.num_round; ++iteration) {
    CAIRN_XGB(XGBoosterUpdateOneIter(booster.get(), iteration, dtrain.get()));
    const char* eval_text = nullptr;
    CAIRN_XGB(XGBoosterEvalOneIter(booster.get(), iteration, cache, eval_names, 2, &eval_text));
    IterationMetrics metrics;
    metrics.iteration = iteration;
    CAIRN_RETURN_IF_ERROR(ParseEval(eval_text == nullptr ? "" : eval_text, metrics));
    result.history.push_back(metrics);
    if (on_iteration) CAIRN_RETURN_IF_ERROR(on_iteration(metrics));
  }
  result.train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  bst_ulong model_len = 0;
  const char* model_bytes = nullptr;
  CAIRN_XGB(XGBoosterSaveModelToBuffer(booster.get(), R"({"format": "json"})", &model_len,
                                       &model_bytes));
  result.model_json.assign(model_bytes, model_len);
  return result;
}

absl::StatusOr<std::vector<float>> PredictXgb(const std::string& model_json, const Dataset& data,
                                              int threads) {
  CAIRN_RETURN_IF_ERROR(ValidateDataset(data, "data"));
  Booster booster;
  CAIRN_XGB(XGBoosterCreate(nullptr, 0, booster.out()));
  CAIRN_XGB(XGBoosterLoadModelFromBuffer(booster.get(), model_json.data(), model_json.size()));
  CAIRN_XGB(XGBoosterSetParam(booster.get(), "nthread", absl::StrCat(threads).c_str()));
  DMatrix dmat;
  CAIRN_RETURN_IF_ERROR(MakeDMatrix(data, threads, false, dmat));
  const char* config =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
      R"( "strict_shape": false})";
  const bst_ulong* shape = nullptr;
  bst_ulong dims = 0;
  const float* scores = nullptr;
  CAIRN_XGB(XGBoosterPredictFromDMatrix(booster.get(), dmat.get(), config, &shape, &dims,
                                        &scores));
  bst_ulong count = 1;
  for (bst_ulong dim = 0; dim < dims; ++dim) count *= shape[dim];
  if (count != data.rows()) {
    return absl::InternalError(
        absl::StrCat("xgboost predicted ", count, " values for ", data.rows(), " rows"));
  }
  return std::vector<float>(scores, scores + count);
}

double RocAuc(const std::vector<float>& scores, const std::vector<float>& labels) {
  const size_t count = std::min(scores.size(), labels.size());
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t lhs, size_t rhs) { return scores[lhs] < scores[rhs]; });
  // Mann-Whitney U: sum of the (tie-averaged) ranks of the positives.
  double positive_rank_sum = 0;
  double positives = 0;
  size_t pos = 0;
  while (pos < count) {
    size_t tie_end = pos;
    while (tie_end + 1 < count && scores[order[tie_end + 1]] == scores[order[pos]]) ++tie_end;
    const double average_rank = (static_cast<double>(pos + tie_end) / 2.0) + 1.0;
    for (size_t tie_idx = pos; tie_idx <= tie_end; ++tie_idx) {
      if (labels[order[tie_idx]] > 0.5f) {
        positive_rank_sum += average_rank;
        positives += 1;
      }
    }
    pos = tie_end + 1;
  }
  const double negatives = static_cast<double>(count) - positives;
  if (positives == 0 || negatives == 0) return 0.5;
  return (positive_rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives);
}

}  // namespace cairn::demo
