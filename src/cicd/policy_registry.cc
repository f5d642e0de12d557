#include "cicd/policy_registry.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cicd/policy_json.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/definition_json.h"
#include "pipelines/pipeline_diff.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::cicd {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

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

constexpr char kVersionColumns[] =
    "v.name, v.version, v.content_hash, v.spec, v.created_ms, p.removed";
constexpr char kLatestJoin[] =
    " FROM cicd_policies p JOIN cicd_policy_versions v ON v.name = p.name AND v.version = "
    "p.latest_version";

struct Head {
  int64_t latest_version = 0;
  std::string content_hash;
  std::string model;
  bool removed = false;
};

constexpr int kApplyTries = 5;

absl::StatusOr<PolicyVersion> ReadVersion(const SqlRowView& row) {
  PolicyVersion out;
  out.name = std::string(row.Text(0));
  out.version = row.Int(1);
  out.content_hash = std::string(row.Text(2));
  out.created_ms = row.Int(4);
  out.removed = row.Int(5) != 0;
  absl::StatusOr<Json> json = ParseJson(row.Text(3));
  if (!json.ok()) {
    return absl::InternalError(absl::StrCat("policy ", out.name, " v", out.version,
                                            ": stored spec is not JSON: ",
                                            json.status().message()));
  }
  absl::StatusOr<PolicySpec> spec = PolicySpecFromJson(*json);
  if (!spec.ok()) {
    return absl::InternalError(absl::StrCat("policy ", out.name, " v", out.version,
                                            ": stored spec: ", spec.status().message()));
  }
  out.spec = std::move(*spec);
  out.spec.file = absl::StrCat("registry (", out.name, " v", out.version, ")");
  return out;
}

Json OptionalVersion(const std::optional<int64_t>& version) {
  return version.has_value() ? Json(*version) : Json(nullptr);
}

}  // namespace

Json PolicyChangeToJson(const PolicyChange& change) {
  return Json{{"action", change.action},
              {"name", change.name},
              {"old_version", OptionalVersion(change.old_version)},
              {"new_version", OptionalVersion(change.new_version)},
              {"diffs", change.diffs}};
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

PolicyRegistry::PolicyRegistry(storage::Database& db, Clock& clock) : db_(db), clock_(clock) {}
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
  std::vector<std::string> texts, hashes;
  std::vector<Json> jsons;
  for (const PolicySpec& spec : specs) {
    jsons.push_back(PolicySpecToJson(spec));
    texts.push_back(DumpJson(jsons.back()));
    hashes.push_back(features::Sha256Hex(texts.back()));
  }
  std::vector<PolicyChange> changes;
  auto plan = [&](SqlSession& session, bool write) -> absl::Status {
    changes.clear();
    const int64_t now = clock_.NowMillis();
    std::map<std::string, Head> heads;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "SELECT name, latest_version, content_hash, model, removed FROM cicd_policies", {},
        [&](const SqlRowView& row) {
          heads[std::string(row.Text(0))] = Head{row.Int(1), std::string(row.Text(2)),
                                                 std::string(row.Text(3)), row.Int(4) != 0};
          return absl::OkStatus();
        }));
    // A registered live policy that stays live after this apply (not in it, not pruned)
    // must not govern a model that a policy of this apply governs.
    if (!prune) {
      for (const auto& [name, head] : heads) {
        if (head.removed || names.count(name)) continue;
        auto it = by_model.find(head.model);
        if (it == by_model.end()) continue;
        const PolicySpec& spec = *it->second;
        return absl::InvalidArgumentError(absl::StrCat(
            spec.file, ":", spec.line, ": policy ", spec.name, ": model '", spec.model,
            "' is already governed by registered policy ", name, " (v", head.latest_version,
            "): one policy per model; change that policy, or apply this one with --prune "
            "without it"));
      }
    }
    for (size_t i = 0; i < specs.size(); ++i) {
      const PolicySpec& spec = specs[i];
      PolicyChange change;
      change.name = spec.name;
      auto it = heads.find(spec.name);
      bool new_version = true;
      if (it == heads.end()) {
        change.action = "added";
        change.new_version = 1;
      } else {
        const Head& head = it->second;
        change.old_version = head.latest_version;
        new_version = head.content_hash != hashes[i];
        change.new_version = head.latest_version + (new_version ? 1 : 0);
        change.action = head.removed ? "added" : new_version ? "changed" : "unchanged";
        if (new_version) {
          std::string old_text;
          std::vector<SqlValue> params = {spec.name, head.latest_version};
          CAIRN_RETURN_IF_ERROR(session.QueryEach(
              "SELECT spec FROM cicd_policy_versions WHERE name = $1 AND version = $2", params,
              [&](const SqlRowView& row) {
                old_text = std::string(row.Text(0));
                return absl::OkStatus();
              }));
          absl::StatusOr<Json> old_json = ParseJson(old_text);
          if (old_json.ok()) change.diffs = pipelines::DiffPipelineJson(*old_json, jsons[i]);
        }
      }
      if (write && change.action != "unchanged") {
        if (new_version) {
          std::vector<SqlValue> params = {spec.name, *change.new_version, hashes[i], texts[i],
                                          now};
          CAIRN_RETURN_IF_ERROR(
              session
                  .Execute("INSERT INTO cicd_policy_versions (name, version, content_hash, "
                           "spec, created_ms) VALUES ($1, $2, $3, $4, $5)",
                           params)
                  .status());
        }
        std::vector<SqlValue> params = {spec.name, *change.new_version, hashes[i], spec.model,
                                        now};
        CAIRN_RETURN_IF_ERROR(
            session
                .Execute("INSERT INTO cicd_policies (name, latest_version, content_hash, model, "
                         "removed, updated_ms) VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT "
                         "(name) DO UPDATE SET latest_version = $2, content_hash = $3, "
                         "model = $4, removed = 0, updated_ms = $5",
                         params)
                .status());
      }
      changes.push_back(std::move(change));
    }
    if (prune) {
      for (const auto& [name, head] : heads) {
        if (head.removed || names.count(name)) continue;
        PolicyChange change;
        change.action = "removed";
        change.name = name;
        change.old_version = head.latest_version;
        if (write) {
          std::vector<SqlValue> params = {name, now};
          CAIRN_RETURN_IF_ERROR(
              session
                  .Execute("UPDATE cicd_policies SET removed = 1, updated_ms = $2 WHERE name = $1",
                           params)
                  .status());
        }
        changes.push_back(std::move(change));
      }
    }
    return absl::OkStatus();
  };
  if (dry_run) {
    CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) { return plan(session, false); }));
    return changes;
  }
  absl::Status status;
  for (int attempt = 0; attempt < kApplyTries; ++attempt) {
    status = db_.Write([&](SqlSession& session) { return plan(session, true); });
    if (!absl::IsAlreadyExists(status) && !absl::IsAborted(status)) break;
  }
  CAIRN_RETURN_IF_ERROR(status);
  return changes;
}

