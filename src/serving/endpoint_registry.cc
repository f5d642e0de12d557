#include "serving/endpoint_registry.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/definition_json.h"
#include "pipelines/pipeline_diff.h"
#include "serving/endpoint_json.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::serving {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

// endpoint_rollouts and endpoint_events belong to endpoint_store.cc but share the
// component: one list of migrations per component (storage/migrations.h), kept here. At
// most one running rollout per endpoint: a partial unique index (SQLite and PostgreSQL).
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE endpoints (
  name TEXT PRIMARY KEY,
  latest_version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  removed INTEGER NOT NULL,
  updated_ms BIGINT NOT NULL);
CREATE TABLE endpoint_versions (
  name TEXT NOT NULL,
  version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE endpoint_rollouts (
  id TEXT PRIMARY KEY,
  endpoint TEXT NOT NULL,
  model TEXT NOT NULL,
  version BIGINT NOT NULL,
  alias TEXT NOT NULL,
  mode TEXT NOT NULL,
  percent DOUBLE PRECISION NOT NULL,
  guard TEXT NOT NULL,
  on_pass TEXT NOT NULL,
  on_fail TEXT NOT NULL,
  state TEXT NOT NULL,
  started_ms BIGINT NOT NULL,
  ended_ms BIGINT NOT NULL,
  verdict TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  ended_by TEXT NOT NULL,
  end_reason TEXT NOT NULL);
CREATE INDEX endpoint_rollouts_by_endpoint ON endpoint_rollouts (endpoint, started_ms);
CREATE UNIQUE INDEX endpoint_rollouts_running ON endpoint_rollouts (endpoint)
  WHERE state = 'running'
)sql";

// Event ids increase per database: the dialects spell that differently.
constexpr char kSchemaV2Sqlite[] = R"sql(
CREATE TABLE endpoint_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  endpoint TEXT NOT NULL,
  time_ms BIGINT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE INDEX endpoint_events_by_endpoint ON endpoint_events (endpoint, id)
)sql";

constexpr char kSchemaV2Postgres[] = R"sql(
CREATE TABLE endpoint_events (
  id BIGSERIAL PRIMARY KEY,
  endpoint TEXT NOT NULL,
  time_ms BIGINT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE INDEX endpoint_events_by_endpoint ON endpoint_events (endpoint, id)
)sql";

constexpr storage::Migration kMigrations[] = {
    {.version = 1, .name = "endpoints: names, versions, rollouts", .sql = kSchemaV1},
    {.version = 2,
     .name = "endpoints: event timeline",
     .sql = kSchemaV2Sqlite,
     .sqlite_sql = kSchemaV2Sqlite,
     .postgres_sql = kSchemaV2Postgres},
};

constexpr char kVersionColumns[] =
    "v.name, v.version, v.content_hash, v.spec, v.created_ms, p.removed";

struct Head {
  int64_t latest_version = 0;
  std::string content_hash;
  bool removed = false;
};

constexpr int kApplyTries = 5;

