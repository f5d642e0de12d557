#include "api/pipeline_handlers.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/apply_changes.h"
#include "api/compute_handlers.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "common/status.h"
#include "common/strings.h"
#include "pipelines/pipeline_engine.h"
#include "pipelines/pipeline_json.h"
#include "pipelines/pipeline_registry.h"
#include "pipelines/pipeline_spec.h"
#include "pipelines/pipeline_validation.h"
#include "pipelines/pipeline_yaml.h"

namespace cairn::api {
namespace {

using pipelines::PipelineEngine;
using pipelines::PipelineRegistry;
using pipelines::PipelineVersion;
using pipelines::RunRecord;

constexpr int64_t kMaxWaitMs = 30'000;
constexpr int64_t kMaxFollowMs = 20'000;
constexpr int64_t kFollowPollMs = 50;
constexpr int64_t kDefaultLogBytes = 1 << 20;
constexpr int64_t kMaxLogBytes = 16 << 20;
// A followed (streamed) log is read and sent in pieces of at most this size.
constexpr int64_t kLogStreamPieceBytes = 64 << 10;

HttpResponse Error(const absl::Status& status) {
  return ErrorResponse(status, ErrorDialect::kCairn);
}

std::string Shown(const Json& value) {
  std::string text = value.is_string() ? value.get<std::string>() : DumpJson(value);
  if (text.size() > 100) text = text.substr(0, 100) + "...";
  return text;
}

absl::StatusOr<bool> BoolField(const Json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return false;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string() && (*it == "true" || *it == "false")) return *it == "true";
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": must be true or false, got ", Shown(*it)));
}

// An integer field of a body or query (numbers given as text accepted), within [lo, hi].
absl::StatusOr<std::optional<int64_t>> IntField(const Json& fields, const char* name,
                                                int64_t lo, int64_t hi) {
  auto it = fields.find(name);
  if (it == fields.end() || it->is_null()) return std::optional<int64_t>();
  int64_t value = 0;
  bool ok = false;
  if (it->is_number_integer()) {
    value = it->get<int64_t>();
    ok = true;
  } else if (it->is_string()) {
    ok = absl::SimpleAtoi(it->get<std::string>(), &value);
  }
  if (!ok || value < lo || value > hi) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": must be an integer from ", lo,
                                                   " to ", hi, ", got ", Shown(*it)));
  }
  return std::optional<int64_t>(value);
}

absl::StatusOr<int64_t> VersionParam(const HttpRequest& request, const char* key) {
  const std::string* text = request.PathParam(key);
  int64_t version = 0;
  if (text == nullptr || !absl::SimpleAtoi(*text, &version) || version < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "version: '", text == nullptr ? "" : *text, "' is not a version number (1, 2, 3…)"));
  }
  return version;
}

Json Summary(const PipelineVersion& v) {
  Json steps = Json::array();
  for (const pipelines::StepSpec& step : v.spec.steps) steps.push_back(step.name);
  return Json{{"name", v.name},
              {"version", v.version},
              {"content_hash", v.content_hash},
              {"description", v.spec.description},
              {"owner", v.spec.owner},
              {"steps", std::move(steps)},
              {"schedule", v.spec.schedule.cron.empty() ? Json() : Json(v.spec.schedule.cron)},
              {"created_ms", v.created_ms},
              {"removed", v.removed}};
}

Json Detail(const PipelineVersion& v) {
  Json item = Summary(v);
  item["spec"] = pipelines::PipelineToJson(v.spec);
  return item;
}

Json AttemptToJson(const pipelines::AttemptRecord& a) {
  return Json{{"attempt", a.attempt},
              {"state", std::string(compute::JobStateName(a.state))},
              {"reason", std::string(compute::FailureReasonName(a.reason))},
              {"exit_code", a.exit_code ? Json(*a.exit_code) : Json()},
              {"signal", a.signal ? Json(*a.signal) : Json()},
              {"message", a.message},
              {"executor", a.executor},
              {"job_id", a.job_id},
              {"host", a.host},
              {"resources", ResourcesToJson(a.resources)},
              {"gpus", a.gpus},
              {"queued_ms", a.queued_ms},
              {"started_ms", a.started_ms},
              {"ended_ms", a.ended_ms}};
}