absl::StatusOr<PolicyVersion> PolicyRegistry::Get(std::string_view name,
                                                  std::optional<int64_t> version) {
  std::optional<PolicyVersion> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> params = {std::string(name)};
    std::string sql = absl::StrCat(
        "SELECT ", kVersionColumns,
        " FROM cicd_policies p JOIN cicd_policy_versions v ON v.name = p.name AND v.version = ");
    if (version) {
      absl::StrAppend(&sql, "$2 WHERE p.name = $1");
      params.push_back(*version);
    } else {
      absl::StrAppend(&sql, "p.latest_version WHERE p.name = $1");
    }
    return session.QueryEach(sql, params, [&](const SqlRowView& row) -> absl::Status {
      CAIRN_ASSIGN_OR_RETURN(PolicyVersion v, ReadVersion(row));
      found = std::move(v);
      return absl::OkStatus();
    });
  }));
  if (!found) {
    if (!version) {
      return absl::NotFoundError(absl::StrCat(
          "policy '", ToAbsl(name),
          "' is not registered: apply its definition first (cairn apply FILE); list policies "
          "with GET /api/v1/cicd/policies"));
    }
    absl::StatusOr<PolicyVersion> latest = Get(name);
    if (!latest.ok()) return latest.status();
    return absl::NotFoundError(absl::StrCat("policy '", ToAbsl(name), "' has no version ",
                                            *version, ": its versions are 1 to ",
                                            latest->version));
  }
  return std::move(*found);
}

absl::StatusOr<std::vector<PolicyVersion>> PolicyRegistry::List() {
  std::vector<PolicyVersion> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    return session.QueryEach(
        absl::StrCat("SELECT ", kVersionColumns, kLatestJoin,
                     " WHERE p.removed = 0 ORDER BY p.name"),
        {}, [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(PolicyVersion v, ReadVersion(row));
          out.push_back(std::move(v));
          return absl::OkStatus();
        });
  }));
  return out;
}

absl::StatusOr<PolicyVersion> PolicyRegistry::ForModel(std::string_view model) {
  std::optional<PolicyVersion> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> params = {std::string(model)};
    // ORDER BY: were two live rows ever present (a concurrent apply by another process),
    // the answer is still deterministic.
    return session.QueryEach(
        absl::StrCat("SELECT ", kVersionColumns, kLatestJoin,
                     " WHERE p.removed = 0 AND p.model = $1 ORDER BY p.name"),
        params, [&](const SqlRowView& row) -> absl::Status {
          if (found.has_value()) return absl::OkStatus();
          CAIRN_ASSIGN_OR_RETURN(PolicyVersion v, ReadVersion(row));
          found = std::move(v);
          return absl::OkStatus();
        });
  }));
  if (!found) {
    return absl::NotFoundError(absl::StrCat(
        "no policy governs model '", ToAbsl(model), "': apply a kind: Policy with model: ",
        ToAbsl(model), " (cairn apply FILE)"));
  }
  return std::move(*found);
}

}  // namespace cairn::cicd
