#include "api/tracking_handlers.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/errors.h"
#include "api/log_batch_parser.h"
#include "api/request_fields.h"
#include "api/tracking_json.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "tracking/logged_model_store.h"
#include "tracking/tracking_store.h"

namespace cairn::api {
namespace {

using tracking::TrackingStore;
using Body = absl::StatusOr<std::string>;
using JsonHandler = std::function<Body(const Json& fields)>;

// Parses the request's fields, runs `fn` and turns its status into MLflow's error JSON.
// Exceptions from third-party code never leave the handler.
Handler Wrap(JsonHandler fn) {
  return [fn = std::move(fn)](const HttpRequest& request) -> HttpResponse {
    try {
      absl::StatusOr<Json> fields = RequestFields(request);
      if (!fields.ok()) return ErrorResponse(fields.status());
      Body body = fn(*fields);
      if (!body.ok()) return ErrorResponse(body.status());
      return JsonResponse(std::move(*body));
    } catch (const std::exception& error) {
      return ErrorResponse(absl::InternalError(absl::StrCat("internal error: ", error.what())));
    }
  };
}

// The same for handlers that build the whole response (streamed bodies).
Handler WrapResponse(std::function<absl::StatusOr<HttpResponse>(const Json& fields)> fn) {
  return [fn = std::move(fn)](const HttpRequest& request) -> HttpResponse {
    try {
      absl::StatusOr<Json> fields = RequestFields(request);
      if (!fields.ok()) return ErrorResponse(fields.status());
      absl::StatusOr<HttpResponse> response = fn(*fields);
      if (!response.ok()) return ErrorResponse(response.status());
      return std::move(*response);
    } catch (const std::exception& error) {
      return ErrorResponse(absl::InternalError(absl::StrCat("internal error: ", error.what())));
    }
  };
}

constexpr char kEmptyResponse[] = "{}";

absl::StatusOr<tracking::ViewType> ParseViewType(const Json& fields, std::string_view name) {
  auto it = fields.find(name);
  if (it == fields.end() || it->is_null()) return tracking::ViewType::kActiveOnly;
  std::string text = it->is_string() ? it->get<std::string>() : it->dump();
  if (text == "ACTIVE_ONLY" || text == "1") return tracking::ViewType::kActiveOnly;
  if (text == "DELETED_ONLY" || text == "2") return tracking::ViewType::kDeletedOnly;
  if (text == "ALL" || text == "3") return tracking::ViewType::kAll;
  return absl::InvalidArgumentError(absl::StrCat("Invalid value ", text, " for parameter '",
                                                 ToAbsl(name),
                                                 "' supplied: expected one of ACTIVE_ONLY, "
                                                 "DELETED_ONLY, ALL"));
}

// run_id, falling back to the deprecated run_uuid; required.
absl::StatusOr<std::string> RunIdField(const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> run_id, OptionalString(fields, "run_id"));
  if (run_id && !run_id->empty()) return *run_id;
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> run_uuid, OptionalString(fields, "run_uuid"));
  if (run_uuid && !run_uuid->empty()) return *run_uuid;
  return RequiredString(fields, "run_id");
}

absl::StatusOr<std::string> StringOrEmpty(const Json& fields, std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value, OptionalString(fields, name));
  return value.value_or("");
}

absl::StatusOr<tracking::Metric> ParseMetric(const Json& fields) {
  tracking::Metric metric;
  CAIRN_ASSIGN_OR_RETURN(metric.key, RequiredString(fields, "key"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<double> value, OptionalDouble(fields, "value"));
  if (!value)
    return absl::InvalidArgumentError("Missing value for required parameter 'value'.");
  metric.value = *value;
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> timestamp, OptionalInt64(fields, "timestamp"));
  if (!timestamp)
    return absl::InvalidArgumentError("Missing value for required parameter 'timestamp'.");
  metric.timestamp = *timestamp;
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> step, OptionalInt64(fields, "step"));
  metric.step = step.value_or(0);
  return metric;
}

template <typename T>
absl::StatusOr<std::vector<T>> ParseKeyValues(const Json& fields, std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(Json items, ObjectList(fields, name));
  std::vector<T> out;
  out.reserve(items.size());
  for (const Json& item : items) {
    T entry;
    CAIRN_ASSIGN_OR_RETURN(entry.key, RequiredString(item, "key"));
    CAIRN_ASSIGN_OR_RETURN(entry.value, StringOrEmpty(item, "value"));
    out.push_back(std::move(entry));
  }
  return out;
}

std::string ExperimentResponse(const tracking::Experiment& experiment) {
  std::string out = "{\"experiment\":";
  AppendExperimentJson(out, experiment);
  out += '}';
  return out;
}

std::string RunResponse(const tracking::Run& run, bool with_outputs = true,
                        std::span<const tracking::ModelOutput> model_outputs = {}) {
  std::string out = "{\"run\":";
  AppendRunJson(out, run, with_outputs, model_outputs);
  out += '}';
  return out;
}

