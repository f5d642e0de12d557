#pragma once
// A pipeline as users write it (`kind: Pipeline`, DESIGN.md §8): typed parameters, steps
// with commands, inputs/outputs passed as artifacts, dependencies, resources, retries and
// caching, plus an optional cron schedule and event triggers. Parsed and validated by
// pipeline_yaml.h; versioned by pipeline_registry.h; run by pipeline_engine.h.
//
//   kind: Pipeline
//   name: churn-train
//   description: …            owner: …            tags: {team: growth}
//   executor: local           # default executor of its steps: local | slurm
//   params:
//     - {name: max_depth, type: int, default: 6}          # int | float | string | bool
//     - {name: data, type: string}                          # no default: required
//   steps:
//     - name: build
//       command: ["cairn", "demo", "step", "build", "--out", "{{outputs.train}}"]   # argv …
//       # script: |                                         # … or a shell script (sh -e)
//       env: {SEED: "{{params.seed}}"}
//       workdir: …               # default: the step's own directory under the run
//       inputs:  [{name: raw, path: /data/raw.csv}]        # an external file or directory
//       outputs: [{name: train, path: train.csv}]           # relative to the step's output dir
//     - name: train
//       inputs: [{name: train, from: build.train}]          # implies depends_on: [build]
//       depends_on: [other]                                  # explicit dependencies
//       resources: {cpus: 2, memory: 4Gi, gpus: 1, timeout: 30m}
//       retry: {attempts: 3, backoff: 1s, factor: 2, max_backoff: 1m, jitter: 0.1}
//       cache: true              # default true
//       executor: slurm          # overrides the pipeline's
//       partition: gpu           # Slurm only
//     - name: join
//       noop: true               # runs nothing: succeeds once its depends_on have
//       depends_on: [train]      # (a join / barrier point; only name, depends_on, cache)
//   schedule: {cron: "0 3 * * *", catchup: latest}          # none | latest | all (UTC)
//   triggers:
//     - {on: model_version_registered, match: {model: churn}, params: {reason: new-model}}
//     - {on: source_ingested, match: {source: events}}
//     - {on: alert, match: {monitor: churn-drift}}
//
// Templates: `{{params.NAME}}`, `{{inputs.NAME}}` (absolute path), `{{outputs.NAME}}`
// (absolute path), `{{run.id}}`, `{{step.name}}` may appear in command, script, env
// values and workdir. In command, env and workdir they are replaced by the value; in a
// script by the environment variable that holds it (`${CAIRN_PARAM_NAME}`), so a value
// is never parsed as shell code — write "{{params.NAME}}" in double quotes for one word. Steps also get CAIRN_PARAM_<NAME>, CAIRN_INPUT_<NAME>,
// CAIRN_OUTPUT_<NAME> (upper-cased), CAIRN_URL, MLFLOW_TRACKING_URI, MLFLOW_RUN_ID,
// CAIRN_PIPELINE_RUN_ID, CAIRN_STEP.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "compute/resources.h"
#include "pipelines/catchup.h"

namespace cairn::pipelines {

enum class ParamType { kString, kInt, kFloat, kBool };
std::string_view ParamTypeName(ParamType type);  // "string" | "int" | "float" | "bool"
// InvalidArgument naming the value and the accepted names.
absl::StatusOr<ParamType> ParseParamType(std::string_view name);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  std::optional<std::string> default_value;  // canonical text ("6", "0.1", "true", "x")
  std::string description;
  int line = 0;  // where it was written (messages); not part of the content hash
  bool operator==(const ParamSpec&) const = default;
};

struct RetryPolicy {
  int attempts = 1;              // total tries, >= 1
  int64_t backoff_ms = 1000;     // delay before the 2nd try
  double factor = 2.0;           // delay_n = min(backoff * factor^(n-1), max_backoff) ± jitter
  int64_t max_backoff_ms = 60'000;
  double jitter = 0.0;           // fraction in [0, 1]: the delay is scaled by 1 ± U(0, jitter)
  bool operator==(const RetryPolicy&) const = default;
};

struct InputSpec {
  std::string name;
  std::string from;  // "step.output" (an upstream output), or empty
  std::string path;  // an external file or directory (absolute or relative to the server's cwd), or empty
  bool operator==(const InputSpec&) const = default;
};

struct OutputSpec {
  std::string name;
  std::string path;  // relative to the step's output directory; a file or a directory
  bool operator==(const OutputSpec&) const = default;
};

struct StepSpec {
  std::string name;
  std::vector<std::string> command;  // argv; exactly one of command / script
  std::string script;
  std::map<std::string, std::string> env;
  std::string workdir;
  std::vector<InputSpec> inputs;
  std::vector<OutputSpec> outputs;
  std::vector<std::string> depends_on;  // explicit; implied ones are added by the DAG
  compute::Resources resources;
  RetryPolicy retry;
  bool cache = true;
  std::string executor;   // empty: the pipeline's
  std::string partition;  // Slurm partition; empty: chosen by resources
  // `noop: true`: runs nothing (no executor, job, step folder or attempt) and succeeds as
  // soon as its dependencies have; never cached. Only name, depends_on and cache may be set.
  bool noop = false;
  int line = 0;           // where it was written (messages); not part of the content hash
  bool operator==(const StepSpec&) const = default;
};

// Catchup, CatchupName and ParseCatchup: pipelines/catchup.h (shared with monitors).

struct ScheduleSpec {
  std::string cron;  // 5 fields, UTC; empty: no schedule
  Catchup catchup = Catchup::kLatest;
  bool operator==(const ScheduleSpec&) const = default;
};

struct TriggerSpec {
  std::string on;  // "alert" | "source_ingested" | "model_version_registered"
  std::map<std::string, std::string> match;   // event attribute → required value
  std::map<std::string, std::string> params;  // parameter overrides for the run
  int line = 0;  // where it was written (messages); not part of the content hash
  bool operator==(const TriggerSpec&) const = default;
};

struct PipelineSpec {
  std::string name;
  std::string description;
  std::string owner;
  std::map<std::string, std::string> tags;
  // Empty: "local", except that steps asking for GPUs go to the server's --gpu-executor.
  std::string executor;
  std::vector<ParamSpec> params;
  std::vector<StepSpec> steps;  // in file order
  ScheduleSpec schedule;
  std::vector<TriggerSpec> triggers;
  std::string file;  // where it was written (messages); not part of the content hash
  int line = 0;
  bool operator==(const PipelineSpec&) const = default;
};

}  // namespace cairn::pipelines