absl::StatusOr<EndpointVersion> ReadVersion(const SqlRowView& row) {
  EndpointVersion out;
  out.name = std::string(row.Text(0));
  out.version = row.Int(1);
  out.content_hash = std::string(row.Text(2));
  out.created_ms = row.Int(4);
  out.removed = row.Int(5) != 0;
  absl::StatusOr<Json> json = ParseJson(row.Text(3));
  if (!json.ok()) {
    return absl::InternalError(absl::StrCat("endpoint ", out.name, " v", out.version,
                                            ": stored spec is not JSON: ",
                                            json.status().message()));
  }
  absl::StatusOr<EndpointSpec> spec = EndpointSpecFromJson(*json);
  if (!spec.ok()) {
    return absl::InternalError(absl::StrCat("endpoint ", out.name, " v", out.version,
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

Json EndpointChangeToJson(const EndpointChange& change) {
  return Json{{"action", change.action},
              {"name", change.name},
              {"old_version", OptionalVersion(change.old_version)},
              {"new_version", OptionalVersion(change.new_version)},
              {"diffs", change.diffs}};
}

Json EndpointVersionToJson(const EndpointVersion& version) {
  return Json{{"name", version.name},
              {"version", version.version},
              {"content_hash", version.content_hash},
              {"created_ms", version.created_ms},
              {"removed", version.removed},
              {"spec", EndpointSpecToJson(version.spec)}};
}

absl::Status ApplyEndpointMigrations(storage::Database& db) {
  return storage::ApplyMigrations(db, "serving_endpoints", kMigrations);
}

EndpointRegistry::EndpointRegistry(storage::Database& db, Clock& clock)
    : db_(db), clock_(clock) {}
EndpointRegistry::~EndpointRegistry() = default;

absl::StatusOr<std::unique_ptr<EndpointRegistry>> EndpointRegistry::Open(storage::Database& db,
                                                                         Clock& clock) {
  CAIRN_RETURN_IF_ERROR(ApplyEndpointMigrations(db));
  return std::unique_ptr<EndpointRegistry>(new EndpointRegistry(db, clock));
}

absl::StatusOr<std::vector<EndpointChange>> EndpointRegistry::Apply(
    const std::vector<EndpointSpec>& specs, bool dry_run, bool prune) {
  std::map<std::string, const EndpointSpec*> names;
  for (const EndpointSpec& spec : specs) {
    auto [it, inserted] = names.emplace(spec.name, &spec);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.file, ":", spec.line, ": endpoint ", spec.name, ": defined twice in this apply "
          "(also at ", it->second->file, ":", it->second->line,
          "): give each endpoint its own name"));
    }
  }
  std::vector<std::string> texts, hashes;
  std::vector<Json> jsons;
  for (const EndpointSpec& spec : specs) {
    jsons.push_back(EndpointSpecToJson(spec));
    texts.push_back(DumpJson(jsons.back()));
    hashes.push_back(features::Sha256Hex(texts.back()));
  }
  std::vector<EndpointChange> changes;
  auto plan = [&](SqlSession& session, bool write) -> absl::Status {
    changes.clear();
    const int64_t now = clock_.NowMillis();
    std::map<std::string, Head> heads;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "SELECT name, latest_version, content_hash, removed FROM endpoints", {},
        [&](const SqlRowView& row) {
          heads[std::string(row.Text(0))] =
              Head{row.Int(1), std::string(row.Text(2)), row.Int(3) != 0};
          return absl::OkStatus();
        }));
    for (size_t i = 0; i < specs.size(); ++i) {
      const EndpointSpec& spec = specs[i];
      EndpointChange change;
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
              "SELECT spec FROM endpoint_versions WHERE name = $1 AND version = $2", params,
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
                  .Execute("INSERT INTO endpoint_versions (name, version, content_hash, spec, "
                           "created_ms) VALUES ($1, $2, $3, $4, $5)",
                           params)
                  .status());
        }
        std::vector<SqlValue> params = {spec.name, *change.new_version, hashes[i], now};
        CAIRN_RETURN_IF_ERROR(
            session
                .Execute("INSERT INTO endpoints (name, latest_version, content_hash, removed, "
                         "updated_ms) VALUES ($1, $2, $3, 0, $4) ON CONFLICT (name) DO UPDATE "
                         "SET latest_version = $2, content_hash = $3, removed = 0, "
                         "updated_ms = $4",
                         params)
                .status());
      }
      changes.push_back(std::move(change));
    }
    if (prune) {
      for (const auto& [name, head] : heads) {
        if (head.removed || names.count(name)) continue;
        EndpointChange change;
        change.action = "removed";
        change.name = name;
        change.old_version = head.latest_version;
        if (write) {
          std::vector<SqlValue> params = {name, now};
          CAIRN_RETURN_IF_ERROR(
              session.Execute("UPDATE endpoints SET removed = 1, updated_ms = $2 WHERE name = $1",
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

absl::StatusOr<EndpointVersion> EndpointRegistry::Get(std::string_view name,
                                                      std::optional<int64_t> version) {
  std::optional<EndpointVersion> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> params = {std::string(name)};
    std::string sql = absl::StrCat(
        "SELECT ", kVersionColumns,
        " FROM endpoints p JOIN endpoint_versions v ON v.name = p.name AND v.version = ");
    if (version) {
      absl::StrAppend(&sql, "$2 WHERE p.name = $1");
      params.push_back(*version);
    } else {
      absl::StrAppend(&sql, "p.latest_version WHERE p.name = $1");
    }
    return session.QueryEach(sql, params, [&](const SqlRowView& row) -> absl::Status {
      CAIRN_ASSIGN_OR_RETURN(EndpointVersion v, ReadVersion(row));
      found = std::move(v);
      return absl::OkStatus();
    });
  }));
  if (!found) {
    if (!version) {
      return absl::NotFoundError(absl::StrCat(
          "endpoint '", ToAbsl(name),
          "' is not registered: apply its definition first (cairn apply FILE); list endpoints "
          "with cairn endpoints list"));
    }
    absl::StatusOr<EndpointVersion> latest = Get(name);
    if (!latest.ok()) return latest.status();
    return absl::NotFoundError(absl::StrCat("endpoint '", ToAbsl(name), "' has no version ",
                                            *version, ": its versions are 1 to ",
                                            latest->version));
  }
  return std::move(*found);
}

absl::StatusOr<std::vector<EndpointVersion>> EndpointRegistry::List() {
  std::vector<EndpointVersion> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    return session.QueryEach(
        absl::StrCat("SELECT ", kVersionColumns,
                     " FROM endpoints p JOIN endpoint_versions v ON v.name = p.name AND "
                     "v.version = p.latest_version WHERE p.removed = 0 ORDER BY p.name"),
        {}, [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(EndpointVersion v, ReadVersion(row));
          out.push_back(std::move(v));
          return absl::OkStatus();
        });
  }));
  return out;
}

}  // namespace cairn::serving