void AppendNextPageToken(std::string& out, const std::string& token) {
  if (token.empty()) return;
  out += ",\"next_page_token\":";
  AppendJsonString(out, token);
}

// ---- Experiments ----

// Fields MLflow checks with _assert_string: a number is not accepted as a string there.
absl::Status RequireStringType(const Json& fields, std::string_view name) {
  auto it = fields.find(name);
  if (it == fields.end() || it->is_null() || it->is_string()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "Invalid value ", it->dump(), " for parameter '", ToAbsl(name),
      "' supplied: Hint: Value was of type '", it->type_name(),
      "'. See the API docs for more information about request parameters."));
}

Body CreateExperiment(TrackingStore& store, const Json& fields) {
  CAIRN_RETURN_IF_ERROR(RequireStringType(fields, "name"));
  CAIRN_RETURN_IF_ERROR(RequireStringType(fields, "artifact_location"));
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredString(fields, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::string location, StringOrEmpty(fields, "artifact_location"));
  CAIRN_ASSIGN_OR_RETURN(auto tags, ParseKeyValues<tracking::RunTag>(fields, "tags"));
  std::vector<std::pair<std::string, std::string>> pairs;
  for (auto& tag : tags) pairs.emplace_back(std::move(tag.key), std::move(tag.value));
  CAIRN_ASSIGN_OR_RETURN(std::string id, store.CreateExperiment(name, location, pairs));
  std::string out = "{\"experiment_id\":";
  AppendJsonString(out, id);
  out += '}';
  return out;
}

Body GetExperiment(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string id, RequiredString(fields, "experiment_id"));
  CAIRN_ASSIGN_OR_RETURN(tracking::Experiment experiment, store.GetExperiment(id));
  return ExperimentResponse(experiment);
}

Body GetExperimentByName(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredString(fields, "experiment_name"));
  CAIRN_ASSIGN_OR_RETURN(tracking::Experiment experiment, store.GetExperimentByName(name));
  return ExperimentResponse(experiment);
}

Body SearchExperiments(TrackingStore& store, const Json& fields) {
  tracking::SearchExperimentsRequest request;
  CAIRN_ASSIGN_OR_RETURN(request.view_type, ParseViewType(fields, "view_type"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> max_results, OptionalInt64(fields, "max_results"));
  request.max_results = max_results.value_or(tracking::kSearchMaxResultsDefault);
  CAIRN_ASSIGN_OR_RETURN(request.filter, StringOrEmpty(fields, "filter"));
  CAIRN_ASSIGN_OR_RETURN(request.order_by, StringList(fields, "order_by"));
  CAIRN_ASSIGN_OR_RETURN(request.page_token, StringOrEmpty(fields, "page_token"));
  CAIRN_ASSIGN_OR_RETURN(tracking::SearchExperimentsResult result,
                         store.SearchExperiments(request));
  std::string out = "{";
  if (!result.experiments.empty()) {
    out += "\"experiments\":[";
    for (size_t idx = 0; idx < result.experiments.size(); ++idx) {
      if (idx > 0) out += ',';
      AppendExperimentJson(out, result.experiments[idx]);
    }
    out += ']';
    AppendNextPageToken(out, result.next_page_token);
  } else if (!result.next_page_token.empty()) {
    out += "\"next_page_token\":";
    AppendJsonString(out, result.next_page_token);
  }
  out += '}';
  return out;
}

Body UpdateExperiment(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string id, RequiredString(fields, "experiment_id"));
  CAIRN_ASSIGN_OR_RETURN(std::string new_name, RequiredString(fields, "new_name"));
  CAIRN_RETURN_IF_ERROR(store.RenameExperiment(id, new_name));
  return std::string(kEmptyResponse);
}

Body DeleteExperiment(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string id, RequiredString(fields, "experiment_id"));
  CAIRN_RETURN_IF_ERROR(store.DeleteExperiment(id));
  return std::string(kEmptyResponse);
}

Body RestoreExperiment(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string id, RequiredString(fields, "experiment_id"));
  CAIRN_RETURN_IF_ERROR(store.RestoreExperiment(id));
  return std::string(kEmptyResponse);
}

Body SetExperimentTag(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string id, RequiredString(fields, "experiment_id"));
  CAIRN_ASSIGN_OR_RETURN(std::string key, RequiredString(fields, "key"));
  CAIRN_ASSIGN_OR_RETURN(std::string value, StringOrEmpty(fields, "value"));
  CAIRN_RETURN_IF_ERROR(store.SetExperimentTag(id, key, value));
  return std::string(kEmptyResponse);
}

Body DeleteExperimentTag(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string id, RequiredString(fields, "experiment_id"));
  CAIRN_ASSIGN_OR_RETURN(std::string key, RequiredString(fields, "key"));
  CAIRN_RETURN_IF_ERROR(store.DeleteExperimentTag(id, key));
  return std::string(kEmptyResponse);
}

// ---- Runs ----

