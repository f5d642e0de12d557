// libFuzzer target: arbitrary bytes as a pipeline definition file. Invariants beyond "no
// crash, no hang, no exception": errors are InvalidArgument and name the file; every
// parsed pipeline either fails validation with InvalidArgument naming the file or builds
// a DAG whose order holds every step once after its upstream steps; the canonical JSON
// round trip keeps the content hash; the diff of a pipeline with itself is empty.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "pipelines/dag.h"
#include "pipelines/pipeline_diff.h"
#include "pipelines/pipeline_json.h"
#include "pipelines/pipeline_validation.h"
#include "pipelines/pipeline_yaml.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool NamesFile(const absl::Status& status) {
  return status.message().substr(0, 9) == "fuzz.yaml";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::pipelines;  // NOLINT
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = ParsePipelinesYaml(input, "fuzz.yaml");
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    Check(NamesFile(parsed.status()));
    return 0;
  }
  for (const PipelineSpec& spec : *parsed) {
    auto back = PipelineFromJson(PipelineToJson(spec));
    Check(back.ok());
    Check(PipelineContentHash(*back) == PipelineContentHash(spec));
    Check(DiffPipelines(spec, *back).empty());
    for (const StepSpec& step : spec.steps) Check(!StepCanonicalJson(step).empty());
    absl::Status valid = ValidatePipeline(spec);
    if (!valid.ok()) {
      Check(valid.code() == absl::StatusCode::kInvalidArgument);
      Check(NamesFile(valid));
      continue;
    }
    auto dag = Dag::Build(spec);
    Check(dag.ok());
    std::vector<int> position(dag->size(), -1);
    Check(static_cast<int>(dag->order().size()) == dag->size());
    for (size_t i = 0; i < dag->order().size(); ++i) {
      Check(position[dag->order()[i]] == -1);
      position[dag->order()[i]] = static_cast<int>(i);
    }
    for (int step = 0; step < dag->size(); ++step) {
      for (int up : dag->upstream(step)) Check(position[up] < position[step]);
    }
  }
  return 0;
}
