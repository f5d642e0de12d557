// The endpoint service's predict path (endpoint_service.h): a request parsed into columns,
// the model inputs filled from raw values and the online store, the variant chosen, the
// answer logged; the shadow thread; batch prediction over a CSV file.

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "features/online/online_feature_service.h"
#include "serving/endpoint_service.h"
#include "serving/endpoint_service_internal.h"
#include "serving/feature_row_json.h"
#include "serving/inference_log.h"
#include "serving/predict_request.h"
#include "serving/rollout_guard.h"

namespace cairn::serving {

namespace {

using endpoint_internal::ColumnPlan;
using endpoint_internal::ModelLabel;
using Runtime = EndpointService::Runtime;
using Serving = EndpointService::Serving;
using RolloutState = EndpointService::RolloutState;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The per-thread buffers of the predict path.
struct PredictScratch {
  PredictRequest request;
  ModelInput input;
  std::vector<int> target;
  std::vector<features::EntityKeyColumn> keys;
  std::vector<std::string> ids;
  std::vector<std::string> dynamic_columns;
  // The inference log's JSON text of a row (feature_row_json.h), kept while the model's
  // input columns stay the same.
  std::optional<FeatureRowJson> row_json;

  const FeatureRowJson& RowJson() {
    if (!row_json || !row_json->For(input.columns)) row_json.emplace(input.columns);
    return *row_json;
  }
};
thread_local PredictScratch tls_scratch;

// Fills `input` for `runtime` from the request: raw feature values first, then what the
// feature service looks up for the remaining inputs. InvalidArgument naming a missing
// input; Unavailable when the feature service could not be resolved.
absl::Status BuildInput(const Serving& serving, const Runtime& runtime, const ColumnPlan& plan,
                        const PredictRequest& request,
                        const features::OnlineFeatureService* online, PredictScratch* scratch,
                        ModelInput* input) {
  const features::OnlineFeatureSet* set = serving.features.get();
  const std::vector<std::string>* columns = &plan.columns;
  std::vector<int> dynamic_online;
  if (plan.columns.empty()) {
    // The model does not name its inputs: the feature service's features, then the request's
    // other raw features, in order.
    scratch->dynamic_columns.clear();
    if (set != nullptr) {
      for (const auto& f : set->features) {
        scratch->dynamic_columns.push_back(f.name);
        dynamic_online.push_back(static_cast<int>(dynamic_online.size()));
      }
    }
    for (const auto& column : request.features()) {
      if (std::find(scratch->dynamic_columns.begin(), scratch->dynamic_columns.end(),
                    column.name) == scratch->dynamic_columns.end()) {
        scratch->dynamic_columns.emplace_back(column.name);
        dynamic_online.push_back(-1);
      }
    }
    columns = &scratch->dynamic_columns;
  }
  const std::vector<int>& online_of = plan.columns.empty() ? dynamic_online : plan.online;
  const size_t num_columns = columns->size();
  if (input->columns != *columns) input->columns = *columns;
  input->rows = request.rows;
  input->cells.resize(request.rows * num_columns);

  scratch->target.assign(set != nullptr ? set->features.size() : 0, -1);
  bool need_online = false;
  std::vector<std::string_view> missing;
  for (size_t c = 0; c < num_columns; ++c) {
    int raw = request.FindFeature((*columns)[c]);
    if (raw >= 0) {
      const std::vector<features::Value>& values = request.feature_slots[raw].values;
      for (size_t r = 0; r < request.rows; ++r) input->cells[r * num_columns + c] = values[r];
    } else if (online_of[c] >= 0) {
      scratch->target[online_of[c]] = static_cast<int>(c);
      need_online = true;
    } else {
      missing.push_back((*columns)[c]);
    }
  }
  if (!missing.empty()) {
    std::string names;
    for (std::string_view m : missing) {
      absl::StrAppend(&names, names.empty() ? "'" : ", '", ToAbsl(m), "'");
    }
    std::string where =
        serving.spec.feature_service.empty()
            ? std::string("the endpoint has no feature_service")
            : absl::StrCat("feature service '", serving.spec.feature_service, "' does not ",
                           missing.size() == 1 ? "serve it" : "serve them");
    return absl::InvalidArgumentError(absl::StrCat(
        "features: model ", ModelLabel(runtime.model_name, runtime.version), " reads ",
        missing.size() == 1 ? "input " : "inputs ", names, ", missing from the request (",
        where, "); send ", missing.size() == 1 ? "it" : "them", " in \"features\""));
  }
  if (request.num_entities > 0 && serving.spec.feature_service.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "entities: endpoint '", serving.spec.name,
        "' has no feature_service to look entities up in; send feature values in "
        "\"features\" (or set feature_service on the endpoint)"));
  }
  if (!need_online) return absl::OkStatus();
  if (set == nullptr) {
    return absl::UnavailableError(absl::StrCat("endpoint '", serving.spec.name,
                                               "': feature service '",
                                               serving.spec.feature_service,
                                               "' is not available: ", serving.features_error));
  }
  if (request.num_entities == 0) {
    std::string keys, names;
    for (const features::Field& k : set->join_keys) {
      absl::StrAppend(&keys, keys.empty() ? "" : ", ", k.name);
    }
    int listed = 0, unlisted = 0;
    for (size_t c = 0; c < num_columns; ++c) {
      if (online_of[c] < 0 || request.FindFeature((*columns)[c]) >= 0) continue;
      if (listed == 10) {
        ++unlisted;
        continue;
      }
      absl::StrAppend(&names, listed == 0 ? "'" : ", '", ToAbsl((*columns)[c]), "'");
      ++listed;
    }
    if (unlisted > 0) absl::StrAppend(&names, " and ", unlisted, " more");
    return absl::InvalidArgumentError(absl::StrCat(
        "features: model ", ModelLabel(runtime.model_name, runtime.version), " reads ",
        listed + unlisted == 1 ? "input " : "inputs ", names,
        ", missing from the request; send the join keys (", keys,
        ") in \"entities\" so that feature service '", serving.spec.feature_service,
        "' looks them up, or the values in \"features\""));
  }
  scratch->keys.clear();
  for (const auto& column : request.entities()) {
    scratch->keys.push_back({column.name, column.values});
  }
  if (online == nullptr) {
    return absl::UnavailableError("entities: this server has no online feature store");
  }
  return online->Lookup(*set, scratch->keys, request.rows, scratch->target, num_columns,
                        input->cells.data());
}

