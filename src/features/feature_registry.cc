#include "features/feature_registry.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/definition_json.h"
#include "storage/migrations.h"

namespace cairn::features {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE feature_registry_state (
  id INTEGER PRIMARY KEY,
  generation BIGINT NOT NULL);
INSERT INTO feature_registry_state (id, generation) VALUES (1, 0);
CREATE TABLE feature_objects (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  latest_version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (kind, name));
CREATE TABLE feature_versions (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (kind, name, version))
)sql";

constexpr storage::Migration kMigrations[] = {
    {.version = 1, .name = "feature registry: objects, versions, generation", .sql = kSchemaV1},
};

// Columns selected by every version read, in this order.
constexpr char kVersionColumns[] =
    "v.kind, v.name, v.version, v.content_hash, v.spec, v.created_at, "
    "CASE WHEN o.deleted = 1 AND o.latest_version = v.version THEN 1 ELSE 0 END";

absl::StatusOr<RegisteredDefinition> ReadVersionRow(const SqlRowView& row) {
  RegisteredDefinition out;
  CAIRN_ASSIGN_OR_RETURN(out.kind, ParseKindName(row.Text(0)));
  out.name = std::string(row.Text(1));
  out.version = row.Int(2);
  out.content_hash = std::string(row.Text(3));
  CAIRN_ASSIGN_OR_RETURN(out.canonical, ParseJson(row.Text(4)));
  out.created_at = row.Int(5);
  out.removed = row.Int(6) != 0;
  absl::StatusOr<Definition> def = DefinitionFromJson(out.canonical);
  if (!def.ok()) {
    return absl::InternalError(absl::StrCat("registry ", ToAbsl(KindName(out.kind)), " ", out.name,
                                            " v", out.version, ": ", def.status().message()));
  }
  out.definition = std::move(*def);
  out.definition.file = absl::StrCat("registry (v", out.version, ")");
  out.definition.line = 0;
  return out;
}

std::string Label(DefinitionKind kind, std::string_view name) {
  return absl::StrCat(ToAbsl(KindName(kind)), " '", ToAbsl(name), "'");
}

// The latest version of every object (removed ones included), by (kind, name).
absl::StatusOr<std::map<std::pair<DefinitionKind, std::string>, RegisteredDefinition>>
LoadLatest(SqlSession& session, std::string_view kind_filter = {}) {
  std::map<std::pair<DefinitionKind, std::string>, RegisteredDefinition> out;
  std::string sql = absl::StrCat(
      "SELECT ", kVersionColumns,
      " FROM feature_objects o JOIN feature_versions v ON v.kind = o.kind AND v.name = o.name"
      " AND v.version = o.latest_version");
  std::vector<SqlValue> params;
  if (!kind_filter.empty()) {
    sql += " WHERE o.kind = $1 AND o.deleted = 0";
    params.push_back(std::string(kind_filter));
  }
  CAIRN_RETURN_IF_ERROR(session.QueryEach(sql, params, [&](const SqlRowView& row) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(RegisteredDefinition def, ReadVersionRow(row));
    auto key = std::make_pair(def.kind, def.name);
    out.emplace(std::move(key), std::move(def));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int64_t> ReadGeneration(SqlSession& session) {
  int64_t generation = 0;
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT generation FROM feature_registry_state WHERE id = 1", {},
      [&](const SqlRowView& row) {
        generation = row.Int(0);
        return absl::OkStatus();
      }));
  return generation;
}

bool HasChanges(const std::vector<PlannedChange>& plan) {
  return std::any_of(plan.begin(), plan.end(), [](const PlannedChange& c) {
    return c.action != ChangeAction::kUnchanged;
  });
}

}  // namespace

// ---- RegistrySnapshot ----

const RegisteredDefinition* RegistrySnapshot::Find(DefinitionKind kind,
                                                   std::string_view name) const {
  auto it = objects_.find(std::make_pair(kind, std::string(name)));
  return it == objects_.end() ? nullptr : &it->second;
}

