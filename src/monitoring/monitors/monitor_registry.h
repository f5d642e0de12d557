#pragma once
// Versioned monitor definitions on the metadata database (SQLite or PostgreSQL), a typed
// wrapper over storage/definition_store.h like pipelines/pipeline_registry.h: each applied change of a monitor's canonical
// content (MonitorSpecToJson) is a new version 1, 2, …; an unchanged monitor (same content
// hash) creates nothing; every version stays readable; runs pin one version. Thread-safe.
//
// Tables (migrations component "monitoring_monitors"): monitors (one row per name: latest
// version, its hash, removed flag) and monitor_versions (name, version → canonical JSON).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/json.h"
#include "monitoring/monitors/monitor_spec.h"
#include "storage/definition_store.h"

namespace cairn::monitoring {

// {name, version, content_hash, spec (file = "registry (NAME vN)"), created_ms, removed
// (pruned by `apply --prune`; its versions stay readable)}.
using MonitorVersion = storage::DefinitionVersion<MonitorSpec>;

// One entry of an apply plan, shaped like every registry's (cli/apply.cc prints them all):
// action "added" | "changed" | "unchanged" | "removed", name, old/new version, diffs
// [{"path": "tests.default", "old": …, "new": …}].
using MonitorChange = storage::DefinitionChange;

// The canonical JSON of a spec (keys sorted; file/line left out) and back.
Json MonitorSpecToJson(const MonitorSpec& spec);
absl::StatusOr<MonitorSpec> MonitorSpecFromJson(const Json& json);

// The schema of component "monitoring_monitors" (monitors, monitor_versions, monitor_runs);
// Open of the registry and of the runner both call it. Idempotent.
absl::Status ApplyMonitorMigrations(storage::Database& db);

class MonitorRegistry {
 public:
  // Applies the migrations. `db` and `clock` outlive the registry.
  static absl::StatusOr<std::unique_ptr<MonitorRegistry>> Open(storage::Database& db,
                                                               Clock& clock);
  ~MonitorRegistry();

  // Plans (and unless dry_run, applies) `specs` (already validated). `prune` marks
  // registered monitors missing from `specs` as removed. Changes come in the order of
  // `specs`, then the removed ones by name. Two specs with one name: InvalidArgument.
  absl::StatusOr<std::vector<MonitorChange>> Apply(const std::vector<MonitorSpec>& specs,
                                                   bool dry_run, bool prune);
  // The latest version when `version` is empty (also for a removed monitor, with removed
  // set). NotFound names the monitor / version.
  absl::StatusOr<MonitorVersion> Get(std::string_view name,
                                     std::optional<int64_t> version = {});
  // The latest version of every monitor not removed, by name.
  absl::StatusOr<std::vector<MonitorVersion>> List();

 private:
  MonitorRegistry(storage::Database& db, Clock& clock);
  storage::TypedDefinitionStore<MonitorSpec> store_;
};

}  // namespace cairn::monitoring