Json StepToJson(const pipelines::StepRecord& s) {
  Json attempts = Json::array();
  for (const pipelines::AttemptRecord& a : s.attempts) attempts.push_back(AttemptToJson(a));
  return Json{{"name", s.name},
              {"state", std::string(pipelines::StepStateName(s.state))},
              {"message", s.message},
              {"log_tail", s.log_tail},
              {"cache_key", s.cache_key},
              {"cached_from", s.cached_from},
              {"tracking_run_id", s.tracking_run_id},
              {"outputs", s.outputs},
              {"input_hashes", s.input_hashes},
              {"started_ms", s.started_ms},
              {"ended_ms", s.ended_ms},
              {"attempts", std::move(attempts)}};
}

HttpResponse RunResponse(const RunRecord& run) {
  return JsonResponse(DumpJson(Json{{"run", RunToJson(run)}}));
}

// ---------------------------------------------------------------------------------------
// Definitions.

absl::StatusOr<std::vector<pipelines::PipelineSpec>> ParseFiles(const PipelineApi& api,
                                                                const Json& body) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<ApplyFile> files, ApplyFiles(body));
  std::vector<pipelines::PipelineSpec> specs;
  for (const ApplyFile& file : files) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<pipelines::PipelineSpec> parsed,
                           pipelines::ParsePipelinesYaml(file.content, file.path));
    for (pipelines::PipelineSpec& spec : parsed) specs.push_back(std::move(spec));
  }
  CAIRN_RETURN_IF_ERROR(pipelines::ValidatePipelines(specs, api.validation));
  if (api.check_resources) {
    for (const pipelines::PipelineSpec& spec : specs) {
      for (const pipelines::StepSpec& step : spec.steps) {
        if (step.noop) continue;  // runs nothing, on no executor
        absl::Status fits = api.check_resources(spec, step);
        if (fits.ok()) continue;
        if (absl::IsUnavailable(fits)) {  // e.g. slurmctld unreachable: retry later, not a bad file
          return absl::UnavailableError(absl::StrCat(
              spec.file, ":", step.line, ": pipeline ", spec.name, ": step ", step.name,
              ": cannot check its resources now: ", fits.message()));
        }
        return absl::InvalidArgumentError(absl::StrCat(
            spec.file, ":", step.line, ": pipeline ", spec.name, ": step ", step.name,
            ": field 'resources': value '", compute::FormatResources(step.resources),
            "' cannot run here: ", fits.message(),
            "; ask for less, or send the step to an executor that has it (executor: NAME)"));
      }
    }
  }
  return specs;
}

HttpResponse Apply(const PipelineApi& api, const HttpRequest& request) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  absl::StatusOr<bool> dry_run = BoolField(*body, "dry_run");
  if (!dry_run.ok()) return Error(dry_run.status());
  absl::StatusOr<bool> prune = BoolField(*body, "prune");
  if (!prune.ok()) return Error(prune.status());
  absl::StatusOr<std::vector<pipelines::PipelineSpec>> specs = ParseFiles(api, *body);
  if (!specs.ok()) return Error(specs.status());
  absl::StatusOr<std::vector<pipelines::PipelineChange>> plan =
      api.registry->Apply(*specs, *dry_run, *prune);
  if (!plan.ok()) return Error(plan.status());
  Json reply = ApplyChangesReply("Pipeline", *plan, *specs, *dry_run);
  if (reply.at("applied").get<bool>() && api.on_applied) api.on_applied();
  return JsonResponse(DumpJson(reply));
}

HttpResponse List(const PipelineApi& api) {
  auto list = api.registry->List();
  if (!list.ok()) return Error(list.status());
  Json items = Json::array();
  for (const PipelineVersion& v : *list) items.push_back(Summary(v));
  return JsonResponse(DumpJson(Json{{"pipelines", std::move(items)}}));
}