const EntitySpec* RegistrySnapshot::FindEntity(std::string_view name) const {
  const RegisteredDefinition* def = Find(DefinitionKind::kEntity, name);
  return def ? &std::get<EntitySpec>(def->definition.spec) : nullptr;
}
const SourceSpec* RegistrySnapshot::FindSource(std::string_view name) const {
  const RegisteredDefinition* def = Find(DefinitionKind::kSource, name);
  return def ? &std::get<SourceSpec>(def->definition.spec) : nullptr;
}
const FeatureViewSpec* RegistrySnapshot::FindView(std::string_view name) const {
  const RegisteredDefinition* def = Find(DefinitionKind::kFeatureView, name);
  return def ? &std::get<FeatureViewSpec>(def->definition.spec) : nullptr;
}
const FeatureServiceSpec* RegistrySnapshot::FindService(std::string_view name) const {
  const RegisteredDefinition* def = Find(DefinitionKind::kFeatureService, name);
  return def ? &std::get<FeatureServiceSpec>(def->definition.spec) : nullptr;
}

std::vector<const RegisteredDefinition*> RegistrySnapshot::List(DefinitionKind kind) const {
  std::vector<const RegisteredDefinition*> out;
  for (auto it = objects_.lower_bound(std::make_pair(kind, std::string()));
       it != objects_.end() && it->first.first == kind; ++it) {
    out.push_back(&it->second);
  }
  return out;
}

// ---- FeatureRegistry ----

absl::StatusOr<std::unique_ptr<FeatureRegistry>> FeatureRegistry::Open(
    storage::Database& db, Clock& clock, FeatureRegistryOptions options) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "features", kMigrations));
  return std::unique_ptr<FeatureRegistry>(new FeatureRegistry(db, clock, std::move(options)));
}

absl::StatusOr<std::vector<PlannedChange>> FeatureRegistry::PlanIn(
    SqlSession& session, const DefinitionSet& definitions, bool prune) {
  CAIRN_ASSIGN_OR_RETURN(auto current, LoadLatest(session));
  std::vector<PlannedChange> plan;
  std::set<std::pair<DefinitionKind, std::string>> mentioned;
  for (const Definition& def : definitions.definitions) {
    PlannedChange change;
    change.kind = def.kind;
    change.name = def.name();
    change.file = def.file;
    change.line = def.line;
    mentioned.emplace(def.kind, def.name());
    auto it = current.find(std::make_pair(def.kind, def.name()));
    if (it == current.end()) {
      change.action = ChangeAction::kAdded;
      change.new_version = 1;
    } else if (it->second.removed) {
      change.action = ChangeAction::kAdded;
      change.old_version = it->second.version;
      change.new_version = it->second.version + 1;
    } else if (it->second.content_hash == ContentHash(def)) {
      change.action = ChangeAction::kUnchanged;
      change.old_version = change.new_version = it->second.version;
    } else {
      change.action = ChangeAction::kChanged;
      change.old_version = it->second.version;
      change.new_version = it->second.version + 1;
      change.diffs = DiffCanonicalJson(it->second.canonical, ToCanonicalJson(def));
    }
    plan.push_back(std::move(change));
  }
  // Registered objects that stay are validated with the incoming ones.
  std::vector<Definition> kept;
  for (const auto& [key, registered] : current) {
    if (registered.removed || mentioned.count(key)) continue;
    if (prune) {
      PlannedChange change;
      change.kind = key.first;
      change.name = key.second;
      change.action = ChangeAction::kRemoved;
      change.old_version = registered.version;
      plan.push_back(std::move(change));
    } else {
      kept.push_back(registered.definition);
    }
  }
  CAIRN_RETURN_IF_ERROR(ValidateDefinitions(definitions, kept, options_.check_expression));
  return plan;
}

absl::StatusOr<std::vector<PlannedChange>> FeatureRegistry::Plan(const DefinitionSet& definitions,
                                                                 bool prune) {
  std::vector<PlannedChange> plan;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(plan, PlanIn(session, definitions, prune));
    return absl::OkStatus();
  }));
  return plan;
}

