#include "api/server_main.h"

#include <malloc.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "api/api_context.h"
#include "api/http_server.h"
#include "api/routes.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/feature_registry.h"
#include "features/feature_store.h"
#include "storage/artifact_store.h"
#include "storage/database.h"
#include "tracking/logged_model_store.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"

namespace cairn::api {
namespace {

// Everything the server owns, in construction order (destroyed in reverse).
struct ServerState {
  std::unique_ptr<storage::Database> db;
  std::unique_ptr<tracking::TrackingStore> tracking;
  std::unique_ptr<tracking::ModelRegistry> registry;
  std::unique_ptr<tracking::LoggedModelStore> logged_models;
  std::unique_ptr<storage::ArtifactStore> artifacts;
  std::unique_ptr<features::FeatureStore> feature_store;
  ApiContext context;
};

absl::StatusOr<std::unique_ptr<ServerState>> OpenState(const ServerConfig& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec)
    return absl::InvalidArgumentError(absl::StrCat("--data ", config.data_dir,
                                                   ": cannot create directory: ", ec.message()));
  auto state = std::make_unique<ServerState>();
  std::string url = config.metadata_url.empty()
                        ? (std::filesystem::path(config.data_dir) / "cairn.db").string()
                        : config.metadata_url;
  CAIRN_ASSIGN_OR_RETURN(state->db, storage::OpenDatabase(url));
  CAIRN_ASSIGN_OR_RETURN(state->tracking, tracking::TrackingStore::Open(*state->db, RealClock()));
  CAIRN_ASSIGN_OR_RETURN(state->registry, tracking::ModelRegistry::Open(*state->db, RealClock()));
  CAIRN_ASSIGN_OR_RETURN(state->logged_models, tracking::LoggedModelStore::Open(
                                                   *state->db, RealClock(), *state->tracking));
  CAIRN_ASSIGN_OR_RETURN(
      state->feature_store,
      features::FeatureStore::Open(*state->db, RealClock(),
                                   {.data_dir = config.data_dir, .online_url = config.online_url}));
  state->artifacts = std::make_unique<storage::ArtifactStore>(
      (std::filesystem::path(config.data_dir) / "artifacts").string());
  state->context = ApiContext{.tracking = state->tracking.get(),
                              .registry = state->registry.get(),
                              .logged_models = state->logged_models.get(),
                              .artifacts = state->artifacts.get(),
                              .feature_registry = &state->feature_store->registry(),
                              .feature_store = state->feature_store.get(),
                              .apply_features = {}};
  features::FeatureStore* store = state->feature_store.get();
  store->StartBackground(/*compact_every_ms=*/60'000, config.materialize_every_ms);
  state->context.apply_features = [store](const features::DefinitionSet& defs, bool dry_run,
                                          bool prune) { return store->Apply(defs, dry_run, prune); };
  return state;
}

}  // namespace

int RunServer(const ServerConfig& config) {
  // Large response buffers (a million-point metric history is ~75 MB) are mapped and
  // unmapped on their own instead of staying in the heap after they are freed: glibc's
  // adaptive threshold would otherwise keep the biggest buffer ever used resident.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  auto state = OpenState(config);
  if (!state.ok()) {
    std::fprintf(stderr, "cairn server: %s\n", std::string(state.status().message()).c_str());
    return 1;
  }
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  ServerOptions options;
  options.host = config.host;
  options.port = config.port;
  options.io_threads = config.io_threads > 0 ? config.io_threads : static_cast<int>(cores);
  options.worker_threads = config.worker_threads > 0
                               ? config.worker_threads
                               : static_cast<int>(std::max(4u, 2 * cores));
  options.tmp_dir = (*state)->artifacts->TempDir();
  options.access_log = config.access_log;
  HttpServer server(options, BuildRouter((*state)->context));
  absl::Status started = server.Start();
  if (!started.ok()) {
    std::fprintf(stderr, "cairn server: %s\n", std::string(started.message()).c_str());
    return 1;
  }
  server.StopOnSignals();
  std::printf("cairn server listening on http://%s:%d\n", config.host.c_str(), server.port());
  std::fflush(stdout);
  Log(LogLevel::kInfo, absl::StrCat("data directory ", config.data_dir));
  server.Wait();
  Log(LogLevel::kInfo, "server stopped");
  return 0;
}

}  // namespace cairn::api
