#pragma once
// What a step runs with (pipeline_spec.h "Templates"): the run's typed parameters, the
// rendering of {{params.X}}, {{inputs.X}}, {{outputs.X}}, {{run.id}} and {{step.name}}
// in commands, scripts, env values and workdirs, and the environment every step gets
// (CAIRN_PARAM_*, CAIRN_INPUT_*, CAIRN_OUTPUT_*, CAIRN_URL, MLFLOW_TRACKING_URI,
// MLFLOW_RUN_ID, CAIRN_PIPELINE_RUN_ID, CAIRN_STEP). Pure functions; thread-safe.

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "compute/executor.h"
#include "pipelines/pipeline_spec.h"

namespace cairn::pipelines {

// Defaults plus `overrides`, each checked against its declared type and written in
// canonical text ("6", "0.5", "true"). InvalidArgument naming the parameter and value for
// an unknown name, a value of the wrong type or a required parameter left out.
absl::StatusOr<std::map<std::string, std::string>> ResolveParams(
    const PipelineSpec& spec, const std::map<std::string, std::string>& overrides);

// The values templates and the environment draw from, for one step of one run.
struct StepContext {
  std::string run_id;
  std::string step;
  std::map<std::string, std::string> params;   // resolved
  std::map<std::string, std::string> inputs;   // name → absolute path
  std::map<std::string, std::string> outputs;  // name → absolute path
};

// How a template is filled in: with its value (command arguments, env values, workdir:
// no shell ever parses them), or — in a step's `script` — with the environment variable
// that holds the value (`${CAIRN_PARAM_DEPTH}`, `${CAIRN_INPUT_TRAIN}`,
// `${CAIRN_PIPELINE_RUN_ID}`, `${CAIRN_STEP}`), so a value is never parsed as shell code
// (a parameter or event attribute like `x; rm -rf ~` stays text). Inside double quotes
// ("{{params.name}}") it is one word.
enum class TemplateMode { kValue, kShellVariable };

// `text` with every {{scope.name}} (spaces inside the braces allowed) replaced.
// InvalidArgument naming the reference when it names nothing in `context`.
absl::StatusOr<std::string> RenderTemplate(std::string_view text, const StepContext& context,
                                           TemplateMode mode = TemplateMode::kValue);

// "CAIRN_PARAM_" + "max-depth" → "CAIRN_PARAM_MAX_DEPTH" (upper-cased; characters other
// than letters, digits and '_' become '_').
std::string EnvName(std::string_view prefix, std::string_view name);

struct LaunchOptions {
  std::string step_dir;         // <data>/pipelines/runs/<run>/<step>; the default workdir
  std::string log_path;         // this attempt's log file
  std::string server_url;       // CAIRN_URL, MLFLOW_TRACKING_URI (left out when empty)
  std::string tracking_run_id;  // MLFLOW_RUN_ID (left out when empty)
  std::string job_name;         // "pipeline/run/step#attempt"
};

// The executor job of a step: rendered argv (a script runs as `/bin/sh -ec SCRIPT`), env,
// workdir, resources and partition.
absl::StatusOr<compute::JobSpec> BuildJobSpec(const StepSpec& step, const StepContext& context,
                                              const LaunchOptions& options);

}  // namespace cairn::pipelines