absl::StatusOr<std::vector<PlannedChange>> FeatureRegistry::Apply(const DefinitionSet& definitions,
                                                                  bool prune) {
  // A no-op apply (the common case of re-applying a directory) takes no write lock.
  CAIRN_ASSIGN_OR_RETURN(std::vector<PlannedChange> plan, Plan(definitions, prune));
  if (!HasChanges(plan)) return plan;

  std::map<std::pair<DefinitionKind, std::string>, const Definition*> by_key;
  for (const Definition& def : definitions.definitions) by_key[{def.kind, def.name()}] = &def;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    // Taking the generation row first serializes concurrent applies (PostgreSQL row
    // lock; SQLite has one writer anyway), so the plan below sees the latest versions.
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("UPDATE feature_registry_state SET generation = generation + 1 WHERE id = 1")
            .status());
    CAIRN_ASSIGN_OR_RETURN(plan, PlanIn(session, definitions, prune));
    const int64_t now = clock_.NowMillis();
    for (const PlannedChange& change : plan) {
      const std::string kind(KindName(change.kind));
      if (change.action == ChangeAction::kRemoved) {
        const SqlValue params[] = {kind, change.name, now};
        CAIRN_RETURN_IF_ERROR(session
                                  .Execute("UPDATE feature_objects SET deleted = 1, updated_at = $3"
                                           " WHERE kind = $1 AND name = $2",
                                           params)
                                  .status());
        continue;
      }
      if (change.action == ChangeAction::kUnchanged) continue;
      const Definition& def = *by_key.at({change.kind, change.name});
      const std::string hash = ContentHash(def);
      const SqlValue params[] = {kind, change.name, change.new_version, hash, CanonicalText(def),
                                 now};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute("INSERT INTO feature_versions (kind, name, version, content_hash, spec, "
                       "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                       params)
              .status());
      const SqlValue object_params[] = {kind, change.name, change.new_version, hash, now};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute("INSERT INTO feature_objects (kind, name, latest_version, content_hash, "
                       "deleted, updated_at) VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (kind, "
                       "name) DO UPDATE SET latest_version = $3, content_hash = $4, deleted = 0, "
                       "updated_at = $5",
                       object_params)
              .status());
    }
    return absl::OkStatus();
  }));
  absl::MutexLock lock(&mu_);
  snapshot_.reset();
  return plan;
}

absl::StatusOr<RegisteredDefinition> FeatureRegistry::GetVersion(DefinitionKind kind,
                                                                 std::string_view name,
                                                                 int64_t version) {
  std::optional<RegisteredDefinition> found;
  int64_t latest = 0;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    const SqlValue params[] = {std::string(KindName(kind)), std::string(name), version};
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        absl::StrCat("SELECT ", kVersionColumns,
                     " FROM feature_versions v JOIN feature_objects o ON o.kind = v.kind AND "
                     "o.name = v.name WHERE v.kind = $1 AND v.name = $2 AND v.version = $3"),
        params, [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(found, ReadVersionRow(row));
          return absl::OkStatus();
        }));
    if (found) return absl::OkStatus();
    const SqlValue object_params[] = {std::string(KindName(kind)), std::string(name)};
    return session.QueryEach(
        "SELECT latest_version FROM feature_objects WHERE kind = $1 AND name = $2",
        object_params, [&](const SqlRowView& row) {
          latest = row.Int(0);
          return absl::OkStatus();
        });
  }));
  if (found) return *std::move(found);
  if (latest == 0) {
    return absl::NotFoundError(absl::StrCat(Label(kind, name), " is not registered"));
  }
  return absl::NotFoundError(absl::StrCat(Label(kind, name), " has no version ", version,
                                          " (versions are 1 to ", latest, ")"));
}

absl::StatusOr<std::vector<RegisteredDefinition>> FeatureRegistry::ListVersions(
    DefinitionKind kind, std::string_view name) {
  std::vector<RegisteredDefinition> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    const SqlValue params[] = {std::string(KindName(kind)), std::string(name)};
    return session.QueryEach(
        absl::StrCat("SELECT ", kVersionColumns,
                     " FROM feature_versions v JOIN feature_objects o ON o.kind = v.kind AND "
                     "o.name = v.name WHERE v.kind = $1 AND v.name = $2 ORDER BY v.version"),
        params, [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(RegisteredDefinition def, ReadVersionRow(row));
          out.push_back(std::move(def));
          return absl::OkStatus();
        });
  }));
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat(Label(kind, name), " is not registered"));
  }
  return out;
}

