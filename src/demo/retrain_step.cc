#include "demo/retrain_step.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "demo/churn_data.h"
#include "demo/step_io.h"
#include "demo/traffic.h"
#include "openssl/sha.h"

namespace cairn::demo {
namespace {

constexpr double kValidationFraction = 0.2;
constexpr uint64_t kSplitSeed = 7;
constexpr size_t kMinRows = 50;

std::string Sha256Hex(const Dataset& data) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.features.data(), data.features.size() * sizeof(float));
  SHA256_Update(&ctx, data.labels.data(), data.labels.size() * sizeof(float));
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : digest) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 15]);
  }
  return hex;
}

}  // namespace

absl::StatusOr<TrainingSetStepResult> RunRetrainSetStep(const RetrainSetRequest& request,
                                                        std::vector<std::string>* files_read) {
  std::vector<std::string> files;
  CAIRN_ASSIGN_OR_RETURN(Dataset data, ReadLabeledTraffic(request.traffic_dir, request.days, &files));
  if (data.rows() < kMinRows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "retrain-set: the newest ", request.days, " day(s) of labeled traffic in ",
        request.traffic_dir, " hold ", data.rows(), " rows; at least ", kMinRows,
        " are needed to train"));
  }
  const TrainValidationSplit split = SplitTrainValidation(data, kValidationFraction, kSplitSeed);
  CAIRN_RETURN_IF_ERROR(WriteDatasetCsv(split.train, request.train_path));
  CAIRN_RETURN_IF_ERROR(WriteDatasetCsv(split.validation, request.validation_path));

  TrainingSetStepResult result;
  result.content_hash = Sha256Hex(data);
  result.id = absl::StrCat("traffic-", result.content_hash.substr(0, 12));
  result.uri = absl::StrCat("file://", files.back());
  result.rows = static_cast<int64_t>(data.rows());
  result.train_rows = static_cast<int64_t>(split.train.rows());
  result.validation_rows = static_cast<int64_t>(split.validation.rows());
  result.feature_names = data.feature_names;
  result.positive_rate = data.PositiveRate();
  result.data_version = absl::StrJoin(files, ",");
  Json snapshot = TrainingSetStepResultToJson(result);
  // MLflow's log-inputs dataset (as the training-set step writes it): the labeled traffic.
  snapshot["dataset"] = {{"name", "churn-production-traffic"},
                         {"digest", result.content_hash.substr(0, 36)},
                         {"source_type", "local"},
                         {"source", result.uri},
                         {"schema", ""},
                         {"profile", Json({{"num_rows", result.rows}}).dump()},
                         {"tags", {{"mlflow.data.context", "training"}}}};
  CAIRN_RETURN_IF_ERROR(WriteJsonFile(snapshot, request.snapshot_path));
  if (files_read != nullptr) *files_read = std::move(files);
  return result;
}

}  // namespace cairn::demo