Body CreateRun(TrackingStore& store, const Json& fields) {
  tracking::CreateRunRequest request;
  CAIRN_ASSIGN_OR_RETURN(request.experiment_id, StringOrEmpty(fields, "experiment_id"));
  CAIRN_ASSIGN_OR_RETURN(request.user_id, StringOrEmpty(fields, "user_id"));
  CAIRN_ASSIGN_OR_RETURN(request.run_name, StringOrEmpty(fields, "run_name"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> start_time, OptionalInt64(fields, "start_time"));
  request.start_time = start_time.value_or(0);
  CAIRN_ASSIGN_OR_RETURN(request.tags, ParseKeyValues<tracking::RunTag>(fields, "tags"));
  CAIRN_ASSIGN_OR_RETURN(tracking::Run run, store.CreateRun(request));
  return RunResponse(run, /*with_outputs=*/false);
}

Body GetRun(TrackingStore& store, tracking::LoggedModelStore* logged_models,
            const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  CAIRN_ASSIGN_OR_RETURN(tracking::Run run, store.GetRun(run_id));
  std::vector<tracking::ModelOutput> outputs;
  if (logged_models != nullptr) {
    CAIRN_ASSIGN_OR_RETURN(outputs, logged_models->RunOutputs(run.info.run_id));
  }
  return RunResponse(run, /*with_outputs=*/true, outputs);
}

// MLflow 3 links a metric to a logged model with `model_id` (and optionally the dataset
// it was computed on); such points are also recorded on the model.
absl::Status LogModelMetrics(tracking::LoggedModelStore* logged_models, std::string_view run_id,
                             const Json& metric_items) {
  std::vector<tracking::LoggedModelMetric> linked;
  for (const Json& item : metric_items) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> model_id, OptionalString(item, "model_id"));
    if (!model_id || model_id->empty()) continue;
    CAIRN_ASSIGN_OR_RETURN(tracking::Metric metric, ParseMetric(item));
    tracking::LoggedModelMetric point{.model_id = *model_id,
                                      .key = metric.key,
                                      .value = metric.value,
                                      .timestamp = metric.timestamp,
                                      .step = metric.step,
                                      .run_id = std::string(run_id)};
    CAIRN_ASSIGN_OR_RETURN(point.dataset_name, StringOrEmpty(item, "dataset_name"));
    CAIRN_ASSIGN_OR_RETURN(point.dataset_digest, StringOrEmpty(item, "dataset_digest"));
    linked.push_back(std::move(point));
  }
  if (linked.empty()) return absl::OkStatus();
  if (logged_models == nullptr)
    return absl::InvalidArgumentError("model_id: logged models are not enabled on this server");
  return logged_models->LogMetrics(linked);
}

Body UpdateRun(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> status, OptionalString(fields, "status"));
  if (status && status->empty()) status.reset();
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> end_time, OptionalInt64(fields, "end_time"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> run_name, OptionalString(fields, "run_name"));
  CAIRN_ASSIGN_OR_RETURN(tracking::RunInfo info,
                         store.UpdateRun(run_id, status, end_time, run_name));
  std::string out = "{\"run_info\":";
  AppendRunInfoJson(out, info);
  out += '}';
  return out;
}

Body DeleteRun(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  CAIRN_RETURN_IF_ERROR(store.DeleteRun(run_id));
  return std::string(kEmptyResponse);
}

Body RestoreRun(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  CAIRN_RETURN_IF_ERROR(store.RestoreRun(run_id));
  return std::string(kEmptyResponse);
}

Body LogMetric(TrackingStore& store, tracking::LoggedModelStore* logged_models,
               const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  CAIRN_ASSIGN_OR_RETURN(tracking::Metric metric, ParseMetric(fields));
  CAIRN_RETURN_IF_ERROR(store.LogMetric(run_id, metric));
  CAIRN_RETURN_IF_ERROR(LogModelMetrics(logged_models, run_id, Json::array({fields})));
  return std::string(kEmptyResponse);
}

Body LogParam(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  tracking::Param param;
  CAIRN_ASSIGN_OR_RETURN(param.key, RequiredString(fields, "key"));
  CAIRN_ASSIGN_OR_RETURN(param.value, StringOrEmpty(fields, "value"));
  CAIRN_RETURN_IF_ERROR(store.LogParam(run_id, param));
  return std::string(kEmptyResponse);
}

Body SetTag(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  tracking::RunTag tag;
  CAIRN_ASSIGN_OR_RETURN(tag.key, RequiredString(fields, "key"));
  CAIRN_ASSIGN_OR_RETURN(tag.value, StringOrEmpty(fields, "value"));
  CAIRN_RETURN_IF_ERROR(store.SetTag(run_id, tag));
  return std::string(kEmptyResponse);
}

Body DeleteTag(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  CAIRN_ASSIGN_OR_RETURN(std::string key, RequiredString(fields, "key"));
  CAIRN_RETURN_IF_ERROR(store.DeleteTag(run_id, key));
  return std::string(kEmptyResponse);
}