void FormatId(std::string_view prefix, uint64_t n, std::string* out) {
  out->assign(prefix.data(), prefix.size());
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n, 16);
  out->append(buf, end);
}

}  // namespace

// ---- predict -------------------------------------------------------------------------

absl::StatusOr<std::string> EndpointService::Predict(std::string_view endpoint,
                                                     std::string_view request_json) {
  return PredictImpl(endpoint, request_json, /*declined=*/nullptr);
}

std::optional<absl::StatusOr<std::string>> EndpointService::PredictInProcess(
    std::string_view endpoint, std::string_view request_json) {
  bool declined = false;
  absl::StatusOr<std::string> answer = PredictImpl(endpoint, request_json, &declined);
  if (declined) return std::nullopt;
  return answer;
}

absl::StatusOr<std::string> EndpointService::PredictImpl(std::string_view endpoint,
                                                         std::string_view request_json,
                                                         bool* declined) {
  const int64_t start_us = SteadyMicros();
  if (stopped_) return absl::UnavailableError("the endpoint service is shut down");
  std::shared_ptr<Deployment> d = Find(endpoint);
  if (d == nullptr) return NotDeployed(endpoint);
  std::shared_ptr<const Serving> s = d->Get();
  // The caller may only compute in process (an HTTP I/O thread): this snapshot must.
  if (declined != nullptr && !ServesInProcess(s.get())) {
    *declined = true;
    return std::string();
  }
  d->requests.fetch_add(1, std::memory_order_relaxed);
  if (s == nullptr || s->champion == nullptr) {
    d->errors.fetch_add(1, std::memory_order_relaxed);
    return absl::UnavailableError(absl::StrCat("endpoint '", ToAbsl(endpoint),
                                               "' has no model loaded: ", d->Error()));
  }
  PredictScratch& scratch = tls_scratch;
  absl::Status parsed = ParsePredictRequest(request_json, &scratch.request);
  if (!parsed.ok()) {
    d->errors.fetch_add(1, std::memory_order_relaxed);
    return parsed;
  }
  const PredictRequest& request = scratch.request;

  // Which variant answers, and whether the challenger gets a mirrored copy.
  const RolloutState* rollout = s->rollout.get();
  bool to_canary = false, mirror = false;
  if (rollout != nullptr) {
    const uint64_t draw = SplitMix64(options_.seed ^ split_counter_.fetch_add(
                                                         1, std::memory_order_relaxed));
    const bool hit = static_cast<double>(draw >> 11) * 0x1.0p-53 < rollout->share;
    (rollout->record.mode == "shadow" ? mirror : to_canary) = hit;
  }
  const Runtime* answered_by = nullptr;
  std::string_view variant = "champion";
  absl::StatusOr<std::vector<double>> predictions{std::vector<double>()};
  int64_t canary_failed_us = -1;  // the failed canary's latency, or -1
  if (to_canary) {
    const int64_t t0 = SteadyMicros();
    absl::Status built = BuildInput(*s, *rollout->challenger, rollout->plan, request,
                                    options_.online, &scratch, &scratch.input);
    if (built.ok()) predictions = rollout->challenger->model->Predict(scratch.input);
    const int64_t latency = SteadyMicros() - t0;
    if (built.ok() && predictions.ok()) {
      answered_by = rollout->challenger.get();
      variant = "canary";
      for (double p : *predictions) rollout->guard->Record(true, latency, false, p);
    } else {
      // The canary failed: the champion answers instead; the failure counts against the
      // canary unless the champion refuses the request too (then it was the request's).
      canary_failed_us = latency;
    }
  }
  if (answered_by == nullptr) {
    auto record_canary_failure = [&](bool request_was_bad) {
      if (canary_failed_us < 0 || request_was_bad) return;
      for (size_t r = 0; r < request.rows; ++r) {
        rollout->guard->Record(true, canary_failed_us, true, 0);
      }
    };
    const int64_t t0 = SteadyMicros();
    absl::Status built = BuildInput(*s, *s->champion, s->plan, request, options_.online,
                                    &scratch, &scratch.input);
    if (!built.ok()) {
      record_canary_failure(absl::IsInvalidArgument(built));
      d->errors.fetch_add(1, std::memory_order_relaxed);
      return built;
    }
    predictions = s->champion->model->Predict(scratch.input);
    const int64_t latency = SteadyMicros() - t0;
    record_canary_failure(!predictions.ok() && absl::IsInvalidArgument(predictions.status()));
    if (rollout != nullptr) {
      if (predictions.ok()) {
        for (double p : *predictions) rollout->guard->Record(false, latency, false, p);
      } else if (!absl::IsInvalidArgument(predictions.status())) {
        rollout->guard->Record(false, latency, true, 0);
      }
    }
    if (!predictions.ok()) {
      d->errors.fetch_add(1, std::memory_order_relaxed);
      return predictions.status();
    }
    answered_by = s->champion.get();
  }
  if (predictions->size() != request.rows) {
    d->errors.fetch_add(1, std::memory_order_relaxed);
    return absl::InternalError(absl::StrCat("model ", ModelLabel(answered_by->model_name,
                                                                 answered_by->version),
                                            " answered ", predictions->size(),
                                            " predictions for ", request.rows, " rows"));
  }
  d->rows.fetch_add(static_cast<int64_t>(request.rows), std::memory_order_relaxed);

  // Ids, the inference log, the shadow copy, the answer.
  const uint64_t first_id = id_counter_.fetch_add(request.rows, std::memory_order_relaxed);
  scratch.ids.resize(request.rows);
  for (size_t r = 0; r < request.rows; ++r) FormatId(id_prefix_, first_id + r, &scratch.ids[r]);
  const int64_t now_ms = clock_->NowMillis();
  const int64_t latency_us = SteadyMicros() - start_us;
  if (options_.inference_log != nullptr && s->spec.log_sample > 0) {
    for (size_t r = 0; r < request.rows; ++r) {
      if (!Sample(scratch.ids[r], s->spec.log_sample)) continue;
      InferenceRecord record;
      record.id = scratch.ids[r];
      record.endpoint = s->spec.name;
      record.model = answered_by->model_name;
      record.model_version = answered_by->version;
      record.variant = std::string(variant);
      record.time_ms = now_ms;
      record.latency_us = latency_us;
      record.features_json = scratch.RowJson().Row(scratch.input.cells, r);
      record.prediction = (*predictions)[r];
      options_.inference_log->Append(std::move(record));
    }
  }
  if (mirror) EnqueueShadow(d, s, request, scratch.ids, now_ms);
  std::string out;
  out.reserve(96 + request.rows * 48);
  AppendPredictResponse(scratch.ids, answered_by->model_name, answered_by->version,
                        *predictions, variant, &out);
  return out;
}

