#include "pipelines/engine_tracking.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "common/log.h"
#include "storage/artifact_store.h"
#include "tracking/run_ends.h"
#include "tracking/tracking_store.h"

namespace cairn::pipelines {
namespace {

namespace fs = std::filesystem;

void Warn(std::string_view what, const absl::Status& status) {
  Log(LogLevel::kWarning, absl::StrCat("pipelines: tracking: ", std::string(what), ": ",
                                       std::string(status.message())));
}

// Hard-links `from` (a file or a directory tree) to `to`; copies where linking fails
// (another file system).
void LinkTree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (fs::is_directory(from, ec)) {
    fs::create_directories(to, ec);
    for (const fs::directory_entry& entry : fs::directory_iterator(from, ec))
      LinkTree(entry.path(), to / entry.path().filename());
    return;
  }
  fs::create_directories(to.parent_path(), ec);
  fs::remove(to, ec);
  fs::create_hard_link(from, to, ec);
  if (ec) fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
}

std::string StatusOf(StepState state) {
  switch (state) {
    case StepState::kSucceeded:
    case StepState::kCached: return "FINISHED";
    case StepState::kCancelled:
    case StepState::kSkipped: return "KILLED";
    default: return "FAILED";
  }
}

}  // namespace

std::string EngineTracking::ExperimentFor(const std::string& pipeline) {
  auto it = experiments_.find(pipeline);
  if (it != experiments_.end()) return it->second;
  std::string name = absl::StrCat("pipelines/", pipeline);
  absl::StatusOr<tracking::Experiment> experiment = store_->GetExperimentByName(name);
  std::string id;
  if (experiment.ok()) {
    id = experiment->experiment_id;
    if (experiment->lifecycle_stage != "active") store_->RestoreExperiment(id).IgnoreError();
  } else {
    absl::StatusOr<std::string> created = store_->CreateExperiment(name, "", {});
    if (!created.ok() && created.status().code() == absl::StatusCode::kAlreadyExists) {
      experiment = store_->GetExperimentByName(name);
      if (experiment.ok()) created = experiment->experiment_id;
    }
    if (!created.ok()) {
      Warn(absl::StrCat("experiment ", name), created.status());
      return "";
    }
    id = *created;
  }
  experiments_[pipeline] = id;
  return id;
}

std::string EngineTracking::StartPipelineRun(const RunRecord& run) {
  if (store_ == nullptr) return "";
  std::string experiment = ExperimentFor(run.pipeline);
  if (experiment.empty()) return "";
  tracking::CreateRunRequest request;
  request.experiment_id = experiment;
  request.user_id = "cairn";
  request.run_name = absl::StrCat(run.pipeline, "-", run.id.substr(0, 8));
  request.start_time = run.started_ms ? run.started_ms : run.created_ms;
  request.tags = {{"cairn.pipeline.name", run.pipeline},
                  {"cairn.pipeline.version", absl::StrCat(run.version)},
                  {"cairn.pipeline.trigger", run.trigger},
                  {"cairn.pipeline.run_id", run.id}};
  absl::StatusOr<tracking::Run> created = store_->CreateRun(request);
  if (!created.ok()) {
    Warn("parent run", created.status());
    return "";
  }
  std::string id = created->info.run_id;
  std::vector<tracking::Param> params;
  for (const auto& [key, value] : run.params) params.push_back({key, value});
  for (size_t begin = 0; begin < params.size(); begin += 100) {
    std::vector<tracking::Param> chunk(params.begin() + begin,
                                       params.begin() + std::min(params.size(), begin + 100));
    if (absl::Status status = store_->LogBatch(id, {}, chunk, {}); !status.ok())
      Warn("parent run params", status);
  }
  return id;
}

tracking::CreateRunRequest EngineTracking::StepRunRequest(const std::string& experiment,
                                                          const RunRecord& run,
                                                          const StepRecord& step) {
  tracking::CreateRunRequest request;
  request.experiment_id = experiment;
  request.user_id = "cairn";
  request.run_name = step.name;
  request.tags = {{"mlflow.parentRunId", run.tracking_run_id},
                  {"cairn.step", step.name},
                  {"cairn.pipeline.name", run.pipeline},
                  {"cairn.pipeline.version", absl::StrCat(run.version)},
                  {"cairn.pipeline.run_id", run.id},
                  {"cairn.input_hashes", DumpJson(Json(step.input_hashes))},
                  {"cairn.cache_key", step.cache_key}};
  if (!step.cached_from.empty()) request.tags.push_back({"cairn.cached_from", step.cached_from});
  return request;
}

std::string EngineTracking::StartStepRun(const RunRecord& run, const StepRecord& step) {
  if (store_ == nullptr || run.tracking_run_id.empty()) return "";
  std::string experiment = ExperimentFor(run.pipeline);
  if (experiment.empty()) return "";
  absl::StatusOr<tracking::Run> created = store_->CreateRun(StepRunRequest(experiment, run, step));
  if (!created.ok()) {
    Warn(absl::StrCat("child run of step ", step.name), created.status());
    return "";
  }
  return created->info.run_id;
}

