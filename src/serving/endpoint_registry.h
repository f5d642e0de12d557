#pragma once
// Versioned endpoint definitions on the metadata database (SQLite or PostgreSQL), a typed
// wrapper over storage/definition_store.h like the monitors' and pipelines': each applied
// change of an endpoint's canonical content (EndpointSpecToJson) is a new version 1, 2, …;
// an unchanged endpoint (same content hash) creates nothing; every version stays
// readable; `apply --prune` marks endpoints missing from the apply as removed (the
// endpoint service undeploys them).
// Thread-safe (every call is one database transaction).
//
// Tables (migrations component "serving_endpoints", shared with endpoint_store.h):
// endpoints (one row per name: latest version, its hash, removed flag) and
// endpoint_versions (name, version → canonical JSON); endpoint_rollouts and
// endpoint_events belong to EndpointStore.

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
#include "serving/endpoint_spec.h"
#include "storage/definition_store.h"

namespace cairn::serving {

// {name, version, content_hash, spec (file = "registry (NAME vN)", line 0), created_ms,
// removed (pruned by `apply --prune`; its versions stay readable)}.
using EndpointVersion = storage::DefinitionVersion<EndpointSpec>;

// One entry of an apply plan, shaped like every registry's (cli/apply.cc prints them all
// alike): action "added" | "changed" | "unchanged" | "removed", name, old/new version,
// diffs [{"path": "rollout.percent", "old": 10, "new": 20}].
using EndpointChange = storage::DefinitionChange;

// {"action", "name", "old_version", "new_version", "diffs"} (versions null when absent).
Json EndpointChangeToJson(const EndpointChange& change);
// {"name", "version", "content_hash", "created_ms", "removed", "spec": EndpointSpecToJson}.
Json EndpointVersionToJson(const EndpointVersion& version);

// The schema of component "serving_endpoints" (registry, rollouts, events); Open of the
// registry and of the store both call it. Idempotent.
absl::Status ApplyEndpointMigrations(storage::Database& db);

class EndpointRegistry {
 public:
  // Applies the migrations. `db` and `clock` outlive the registry.
  static absl::StatusOr<std::unique_ptr<EndpointRegistry>> Open(storage::Database& db,
                                                                Clock& clock);
  ~EndpointRegistry();

  // Plans (and unless dry_run, applies) `specs` (already validated: ParseEndpointFiles or
  // ValidateEndpointSpec). `prune` marks registered endpoints missing from `specs` as
  // removed. Changes come in the order of `specs`, then the removed ones by name. Two
  // specs with one name: InvalidArgument naming both places.
  absl::StatusOr<std::vector<EndpointChange>> Apply(const std::vector<EndpointSpec>& specs,
                                                    bool dry_run, bool prune);
  // The latest version when `version` is empty (also for a removed endpoint, with removed
  // set). NotFound names the endpoint / version and what to do.
  absl::StatusOr<EndpointVersion> Get(std::string_view name,
                                      std::optional<int64_t> version = {});
  // The latest version of every endpoint not removed, by name.
  absl::StatusOr<std::vector<EndpointVersion>> List();

 private:
  EndpointRegistry(storage::Database& db, Clock& clock);
  storage::TypedDefinitionStore<EndpointSpec> store_;
};

}  // namespace cairn::serving