bool EndpointService::ServesInProcess(const Serving* s) {
  if (s == nullptr || s->champion == nullptr || !s->champion->model->runs_in_process()) {
    return false;
  }
  // A shadow challenger answers on the shadow thread; a canary on the request's.
  const RolloutState* rollout = s->rollout.get();
  return rollout == nullptr || rollout->record.mode == "shadow" ||
         rollout->challenger->model->runs_in_process();
}

bool EndpointService::PredictsInProcess(std::string_view endpoint) {
  if (stopped_) return false;
  std::shared_ptr<Deployment> d = Find(endpoint);
  return d != nullptr && ServesInProcess(d->Get().get());
}

bool EndpointService::Sample(std::string_view id, double rate) const {
  return options_.should_sample ? options_.should_sample(id, rate)
                                : InferenceLog::ShouldSample(id, rate);
}

void EndpointService::EnqueueShadow(const std::shared_ptr<Deployment>& d,
                                    const std::shared_ptr<const Serving>& s,
                                    const PredictRequest& request,
                                    const std::vector<std::string>& ids, int64_t time_ms) {
  auto task = std::make_unique<ShadowTask>();
  // A deep copy: the request's names and strings point into this thread's parser.
  task->serving = s;
  task->deployment = d;
  for (const auto& e : request.entities()) task->names.emplace_back(e.name);
  for (const auto& f : request.features()) task->names.emplace_back(f.name);
  size_t name = 0;
  for (const auto& e : request.entities()) {
    auto& column = task->request.AddEntity(task->names[name++]);
    column.values = e.values;
  }
  for (const auto& f : request.features()) {
    auto& column = task->request.AddFeature(task->names[name++]);
    column.values = f.values;
  }
  task->request.rows = request.rows;
  // String entity values still view the parser's buffer: copy them into names' storage.
  for (size_t e = 0; e < task->request.num_entities; ++e) {
    for (features::EntityKeyValue& v : task->request.entity_slots[e].values) {
      if (!v.is_string) continue;
      task->names.emplace_back(v.text);
    }
  }
  {
    size_t extra = request.num_entities + request.num_features;
    for (size_t e = 0; e < task->request.num_entities; ++e) {
      for (features::EntityKeyValue& v : task->request.entity_slots[e].values) {
        if (v.is_string) v.text = task->names[extra++];
      }
    }
  }
  task->ids = ids;
  task->time_ms = time_ms;
  absl::MutexLock lock(&shadow_mu_);
  if (shadow_queue_.size() >= options_.shadow_queue) {
    d->shadow_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  shadow_queue_.push_back(std::move(task));
}

void EndpointService::ShadowLoop() {
  PredictScratch scratch;
  while (true) {
    std::unique_ptr<ShadowTask> task;
    {
      absl::MutexLock lock(&shadow_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shadow_mu_) {
        return stop_shadow_ || !shadow_queue_.empty();
      };
      shadow_mu_.Await(absl::Condition(&ready));
      if (stop_shadow_) return;
      task = std::move(shadow_queue_.front());
      shadow_queue_.erase(shadow_queue_.begin());
    }
    const Serving& s = *task->serving;
    const RolloutState& rollout = *s.rollout;
    const int64_t t0 = SteadyMicros();
    absl::StatusOr<std::vector<double>> predictions{std::vector<double>()};
    absl::Status built = BuildInput(s, *rollout.challenger, rollout.plan, task->request,
                                    options_.online, &scratch, &scratch.input);
    if (built.ok()) predictions = rollout.challenger->model->Predict(scratch.input);
    const int64_t latency = SteadyMicros() - t0;
    const bool ok = built.ok() && predictions.ok() && predictions->size() == task->request.rows;
    for (size_t r = 0; r < task->request.rows; ++r) {
      rollout.guard->Record(true, latency, !ok, ok ? (*predictions)[r] : 0);
    }
    if (options_.inference_log == nullptr || s.spec.log_sample <= 0) continue;
    for (size_t r = 0; r < task->request.rows; ++r) {
      if (!Sample(task->ids[r], s.spec.log_sample)) continue;
      InferenceRecord record;
      record.id = task->ids[r];
      record.endpoint = s.spec.name;
      record.model = rollout.challenger->model_name;
      record.model_version = rollout.challenger->version;
      record.variant = "shadow";
      record.time_ms = task->time_ms;
      record.latency_us = latency;
      if (built.ok()) record.features_json = scratch.RowJson().Row(scratch.input.cells, r);
      record.prediction = ok ? (*predictions)[r] : 0;
      record.error = !ok;
      options_.inference_log->Append(std::move(record));
    }
  }
}


// ---- batch prediction ----------------------------------------------------------------

namespace {

// Reads one CSV record (RFC 4180: quoted fields may hold commas, doubled quotes and line
// breaks) into `fields`. False at the end of the input. `line` counts physical lines.
bool ReadCsvRecord(std::istream& in, std::vector<std::string>* fields, int64_t* line,
                   std::string* buffer) {
  fields->clear();
  if (!std::getline(in, *buffer)) return false;
  ++*line;
  std::string field;
  bool quoted = false;
  size_t i = 0;
  while (true) {
    if (i == buffer->size()) {
      if (quoted) {
        // A line break inside quotes: the record continues on the next line.
        std::string next;
        if (!std::getline(in, next)) break;
        ++*line;
        field.push_back('\n');
        *buffer = std::move(next);
        i = 0;
        continue;
      }
      break;
    }
    char c = (*buffer)[i++];
    if (quoted) {
      if (c == '"') {
        if (i < buffer->size() && (*buffer)[i] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields->push_back(std::move(field));
      field.clear();
    } else if (c != '\r' || i != buffer->size()) {
      field.push_back(c);
    }
  }
  fields->push_back(std::move(field));
  return true;
}

features::Value CsvValue(const std::string& text) {
  if (text.empty()) return std::monostate{};
  int64_t i;
  auto [ip, iec] = std::from_chars(text.data(), text.data() + text.size(), i);
  if (iec == std::errc() && ip == text.data() + text.size()) return i;
  double d;
  auto [dp, dec] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (dec == std::errc() && dp == text.data() + text.size()) return d;
  if (text == "true" || text == "True") return true;
  if (text == "false" || text == "False") return false;
  return text;
}

}  // namespace

absl::StatusOr<std::string> EndpointService::ResolveBatchPath(std::string_view field,
                                                             const std::string& path) const {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path base = options_.data_dir.empty() ? fs::current_path(ec)
                                            : fs::absolute(options_.data_dir, ec);
  base = base.lexically_normal();
  if (!base.has_filename() && base.has_parent_path() && base != base.root_path()) {
    base = base.parent_path();  // "/data/" → "/data"
  }
  const std::string where =
      options_.data_dir.empty() ? absl::StrCat("the working directory ", base.string())
                                : base.string();
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(field), ": a file path is required (relative to the server's data directory, ",
        where, ")"));
  }
  // Inside `dir` and not `dir` itself.
  auto inside = [](const fs::path& p, const fs::path& dir) {
    fs::path relative = p.lexically_relative(dir);
    return !relative.empty() && *relative.begin() != ".." && relative != ".";
  };
  auto outside = [&](std::string_view how) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(field), ": '", path, "' is outside the server's data directory (", where, ")",
        ToAbsl(how), "; give a path relative to it, or an absolute path inside it"));
  };
  const fs::path given(path);
  const fs::path full = (given.is_absolute() ? given : base / given).lexically_normal();
  if (!inside(full, base)) return outside("");
  // What exists of the path, with its symbolic links resolved, must stay inside too.
  const fs::path real_base = fs::weakly_canonical(base, ec);
  fs::path real;
  if (!ec) real = fs::weakly_canonical(full, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), ": '", path,
                                                   "' cannot be resolved: ", ec.message()));
  }
  if (!inside(real, real_base)) {
    return outside(absl::StrCat(" through a symbolic link (it leads to ", real.string(), ")"));
  }
  // CSV files only, and never the server's own state (its database, artifacts, stores).
  std::string extension = full.extension().string();
  for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (extension != ".csv") {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(field), ": '", path, "' is not a .csv file; batch prediction reads and writes "
        "CSV files only"));
  }
  const std::string first = real.lexically_relative(real_base).begin()->string();
  for (const std::string& kept : options_.protected_paths) {
    if (first == kept) {
      return absl::InvalidArgumentError(absl::StrCat(
          ToAbsl(field), ": '", path, "' is inside '", kept, "', which holds the server's own "
          "state; use another directory under ", where));
    }
  }
  return full.string();
}