HttpResponse Get(const PipelineApi& api, const HttpRequest& request, bool with_version) {
  std::optional<int64_t> version;
  if (with_version) {
    absl::StatusOr<int64_t> v = VersionParam(request, "version");
    if (!v.ok()) return Error(v.status());
    version = *v;
  }
  auto pipeline = api.registry->Get(*request.PathParam("name"), version);
  if (!pipeline.ok()) return Error(pipeline.status());
  return JsonResponse(DumpJson(Json{{"pipeline", Detail(*pipeline)}}));
}

HttpResponse Versions(const PipelineApi& api, const HttpRequest& request) {
  auto versions = api.registry->Versions(*request.PathParam("name"));
  if (!versions.ok()) return Error(versions.status());
  Json items = Json::array();
  for (const PipelineVersion& v : *versions) items.push_back(Summary(v));
  return JsonResponse(DumpJson(Json{{"versions", std::move(items)}}));
}

HttpResponse Diff(const PipelineApi& api, const HttpRequest& request) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status());
  int64_t v[2] = {0, 0};
  const char* names[2] = {"v1", "v2"};
  for (int i = 0; i < 2; ++i) {
    auto value = IntField(*fields, names[i], 1, INT64_MAX);
    if (!value.ok()) return Error(value.status());
    if (!value->has_value()) {
      return Error(absl::InvalidArgumentError(absl::StrCat(
          names[i], ": missing; give the two versions to compare (?v1=1&v2=2)")));
    }
    v[i] = **value;
  }
  const std::string& name = *request.PathParam("name");
  auto diffs = api.registry->Diff(name, v[0], v[1]);
  if (!diffs.ok()) return Error(diffs.status());
  return JsonResponse(
      DumpJson(Json{{"name", name}, {"v1", v[0]}, {"v2", v[1]}, {"diffs", *diffs}}));
}

// ---------------------------------------------------------------------------------------
// Runs.

absl::StatusOr<std::string> ParamText(const std::string& name, const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return std::string(value.get<bool>() ? "true" : "false");
  if (value.is_number()) return DumpJson(value);
  return absl::InvalidArgumentError(absl::StrCat(
      "params.", name, ": must be a string, number or boolean, got ", Shown(value)));
}

// The run after waiting at most `wait_ms` for it to end (0: no wait).
// The run once it has ended or `wait_ms` has passed. A short run is waited for on the
// worker (its end is answered at once); past kBlockingWaitMs the answer becomes a
// streamed response whose producer looks at the run between the server's idle pauses, so
// a client waiting for a long run holds no worker thread (the pool is small: a few
// `cairn pipelines run --wait` must not starve the API). The body is the same JSON.
constexpr int64_t kBlockingWaitMs = 1'000;

HttpResponse WaitResponse(PipelineEngine& engine, const std::string& run_id, int64_t wait_ms) {
  const int64_t blocking = std::min(wait_ms, kBlockingWaitMs);
  absl::StatusOr<RunRecord> run = engine.WaitForRun(run_id, blocking);
  if (run.ok()) return RunResponse(*run);
  if (run.status().code() != absl::StatusCode::kDeadlineExceeded) return Error(run.status());
  if (wait_ms <= blocking) {
    run = engine.GetRun(run_id);
    return run.ok() ? RunResponse(*run) : Error(run.status());
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms - blocking);
  HttpResponse response = JsonResponse("");
  response.stream = [&engine, run_id, deadline](std::string* chunk) -> absl::StatusOr<bool> {
    // A zero-timeout wait answers "still active" without copying the run's record (a
    // 1,000-step run's copy every poll was ~12 % of the server's CPU during a fan-out).
    absl::StatusOr<RunRecord> done = engine.WaitForRun(run_id, 0);
    if (!done.ok() && done.status().code() != absl::StatusCode::kDeadlineExceeded) {
      return done.status();
    }
    if (!done.ok()) {
      if (std::chrono::steady_clock::now() < deadline) {
        return true;  // nothing yet: asked again after the server's idle pause
      }
      done = engine.GetRun(run_id);  // the wait's deadline: the run as it is now
      if (!done.ok()) return done.status();
    }
    *chunk = DumpJson(Json{{"run", RunToJson(*done)}});
    return false;
  };
  return response;
}

