#pragma once
// The engine's view of a pipeline's DAG: for each step (by index into PipelineSpec::steps)
// its upstream steps — depends_on plus those implied by inputs `from: step.output` — and a
// topological order (file order among steps ready together).
//
// A minimal stand-in written by the engine while the spec's dag.h had not landed; the
// spec's Dag validates the same graph at apply time (unknown steps, cycles), so here an
// unknown name or a cycle is only an Internal error (a stored version is already valid).

#include <vector>

#include "absl/status/statusor.h"
#include "pipelines/pipeline_spec.h"

namespace cairn::pipelines {

struct StepGraph {
  std::vector<int> order;                  // step indices, each after its upstream steps
  std::vector<std::vector<int>> upstream;  // by step index, ascending, no duplicates
  std::vector<std::vector<int>> downstream;
};

absl::StatusOr<StepGraph> BuildStepGraph(const PipelineSpec& spec);

}  // namespace cairn::pipelines
