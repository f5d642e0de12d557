// libFuzzer target: arbitrary bytes as a policy definition file. Invariants beyond "no
// crash, no hang, no exception": errors are InvalidArgument and name the file; every
// parsed policy has a valid name, a model, at least one gate each of one known kind with
// what its kind needs, and survives the canonical JSON round trip unchanged (same
// canonical text, so the same content hash); GateText never comes back empty.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/status/status.h"
#include "cicd/policy_json.h"
#include "cicd/policy_yaml.h"
#include "common/json.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::cicd;  // NOLINT
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = ParsePoliciesYaml(input, "fuzz.yaml");
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    Check(parsed.status().message().substr(0, 9) == "fuzz.yaml");
    return 0;
  }
  for (const PolicySpec& spec : *parsed) {
    Check(IsValidPolicyName(spec.name));
    Check(!spec.model.empty());
    Check(spec.mode == "auto" || spec.mode == "manual");
    Check(!spec.gates.empty());
    for (const GateSpec& gate : spec.gates) {
      Check(gate.kind == "metric" || gate.kind == "run_metric" || gate.kind == "check");
      Check(!gate.name.empty());
      Check(!GateText(gate, spec.target_alias).empty());
      if (gate.kind == "metric") Check(!spec.evaluation.label.empty());
      if (gate.min && gate.max) Check(*gate.min <= *gate.max);
      if (gate.per_slice) Check(!spec.evaluation.slices.empty());
    }
    if (spec.rollout) {
      Check(spec.rollout->version == 0 && spec.rollout->alias.empty());
      Check(spec.rollout->percent > 0 && spec.rollout->percent <= 100);
    }
    const cairn::Json json = PolicySpecToJson(spec);
    auto back = PolicySpecFromJson(json);
    Check(back.ok());
    Check(*back == spec);
    Check(cairn::DumpJson(PolicySpecToJson(*back)) == cairn::DumpJson(json));
  }
  return 0;
}