HttpResponse StartRun(const PipelineApi& api, const HttpRequest& request) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  pipelines::StartRunRequest start;
  start.pipeline = *request.PathParam("name");
  auto params = body->find("params");
  if (params != body->end() && !params->is_null()) {
    if (!params->is_object()) {
      return Error(absl::InvalidArgumentError(absl::StrCat(
          "params: must be an object of parameter values ({\"max_depth\": 6}), got ",
          Shown(*params))));
    }
    for (const auto& [name, value] : params->items()) {
      absl::StatusOr<std::string> text = ParamText(name, value);
      if (!text.ok()) return Error(text.status());
      start.params[name] = *text;
    }
  }
  auto version = IntField(*body, "version", 1, INT64_MAX);
  if (!version.ok()) return Error(version.status());
  start.version = *version;
  absl::StatusOr<bool> no_cache = BoolField(*body, "no_cache");
  if (!no_cache.ok()) return Error(no_cache.status());
  start.no_cache = *no_cache;
  auto wait_ms = IntField(*body, "wait_ms", 0, kMaxWaitMs);
  if (!wait_ms.ok()) return Error(wait_ms.status());
  // A pipeline removed by `apply --prune` keeps its versions readable but starts no runs.
  absl::StatusOr<pipelines::PipelineVersion> pipeline =
      api.registry->Get(start.pipeline, start.version);
  if (!pipeline.ok()) return Error(pipeline.status());
  if (pipeline->removed) {
    return Error(absl::FailedPreconditionError(absl::StrCat(
        "pipeline '", start.pipeline, "' was removed (apply --prune); apply its definition "
        "again to run it")));
  }
  absl::StatusOr<RunRecord> run = api.engine->StartRun(start);
  if (!run.ok()) return Error(run.status());
  if (wait_ms->value_or(0) == 0) return RunResponse(*run);
  return WaitResponse(*api.engine, run->id, **wait_ms);
}

HttpResponse ListRuns(const PipelineApi& api, const HttpRequest& request) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status());
  pipelines::ListRunsRequest list;
  auto pipeline = OptionalString(*fields, "pipeline");
  if (!pipeline.ok()) return Error(pipeline.status());
  list.pipeline = pipeline->value_or("");
  auto state = OptionalString(*fields, "state");
  if (!state.ok()) return Error(state.status());
  if (state->has_value() && !(*state)->empty()) {
    pipelines::RunState parsed;
    if (!pipelines::ParseRunState(**state, &parsed)) {
      return Error(absl::InvalidArgumentError(absl::StrCat(
          "state: '", **state,
          "' is not a run state; use queued, running, succeeded, failed or cancelled")));
    }
    list.state = parsed;
  }
  auto limit = IntField(*fields, "limit", 1, 1000);
  if (!limit.ok()) return Error(limit.status());
  list.limit = static_cast<int>(limit->value_or(50));
  auto token = OptionalString(*fields, "page_token");
  if (!token.ok()) return Error(token.status());
  list.page_token = token->value_or("");
  auto result = api.engine->ListRuns(list);
  if (!result.ok()) return Error(result.status());
  Json runs = Json::array();
  for (const RunRecord& run : result->runs) runs.push_back(RunToJson(run));
  return JsonResponse(DumpJson(
      Json{{"runs", std::move(runs)}, {"next_page_token", result->next_page_token}}));
}

HttpResponse GetRun(const PipelineApi& api, const HttpRequest& request) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status());
  auto wait_ms = IntField(*fields, "wait_ms", 0, kMaxWaitMs);
  if (!wait_ms.ok()) return Error(wait_ms.status());
  if (wait_ms->value_or(0) == 0) {
    auto run = api.engine->GetRun(*request.PathParam("id"));
    if (!run.ok()) return Error(run.status());
    return RunResponse(*run);
  }
  return WaitResponse(*api.engine, *request.PathParam("id"), **wait_ms);
}

