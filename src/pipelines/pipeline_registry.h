#pragma once
// Versioned pipeline definitions on the metadata database (SQLite or PostgreSQL). Each
// applied change of a pipeline's canonical content (pipeline_json.h) is a new version
// 1, 2, …; an unchanged pipeline (same content hash) creates nothing; every version stays
// readable. Runs pin one version. Thread-safe.
//
// A typed wrapper over storage/definition_store.h. Tables (migrations component
// "pipelines"): pipelines (one row per name: latest version, its hash, removed flag) and
// pipeline_versions (name, version → canonical JSON), keyed by (name, version), so Get
// and List read one indexed row per pipeline. Parsed versions are cached in memory
// (versions never change once written).

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/json.h"
#include "pipelines/pipeline_spec.h"
#include "storage/definition_store.h"

namespace cairn::pipelines {

// {name, version, content_hash, spec, created_ms, removed}: one stored version (removed:
// pruned by `apply --prune`; its versions stay readable).
using PipelineVersion = storage::DefinitionVersion<PipelineSpec>;

// One entry of an apply plan, shaped like every registry's (cli/apply.cc prints them all):
// action "added" | "changed" | "unchanged" | "removed", name, old/new version, diffs
// [{"path": "steps[1].command", "old": …, "new": …}].
using PipelineChange = storage::DefinitionChange;

class PipelineRegistry {
 public:
  // Applies the schema migrations and reads the latest versions into the cache. `db` and
  // `clock` outlive the registry.
  static absl::StatusOr<std::unique_ptr<PipelineRegistry>> Open(storage::Database& db, Clock& clock);
  ~PipelineRegistry();

  // Plans (and unless dry_run, applies) `specs`; they must already be validated.
  // `prune` marks registered pipelines missing from `specs` as removed. Changes come in
  // the order of `specs`, then the removed ones by name. A removed pipeline applied again
  // is "added" (with a new version only when its content changed). Two specs with one
  // name: InvalidArgument.
  absl::StatusOr<std::vector<PipelineChange>> Apply(const std::vector<PipelineSpec>& specs,
                                                    bool dry_run, bool prune);
  // The latest version when `version` is empty (also for a removed pipeline, with
  // removed set). NotFound names the pipeline / version.
  absl::StatusOr<PipelineVersion> Get(std::string_view name, std::optional<int64_t> version = {});
  // The latest version of every pipeline not removed, by name.
  absl::StatusOr<std::vector<PipelineVersion>> List();
  // Every version of one pipeline, oldest first.
  absl::StatusOr<std::vector<PipelineVersion>> Versions(std::string_view name);
  // Field-level differences between two versions ([{"path", "old", "new"}], see
  // pipeline_diff.h). NotFound names the missing version.
  absl::StatusOr<Json> Diff(std::string_view name, int64_t v1, int64_t v2);

 private:
  PipelineRegistry(storage::Database& db, Clock& clock);

  storage::TypedDefinitionStore<PipelineSpec> store_;
};

}  // namespace cairn::pipelines
