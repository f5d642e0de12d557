#pragma once
// The first step of the demo's retraining pipeline (examples/churn/pipelines/
// churn-retrain.yaml), `cairn demo step retrain-set`: the training data of a retrained
// model is the recent production traffic whose labels have arrived (traffic.h), split
// into train and validation matrices, with a snapshot.json the train step logs as the
// run's input dataset (source file://<the labeled files>).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "demo/steps.h"

namespace cairn::demo {

struct RetrainSetRequest {
  std::string traffic_dir;
  int days = 1;  // the newest N days of labeled traffic
  std::string train_path;  // outputs
  std::string validation_path;
  std::string snapshot_path;
};

// NotFound when the traffic directory holds no labeled day; InvalidArgument when the days
// hold fewer than 50 rows (too few to train on).
absl::StatusOr<TrainingSetStepResult> RunRetrainSetStep(const RetrainSetRequest& request,
                                                        std::vector<std::string>* files_read);

}  // namespace cairn::demo