HttpResponse CancelRun(const PipelineApi& api, const HttpRequest& request) {
  const std::string& id = *request.PathParam("id");
  absl::Status cancelled = api.engine->CancelRun(id);
  if (!cancelled.ok()) return Error(cancelled);
  auto run = api.engine->GetRun(id);
  if (!run.ok()) return Error(run.status());
  return RunResponse(*run);
}

// The number of the step's latest attempt (0 while it has none yet), and whether the step
// has ended with none (it will never have one: skipped, cancelled before it started).
absl::StatusOr<std::pair<int, bool>> LatestAttempt(PipelineEngine& engine,
                                                   const std::string& run_id,
                                                   const std::string& step) {
  CAIRN_ASSIGN_OR_RETURN(RunRecord run, engine.GetRun(run_id));
  for (const pipelines::StepRecord& record : run.steps) {
    if (record.name != step) continue;
    const int count = static_cast<int>(record.attempts.size());
    return std::make_pair(count, count == 0 && pipelines::IsTerminal(record.state));
  }
  return std::make_pair(0, false);  // ReadLog names the missing step
}

// follow=true&format=text: the log as a chunked stream from `offset`, a piece as soon as
// it is written (the server asks again every kStreamIdlePauseMs while nothing is new),
// until the attempt ends and everything is sent. Attempt 0 (the latest) is pinned to the
// step's latest attempt once it has one, so a retry starting meanwhile does not switch
// files under the offset.
HttpResponse FollowLog(PipelineEngine* engine, std::string run_id, std::string step,
                       int attempt, int64_t offset) {
  // Unknown run, step or attempt: an error status now, not a truncated stream.
  bool done = false;
  absl::StatusOr<std::string> first = engine->ReadLog(run_id, step, attempt, offset, 0, &done);
  if (!first.ok()) return Error(first.status());
  HttpResponse response;
  response.content_type = "text/plain; charset=utf-8";
  response.headers.emplace_back("X-Cairn-Log-Offset", absl::StrCat(offset));
  response.stream = [engine, run_id = std::move(run_id), step = std::move(step), attempt,
                     offset](std::string* chunk) mutable -> absl::StatusOr<bool> {
    if (attempt == 0) {
      absl::StatusOr<std::pair<int, bool>> latest = LatestAttempt(*engine, run_id, step);
      if (!latest.ok()) return latest.status();
      if (latest->second) return false;   // ended without ever running
      if (latest->first == 0) return true;  // not started yet
      attempt = latest->first;
    }
    bool ended = false;
    absl::StatusOr<std::string> text =
        engine->ReadLog(run_id, step, attempt, offset, kLogStreamPieceBytes, &ended);
    if (!text.ok()) return text.status();
    offset += static_cast<int64_t>(text->size());
    *chunk = std::move(*text);
    return !ended;  // `ended`: the attempt is over and this piece reaches the end
  };
  return response;
}

