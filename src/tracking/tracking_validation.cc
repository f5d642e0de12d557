#include "tracking/tracking_validation.h"

#include <cmath>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"

namespace cairn::tracking {
namespace {

constexpr char kBadCharacterMessage[] =
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces "
    "( ), colon(:) and slashes (/).";

std::string JsonPath(std::string_view path, std::string_view field) {
  if (path.empty()) return std::string(field);
  return absl::StrCat(ToAbsl(path), ".", ToAbsl(field));
}

absl::Status InvalidValue(std::string_view path, std::string_view value,
                          std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("Invalid value \"", ToAbsl(value),
                                                 "\" for parameter '", ToAbsl(path),
                                                 "' supplied: ", ToAbsl(message)));
}

absl::Status ExceedsLength(std::string_view what, size_t limit) {
  return absl::InvalidArgumentError(
      absl::StrCat("'", ToAbsl(what), "' exceeds the maximum length of ", limit, " characters"));
}

// Python's `\w` is Unicode-aware; bytes of multi-byte UTF-8 sequences count as word
// characters here.
bool IsNameChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '/' || c == '.' || c == '-' || c == ' ' || c == ':' || c >= 0x80;
}

// posixpath.normpath(name) != name, or it is ".", starts with ".." or "/".
bool PathNotUnique(std::string_view name) {
  if (name.empty()) return true;  // normpath("") == "."
  if (name.front() == '/') return true;
  if (name.back() == '/') return true;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view segment = name.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

absl::Status ValidateEntityName(std::string_view name, std::string_view path) {
  for (char c : name) {
    if (!IsNameChar(static_cast<unsigned char>(c)))
      return InvalidValue(path, name, kBadCharacterMessage);
  }
  if (PathNotUnique(name)) {
    return InvalidValue(
        path, name,
        "Names may be treated as files in certain cases, and must not resolve to other names "
        "when treated as such.");
  }
  return absl::OkStatus();
}

absl::Status ValidateMetric(const Metric& metric, std::string_view path) {
  if (absl::Status s = ValidateEntityName(metric.key, JsonPath(path, "name")); !s.ok()) return s;
  if (metric.timestamp < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid value ", metric.timestamp, " for parameter '",
        JsonPath(path, "timestamp"), "' supplied: metric '", metric.key,
        "' (value=", metric.value, "). Timestamp must be a nonnegative long (64-bit integer) "));
  }
  if (metric.key.size() > kMaxEntityKeyLength) return ExceedsLength("Metric name", kMaxEntityKeyLength);
  return absl::OkStatus();
}

absl::Status ValidateParam(const Param& param, std::string_view path) {
  if (absl::Status s = ValidateEntityName(param.key, JsonPath(path, "key")); !s.ok()) return s;
  if (param.key.size() > kMaxEntityKeyLength) return ExceedsLength("Param key", kMaxEntityKeyLength);
  if (param.value.size() > kMaxParamValueLength)
    return ExceedsLength("Param value", kMaxParamValueLength);
  return absl::OkStatus();
}

absl::Status ValidateRunTag(const RunTag& tag, std::string_view path) {
  std::string key_path = JsonPath(path, "key");
  if (absl::Status s = ValidateEntityName(tag.key, key_path); !s.ok()) return s;
  if (tag.key.size() > kMaxEntityKeyLength) return ExceedsLength(key_path, kMaxEntityKeyLength);
  if (tag.value.size() > kMaxTagValueLength)
    return ExceedsLength(JsonPath(path, "value"), kMaxTagValueLength);
  return absl::OkStatus();
}

absl::Status ValidateExperimentTag(std::string_view key, std::string_view value) {
  if (absl::Status s = ValidateEntityName(key, "key"); !s.ok()) return s;
  if (key.size() > kMaxEntityKeyLength) return ExceedsLength("key", kMaxEntityKeyLength);
  if (value.size() > kMaxExperimentTagValueLength)
    return ExceedsLength("value", kMaxExperimentTagValueLength);
  return absl::OkStatus();
}