void EngineTracking::StartStepRuns(const RunRecord& run, const std::vector<StepRecord*>& steps) {
  for (StepRecord* step : steps) step->tracking_run_id.clear();
  if (store_ == nullptr || run.tracking_run_id.empty() || steps.empty()) return;
  std::string experiment = ExperimentFor(run.pipeline);
  if (experiment.empty()) return;
  std::vector<tracking::CreateRunRequest> requests;
  requests.reserve(steps.size());
  for (const StepRecord* step : steps) requests.push_back(StepRunRequest(experiment, run, *step));
  absl::StatusOr<std::vector<absl::StatusOr<tracking::Run>>> created =
      store_->CreateRuns(requests);
  if (!created.ok()) {
    Warn(absl::StrCat("child runs of ", steps.size(), " steps"), created.status());
    return;
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    const absl::StatusOr<tracking::Run>& one = (*created)[i];
    if (one.ok()) {
      steps[i]->tracking_run_id = one->info.run_id;
    } else {
      Warn(absl::StrCat("child run of step ", steps[i]->name), one.status());
    }
  }
}

void EngineTracking::EndStepRun(const StepRecord& step) {
  if (store_ == nullptr || step.tracking_run_id.empty()) return;
  std::string status = StatusOf(step.state);
  pending_.push_back(PendingEnd{
      .tracking_run_id = step.tracking_run_id,
      .status = status,
      .end_ms = step.ended_ms,
      .outputs = status == "FINISHED" ? step.outputs : std::map<std::string, std::string>{},
      .pipeline = false});
}

void EngineTracking::EndPipelineRun(const RunRecord& run) {
  if (store_ == nullptr || run.tracking_run_id.empty()) return;
  std::string status = run.state == RunState::kSucceeded   ? "FINISHED"
                       : run.state == RunState::kCancelled ? "KILLED"
                                                           : "FAILED";
  pending_.push_back(PendingEnd{.tracking_run_id = run.tracking_run_id,
                                .status = status,
                                .end_ms = run.ended_ms,
                                .outputs = {},
                                .pipeline = true});
}

void EngineTracking::Flush() {
  if (pending_.empty()) return;
  LinkOutputs();
  std::vector<tracking::RunEnd> ends;
  ends.reserve(pending_.size());
  for (const PendingEnd& end : pending_)
    ends.push_back(tracking::RunEnd{end.tracking_run_id, end.status, end.end_ms});
  std::vector<PendingEnd> pending;
  pending.swap(pending_);
  absl::StatusOr<std::vector<absl::Status>> ended = store_->EndRuns(ends);
  if (!ended.ok()) return Warn(absl::StrCat("end of ", ends.size(), " runs"), ended.status());
  for (size_t i = 0; i < pending.size(); ++i) {
    if (!(*ended)[i].ok())
      Warn(pending[i].pipeline ? "end of a pipeline run" : "end of a step run", (*ended)[i]);
  }
}

bool EngineTracking::SharesDatabase(const storage::Database& db) const {
  return store_ != nullptr && &store_->database() == &db;
}

void EngineTracking::LinkOutputs() {
  for (PendingEnd& end : pending_) {
    if (end.outputs.empty()) continue;
    LinkOutputs(end.tracking_run_id, end.outputs);
    end.outputs.clear();  // linked once, even when the ends are written later
  }
}

absl::Status EngineTracking::WriteEnds(storage::SqlSession& session) {
  if (pending_.empty()) return absl::OkStatus();
  std::vector<tracking::RunEnd> ends;
  ends.reserve(pending_.size());
  for (const PendingEnd& end : pending_)
    ends.push_back(tracking::RunEnd{end.tracking_run_id, end.status, end.end_ms});
  absl::StatusOr<std::vector<absl::Status>> ended = tracking::EndRunsIn(session, ends);
  if (!ended.ok()) return ended.status();
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (!(*ended)[i].ok())
      Warn(pending_[i].pipeline ? "end of a pipeline run" : "end of a step run", (*ended)[i]);
  }
  return absl::OkStatus();
}

void EngineTracking::EndsWritten(bool committed) {
  if (committed) pending_.clear();
}

void EngineTracking::LinkOutputs(const std::string& tracking_run_id,
                                 const std::map<std::string, std::string>& outputs) {
  if (artifacts_ == nullptr || outputs.empty()) return;
  absl::StatusOr<tracking::RunInfo> info = store_->GetRunInfo(tracking_run_id);
  if (!info.ok()) return Warn("artifact location", info.status());
  absl::StatusOr<std::string> relative = storage::ArtifactStore::RelativePathOfUri(info->artifact_uri);
  if (!relative.ok()) return Warn("artifact location", relative.status());
  absl::StatusOr<std::string> root = artifacts_->Resolve(*relative);
  if (!root.ok()) return Warn("artifact location", root.status());
  // A file lands at outputs/<name>/<its file name>, a directory's contents under outputs/<name>/.
  for (const auto& [name, path] : outputs) {
    std::error_code ec;
    fs::path target = fs::path(*root) / "outputs" / name;
    if (!fs::is_directory(path, ec)) target /= fs::path(path).filename();
    LinkTree(path, target);
  }
}

}  // namespace cairn::pipelines
