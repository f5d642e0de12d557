#pragma once
// Pipeline definitions as users write them: the `kind: Pipeline` documents of YAML files
// (format in pipeline_spec.h). A file may mix kinds: documents of the other known kinds
// (Entity, Source, FeatureView, FeatureService, Monitor, Policy, Endpoint) are skipped
// here and parsed by their own modules; an unknown kind is an error.
//
// Parsing checks what each field can tell on its own: known fields (an unknown one names
// the nearest valid name), value types, name syntax, durations (common/duration.h),
// memory (compute::ParseMemory), parameter types, catch-up names, exactly one of
// command / script / noop: true per step (a noop step with any field that runs something
// is refused, naming the field), exactly one of from / path per input and the
// "step.output" form of `from`. Checks across fields (references, duplicates, cycles, templates,
// ranges, executors) are pipeline_validation.h's.
//
// Every error is InvalidArgument and reads "FILE:LINE: pipeline NAME: step S: field 'F':
// value 'V' …" with what to do. Pure functions; thread-safe.

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "features/definition_yaml.h"
#include "pipelines/pipeline_spec.h"

namespace cairn::pipelines {

// The `kind: Pipeline` documents of `text`, in file order, with `file` and lines set.
// `file` names the text in messages. Empty documents are skipped.
absl::StatusOr<std::vector<PipelineSpec>> ParsePipelinesYaml(std::string_view text,
                                                             std::string_view file);

// Every file in order (features::ReadDefinitionFiles reads them from a path).
absl::StatusOr<std::vector<PipelineSpec>> ParsePipelineFiles(
    const std::vector<features::DefinitionFile>& files);

// "[A-Za-z_][A-Za-z0-9_-]*", at most 128 characters: pipeline and step names.
bool IsValidPipelineName(std::string_view name);
// "[A-Za-z_][A-Za-z0-9_]*", at most 128 characters: parameter, input and output names
// (they become environment variable names, CAIRN_PARAM_<NAME>).
bool IsValidParamName(std::string_view name);

}  // namespace cairn::pipelines