Body LogBatch(TrackingStore& store, tracking::LoggedModelStore* logged_models,
              const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  CAIRN_ASSIGN_OR_RETURN(Json metric_items, ObjectList(fields, "metrics"));
  std::vector<tracking::Metric> metrics;
  metrics.reserve(metric_items.size());
  for (const Json& item : metric_items) {
    CAIRN_ASSIGN_OR_RETURN(tracking::Metric metric, ParseMetric(item));
    metrics.push_back(std::move(metric));
  }
  CAIRN_ASSIGN_OR_RETURN(auto params, ParseKeyValues<tracking::Param>(fields, "params"));
  CAIRN_ASSIGN_OR_RETURN(auto tags, ParseKeyValues<tracking::RunTag>(fields, "tags"));
  CAIRN_RETURN_IF_ERROR(store.LogBatch(run_id, metrics, params, tags));
  CAIRN_RETURN_IF_ERROR(LogModelMetrics(logged_models, run_id, metric_items));
  return std::string(kEmptyResponse);
}

Body LogInputs(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  CAIRN_ASSIGN_OR_RETURN(Json items, ObjectList(fields, "datasets"));
  std::vector<tracking::DatasetInput> inputs;
  for (const Json& item : items) {
    tracking::DatasetInput input;
    CAIRN_ASSIGN_OR_RETURN(input.tags, ParseKeyValues<tracking::InputTag>(item, "tags"));
    auto dataset = item.find("dataset");
    if (dataset == item.end() || !dataset->is_object())
      return absl::InvalidArgumentError("Missing value for required parameter 'dataset'.");
    CAIRN_ASSIGN_OR_RETURN(input.dataset.name, StringOrEmpty(*dataset, "name"));
    CAIRN_ASSIGN_OR_RETURN(input.dataset.digest, StringOrEmpty(*dataset, "digest"));
    CAIRN_ASSIGN_OR_RETURN(input.dataset.source_type, StringOrEmpty(*dataset, "source_type"));
    CAIRN_ASSIGN_OR_RETURN(input.dataset.source, StringOrEmpty(*dataset, "source"));
    CAIRN_ASSIGN_OR_RETURN(input.dataset.schema, StringOrEmpty(*dataset, "schema"));
    CAIRN_ASSIGN_OR_RETURN(input.dataset.profile, StringOrEmpty(*dataset, "profile"));
    inputs.push_back(std::move(input));
  }
  CAIRN_RETURN_IF_ERROR(store.LogInputs(run_id, inputs));
  return std::string(kEmptyResponse);
}

