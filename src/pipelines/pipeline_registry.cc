#include "pipelines/pipeline_registry.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/definition_json.h"
#include "pipelines/pipeline_diff.h"
#include "pipelines/pipeline_json.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::pipelines {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE pipelines (
  name TEXT PRIMARY KEY,
  latest_version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  removed INTEGER NOT NULL,
  updated_ms BIGINT NOT NULL);
CREATE TABLE pipeline_versions (
  name TEXT NOT NULL,
  version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (name, version))
)sql";

constexpr storage::Migration kMigrations[] = {
    {.version = 1, .name = "pipelines: names, versions", .sql = kSchemaV1},
};

// Columns of every version read, in this order (v: pipeline_versions, p: pipelines).
constexpr char kVersionColumns[] =
    "v.name, v.version, v.content_hash, v.spec, v.created_ms, p.removed";

struct Head {
  int64_t latest_version = 0;
  std::string content_hash;
  bool removed = false;
};

// How many applies may race on PostgreSQL before one gives up (each retry re-plans).
constexpr int kApplyTries = 5;

}  // namespace

struct PipelineRegistry::Cache {
  absl::Mutex mu;
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const PipelineSpec>> specs
      ABSL_GUARDED_BY(mu);
};

namespace {

constexpr size_t kMaxCached = 20'000;

absl::StatusOr<std::shared_ptr<const PipelineSpec>> ParseSpec(std::string_view name,
                                                              int64_t version,
                                                              std::string_view text) {
  absl::StatusOr<Json> json = ParseJson(text);
  if (!json.ok()) {
    return absl::InternalError(absl::StrCat("pipeline ", ToAbsl(name), " v", version,
                                            ": stored spec is not JSON: ",
                                            json.status().message()));
  }
  absl::StatusOr<PipelineSpec> spec = PipelineFromJson(*json);
  if (!spec.ok()) {
    return absl::InternalError(absl::StrCat("pipeline ", ToAbsl(name), " v", version,
                                            ": stored spec: ", spec.status().message()));
  }
  spec->file = absl::StrCat("registry (", ToAbsl(name), " v", version, ")");
  return std::make_shared<const PipelineSpec>(std::move(*spec));
}

}  // namespace

PipelineRegistry::PipelineRegistry(storage::Database& db, Clock& clock)
    : db_(db), clock_(clock), cache_(std::make_unique<Cache>()) {}

PipelineRegistry::~PipelineRegistry() = default;

absl::StatusOr<std::unique_ptr<PipelineRegistry>> PipelineRegistry::Open(storage::Database& db,
                                                                          Clock& clock) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "pipelines", kMigrations));
  std::unique_ptr<PipelineRegistry> registry(new PipelineRegistry(db, clock));
  // Parse the latest versions now, so that the first List / Get after a start is as fast
  // as the later ones.
  CAIRN_RETURN_IF_ERROR(registry->List().status());
  return registry;
}

absl::StatusOr<PipelineVersion> PipelineRegistry::ReadVersion(const SqlRowView& row) {
  Cache& cache = *cache_;
  PipelineVersion out;
  out.name = std::string(row.Text(0));
  out.version = row.Int(1);
  out.content_hash = std::string(row.Text(2));
  out.created_ms = row.Int(4);
  out.removed = row.Int(5) != 0;
  std::shared_ptr<const PipelineSpec> spec;
  auto key = std::make_pair(out.name, out.version);
  {
    absl::MutexLock lock(&cache.mu);
    auto it = cache.specs.find(key);
    if (it != cache.specs.end()) spec = it->second;
  }
  if (spec == nullptr) {
    CAIRN_ASSIGN_OR_RETURN(spec, ParseSpec(out.name, out.version, row.Text(3)));
    absl::MutexLock lock(&cache.mu);
    if (cache.specs.size() >= kMaxCached) cache.specs.clear();
    cache.specs.emplace(key, spec);
  }
  out.spec = *spec;
  return out;
}

