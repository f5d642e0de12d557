// libFuzzer target: arbitrary bytes as a monitor definition file. Invariants beyond "no
// crash, no hang, no exception": errors are InvalidArgument and name the file; every
// parsed monitor has a valid name, exactly one target and one reference kind, checks
// something, and survives the canonical JSON round trip unchanged (same canonical text,
// so the same content hash).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/status/status.h"
#include "common/json.h"
#include "monitoring/monitors/monitor_registry.h"
#include "monitoring/monitors/monitor_yaml.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::monitoring;  // NOLINT
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = ParseMonitorsYaml(input, "fuzz.yaml");
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    Check(parsed.status().message().substr(0, 9) == "fuzz.yaml");
    return 0;
  }
  for (const MonitorSpec& spec : *parsed) {
    Check(IsValidMonitorName(spec.name));
    Check(!spec.target.feature_view.empty() + !spec.target.endpoint.empty() +
              !spec.target.path.empty() ==
          1);
    // A reference: exactly one kind, except for a quality-only monitor (none at all).
    const int references = !spec.reference.path.empty() + !spec.reference.profile.empty() +
                           !spec.reference.feature_view.empty() + !spec.reference.model.empty();
    // A model reference names exactly one of alias and version; nothing else does.
    Check(spec.reference.model.empty()
              ? spec.reference.model_alias.empty() && spec.reference.model_version == 0
              : spec.reference.model_alias.empty() != (spec.reference.model_version == 0));
    Check(references == 1 || (references == 0 && spec.quality.has_value() && !spec.drift &&
                               !spec.constraints));
    // Something to check; quality only on an endpoint's inference log.
    Check(spec.drift || spec.constraints || spec.quality.has_value());
    Check(!spec.quality.has_value() || !spec.target.endpoint.empty());
    Check(spec.drift_share > 0 && spec.drift_share <= 1);
    const cairn::Json json = MonitorSpecToJson(spec);
    auto back = MonitorSpecFromJson(json);
    Check(back.ok());
    Check(cairn::DumpJson(MonitorSpecToJson(*back)) == cairn::DumpJson(json));
  }
  return 0;
}