Body SearchRuns(TrackingStore& store, const Json& fields) {
  tracking::SearchRunsRequest request;
  CAIRN_ASSIGN_OR_RETURN(request.experiment_ids, StringList(fields, "experiment_ids"));
  CAIRN_ASSIGN_OR_RETURN(request.filter, StringOrEmpty(fields, "filter"));
  CAIRN_ASSIGN_OR_RETURN(request.view_type, ParseViewType(fields, "run_view_type"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> max_results, OptionalInt64(fields, "max_results"));
  request.max_results = max_results.value_or(tracking::kSearchMaxResultsDefault);
  CAIRN_ASSIGN_OR_RETURN(request.order_by, StringList(fields, "order_by"));
  CAIRN_ASSIGN_OR_RETURN(request.page_token, StringOrEmpty(fields, "page_token"));
  CAIRN_ASSIGN_OR_RETURN(tracking::SearchRunsResult result, store.SearchRuns(request));
  std::string out = "{";
  if (!result.runs.empty()) {
    size_t size = 64 + result.next_page_token.size();
    for (const tracking::Run& run : result.runs) size += RunJsonSizeHint(run);
    out.reserve(size);  // written without regrowing (a page of 100 runs is ~250 KB)
    out += "\"runs\":[";
    for (size_t idx = 0; idx < result.runs.size(); ++idx) {
      if (idx > 0) out += ',';
      AppendRunJson(out, result.runs[idx]);
    }
    out += ']';
    AppendNextPageToken(out, result.next_page_token);
  }
  out += '}';
  return out;
}

// ---- Metrics ----

// Writes non-negative decimal integers exactly as std::to_chars does, faster for a run of
// close values (a history's timestamps and steps): the digits above the last four are
// formatted once and reused while they stay the same. Negative values go to
// std::to_chars. Writes up to 20 bytes at `out` whatever the value's length (the caller
// leaves that room); returns the end of the number.
class CloseIntWriter {
 public:
  char* Write(char* out, int64_t value) {
    if (value < 0) return std::to_chars(out, out + 20, value).ptr;
    if (value < 10000) {
      if (value < 10) {
        *out = static_cast<char>('0' + value);
        return out + 1;
      }
      return std::to_chars(out, out + 4, value).ptr;
    }
    const int64_t high = value / 10000;
    const auto low = static_cast<unsigned>(value - high * 10000);
    if (high != high_) {
      high_ = high;
      high_size_ = static_cast<size_t>(std::to_chars(high_text_, high_text_ + 16, high).ptr -
                                       high_text_);
    }
    std::memcpy(out, high_text_, 16);  // at most 15 digits: INT64_MAX / 10000
    out += high_size_;
    std::memcpy(out, kDigitPairs + 2 * (low / 100), 2);
    std::memcpy(out + 2, kDigitPairs + 2 * (low % 100), 2);
    return out + 4;
  }

 private:
  static constexpr char kDigitPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  int64_t high_ = -1;
  size_t high_size_ = 0;
  char high_text_[16] = {};
};

// A point buffer kept between get-history requests: a large page reads into the vector of
// the previous one instead of allocating (and faulting in, and unmapping) 24 bytes a point
// again. One buffer, at most kMaxSparePoints; it holds memory only after a large history
// was read.
class SparePointBuffer {
 public:
  static constexpr size_t kMaxSparePoints = size_t{2} << 20;  // 48 MiB

  static std::vector<tracking::MetricHistoryPoints::Point> Take() {
    absl::MutexLock lock(&Mutex());
    return std::move(Buffer());
  }
  static void Give(std::vector<tracking::MetricHistoryPoints::Point> points) {
    if (points.capacity() > kMaxSparePoints) return;
    points.clear();
    absl::MutexLock lock(&Mutex());
    if (points.capacity() > Buffer().capacity()) Buffer().swap(points);
  }

 private:
  static absl::Mutex& Mutex() {
    static absl::Mutex* mutex = new absl::Mutex();
    return *mutex;
  }
  static std::vector<tracking::MetricHistoryPoints::Point>& Buffer() {
    static auto* buffer = new std::vector<tracking::MetricHistoryPoints::Point>();
    return *buffer;
  }
};

// The values of a large history page formatted once (WriteJsonDouble) ahead of sending, so
// that the response's exact length is known before its header goes out: per point one byte
// of length, then the text. Kept between requests like the point buffer (one buffer, at most
// kMaxSpareBytes) so that a large page does not fault in fresh memory every time.
class ValueText {
 public:
  static constexpr size_t kMaxBytesPerPoint = 1 + 24;  // the longest shortest double is 24
  static constexpr size_t kSlack = 32;  // a reader copies 24 bytes whatever the length
  static constexpr size_t kMaxSpareBytes = size_t{64} << 20;

  // A buffer for `points` values: the spare one when it is large enough.
  static ValueText Take(size_t points) {
    const size_t need = points * kMaxBytesPerPoint + kSlack;
    ValueText text;
    {
      absl::MutexLock lock(&Mutex());
      if (Spare().capacity_ >= need) std::swap(text, Spare());
    }
    if (text.capacity_ < need) {
      text.data_.reset(new char[need]);  // not zero-filled: only the written pages are touched
      text.capacity_ = need;
    }
    return text;
  }
  static void Give(ValueText text) {
    if (text.capacity_ == 0 || text.capacity_ > kMaxSpareBytes) return;
    absl::MutexLock lock(&Mutex());
    if (text.capacity_ > Spare().capacity_) std::swap(text, Spare());
  }

  ValueText() = default;
  ValueText(ValueText&& other) noexcept
      : data_(std::move(other.data_)), capacity_(std::exchange(other.capacity_, 0)) {}
  ValueText& operator=(ValueText&& other) noexcept {
    data_ = std::move(other.data_);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  char* data() { return data_.get(); }

 private:
  static absl::Mutex& Mutex() {
    static absl::Mutex* mutex = new absl::Mutex();
    return *mutex;
  }
  static ValueText& Spare() {
    static auto* spare = new ValueText();
    return *spare;
  }

  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
};

// Pages of at least this many points have their values formatted by two threads.
constexpr size_t kParallelPrepareMinPoints = 65536;

// The number of characters std::to_chars writes for `value`.
size_t DecimalLength(int64_t value) {
  static constexpr uint64_t kPowersOfTen[20] = {1ULL,
                                                10ULL,
                                                100ULL,
                                                1000ULL,
                                                10000ULL,
                                                100000ULL,
                                                1000000ULL,
                                                10000000ULL,
                                                100000000ULL,
                                                1000000000ULL,
                                                10000000000ULL,
                                                100000000000ULL,
                                                1000000000000ULL,
                                                10000000000000ULL,
                                                100000000000000ULL,
                                                1000000000000000ULL,
                                                10000000000000000ULL,
                                                100000000000000000ULL,
                                                1000000000000000000ULL,
                                                10000000000000000000ULL};
  const uint64_t magnitude =
      (value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value)) | 1;
  // floor(log10) from the bit width, then corrected by one comparison.
  const auto guess = static_cast<size_t>((std::bit_width(magnitude) * 1233) >> 12);
  return (value < 0 ? 1 : 0) + guess + (magnitude >= kPowersOfTen[guess] ? 1 : 0);
}

// metrics/get-history's body for one page: {"metrics":[…],"next_page_token":…}, or {} /
// {"next_page_token":…} without points. Written piece by piece, so that a large history
// (1M points is ~75 MB of JSON) goes out as it is formatted instead of being built whole.
// PrepareLength() formats the values first and returns the body's exact length, so that a
// streamed page can be sent with a Content-Length (HTTP clients read such a body with half
// the copies of a chunked one).
class HistoryBody {
 public:
  HistoryBody(std::string_view key, tracking::MetricHistoryPoints history)
      : history_(std::move(history)), size_(history_.size()) {
    if (!history_.ranges.empty()) position_ = history_.ranges[0].begin;
    point_head_ = "{\"key\":";
    AppendJsonString(point_head_, key);
    point_head_ += ",\"value\":";
    // The longest point: ',' + head + value + the timestamp and step fields (20-char numbers).
    max_point_size_ = 1 + point_head_.size() + kMaxJsonDoubleChars + 64;
  }
  ~HistoryBody() {
    SparePointBuffer::Give(std::move(history_.points));
    ValueText::Give(std::move(value_text_));
  }
  HistoryBody(const HistoryBody&) = delete;
  HistoryBody& operator=(const HistoryBody&) = delete;

  size_t size() const { return size_; }

  // Before the first Next(): formats every value of the page (in the order Next() writes
  // them) and returns the exact length of the whole body. Next() then copies the values.
  uint64_t PrepareLength() {
    std::string tail;
    AppendNextPageToken(tail, history_.next_page_token);
    if (size_ == 0) return 2 + tail.size();
    value_text_ = ValueText::Take(size_);
    // "{\"metrics\":[", the points and the commas between them, "]", the token, "}".
    uint64_t length = 12 + size_ * (point_head_.size() + 13 + 8 + 1) + (size_ - 1) + 1 +
                      tail.size() + 1;
    next_value_ = value_text_.data();
    // A large page is formatted in two halves at once, the second by a helper thread into
    // the buffer's second half (nothing else runs meanwhile: the client waits for the
    // header); Next() jumps from the end of the first half's text to the second's.
    const size_t half = size_ >= kParallelPrepareMinPoints ? size_ / 2 : size_;
    if (half < size_) {
      size_t range = 0;
      size_t skipped = 0;
      auto range_size = [this](size_t idx) {
        return history_.ranges[idx].end - history_.ranges[idx].begin;
      };
      while (skipped + range_size(range) <= half) skipped += range_size(range++);
      const size_t position = history_.ranges[range].begin + (half - skipped);
      char* second = value_text_.data() + half * ValueText::kMaxBytesPerPoint;
      uint64_t second_length = 0;
      try {
        std::thread helper([&] { FormatValues(range, position, size_ - half, second,
                                              &second_length); });
        jump_from_ = FormatValues(0, history_.ranges[0].begin, half, value_text_.data(),
                                  &length);
        helper.join();
        jump_to_ = second;
        return length + second_length;
      } catch (const std::system_error&) {  // no thread: all in this one
      }
    }
    FormatValues(0, history_.ranges[0].begin, size_, value_text_.data(), &length);
    return length;
  }

  // Formats `count` values from points[position] in ranges[range] on, in the order Next()
  // writes them, into `text` (a length byte, then the text, per value); adds their text's
  // length and that of their timestamps and steps to `*length`. Returns the end.
  char* FormatValues(size_t range, size_t position, size_t count, char* text,
                     uint64_t* length) const {
    const std::vector<tracking::MetricHistoryPoints::Point>& points = history_.points;
    uint64_t sum = 0;
    while (count > 0) {
      const size_t stop = std::min(history_.ranges[range].end, position + count);
      for (size_t idx = position; idx < stop; ++idx) {
        const tracking::MetricHistoryPoints::Point& point = points[idx];
        const auto value_size =
            static_cast<size_t>(WriteJsonDouble(text + 1, point.value) - (text + 1));
        *text = static_cast<char>(value_size);
        text += 1 + value_size;
        sum += value_size + DecimalLength(point.timestamp) + DecimalLength(point.step);
      }
      count -= stop - position;
      if (count > 0) position = history_.ranges[++range].begin;
    }
    *length += sum;
    return text;
  }

  // Appends the next piece, about `target` bytes (at least one point), to `*out`; returns
  // false once the body is complete.
  bool Next(std::string* out, size_t target) {
    if (size_ == 0) {
      *out += '{';
      if (!history_.next_page_token.empty()) {
        *out += "\"next_page_token\":";
        AppendJsonString(*out, history_.next_page_token);
      }
      *out += '}';
      return false;
    }
    if (written_ == 0) *out += "{\"metrics\":[";
    size_t count = std::min(size_ - written_, std::max<size_t>(1, target / max_point_size_));
    const size_t begin = out->size();
    out->resize(begin + count * max_point_size_);
    char* cursor = out->data() + begin;
    const std::string_view head = point_head_;
    const std::vector<tracking::MetricHistoryPoints::Point>& points = history_.points;
    const char* value = next_value_;
    while (count > 0) {
      const tracking::MetricHistoryPoints::Range& range = history_.ranges[range_];
      const size_t stop = std::min(range.end, position_ + count);
      for (size_t idx = position_; idx < stop; ++idx) {
        const tracking::MetricHistoryPoints::Point& point = points[idx];
        if (idx != position_ || written_ > 0) *cursor++ = ',';
        std::memcpy(cursor, head.data(), head.size());
        cursor += head.size();
        if (value != nullptr) {
          if (value == jump_from_) value = jump_to_;
          const auto value_size = static_cast<size_t>(static_cast<unsigned char>(*value));
          std::memcpy(cursor, value + 1, 24);  // the buffers have room; only value_size count
          cursor += value_size;
          value += 1 + value_size;
        } else {
          cursor = WriteJsonDouble(cursor, point.value);
        }
        std::memcpy(cursor, ",\"timestamp\":", 13);
        cursor = timestamps_.Write(cursor + 13, point.timestamp);
        std::memcpy(cursor, ",\"step\":", 8);
        cursor = steps_.Write(cursor + 8, point.step);
        *cursor++ = '}';
      }
      const size_t done = stop - position_;
      written_ += done;
      count -= done;
      position_ = stop;
      if (position_ == range.end && range_ + 1 < history_.ranges.size()) {
        ++range_;
        position_ = history_.ranges[range_].begin;
      }
    }
    next_value_ = value;
    out->resize(static_cast<size_t>(cursor - out->data()));
    if (written_ < size_) return true;
    *out += ']';
    AppendNextPageToken(*out, history_.next_page_token);
    *out += '}';
    return false;
  }

 private:
  tracking::MetricHistoryPoints history_;
  size_t size_ = 0;
  std::string point_head_;
  size_t max_point_size_ = 0;
  size_t written_ = 0;   // points written so far
  size_t range_ = 0;     // the range of the next point to write
  size_t position_ = 0;  // the next point to write: points[position_] in ranges[range_]
  CloseIntWriter timestamps_;
  CloseIntWriter steps_;
  ValueText value_text_;                 // after PrepareLength(): the formatted values
  const char* next_value_ = nullptr;     // the next value's length byte in value_text_
  const char* jump_from_ = nullptr;      // where the first half's values end, when split
  const char* jump_to_ = nullptr;        // where the second half's values begin
};

// Pages of more points than this are streamed in pieces of kHistoryPieceBytes, with a
// Content-Length (PrepareLength); smaller ones are answered whole.
constexpr size_t kHistoryStreamMinPoints = 8192;
constexpr size_t kHistoryPieceBytes = size_t{1} << 20;

absl::StatusOr<HttpResponse> GetMetricHistory(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RunIdField(fields));
  CAIRN_ASSIGN_OR_RETURN(std::string key, RequiredString(fields, "metric_key"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> max_results, OptionalInt64(fields, "max_results"));
  CAIRN_ASSIGN_OR_RETURN(std::string page_token, StringOrEmpty(fields, "page_token"));
  // The page's points are read first (24 bytes each; errors still get their status), then
  // formatted into the response as it is sent.
  std::vector<tracking::MetricHistoryPoints::Point> buffer = SparePointBuffer::Take();
  absl::StatusOr<tracking::MetricHistoryPoints> history =
      store.ReadMetricHistory(run_id, key, max_results, page_token, std::move(buffer));
  CAIRN_RETURN_IF_ERROR(history.status());
  auto body = std::make_shared<HistoryBody>(key, *std::move(history));
  if (body->size() <= kHistoryStreamMinPoints) {
    std::string out;
    while (body->Next(&out, kHistoryPieceBytes)) {
    }
    return JsonResponse(std::move(out));
  }
  HttpResponse response = JsonResponse("");
  response.stream_length = body->PrepareLength();
  response.stream = [body](std::string* chunk) -> absl::StatusOr<bool> {
    return body->Next(chunk, kHistoryPieceBytes);
  };
  return response;
}

Body GetMetricHistoryBulkInterval(TrackingStore& store, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> run_ids, StringList(fields, "run_ids"));
  if (run_ids.empty())
    return absl::InvalidArgumentError(
        "Missing value for required parameter 'run_ids'. See the API docs for more "
        "information about request parameters.");
  if (run_ids.size() > tracking::kBulkIntervalMaxRuns)
    return absl::InvalidArgumentError(absl::StrCat(
        "GetMetricHistoryBulkInterval request must specify at most ",
        tracking::kBulkIntervalMaxRuns, " run_ids. Received ", run_ids.size(), " run_ids."));
  CAIRN_ASSIGN_OR_RETURN(std::string key, RequiredString(fields, "metric_key"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> start_step, OptionalInt64(fields, "start_step"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> end_step, OptionalInt64(fields, "end_step"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> max_results, OptionalInt64(fields, "max_results"));
  if (max_results && (*max_results < 1 || *max_results > tracking::kBulkIntervalMaxResultsLimit))
    return absl::InvalidArgumentError(absl::StrCat("max_results must be between 1 and ",
                                                   tracking::kBulkIntervalMaxResultsLimit, "."));
  if (start_step.has_value() != end_step.has_value())
    return absl::InvalidArgumentError(
        "If either start step or end step are specified, both must be specified.");
  CAIRN_ASSIGN_OR_RETURN(
      std::vector<tracking::RunMetric> points,
      store.GetMetricHistoryBulkInterval(
          run_ids, key, start_step, end_step,
          max_results.value_or(tracking::kBulkIntervalMaxResultsDefault)));
  std::string out = "{";
  if (!points.empty()) {
    out += "\"metrics\":[";
    for (size_t idx = 0; idx < points.size(); ++idx) {
      if (idx > 0) out += ',';
      const tracking::Metric& metric = points[idx].metric;
      AppendMetricJson(out, metric.key, metric.value, metric.timestamp, metric.step,
                       points[idx].run_id);
    }
    out += ']';
  }
  out += '}';
  return out;
}

// runs/log-batch: the common well-formed body takes the single-pass parser; anything
// else goes through the general path, which words the errors.
Handler LogBatchHandler(TrackingStore* store, Handler general) {
  return [store, general = std::move(general)](const HttpRequest& request) -> HttpResponse {
    // Metrics linked to logged models (model_id) take the general path, which records them
    // on the model too.
    if (request.body_file.empty() && request.body.find("\"model_id\"") == std::string::npos) {
      std::optional<LogBatchBody> parsed = FastParseLogBatch(request.body);
      if (parsed && !parsed->run_id.empty()) {
        absl::Status status =
            store->LogBatch(parsed->run_id, parsed->metrics, parsed->params, parsed->tags);
        if (!status.ok()) return ErrorResponse(status);
        return JsonResponse(kEmptyResponse);
      }
    }
    return general(request);
  };
}

}  // namespace

void RegisterTrackingRoutes(Router& router, const ApiContext& ctx) {
  TrackingStore* store = ctx.tracking;
  CAIRN_CHECK(store != nullptr);
  tracking::LoggedModelStore* logged_models = ctx.logged_models;
  auto bind = [store](Body (*fn)(TrackingStore&, const Json&)) {
    return Wrap([store, fn](const Json& fields) { return fn(*store, fields); });
  };
  // Handlers that also reach the logged models (MLflow 3 run outputs, model metrics).
  auto bind_models = [store, logged_models](
                         Body (*fn)(TrackingStore&, tracking::LoggedModelStore*, const Json&)) {
    return Wrap([store, logged_models, fn](const Json& fields) {
      return fn(*store, logged_models, fields);
    });
  };
  router.AddMlflow("POST", "experiments/create", bind(&CreateExperiment));
  router.AddMlflow("GET", "experiments/get", bind(&GetExperiment));
  router.AddMlflow("GET", "experiments/get-by-name", bind(&GetExperimentByName));
  router.AddMlflow("GET", "experiments/search", bind(&SearchExperiments));
  router.AddMlflow("POST", "experiments/search", bind(&SearchExperiments));
  router.AddMlflow("POST", "experiments/update", bind(&UpdateExperiment));
  router.AddMlflow("POST", "experiments/delete", bind(&DeleteExperiment));
  router.AddMlflow("POST", "experiments/restore", bind(&RestoreExperiment));
  router.AddMlflow("POST", "experiments/set-experiment-tag", bind(&SetExperimentTag));
  router.AddMlflow("POST", "experiments/delete-experiment-tag", bind(&DeleteExperimentTag));

  router.AddMlflow("POST", "runs/create", bind(&CreateRun));
  router.AddMlflow("GET", "runs/get", bind_models(&GetRun));
  router.AddMlflow("POST", "runs/update", bind(&UpdateRun));
  router.AddMlflow("POST", "runs/delete", bind(&DeleteRun));
  router.AddMlflow("POST", "runs/restore", bind(&RestoreRun));
  router.AddMlflow("POST", "runs/log-metric", bind_models(&LogMetric));
  router.AddMlflow("POST", "runs/log-parameter", bind(&LogParam));
  router.AddMlflow("POST", "runs/set-tag", bind(&SetTag));
  router.AddMlflow("POST", "runs/delete-tag", bind(&DeleteTag));
  router.AddMlflow("POST", "runs/log-batch", LogBatchHandler(store, bind_models(&LogBatch)));
  router.AddMlflow("POST", "runs/log-inputs", bind(&LogInputs));
  router.AddMlflow("POST", "runs/search", bind(&SearchRuns));
  router.AddMlflow("GET", "runs/search", bind(&SearchRuns));

  router.AddMlflow("GET", "metrics/get-history", WrapResponse([store](const Json& fields) {
                     return GetMetricHistory(*store, fields);
                   }));
  router.AddMlflow("GET", "metrics/get-history-bulk-interval",
                   bind(&GetMetricHistoryBulkInterval));
}

}  // namespace cairn::api