absl::StatusOr<std::vector<PipelineChange>> PipelineRegistry::Apply(
    const std::vector<PipelineSpec>& specs, bool dry_run, bool prune) {
  std::set<std::string> names;
  for (const PipelineSpec& spec : specs) {
    if (!names.insert(spec.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.file, ":", spec.line, ": pipeline ", spec.name,
          ": is defined twice in this apply: give each pipeline its own name"));
    }
  }
  // Canonical forms once, outside the transaction (which may run more than once).
  std::vector<std::string> texts, hashes;
  std::vector<Json> jsons;
  for (const PipelineSpec& spec : specs) {
    jsons.push_back(PipelineToJson(spec));
    texts.push_back(DumpJson(jsons.back()));
    hashes.push_back(features::Sha256Hex(texts.back()));
  }
  std::vector<PipelineChange> changes;
  auto plan = [&](SqlSession& session, bool write) -> absl::Status {
    changes.clear();
    const int64_t now = clock_.NowMillis();
    std::map<std::string, Head> heads;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "SELECT name, latest_version, content_hash, removed FROM pipelines", {},
        [&](const SqlRowView& row) {
          heads[std::string(row.Text(0))] =
              Head{row.Int(1), std::string(row.Text(2)), row.Int(3) != 0};
          return absl::OkStatus();
        }));
    for (size_t i = 0; i < specs.size(); ++i) {
      const PipelineSpec& spec = specs[i];
      PipelineChange change;
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
              "SELECT spec FROM pipeline_versions WHERE name = $1 AND version = $2", params,
              [&](const SqlRowView& row) {
                old_text = std::string(row.Text(0));
                return absl::OkStatus();
              }));
          absl::StatusOr<Json> old_json = ParseJson(old_text);
          if (old_json.ok()) change.diffs = DiffPipelineJson(*old_json, jsons[i]);
        }
      }
      if (write && change.action != "unchanged") {
        if (new_version) {
          std::vector<SqlValue> params = {spec.name, *change.new_version, hashes[i], texts[i],
                                          now};
          CAIRN_RETURN_IF_ERROR(session.Execute(
              "INSERT INTO pipeline_versions (name, version, content_hash, spec, created_ms) "
              "VALUES ($1, $2, $3, $4, $5)",
              params).status());
        }
        std::vector<SqlValue> params = {spec.name, *change.new_version, hashes[i], now};
        CAIRN_RETURN_IF_ERROR(session.Execute(
            "INSERT INTO pipelines (name, latest_version, content_hash, removed, updated_ms) "
            "VALUES ($1, $2, $3, 0, $4) ON CONFLICT (name) DO UPDATE SET latest_version = $2, "
            "content_hash = $3, removed = 0, updated_ms = $4",
            params).status());
      }
      changes.push_back(std::move(change));
    }
    if (prune) {
      for (const auto& [name, head] : heads) {
        if (head.removed || names.count(name)) continue;
        PipelineChange change;
        change.action = "removed";
        change.name = name;
        change.old_version = head.latest_version;
        if (write) {
          std::vector<SqlValue> params = {name, now};
          CAIRN_RETURN_IF_ERROR(session.Execute(
              "UPDATE pipelines SET removed = 1, updated_ms = $2 WHERE name = $1", params)
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
    // A concurrent apply wrote the same next version first: plan again on its result.
    if (!absl::IsAlreadyExists(status) && !absl::IsAborted(status)) break;
  }
  CAIRN_RETURN_IF_ERROR(status);
  return changes;
}

absl::StatusOr<PipelineVersion> PipelineRegistry::Get(std::string_view name,
                                                      std::optional<int64_t> version) {
  std::optional<PipelineVersion> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> params = {std::string(name)};
    std::string sql = absl::StrCat("SELECT ", kVersionColumns,
                                   " FROM pipelines p JOIN pipeline_versions v ON v.name = "
                                   "p.name AND v.version = ");
    if (version) {
      absl::StrAppend(&sql, "$2 WHERE p.name = $1");
      params.push_back(*version);
    } else {
      absl::StrAppend(&sql, "p.latest_version WHERE p.name = $1");
    }
    return session.QueryEach(sql, params, [&](const SqlRowView& row) -> absl::Status {
      CAIRN_ASSIGN_OR_RETURN(PipelineVersion v, ReadVersion(row));
      found = std::move(v);
      return absl::OkStatus();
    });
  }));
  if (!found) {
    if (!version) {
      return absl::NotFoundError(absl::StrCat(
          "pipeline '", ToAbsl(name), "' is not registered: apply its definition first "
                                      "(cairn apply FILE); list pipelines with cairn pipelines list"));
    }
    absl::StatusOr<PipelineVersion> latest = Get(name);
    if (!latest.ok()) return latest.status();
    return absl::NotFoundError(absl::StrCat("pipeline '", ToAbsl(name), "' has no version ",
                                            *version, ": its versions are 1 to ",
                                            latest->version));
  }
  return std::move(*found);
}

absl::StatusOr<std::vector<PipelineVersion>> PipelineRegistry::List() {
  std::vector<PipelineVersion> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    return session.QueryEach(
        absl::StrCat("SELECT ", kVersionColumns,
                     " FROM pipelines p JOIN pipeline_versions v ON v.name = p.name AND "
                     "v.version = p.latest_version WHERE p.removed = 0 ORDER BY p.name"),
        {}, [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(PipelineVersion v, ReadVersion(row));
          out.push_back(std::move(v));
          return absl::OkStatus();
        });
  }));
  return out;
}

absl::StatusOr<std::vector<PipelineVersion>> PipelineRegistry::Versions(std::string_view name) {
  std::vector<PipelineVersion> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    std::vector<SqlValue> params = {std::string(name)};
    return session.QueryEach(
        absl::StrCat("SELECT ", kVersionColumns,
                     " FROM pipelines p JOIN pipeline_versions v ON v.name = p.name WHERE "
                     "p.name = $1 ORDER BY v.version"),
        params, [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(PipelineVersion v, ReadVersion(row));
          out.push_back(std::move(v));
          return absl::OkStatus();
        });
  }));
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "pipeline '", ToAbsl(name),
        "' is not registered: apply its definition first (cairn apply FILE)"));
  }
  return out;
}

absl::StatusOr<Json> PipelineRegistry::Diff(std::string_view name, int64_t v1, int64_t v2) {
  CAIRN_ASSIGN_OR_RETURN(PipelineVersion a, Get(name, v1));
  CAIRN_ASSIGN_OR_RETURN(PipelineVersion b, Get(name, v2));
  return DiffPipelines(a.spec, b.spec);
}

}  // namespace cairn::pipelines
