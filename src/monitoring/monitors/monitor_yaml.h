#pragma once
// Monitor definitions as users write them: the `kind: Monitor` documents of YAML files
// (format in monitor_spec.h). Documents of the other known kinds (Entity, Source,
// FeatureView, FeatureService, Pipeline, Policy, Endpoint) are skipped; an unknown kind
// is an error.
//
// Checks: known fields (an unknown one names the nearest valid name), value types, name
// syntax, durations, cron syntax (pipelines/cron.h), test names (stats::StatTests()),
// thresholds, severity, sink kinds, exactly one target / reference kind, trigger event
// names. Every error is InvalidArgument and reads "FILE:LINE: monitor NAME: field 'F':
// value 'V' …" with what to do. Pure functions; thread-safe.

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "features/definition_yaml.h"
#include "monitoring/monitors/monitor_spec.h"

namespace cairn::monitoring {

// The `kind: Monitor` documents of `text`, in file order, with `file` and lines set.
absl::StatusOr<std::vector<MonitorSpec>> ParseMonitorsYaml(std::string_view text,
                                                           std::string_view file);

// Every file in order.
absl::StatusOr<std::vector<MonitorSpec>> ParseMonitorFiles(
    const std::vector<features::DefinitionFile>& files);

// "[A-Za-z_][A-Za-z0-9_-]*", at most 128 characters.
bool IsValidMonitorName(std::string_view name);

}  // namespace cairn::monitoring
