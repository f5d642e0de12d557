#include "cicd/policy_registry.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cicd/policy_json.h"
#include "common/status.h"
#include "common/strings.h"
#include "pipelines/pipeline_diff.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::cicd {
namespace {

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE cicd_policies (
  name TEXT PRIMARY KEY,
  latest_version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  model TEXT NOT NULL,
  removed INTEGER NOT NULL,
  updated_ms BIGINT NOT NULL);
CREATE INDEX cicd_policies_by_model ON cicd_policies (model);
CREATE TABLE cicd_policy_versions (
  name TEXT NOT NULL,
  version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (name, version))
)sql";

constexpr storage::Migration kMigrations[] = {
    {.version = 1, .name = "policies: names, versions", .sql = kSchemaV1},
};

}  // namespace

Json PolicyChangeToJson(const PolicyChange& change) {
  return storage::DefinitionChangeToJson(change);
}

Json PolicyVersionToJson(const PolicyVersion& version) {
  return Json{{"name", version.name},
              {"version", version.version},
              {"content_hash", version.content_hash},
              {"created_ms", version.created_ms},
              {"removed", version.removed},
              {"spec", PolicySpecToJson(version.spec)}};
}

absl::Status ApplyPolicyMigrations(storage::Database& db) {
  return storage::ApplyMigrations(db, "cicd_policies", kMigrations);
}

PolicyRegistry::PolicyRegistry(storage::Database& db, Clock& clock)
    : store_(db, clock,
             {.kind = "policy",
              .table = "cicd_policies",
              .versions_table = "cicd_policy_versions",
              .columns = {"model"},
              .diff = pipelines::DiffPipelineJson,
              .list_hint = "list policies with GET /api/v1/cicd/policies"},
             {.to_json = PolicySpecToJson,
              .from_json = PolicySpecFromJson,
              .columns = [](const PolicySpec& spec) { return std::vector{spec.model}; }}) {}
PolicyRegistry::~PolicyRegistry() = default;

absl::StatusOr<std::unique_ptr<PolicyRegistry>> PolicyRegistry::Open(storage::Database& db,
                                                                     Clock& clock) {
  CAIRN_RETURN_IF_ERROR(ApplyPolicyMigrations(db));
  return std::unique_ptr<PolicyRegistry>(new PolicyRegistry(db, clock));
}

absl::StatusOr<std::vector<PolicyChange>> PolicyRegistry::Apply(
    const std::vector<PolicySpec>& specs, bool dry_run, bool prune) {
  std::set<std::string> names;
  std::map<std::string, const PolicySpec*> by_model;
  for (const PolicySpec& spec : specs) {
    if (!names.insert(spec.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.file, ":", spec.line, ": policy ", spec.name,
          ": is defined twice in this apply: give each policy its own name"));
    }
    auto [it, inserted] = by_model.emplace(spec.model, &spec);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.file, ":", spec.line, ": policy ", spec.name, ": model '", spec.model,
          "' is already governed by policy ", it->second->name, " in this apply (",
          it->second->file, ":", it->second->line,
          "): one policy per model; merge their gates into one"));
    }
  }
  // A registered live policy that stays live after this apply (not in it, not pruned)
  // must not govern a model that a policy of this apply governs.
  auto check = [&](const std::map<std::string, storage::DefinitionHead>& heads) {
    if (prune) return absl::OkStatus();
    for (const auto& [name, head] : heads) {
      if (head.removed || names.count(name)) continue;
      auto it = by_model.find(head.columns[0]);
      if (it == by_model.end()) continue;
      const PolicySpec& spec = *it->second;
      return absl::InvalidArgumentError(absl::StrCat(
          spec.file, ":", spec.line, ": policy ", spec.name, ": model '", spec.model,
          "' is already governed by registered policy ", name, " (v", head.latest_version,
          "): one policy per model; change that policy, or apply this one with --prune "
          "without it"));
    }
    return absl::OkStatus();
  };
  return store_.Apply(specs, dry_run, prune, check);
}

absl::StatusOr<PolicyVersion> PolicyRegistry::Get(std::string_view name,
                                                  std::optional<int64_t> version) {
  return store_.Get(name, version);
}

absl::StatusOr<std::vector<PolicyVersion>> PolicyRegistry::List() { return store_.List(); }

absl::StatusOr<PolicyVersion> PolicyRegistry::ForModel(std::string_view model) {
  // Were two live rows ever present (a concurrent apply by another process), the answer
  // is still deterministic: the first by name.
  CAIRN_ASSIGN_OR_RETURN(std::vector<PolicyVersion> found, store_.List("model", model));
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "no policy governs model '", ToAbsl(model), "': apply a kind: Policy with model: ",
        ToAbsl(model), " (cairn apply FILE)"));
  }
  return std::move(found.front());
}

}  // namespace cairn::cicd