absl::Status ValidateExperimentName(std::string_view name) {
  if (name.empty())
    return absl::InvalidArgumentError(absl::StrCat("Invalid experiment name: '", ToAbsl(name), "'"));
  if (name.size() > kMaxExperimentNameLength)
    return ExceedsLength("name", kMaxExperimentNameLength);
  return absl::OkStatus();
}

absl::Status ValidateBatchLimits(size_t metrics, size_t params, size_t tags) {
  auto check = [](std::string_view entity, size_t limit, size_t length) -> absl::Status {
    if (length <= limit) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "A batch logging request can contain at most ", limit, " ", ToAbsl(entity), ". Got ",
        length, " ", ToAbsl(entity), ". Please split up ", ToAbsl(entity),
        " across multiple requests and try again."));
  };
  if (absl::Status s = check("metrics", kMaxMetricsPerBatch, metrics); !s.ok()) return s;
  if (absl::Status s = check("params", kMaxParamsTagsPerBatch, params); !s.ok()) return s;
  if (absl::Status s = check("tags", kMaxParamsTagsPerBatch, tags); !s.ok()) return s;
  return check("metrics, params, and tags", kMaxEntitiesPerBatch, metrics + params + tags);
}

absl::Status ValidateParamKeysUnique(const std::vector<Param>& params) {
  std::set<std::string_view> seen;
  std::vector<std::string> dupes;
  for (const Param& param : params) {
    if (!seen.insert(param.key).second) dupes.push_back(absl::StrCat("'", param.key, "'"));
  }
  if (dupes.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "Duplicate parameter keys have been submitted: [", absl::StrJoin(dupes, ", "),
      "]. Please ensure the request contains only one param value per param key."));
}

absl::Status ValidateDatasetInput(const DatasetInput& input) {
  const Dataset& dataset = input.dataset;
  if (dataset.name.empty())
    return absl::InvalidArgumentError("Missing value for required parameter 'dataset.name'.");
  if (dataset.digest.empty())
    return absl::InvalidArgumentError("Missing value for required parameter 'dataset.digest'.");
  if (dataset.source_type.empty())
    return absl::InvalidArgumentError(
        "Missing value for required parameter 'dataset.source_type'.");
  if (dataset.source.empty())
    return absl::InvalidArgumentError("Missing value for required parameter 'dataset.source'.");
  if (dataset.name.size() > kMaxDatasetNameSize)
    return ExceedsLength("dataset.name", kMaxDatasetNameSize);
  if (dataset.digest.size() > kMaxDatasetDigestSize)
    return ExceedsLength("dataset.digest", kMaxDatasetDigestSize);
  if (dataset.source.size() > kMaxDatasetSourceSize)
    return ExceedsLength("dataset.source", kMaxDatasetSourceSize);
  if (dataset.schema.size() > kMaxDatasetSchemaSize)
    return ExceedsLength("dataset.schema", kMaxDatasetSchemaSize);
  if (dataset.profile.size() > kMaxDatasetProfileSize)
    return ExceedsLength("dataset.profile", kMaxDatasetProfileSize);
  for (const InputTag& tag : input.tags) {
    if (tag.key.empty())
      return absl::InvalidArgumentError("Missing value for required parameter 'tag.key'.");
    if (tag.key.size() > kMaxInputTagKeySize) return ExceedsLength("tag.key", kMaxInputTagKeySize);
    if (tag.value.size() > kMaxInputTagValueSize)
      return ExceedsLength("tag.value", kMaxInputTagValueSize);
  }
  return absl::OkStatus();
}

absl::Status ValidateRunStatus(std::string_view status) {
  if (status == "RUNNING" || status == "SCHEDULED" || status == "FINISHED" ||
      status == "FAILED" || status == "KILLED")
    return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "Invalid value \"", ToAbsl(status),
      "\" for parameter 'status' supplied: expected one of RUNNING, SCHEDULED, FINISHED, "
      "FAILED, KILLED"));
}

absl::StatusOr<int64_t> ParseExperimentId(std::string_view experiment_id) {
  int64_t parsed = 0;
  if (experiment_id.empty() || !absl::SimpleAtoi(ToAbsl(experiment_id), &parsed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid experiment ID '", ToAbsl(experiment_id),
                     "'. Experiment ID must be a valid integer."));
  }
  return parsed;
}

}  // namespace cairn::tracking
