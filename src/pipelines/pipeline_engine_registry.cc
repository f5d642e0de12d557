// PipelineEngine::Open over the pipeline registry (kept in its own file so that engine
// tests that supply a VersionLookup do not link the registry).

#include "pipelines/pipeline_engine.h"
#include "pipelines/pipeline_registry.h"

namespace cairn::pipelines {

absl::StatusOr<std::unique_ptr<PipelineEngine>> PipelineEngine::Open(
    storage::Database& db, Clock& clock, PipelineRegistry& registry,
    std::map<std::string, compute::Executor*> executors, tracking::TrackingStore* tracking,
    EngineOptions options) {
  VersionLookup lookup = [&registry](std::string_view name, std::optional<int64_t> version) {
    return registry.Get(name, version);
  };
  return Open(db, clock, std::move(lookup), std::move(executors), tracking, std::move(options));
}

}  // namespace cairn::pipelines
