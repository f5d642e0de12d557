#include "pipelines/pipeline_registry.h"

#include "common/status.h"
#include "pipelines/pipeline_diff.h"
#include "pipelines/pipeline_json.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::pipelines {
namespace {

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

constexpr size_t kMaxCached = 20'000;

}  // namespace

PipelineRegistry::PipelineRegistry(storage::Database& db, Clock& clock)
    : store_(db, clock,
             {.kind = "pipeline",
              .table = "pipelines",
              .versions_table = "pipeline_versions",
              .diff = DiffPipelineJson,
              .list_hint = "list pipelines with cairn pipelines list"},
             {.to_json = PipelineToJson, .from_json = PipelineFromJson}, kMaxCached) {}

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

absl::StatusOr<std::vector<PipelineChange>> PipelineRegistry::Apply(
    const std::vector<PipelineSpec>& specs, bool dry_run, bool prune) {
  return store_.Apply(specs, dry_run, prune);
}

absl::StatusOr<PipelineVersion> PipelineRegistry::Get(std::string_view name,
                                                      std::optional<int64_t> version) {
  return store_.Get(name, version);
}

absl::StatusOr<std::vector<PipelineVersion>> PipelineRegistry::List() { return store_.List(); }

absl::StatusOr<std::vector<PipelineVersion>> PipelineRegistry::Versions(std::string_view name) {
  return store_.Versions(name);
}

absl::StatusOr<Json> PipelineRegistry::Diff(std::string_view name, int64_t v1, int64_t v2) {
  CAIRN_ASSIGN_OR_RETURN(PipelineVersion a, Get(name, v1));
  CAIRN_ASSIGN_OR_RETURN(PipelineVersion b, Get(name, v2));
  return DiffPipelines(a.spec, b.spec);
}

}  // namespace cairn::pipelines
