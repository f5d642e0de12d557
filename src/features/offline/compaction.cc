#include "features/offline/compaction.h"

namespace cairn::features {

CompactionReport CompactTables(OfflineStore& store, const CompactionPolicy& policy) {
  CompactionReport report;
  for (const std::string& table : store.ListTables()) {
    absl::StatusOr<OfflineStore::TableStats> stats = store.Stats(table);
    if (!stats.ok()) {
      // A table dropped meanwhile is not a failure.
      if (stats.status().code() != absl::StatusCode::kNotFound)
        report.failed.emplace_back(table, stats.status());
      continue;
    }
    if (stats->segments < std::max<int64_t>(2, policy.min_segments)) continue;
    absl::Status s = store.Compact(table);
    if (s.ok()) {
      report.compacted.push_back(table);
    } else if (s.code() != absl::StatusCode::kNotFound) {
      report.failed.emplace_back(table, s);
    }
  }
  return report;
}

}  // namespace cairn::features