namespace {

// Closes a batch's output, written to `tmp_output`, and renames it into place.
absl::Status FinishBatchOutput(std::ofstream& out, const std::string& tmp_output,
                               const std::string& output_csv) {
  out.close();
  if (!out) {
    return absl::InternalError(absl::StrCat("output: writing '", output_csv, "' failed"));
  }
  std::error_code ec;
  std::filesystem::rename(tmp_output, output_csv, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("output: cannot move the result to '", output_csv, "': ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> EndpointService::PredictBatch(std::string_view endpoint,
                                                      const std::string& input_csv,
                                                      const std::string& output_csv) {
  CAIRN_ASSIGN_OR_RETURN(std::string input, ResolveBatchPath("input", input_csv));
  CAIRN_ASSIGN_OR_RETURN(std::string output, ResolveBatchPath("output", output_csv));
  // A temporary name of this call: concurrent calls never share one.
  static std::atomic<uint64_t> calls{0};
  const std::string tmp_output =
      absl::StrCat(output, ".tmp-", ::getpid(), "-", calls.fetch_add(1));
  absl::StatusOr<int64_t> rows = PredictBatchTo(endpoint, input, output, tmp_output);
  if (!rows.ok()) {
    std::error_code ec;
    std::filesystem::remove(tmp_output, ec);  // nothing to remove when it was never opened
  }
  return rows;
}

absl::StatusOr<int64_t> EndpointService::PredictBatchTo(std::string_view endpoint,
                                                        const std::string& input_csv,
                                                        const std::string& output_csv,
                                                        const std::string& tmp_output) {
  std::shared_ptr<Deployment> d = Find(endpoint);
  if (d == nullptr) return NotDeployed(endpoint);
  std::ifstream in(input_csv);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("input: cannot open '", input_csv, "' (", std::strerror(errno), ")"));
  }
  std::vector<std::string> header;
  std::string buffer;
  int64_t line = 0;
  if (!ReadCsvRecord(in, &header, &line, &buffer) ||
      (header.size() == 1 && header[0].empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat("input: '", input_csv, "' is empty; the first line must be a header"));
  }
  std::ofstream out(tmp_output, std::ios::trunc);
  if (!out) {
    return absl::InvalidArgumentError(absl::StrCat("output: cannot write '", output_csv, "' (",
                                                   std::strerror(errno), ")"));
  }
  out << "id,prediction\n";

  constexpr size_t kChunk = 1024;
  PredictRequest request;
  PredictScratch scratch;
  std::vector<std::vector<std::string>> records;
  std::vector<int64_t> record_lines;
  int64_t predicted = 0;
  bool done = false;
  while (!done) {
    // Each chunk uses the serving state of its time (a redeploy between chunks is seen).
    std::shared_ptr<const Serving> s = d->Get();
    if (s == nullptr || s->champion == nullptr) {
      return absl::UnavailableError(absl::StrCat("endpoint '", ToAbsl(endpoint),
                                                 "' has no model loaded: ", d->Error()));
    }
    records.clear();
    record_lines.clear();
    std::vector<std::string> fields;
    while (records.size() < kChunk) {
      if (!ReadCsvRecord(in, &fields, &line, &buffer)) {
        done = true;
        break;
      }
      if (fields.size() == 1 && fields[0].empty()) continue;  // a blank line
      if (fields.size() != header.size()) {
        return absl::InvalidArgumentError(absl::StrCat(input_csv, ":", line, ": ", fields.size(),
                                                       " fields, but the header has ",
                                                       header.size()));
      }
      records.push_back(fields);
      record_lines.push_back(line);
    }
    if (records.empty()) break;
    request.Clear();
    request.rows = records.size();
    const features::OnlineFeatureSet* set = s->features.get();
    for (size_t c = 0; c < header.size(); ++c) {
      const features::Field* key = nullptr;
      if (set != nullptr) {
        for (const features::Field& k : set->join_keys) {
          if (k.name == header[c]) key = &k;
        }
      }
      if (key != nullptr) {
        auto& column = request.AddEntity(header[c]);
        for (size_t r = 0; r < records.size(); ++r) {
          const std::string& text = records[r][c];
          if (key->type == features::FeatureType::kString) {
            column.values.push_back({true, 0, text});
            continue;
          }
          int64_t v;
          auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
          if (ec != std::errc() || p != text.data() + text.size()) {
            return absl::InvalidArgumentError(
                absl::StrCat(input_csv, ":", record_lines[r], ": column '", header[c],
                             "': expected an integer join key, got '", text, "'"));
          }
          column.values.push_back({false, v, {}});
        }
      } else {
        auto& column = request.AddFeature(header[c]);
        for (size_t r = 0; r < records.size(); ++r) column.values.push_back(CsvValue(records[r][c]));
      }
    }
    absl::Status built = BuildInput(*s, *s->champion, s->plan, request, options_.online,
                                    &scratch, &scratch.input);
    if (!built.ok()) {
      return absl::Status(built.code(), absl::StrCat(input_csv, " (rows on lines ",
                                                     record_lines.front(), "–",
                                                     record_lines.back(), "): ",
                                                     built.message()));
    }
    absl::StatusOr<std::vector<double>> predictions = s->champion->model->Predict(scratch.input);
    if (!predictions.ok()) {
      return absl::Status(predictions.status().code(),
                          absl::StrCat(input_csv, " (rows on lines ", record_lines.front(), "–",
                                       record_lines.back(), "): ",
                                       predictions.status().message()));
    }
    const uint64_t first_id = id_counter_.fetch_add(records.size(), std::memory_order_relaxed);
    std::string text;
    std::string id;
    for (size_t r = 0; r < records.size(); ++r) {
      FormatId(id_prefix_, first_id + r, &id);
      text.append(id);
      text.push_back(',');
      double p = (*predictions)[r];
      if (std::isfinite(p)) AppendJsonDouble(p, &text);
      text.push_back('\n');
    }
    out << text;
    predicted += static_cast<int64_t>(records.size());
    d->rows.fetch_add(static_cast<int64_t>(records.size()), std::memory_order_relaxed);
  }
  CAIRN_RETURN_IF_ERROR(FinishBatchOutput(out, tmp_output, output_csv));
  return predicted;
}

// ---- batch prediction over a training set ---------------------------------------------

namespace {

// `text` as a CSV field, quoted when it has to be (RFC 4180).
void AppendCsvText(std::string_view text, std::string* out) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    out->append(text);
    return;
  }
  out->push_back('"');
  for (char ch : text) {
    if (ch == '"') out->push_back('"');
    out->push_back(ch);
  }
  out->push_back('"');
}

