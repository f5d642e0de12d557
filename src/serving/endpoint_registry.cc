#include "serving/endpoint_registry.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "pipelines/pipeline_diff.h"
#include "serving/endpoint_json.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::serving {
namespace {

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

}  // namespace

Json EndpointChangeToJson(const EndpointChange& change) {
  return storage::DefinitionChangeToJson(change);
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
    : store_(db, clock,
             {.kind = "endpoint",
              .table = "endpoints",
              .versions_table = "endpoint_versions",
              .diff = pipelines::DiffPipelineJson,
              .list_hint = "list endpoints with cairn endpoints list"},
             {.to_json = EndpointSpecToJson, .from_json = EndpointSpecFromJson}) {}
EndpointRegistry::~EndpointRegistry() = default;

absl::StatusOr<std::unique_ptr<EndpointRegistry>> EndpointRegistry::Open(storage::Database& db,
                                                                         Clock& clock) {
  CAIRN_RETURN_IF_ERROR(ApplyEndpointMigrations(db));
  return std::unique_ptr<EndpointRegistry>(new EndpointRegistry(db, clock));
}

absl::StatusOr<std::vector<EndpointChange>> EndpointRegistry::Apply(
    const std::vector<EndpointSpec>& specs, bool dry_run, bool prune) {
  // Its own message for two specs with one name: it names both places.
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
  return store_.Apply(specs, dry_run, prune);
}

absl::StatusOr<EndpointVersion> EndpointRegistry::Get(std::string_view name,
                                                      std::optional<int64_t> version) {
  return store_.Get(name, version);
}

absl::StatusOr<std::vector<EndpointVersion>> EndpointRegistry::List() { return store_.List(); }

}  // namespace cairn::serving
