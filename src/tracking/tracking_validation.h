#pragma once
// Input validation for the tracking store, with MLflow's rules and wording
// (mlflow/utils/validation.py). Every function returns InvalidArgument naming the field.
// Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tracking/types.h"

namespace cairn::tracking {

inline constexpr size_t kMaxEntityKeyLength = 250;
inline constexpr size_t kMaxParamValueLength = 6000;
inline constexpr size_t kMaxTagValueLength = 8000;
inline constexpr size_t kMaxExperimentNameLength = 500;
inline constexpr size_t kMaxExperimentTagValueLength = 20000;
inline constexpr size_t kMaxParamsTagsPerBatch = 100;
inline constexpr size_t kMaxMetricsPerBatch = 1000;
inline constexpr size_t kMaxEntitiesPerBatch = 1000;
inline constexpr size_t kMaxDatasetNameSize = 500;
inline constexpr size_t kMaxDatasetDigestSize = 36;
inline constexpr size_t kMaxDatasetSourceSize = 65535;
inline constexpr size_t kMaxDatasetSchemaSize = 1048575;
inline constexpr size_t kMaxDatasetProfileSize = 16777215;
inline constexpr size_t kMaxInputTagKeySize = 255;
inline constexpr size_t kMaxInputTagValueSize = 500;

// Metric, param and tag names: `^[/\w.\- :]*$` and a normalized relative path.
// `path` is the JSON path used in messages ("key", "metrics[3].name").
absl::Status ValidateEntityName(std::string_view name, std::string_view path);
absl::Status ValidateMetric(const Metric& metric, std::string_view path);
absl::Status ValidateParam(const Param& param, std::string_view path);
absl::Status ValidateRunTag(const RunTag& tag, std::string_view path);
absl::Status ValidateExperimentTag(std::string_view key, std::string_view value);
absl::Status ValidateExperimentName(std::string_view name);
absl::Status ValidateBatchLimits(size_t metrics, size_t params, size_t tags);
// Duplicate param keys within one batch.
absl::Status ValidateParamKeysUnique(const std::vector<Param>& params);
absl::Status ValidateDatasetInput(const DatasetInput& input);
// RUNNING | SCHEDULED | FINISHED | FAILED | KILLED.
absl::Status ValidateRunStatus(std::string_view status);
// Experiment ids are decimal integers; InvalidArgument with MLflow's message otherwise.
absl::StatusOr<int64_t> ParseExperimentId(std::string_view experiment_id);

}  // namespace cairn::tracking