// Row `row` of `column` as a CSV field (as features/table_io.h writes tables: timestamps in
// RFC 3339 UTC, NaN / infinities as nan / inf / -inf, null as an empty field).
void AppendCsvCell(const features::Column& column, size_t row, std::string* out) {
  if (column.IsNull(row)) return;
  switch (column.type) {
    case features::FeatureType::kInt64: absl::StrAppend(out, column.ints[row]); break;
    case features::FeatureType::kBool: out->append(column.ints[row] ? "true" : "false"); break;
    case features::FeatureType::kTimestamp: out->append(FormatTimestamp(column.ints[row])); break;
    case features::FeatureType::kDouble: {
      const double d = column.doubles[row];
      if (std::isnan(d)) {
        out->append("nan");
      } else if (std::isinf(d)) {
        out->append(d > 0 ? "inf" : "-inf");
      } else {
        AppendJsonDouble(d, out);
      }
      break;
    }
    case features::FeatureType::kString: AppendCsvText(column.strings[row], out); break;
  }
}

}  // namespace

absl::StatusOr<int64_t> EndpointService::PredictTrainingSet(std::string_view endpoint,
                                                            std::string_view training_set,
                                                            const std::string& output_csv) {
  CAIRN_ASSIGN_OR_RETURN(std::string output, ResolveBatchPath("output", output_csv));
  if (training_set.empty()) {
    return absl::InvalidArgumentError(
        "training_set: an id is required (the snapshot id that `cairn features historical` "
        "and POST /api/v1/features/historical report)");
  }
  if (Find(endpoint) == nullptr) return NotDeployed(endpoint);
  if (!options_.load_training_set) {
    return absl::FailedPreconditionError(
        "training_set: this server has no feature store to read training sets from; give "
        "\"input\": a CSV file instead");
  }
  CAIRN_ASSIGN_OR_RETURN(TrainingSetRows rows, options_.load_training_set(training_set));
  static std::atomic<uint64_t> calls{0};
  const std::string tmp_output =
      absl::StrCat(output, ".tmp-", ::getpid(), "-t", calls.fetch_add(1));
  absl::StatusOr<int64_t> predicted =
      PredictTableTo(endpoint, training_set, rows, output, tmp_output);
  if (!predicted.ok()) {
    std::error_code ec;
    std::filesystem::remove(tmp_output, ec);
  }
  return predicted;
}

