#pragma once
// The feature registry: every applied definition (Entity, Source, FeatureView,
// FeatureService) as integer versions 1, 2, 3… with the SHA-256 of its canonical JSON
// (definition_json.h), the canonical JSON itself and its creation time. Applying an
// unchanged definition (same hash) creates nothing; every version stays readable;
// removal (prune) marks the object removed and keeps its versions. Re-adding a removed
// object creates the next version.
//
// Persisted through storage::Database (SQLite or PostgreSQL), migrations component
// "features": tables feature_objects (kind, name) → latest_version, content_hash,
// deleted; feature_versions (kind, name, version) → content_hash, spec (canonical JSON),
// created_at; feature_registry_state.generation, bumped by every apply that changes
// something (and the row lock that serializes concurrent applies on PostgreSQL).
//
// Thread-safe. Plan and the read methods are one read transaction each; Apply is one
// write transaction (all changes or none). Snapshot() serves the hot read path (the
// online API resolves services and views per request) from memory: an immutable,
// shared snapshot of the latest objects, rebuilt after an apply through this registry
// and, for applies by other servers on a shared database, when the stored generation
// moved (checked at most every `snapshot_max_age_ms`).
//
// Errors: InvalidArgument (a definition fails validation, definition_validation.h; the
// message names file:line, object, field and value), NotFound ("FeatureView 'x' is not
// registered" / "… has no version 7 (latest is 3)" / "… was removed"), and the storage
// errors of storage/database.h.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/json.h"
#include "features/definition_validation.h"
#include "features/definition_yaml.h"
#include "features/definitions.h"
#include "features/feature_plan.h"
#include "storage/database.h"

namespace cairn::features {

// One stored version of one object.
struct RegisteredDefinition {
  DefinitionKind kind = DefinitionKind::kEntity;
  std::string name;
  int64_t version = 0;
  std::string content_hash;  // lowercase hex SHA-256 of the canonical JSON text
  int64_t created_at = 0;    // ms since the epoch
  bool removed = false;      // the object is removed (set on its latest version only)
  Json canonical;            // the canonical JSON (definition_json.h)
  Definition definition;     // parsed back; file is "registry (vN)", line 0
};

// A typed spec with its version.
template <typename Spec>
struct Versioned {
  Spec spec;
  int64_t version = 0;
  std::string content_hash;
  int64_t created_at = 0;
};

// The latest version of every object that is not removed. Immutable; share freely.
class RegistrySnapshot {
 public:
  // nullptr when absent.
  const RegisteredDefinition* Find(DefinitionKind kind, std::string_view name) const;
  const EntitySpec* FindEntity(std::string_view name) const;
  const SourceSpec* FindSource(std::string_view name) const;
  const FeatureViewSpec* FindView(std::string_view name) const;
  const FeatureServiceSpec* FindService(std::string_view name) const;
  // Sorted by name.
  std::vector<const RegisteredDefinition*> List(DefinitionKind kind) const;
  // The registry generation this snapshot reflects.
  int64_t generation() const { return generation_; }

 private:
  friend class FeatureRegistry;
  int64_t generation_ = 0;
  std::map<std::pair<DefinitionKind, std::string>, RegisteredDefinition> objects_;
};

struct FeatureRegistryOptions {
  // Type-checks expressions at plan/apply time (default: features/expr).
  ExpressionTypeChecker check_expression = CompiledExpressionChecker();
  // How stale Snapshot() may be with respect to applies made by other processes.
  int64_t snapshot_max_age_ms = 1000;
};

class FeatureRegistry {
 public:
  // Applies the "features" migrations. `db` and `clock` must outlive the registry.
  static absl::StatusOr<std::unique_ptr<FeatureRegistry>> Open(
      storage::Database& db, Clock& clock, FeatureRegistryOptions options = {});

  // What Apply would do, in order: the definitions as given, then (with `prune`) every
  // registered object they do not mention, as removed (sorted by kind, name). Validates
  // the definitions together with the registered objects that stay.
  absl::StatusOr<std::vector<PlannedChange>> Plan(const DefinitionSet& definitions, bool prune);

  // Plans and applies in one transaction; returns the plan with the new versions.
  absl::StatusOr<std::vector<PlannedChange>> Apply(const DefinitionSet& definitions, bool prune);

  // Latest version; NotFound when never registered or removed.
  absl::StatusOr<RegisteredDefinition> GetLatest(DefinitionKind kind, std::string_view name);
  // Any version, removed objects included.
  absl::StatusOr<RegisteredDefinition> GetVersion(DefinitionKind kind, std::string_view name,
                                                  int64_t version);
  // Every version, oldest first (removed flags the latest when the object is removed).
  // NotFound when never registered.
  absl::StatusOr<std::vector<RegisteredDefinition>> ListVersions(DefinitionKind kind,
                                                                 std::string_view name);
  // The latest version of each object of `kind` that is not removed, sorted by name.
  absl::StatusOr<std::vector<RegisteredDefinition>> ListLatest(DefinitionKind kind);

  // The cached snapshot of latest objects (see the header comment).
  absl::StatusOr<std::shared_ptr<const RegistrySnapshot>> Snapshot();

  // Typed latest objects from the snapshot; NotFound as GetLatest.
  absl::StatusOr<Versioned<EntitySpec>> GetEntity(std::string_view name);
  absl::StatusOr<Versioned<SourceSpec>> GetSource(std::string_view name);
  absl::StatusOr<Versioned<FeatureViewSpec>> GetView(std::string_view name);
  absl::StatusOr<Versioned<FeatureServiceSpec>> GetService(std::string_view name);

 private:
  FeatureRegistry(storage::Database& db, Clock& clock, FeatureRegistryOptions options)
      : db_(db), clock_(clock), options_(std::move(options)) {}

  absl::StatusOr<std::vector<PlannedChange>> PlanIn(storage::SqlSession& session,
                                                    const DefinitionSet& definitions,
                                                    bool prune);
  template <typename Spec>
  absl::StatusOr<Versioned<Spec>> GetTyped(DefinitionKind kind, std::string_view name);

  storage::Database& db_;
  Clock& clock_;
  const FeatureRegistryOptions options_;

  absl::Mutex mu_;
  std::shared_ptr<const RegistrySnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  int64_t snapshot_checked_at_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cairn::features
