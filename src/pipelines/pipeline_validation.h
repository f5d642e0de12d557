#pragma once
// Checks of a parsed pipeline across its fields (pipeline_yaml.h checks each field alone):
// unique step / parameter / input / output names, known steps in depends_on and in
// inputs' `from: step.output` (and known outputs there), no cycles, templates that name
// known things, parameter defaults of their declared type, retry and resource values in
// range, known trigger events, cron syntax (pipelines/cron.h), and — through callbacks the
// server supplies — known executors and resources that the chosen executor can satisfy.
//
// Every error is InvalidArgument and reads "FILE:LINE: pipeline NAME: step S: field 'F':
// value 'V' …" (the parts that apply), with what to do. Pure functions; thread-safe.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compute/resources.h"
#include "pipelines/pipeline_spec.h"

namespace cairn::pipelines {

// OK when `executor` can ever run a step with these resources; else an error saying what
// does not fit (compute::Executor::CheckSatisfiable's message), or NotFound when no
// executor has that name.
using ResourceCheck =
    std::function<absl::Status(const std::string& executor, const compute::Resources&)>;
// OK for a valid 5-field cron expression; else InvalidArgument saying why (schedules).
using CronCheck = std::function<absl::Status(std::string_view cron)>;

struct ValidationOptions {
  // The configured executor names ("local", "slurm"); empty: names are not checked here
  // (check_resources may still answer NotFound).
  std::vector<std::string> executors;
  ResourceCheck check_resources;  // empty: resources are only range-checked
  CronCheck check_cron;           // empty: pipelines/cron.h ParseCron
};

// The event types a trigger may name in `on`.
const std::vector<std::string_view>& KnownTriggerEvents();

absl::Status ValidatePipeline(const PipelineSpec& spec, const ValidationOptions& options = {});

// Each pipeline, and no name defined twice ("pipeline 'x' is also defined at FILE:LINE").
absl::Status ValidatePipelines(const std::vector<PipelineSpec>& specs,
                               const ValidationOptions& options = {});

// A template reference "{{scope.name}}" (spaces inside the braces allowed) found in a
// command argument, script, env value or workdir: text[begin, end) is the whole
// reference. Scopes: params, inputs, outputs (name = theirs), run (name "id"), step (name
// "name").
struct TemplateRef {
  size_t begin = 0, end = 0;
  std::string scope, name;
};
// Every reference in `text`, in order. "{{" without a later "}}" is plain text;
// InvalidArgument when the text between "{{" and "}}" is not scope.name.
absl::StatusOr<std::vector<TemplateRef>> FindTemplateRefs(std::string_view text);

// The canonical text of a parameter value of `type`: int "06" → "6", float "1.50" → "1.5",
// bool "True"/"yes" → "true"; strings unchanged. InvalidArgument ("is not an int: …")
// when the value is not of the type.
absl::StatusOr<std::string> NormalizeParamValue(ParamType type, std::string_view value);

}  // namespace cairn::pipelines