absl::StatusOr<int64_t> EndpointService::PredictTableTo(std::string_view endpoint,
                                                        std::string_view id,
                                                        const TrainingSetRows& rows,
                                                        const std::string& output_csv,
                                                        const std::string& tmp_output) {
  std::shared_ptr<Deployment> d = Find(endpoint);
  if (d == nullptr) return NotDeployed(endpoint);
  const features::Table& table = rows.table;
  std::vector<int> carried;  // the entity columns, copied to the output
  std::vector<uint8_t> is_entity(table.num_columns(), 0);
  for (const std::string& name : rows.entity_columns) {
    const int c = table.Find(name);
    if (c < 0) {
      return absl::InternalError(absl::StrCat("training set '", ToAbsl(id),
                                              "' has no entity column '", name, "'"));
    }
    carried.push_back(c);
    is_entity[c] = 1;
  }
  auto column_list = [&] {
    std::string names;
    for (const std::string& name : table.names) {
      absl::StrAppend(&names, names.empty() ? "" : ", ", name);
    }
    return names;
  };

  // Which of the table's columns feed `s`'s champion (into `fed`): the model's inputs by
  // name, or, when it does not name them, the snapshot's feature columns in order.
  std::vector<int> fed;
  auto plan_inputs = [&](const Serving& s) -> absl::Status {
    fed.clear();
    if (s.plan.columns.empty()) {
      for (size_t c = 0; c < table.num_columns(); ++c) {
        if (!is_entity[c]) fed.push_back(static_cast<int>(c));
      }
      return absl::OkStatus();
    }
    std::string missing;
    int num_missing = 0;
    for (const std::string& input : s.plan.columns) {
      const int c = table.Find(input);
      if (c >= 0) {
        fed.push_back(c);
      } else {
        absl::StrAppend(&missing, num_missing++ == 0 ? "'" : ", '", input, "'");
      }
    }
    if (num_missing == 0) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "training_set: model ", ModelLabel(s.champion->model_name, s.champion->version),
        " reads ", num_missing == 1 ? "input " : "inputs ", missing,
        ", missing from training set '", ToAbsl(id), "' (its columns: ", column_list(),
        "); build the training set with ", num_missing == 1 ? "that feature" : "those features",
        ", or predict over a CSV file that has ", num_missing == 1 ? "it" : "them"));
  };
  std::shared_ptr<const Serving> current = d->Get();
  if (current == nullptr || current->champion == nullptr) {
    return absl::UnavailableError(absl::StrCat("endpoint '", ToAbsl(endpoint),
                                               "' has no model loaded: ", d->Error()));
  }
  CAIRN_RETURN_IF_ERROR(plan_inputs(*current));  // before the output is opened
  current.reset();

  std::ofstream out(tmp_output, std::ios::trunc);
  if (!out) {
    return absl::InvalidArgumentError(absl::StrCat("output: cannot write '", output_csv, "' (",
                                                   std::strerror(errno), ")"));
  }
  std::string text = "id,";
  for (int c : carried) {
    AppendCsvText(table.names[c], &text);
    text.push_back(',');
  }
  text.append("prediction\n");
  out << text;

  constexpr size_t kChunk = 1024;
  const size_t total = table.num_rows();
  PredictRequest request;
  PredictScratch scratch;
  std::string id_text;
  int64_t predicted = 0;
  for (size_t first = 0; first < total; first += kChunk) {
    // Each chunk uses the serving state of its time (a redeploy between chunks is seen).
    std::shared_ptr<const Serving> s = d->Get();
    if (s == nullptr || s->champion == nullptr) {
      return absl::UnavailableError(absl::StrCat("endpoint '", ToAbsl(endpoint),
                                                 "' has no model loaded: ", d->Error()));
    }
    const Runtime& champion = *s->champion;
    // The snapshot holds the features as of each row's time: the online store is not read.
    Serving offline = *s;
    offline.features.reset();
    CAIRN_RETURN_IF_ERROR(plan_inputs(*s));
    const size_t n = std::min(kChunk, total - first);
    request.Clear();
    request.rows = n;
    for (int c : fed) {
      PredictRequest::FeatureColumn& column = request.AddFeature(table.names[c]);
      column.values.reserve(n);
      const features::Column& source = table.columns[c];
      for (size_t r = first; r < first + n; ++r) column.values.push_back(source.Get(r));
    }
    const std::string rows_label =
        absl::StrCat("training set '", ToAbsl(id), "' (rows ", first, "–", first + n - 1, "): ");
    absl::Status built = BuildInput(offline, champion, s->plan, request, nullptr, &scratch,
                                    &scratch.input);
    if (!built.ok()) {
      return absl::Status(built.code(), absl::StrCat(rows_label, built.message()));
    }
    absl::StatusOr<std::vector<double>> predictions = champion.model->Predict(scratch.input);
    if (!predictions.ok()) {
      return absl::Status(predictions.status().code(),
                          absl::StrCat(rows_label, predictions.status().message()));
    }
    if (predictions->size() != n) {
      return absl::InternalError(absl::StrCat(
          rows_label, "model ", ModelLabel(champion.model_name, champion.version), " answered ",
          predictions->size(), " predictions for ", n, " rows"));
    }
    const uint64_t first_id = id_counter_.fetch_add(n, std::memory_order_relaxed);
    text.clear();
    for (size_t r = 0; r < n; ++r) {
      FormatId(id_prefix_, first_id + r, &id_text);
      text.append(id_text);
      text.push_back(',');
      for (int c : carried) {
        AppendCsvCell(table.columns[c], first + r, &text);
        text.push_back(',');
      }
      const double p = (*predictions)[r];
      if (std::isfinite(p)) AppendJsonDouble(p, &text);
      text.push_back('\n');
    }
    out << text;
    predicted += static_cast<int64_t>(n);
    d->rows.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  }
  CAIRN_RETURN_IF_ERROR(FinishBatchOutput(out, tmp_output, output_csv));
  return predicted;
}

}  // namespace cairn::serving
