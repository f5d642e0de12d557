#pragma once
// Versioned policy definitions on the metadata database (SQLite or PostgreSQL), a typed
// wrapper over storage/definition_store.h like the monitors' and endpoints': each applied
// change of a policy's canonical content (PolicySpecToJson) is a new version 1, 2, …; an
// unchanged policy (same content hash) creates nothing; every version stays readable
// (evaluations pin one).
// At most one live (not removed) policy governs a model: an apply that would leave two
// policies for one model — within the apply, or against a registered policy that this
// apply neither renames nor prunes — is refused with InvalidArgument naming both.
// Thread-safe.
//
// Tables (migrations component "cicd_policies"): cicd_policies (one row per name: latest
// version, its hash, its model, removed flag) and cicd_policy_versions (name, version →
// canonical JSON).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cicd/policy_spec.h"
#include "common/clock.h"
#include "common/json.h"
#include "storage/definition_store.h"

namespace cairn::cicd {

// {name, version, content_hash, spec (file reads "registry (NAME vN)"), created_ms,
// removed (pruned by `apply --prune`; its versions stay readable)}.
using PolicyVersion = storage::DefinitionVersion<PolicySpec>;

// One entry of an apply plan, shaped like every registry's (cli/apply.cc prints them
// alike): action "added" | "changed" | "unchanged" | "removed", name, old/new version,
// diffs [{"path": "gates[0].min", "old": …, "new": …}].
using PolicyChange = storage::DefinitionChange;

// {"action", "name", "old_version", "new_version", "diffs"} (null versions when absent).
Json PolicyChangeToJson(const PolicyChange& change);
// {"name", "version", "content_hash", "created_ms", "removed", "spec": PolicySpecToJson}.
Json PolicyVersionToJson(const PolicyVersion& version);

// The schema of component "cicd_policies". Idempotent.
absl::Status ApplyPolicyMigrations(storage::Database& db);

class PolicyRegistry {
 public:
  // Applies the migrations. `db` and `clock` outlive the registry.
  static absl::StatusOr<std::unique_ptr<PolicyRegistry>> Open(storage::Database& db,
                                                              Clock& clock);
  ~PolicyRegistry();

  // Plans (and unless dry_run, applies) `specs` (already validated by policy_yaml.h).
  // `prune` marks registered policies missing from `specs` as removed. Changes come in
  // the order of `specs`, then the removed ones by name. Two specs with one name, or two
  // live policies for one model after the apply: InvalidArgument (nothing written).
  absl::StatusOr<std::vector<PolicyChange>> Apply(const std::vector<PolicySpec>& specs,
                                                  bool dry_run, bool prune);
  // The latest version when `version` is empty (also for a removed policy, with removed
  // set). NotFound names the policy / version and what to do.
  absl::StatusOr<PolicyVersion> Get(std::string_view name,
                                    std::optional<int64_t> version = {});
  // The latest version of every policy not removed, by name.
  absl::StatusOr<std::vector<PolicyVersion>> List();
  // The latest version of the live policy whose `model` is `model`. NotFound ("no policy
  // governs model 'M': apply a kind: Policy with model: M") when there is none.
  absl::StatusOr<PolicyVersion> ForModel(std::string_view model);

 private:
  PolicyRegistry(storage::Database& db, Clock& clock);
  storage::TypedDefinitionStore<PolicySpec> store_;
};

}  // namespace cairn::cicd