absl::StatusOr<RegisteredDefinition> FeatureRegistry::GetLatest(DefinitionKind kind,
                                                                std::string_view name) {
  std::optional<RegisteredDefinition> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    const SqlValue params[] = {std::string(KindName(kind)), std::string(name)};
    return session.QueryEach(
        absl::StrCat("SELECT ", kVersionColumns,
                     " FROM feature_objects o JOIN feature_versions v ON v.kind = o.kind AND "
                     "v.name = o.name AND v.version = o.latest_version"
                     " WHERE o.kind = $1 AND o.name = $2"),
        params, [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(found, ReadVersionRow(row));
          return absl::OkStatus();
        });
  }));
  if (!found) return absl::NotFoundError(absl::StrCat(Label(kind, name), " is not registered"));
  if (found->removed) {
    return absl::NotFoundError(absl::StrCat(Label(kind, name), " was removed (its last version, ",
                                            found->version, ", stays readable)"));
  }
  return *std::move(found);
}

absl::StatusOr<std::vector<RegisteredDefinition>> FeatureRegistry::ListLatest(
    DefinitionKind kind) {
  std::vector<RegisteredDefinition> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(auto latest, LoadLatest(session, KindName(kind)));
    for (auto& [key, def] : latest) out.push_back(std::move(def));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::shared_ptr<const RegistrySnapshot>> FeatureRegistry::Snapshot() {
  const int64_t now = clock_.NowMillis();
  {
    // The hot path (every online read): readers share the lock.
    absl::ReaderMutexLock lock(&mu_);
    if (snapshot_ && now - snapshot_checked_at_ < options_.snapshot_max_age_ms) return snapshot_;
  }
  auto fresh = std::make_shared<RegistrySnapshot>();
  std::shared_ptr<const RegistrySnapshot> current;
  {
    absl::MutexLock lock(&mu_);
    current = snapshot_;
  }
  bool reused = false;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(int64_t generation, ReadGeneration(session));
    if (current && current->generation() == generation) {
      reused = true;
      return absl::OkStatus();
    }
    fresh->generation_ = generation;
    CAIRN_ASSIGN_OR_RETURN(auto latest, LoadLatest(session));
    for (auto& [key, def] : latest) {
      if (!def.removed) fresh->objects_.emplace(key, std::move(def));
    }
    return absl::OkStatus();
  }));
  absl::MutexLock lock(&mu_);
  snapshot_checked_at_ = now;
  if (!reused) {
    // Keep the newer of two concurrent reloads.
    if (!snapshot_ || snapshot_->generation() <= fresh->generation()) snapshot_ = fresh;
  } else if (!snapshot_) {
    snapshot_ = current;
  }
  return snapshot_;
}

template <typename Spec>
absl::StatusOr<Versioned<Spec>> FeatureRegistry::GetTyped(DefinitionKind kind,
                                                          std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<const RegistrySnapshot> snapshot, Snapshot());
  const RegisteredDefinition* def = snapshot->Find(kind, name);
  if (def == nullptr) {
    return absl::NotFoundError(absl::StrCat(Label(kind, name), " is not registered"));
  }
  return Versioned<Spec>{std::get<Spec>(def->definition.spec), def->version, def->content_hash,
                         def->created_at};
}

absl::StatusOr<Versioned<EntitySpec>> FeatureRegistry::GetEntity(std::string_view name) {
  return GetTyped<EntitySpec>(DefinitionKind::kEntity, name);
}
absl::StatusOr<Versioned<SourceSpec>> FeatureRegistry::GetSource(std::string_view name) {
  return GetTyped<SourceSpec>(DefinitionKind::kSource, name);
}
absl::StatusOr<Versioned<FeatureViewSpec>> FeatureRegistry::GetView(std::string_view name) {
  return GetTyped<FeatureViewSpec>(DefinitionKind::kFeatureView, name);
}
absl::StatusOr<Versioned<FeatureServiceSpec>> FeatureRegistry::GetService(std::string_view name) {
  return GetTyped<FeatureServiceSpec>(DefinitionKind::kFeatureService, name);
}

}  // namespace cairn::features
