#pragma once
// What a pipeline run looks like once started: runs, their steps and every attempt of a
// step (DESIGN.md §5 "pipelines"). Stored by run_store.h, returned by the engine, shown
// by the API and the CLI.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compute/executor.h"

namespace cairn::pipelines {

enum class RunState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
enum class StepState { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kSkipped, kCached };
// "queued", "running", "succeeded", "failed", "cancelled", "skipped", "cached".
std::string_view RunStateName(RunState state);
std::string_view StepStateName(StepState state);
bool ParseRunState(std::string_view text, RunState* state);
bool ParseStepState(std::string_view text, StepState* state);
// True for every state but queued and running.
bool IsTerminal(RunState state);
bool IsTerminal(StepState state);

struct AttemptRecord {
  int attempt = 1;  // 1-based
  compute::JobState state = compute::JobState::kQueued;
  compute::FailureReason reason = compute::FailureReason::kNone;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string message;
  std::string executor;  // "local" | "slurm"
  std::string job_id;
  std::string host;
  compute::Resources resources;
  std::vector<int> gpus;
  int64_t queued_ms = 0, started_ms = 0, ended_ms = 0;
  std::string log_path;
};

struct StepRecord {
  std::string name;
  StepState state = StepState::kQueued;
  std::vector<AttemptRecord> attempts;
  std::string cache_key;       // hex SHA-256; empty until computed
  std::string cached_from;     // run id whose outputs were reused (state kCached)
  std::string tracking_run_id; // the child tracking run
  std::map<std::string, std::string> outputs;       // output name → absolute path
  std::map<std::string, std::string> input_hashes;  // input name → content hash
  std::string message;  // why it failed / was skipped ("upstream step 'build' failed")
  std::string log_tail; // last lines of the log when it failed
  int64_t started_ms = 0, ended_ms = 0;
};

struct RunRecord {
  std::string id;
  std::string pipeline;
  int64_t version = 0;
  std::map<std::string, std::string> params;  // resolved (defaults + overrides)
  std::string trigger;  // "manual" | "schedule" | "event:<type>"
  std::string trigger_detail;  // schedule time, event JSON
  RunState state = RunState::kQueued;
  std::string message;  // "step 'train' failed after 3 attempts: exited with code 1\n<last log lines>"
  std::string tracking_run_id;
  bool no_cache = false;
  int64_t created_ms = 0, started_ms = 0, ended_ms = 0;
  std::vector<StepRecord> steps;  // in DAG (topological) order; empty in list results
};

}  // namespace cairn::pipelines