HttpResponse Logs(const PipelineApi& api, const HttpRequest& request) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status());
  auto attempt = IntField(*fields, "attempt", 0, 1'000'000);
  if (!attempt.ok()) return Error(attempt.status());
  auto offset = IntField(*fields, "offset", 0, INT64_MAX);
  if (!offset.ok()) return Error(offset.status());
  auto max_bytes = IntField(*fields, "max_bytes", 1, kMaxLogBytes);
  if (!max_bytes.ok()) return Error(max_bytes.status());
  absl::StatusOr<bool> follow = BoolField(*fields, "follow");
  if (!follow.ok()) return Error(follow.status());
  auto format = OptionalString(*fields, "format");
  if (!format.ok()) return Error(format.status());
  const std::string fmt = format->value_or("text");
  if (fmt != "text" && fmt != "json") {
    return Error(absl::InvalidArgumentError(
        absl::StrCat("format: '", fmt, "' is not a log format; use text or json")));
  }
  const std::string& run_id = *request.PathParam("id");
  const std::string& step = *request.PathParam("step");
  const int64_t from = offset->value_or(0);
  const int64_t limit = max_bytes->value_or(kDefaultLogBytes);
  if (*follow && fmt == "text") {
    return FollowLog(api.engine, run_id, step, static_cast<int>(attempt->value_or(0)), from);
  }
  bool done = false;
  absl::StatusOr<std::string> text = api.engine->ReadLog(
      run_id, step, static_cast<int>(attempt->value_or(0)), from, limit, &done);
  if (*follow) {
    // format=json (clients that track offsets: the CLI, the SDK): long poll until there is something new or the attempt ends (or the cap passes).
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kMaxFollowMs);
    while (text.ok() && text->empty() && !done &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kFollowPollMs));
      text = api.engine->ReadLog(run_id, step, static_cast<int>(attempt->value_or(0)), from,
                                 limit, &done);
    }
  }
  if (!text.ok()) return Error(text.status());
  const int64_t next = from + static_cast<int64_t>(text->size());
  // Done only once the reader has everything: a full page may leave text behind.
  const bool at_end = done && static_cast<int64_t>(text->size()) < limit;
  if (fmt == "json") {
    HttpResponse response = JsonResponse(DumpJson(
        Json{{"text", *text}, {"offset", from}, {"next_offset", next}, {"done", at_end}}));
    return response;
  }
  HttpResponse response;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(*text);
  response.headers.emplace_back("X-Cairn-Log-Offset", absl::StrCat(next));
  response.headers.emplace_back("X-Cairn-Log-Done", at_end ? "true" : "false");
  return response;
}

}  // namespace

Json RunToJson(const RunRecord& run) {
  Json out = {{"id", run.id},
              {"pipeline", run.pipeline},
              {"version", run.version},
              {"params", run.params},
              {"trigger", run.trigger},
              {"trigger_detail", run.trigger_detail},
              {"state", std::string(pipelines::RunStateName(run.state))},
              {"message", run.message},
              {"tracking_run_id", run.tracking_run_id},
              {"no_cache", run.no_cache},
              {"created_ms", run.created_ms},
              {"started_ms", run.started_ms},
              {"ended_ms", run.ended_ms}};
  if (!run.steps.empty()) {
    Json steps = Json::array();
    for (const pipelines::StepRecord& step : run.steps) steps.push_back(StepToJson(step));
    out["steps"] = std::move(steps);
  }
  return out;
}

void RegisterPipelineRoutes(Router& router, const PipelineApi& api) {
  // Handlers keep their own copy of the (small) struct.
  auto a = std::make_shared<PipelineApi>(api);
  router.Add("POST", "/api/v1/pipelines/apply",
             [a](const HttpRequest& request) { return Apply(*a, request); });
  router.Add("GET", "/api/v1/pipelines", [a](const HttpRequest&) { return List(*a); });
  router.Add("GET", "/api/v1/pipelines/{name}",
             [a](const HttpRequest& request) { return Get(*a, request, false); });
  router.Add("GET", "/api/v1/pipelines/{name}/versions",
             [a](const HttpRequest& request) { return Versions(*a, request); });
  router.Add("GET", "/api/v1/pipelines/{name}/versions/{version}",
             [a](const HttpRequest& request) { return Get(*a, request, true); });
  router.Add("GET", "/api/v1/pipelines/{name}/diff",
             [a](const HttpRequest& request) { return Diff(*a, request); });
  router.Add("POST", "/api/v1/pipelines/{name}/runs",
             [a](const HttpRequest& request) { return StartRun(*a, request); });
  router.Add("GET", "/api/v1/pipeline-runs",
             [a](const HttpRequest& request) { return ListRuns(*a, request); });
  router.Add("GET", "/api/v1/pipeline-runs/{id}",
             [a](const HttpRequest& request) { return GetRun(*a, request); });
  router.Add("POST", "/api/v1/pipeline-runs/{id}/cancel",
             [a](const HttpRequest& request) { return CancelRun(*a, request); });
  router.Add("GET", "/api/v1/pipeline-runs/{id}/steps/{step}/logs",
             [a](const HttpRequest& request) { return Logs(*a, request); });
}

}  // namespace cairn::api
