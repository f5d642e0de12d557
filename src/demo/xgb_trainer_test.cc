#include "demo/xgb_trainer.h"

#include "gtest/gtest.h"

namespace cairn::demo {
namespace {

TEST(RocAucTest, PerfectRandomAndInvertedScores) {
  EXPECT_DOUBLE_EQ(RocAuc({0.1f, 0.2f, 0.8f, 0.9f}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(RocAuc({0.9f, 0.8f, 0.2f, 0.1f}, {0, 0, 1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(RocAuc({0.5f, 0.5f, 0.5f, 0.5f}, {0, 1, 0, 1}), 0.5);
  EXPECT_DOUBLE_EQ(RocAuc({0.3f, 0.4f}, {1, 1}), 0.5);  // one class only
}

TEST(XgbTrainerTest, TinyGridOn2kRowsLearnsChurn) {
  const TrainValidationSplit split = SplitTrainValidation(GenerateChurnData(2000, 42), 0.25, 1);
  for (int max_depth : {2, 4}) {
    XgbParams params;
    params.max_depth = max_depth;
    params.eta = 0.3;
    params.num_round = 10;
    params.threads = 2;
    int callbacks = 0;
    absl::StatusOr<TrainResult> result =
        TrainXgbClassifier(split.train, split.validation, params,
                           [&](const IterationMetrics& metrics) {
                             EXPECT_EQ(metrics.iteration, callbacks);
                             ++callbacks;
                             return absl::OkStatus();
                           });
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(callbacks, 10);
    ASSERT_EQ(result->history.size(), 10u);
    EXPECT_GT(result->final_metrics().val_auc, 0.7) << "max_depth=" << max_depth;
    EXPECT_GT(result->final_metrics().train_auc, result->history.front().train_auc - 1e-9);
    EXPECT_LT(result->final_metrics().train_logloss, result->history.front().train_logloss);
    EXPECT_NE(result->model_json.find("\"learner\""), std::string::npos);

    // The saved model scores the validation set with the AUC xgboost reported.
    absl::StatusOr<std::vector<float>> scores =
        PredictXgb(result->model_json, split.validation, 2);
    ASSERT_TRUE(scores.ok()) << scores.status();
    EXPECT_NEAR(RocAuc(*scores, split.validation.labels), result->final_metrics().val_auc, 1e-3);
  }
}

TEST(XgbTrainerTest, CallbackErrorStopsTraining) {
  const TrainValidationSplit split = SplitTrainValidation(GenerateChurnData(500, 1), 0.2, 1);
  XgbParams params;
  params.num_round = 5;
  params.threads = 1;
  int calls = 0;
  absl::StatusOr<TrainResult> result =
      TrainXgbClassifier(split.train, split.validation, params, [&](const IterationMetrics&) {
        ++calls;
        return absl::CancelledError("stop");
      });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

TEST(XgbTrainerTest, RejectsEmptyAndMismatchedSets) {
  const Dataset data = GenerateChurnData(100, 1);
  Dataset empty;
  empty.feature_names = data.feature_names;
  XgbParams params;
  EXPECT_EQ(TrainXgbClassifier(empty, data, params).status().code(),
            absl::StatusCode::kInvalidArgument);
  Dataset narrow = data;
  narrow.feature_names.pop_back();
  narrow.features.resize(narrow.rows() * narrow.cols());
  EXPECT_EQ(TrainXgbClassifier(data, narrow, params).status().code(),
            absl::StatusCode::kInvalidArgument);
  params.num_round = 0;
  EXPECT_EQ(TrainXgbClassifier(data, data, params).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(XgbTrainerTest, CorruptModelIsAnInternalError) {
  const Dataset data = GenerateChurnData(10, 1);
  EXPECT_EQ(PredictXgb("{not a model", data, 1).status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace cairn::demo
