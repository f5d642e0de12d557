#pragma once
// The live side of serving endpoints (DESIGN.md §5 "serving", issue 6 items 1, 3, 6): every
// endpoint of the EndpointRegistry deployed in this process, bound to a registered model's
// alias (or a pinned version), its features fetched online by entity key, a canary or
// shadow challenger beside the champion, every predicted row offered to the inference log.
//
// Deployments. Sync() brings the deployments to the registry: new endpoints are loaded,
// changed ones reloaded, removed ones dropped. The model `name@alias` is resolved through
// the ModelRegistry to a version, the version's source (or storage location) to a local
// directory (`mlflow-artifacts:/…` below the ArtifactStore's root, `file://…` or a plain
// path), and the directory loaded through `load_runtime`. A background thread re-resolves
// every alias each `recheck_ms` (and at once on kEventModelAliasMoved from the bus, since
// demo steps and other processes move aliases without it): when the alias names another
// version, that version is loaded off the request path and swapped in; the old runtime
// keeps answering until then, so a redeploy fails no request. Deployments, failures and
// the python pool's scaling are recorded as EndpointStore events.
//
// Predict. Request (JSON):
//   {"entities": {"customer_id": [1001, 1002]},      looked up through the endpoint's
//                                                      feature service (online store)
//    "features": {"tenure": [3, 40], "plan": ["a", "b"]}}   raw values, columnar; they
//                                                      win over looked-up ones
// (at least one of the two; every list has one value per row). Response:
//   {"ids": ["…", "…"], "model": "churn", "model_version": 3,
//    "predictions": [0.12, 0.83], "variant": "champion"}
// A model input found in neither is a 400 naming it. A canary sends each request to the
// challenger with probability percent/100 (a seeded, deterministic sequence), answering
// with "variant": "canary" and its version; a shadow mirrors percent of the requests to
// the challenger on a background thread (bounded queue; dropped when full) and only logs
// its answers. Each row gets an id; rows with ShouldSample(id, log_sample) go to the
// inference log. Every request feeds the rollout's guard; the background thread judges it:
// pass → `promote` (on_pass: promote) and the rollout ends "promoted"; fail → the
// challenger is dropped and the rollout ends "rolled_back" (on_fail: rollback); the
// verdict is stored with the rollout.
//
// Thread-safety: every method may be called from any thread. Predict holds no lock while
// the model predicts: it takes an immutable snapshot of the deployment (champion,
// challenger, guard) under a reader lock and works on it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/json.h"
#include "features/table.h"
#include "serving/endpoint_spec.h"
#include "serving/endpoint_store.h"
#include "serving/inference_record.h"
#include "serving/model_runtime.h"

namespace cairn {
class EventBus;
}  // namespace cairn
namespace cairn::tracking {
class ModelRegistry;
}  // namespace cairn::tracking
namespace cairn::storage {
class ArtifactStore;
}  // namespace cairn::storage
namespace cairn::features {
class OnlineFeatureService;
}  // namespace cairn::features

namespace cairn::serving {

class EndpointRegistry;
struct PredictRequest;

// What a runtime is loaded for: the model directory and the endpoint's runtime settings.
struct RuntimeRequest {
  std::string model_dir;  // absolute local directory holding MLmodel
  std::string endpoint;
  std::string model;
  int64_t version = 0;
  std::string runtime = "auto";  // EndpointSpec::runtime
  int min_replicas = 1;
  int max_replicas = 1;
  int max_queue = 32;
  int64_t timeout_ms = kDefaultEndpointTimeoutMs;  // EndpointSpec::timeout_ms
  // The python pool's scaling decisions (from → to workers, why); the service records
  // them as "scaling" events.
  std::function<void(int64_t time_ms, int from, int to, const std::string& reason)> on_scaling;
};

using LoadRuntimeFn =
    std::function<absl::StatusOr<std::shared_ptr<ModelRuntime>>(const RuntimeRequest&)>;

// Promotes `version` of `model` (the canary's on_pass, or a hand promote). The server wires
// it to cicd's PromotionService::Promote; the default moves the endpoint's alias through
// ModelRegistry::SetAlias (a pinned endpoint: "production") and publishes
// kEventModelAliasMoved.
using PromoteFn = std::function<absl::Status(std::string_view model, int64_t version,
                                             std::string_view actor, std::string_view reason)>;

// Loads through serving/model_loader.h (LoadModelRuntime): xgboost in process, python
// in a worker pool sized by the request.
LoadRuntimeFn DefaultLoadRuntime();

// A saved training set (features/training_sets.h), read for batch prediction: its rows,
// and which of its columns came from the entity input (the join keys, the event
// timestamp and any other column the entity rows had, e.g. a label); the others are the
// joined features. The point-in-time join puts the entity columns first, so the wiring
// takes all but the last TrainingSetRecord::features.size() columns.
struct TrainingSetRows {
  features::Table table;
  std::vector<std::string> entity_columns;
};
// NotFound naming the id when there is no such training set.
using LoadTrainingSetFn = std::function<absl::StatusOr<TrainingSetRows>(std::string_view id)>;

struct EndpointServiceOptions {
  tracking::ModelRegistry* models = nullptr;    // required
  EndpointRegistry* definitions = nullptr;      // required for Sync
  EndpointStore* store = nullptr;               // null: rollouts refused, events dropped
  storage::ArtifactStore* artifacts = nullptr;  // null: mlflow-artifacts: sources refused
  const features::OnlineFeatureService* online = nullptr;  // null: entities refused
  InferenceLogSink* inference_log = nullptr;    // null: nothing logged
  EventBus* events = nullptr;                   // null: alias moves seen by the recheck only
  Clock* clock = nullptr;                       // null: RealClock()
  LoadRuntimeFn load_runtime;                   // empty: DefaultLoadRuntime()
  PromoteFn promote;                            // empty: SetAlias on the endpoint's alias
  // Which rows the inference log gets; empty: InferenceLog::ShouldSample (deterministic by
  // the row id's hash).
  std::function<bool(std::string_view id, double rate)> should_sample;
  // Called at each deploy with the endpoint's log_max_rows; empty: the sink's
  // InferenceLog::SetRetention when the sink is an InferenceLog.
  std::function<void(std::string_view endpoint, int64_t max_rows)> set_log_retention;
  int64_t recheck_ms = 1000;  // alias re-resolution, feature-service refresh, guard judging
  uint64_t seed = 0;          // the canary split's random sequence
  size_t shadow_queue = 1024;  // mirrored requests waiting for the challenger
  bool start_thread = true;   // false (tests): nothing runs until RecheckNow()
  // Batch prediction's files lie under this directory (the server's data directory;
  // empty: the working directory): relative paths resolve under it, absolute ones must
  // lie inside it, and neither '..' nor a symbolic link may lead out of it. They are
  // .csv files, never inside `protected_paths`.
  std::string data_dir;
  // Names under data_dir that batch prediction never reads or writes: the server's own
  // state (its database, artifact root, stores), e.g. {"cairn.db", "artifacts", …}.
  std::vector<std::string> protected_paths;
  // Reads a saved training set for PredictTrainingSet; empty: that is refused
  // (FailedPrecondition: this server has no feature store).
  LoadTrainingSetFn load_training_set;
};

// One endpoint as deployed now (List).
struct DeploymentStatus {
  std::string endpoint;
  int64_t definition_version = 0;
  std::string state;     // "serving" | "failed" (nothing loaded) | "pending"
  std::string model;
  int64_t model_version = 0;   // the champion serving now; 0 when none
  std::string error;           // the last load error ("" when the last load worked)
  int64_t deployed_ms = 0;     // when the champion was swapped in
  std::string rollout_id;      // the running rollout, "" when none
};
Json DeploymentStatusToJson(const DeploymentStatus& status);

class EndpointService {
 public:
  // Validates the options, subscribes to the bus, starts the background thread (unless
  // start_thread is false) and runs a first Sync (its error is logged, not returned: an
  // endpoint whose model cannot load is listed as failed and retried on every recheck).
  static absl::StatusOr<std::unique_ptr<EndpointService>> Start(EndpointServiceOptions options);
  ~EndpointService();  // Shutdown()
  EndpointService(const EndpointService&) = delete;
  EndpointService& operator=(const EndpointService&) = delete;

  // Deploys what the registry holds: loads new and changed endpoints (a changed endpoint
  // keeps serving its old deployment until the new one is loaded), removes the ones no
  // longer registered (their running rollout ends "ended"), starts a spec's standing
  // rollout when none runs. Returns the first load error (every endpoint is still tried;
  // List shows each one's state).
  absl::Status Sync();

  // Re-resolves every alias (redeploying moved ones), refreshes feature services, retries
  // failed loads and judges running rollouts, now. The background thread calls it every
  // recheck_ms; tests call it directly.
  void RecheckNow();

  // The response JSON (see above). NotFound for an unknown endpoint; Unavailable when the
  // endpoint has no loaded model (naming the load error); InvalidArgument naming the field
  // (bad JSON, lists of different lengths, a missing model input, an unknown entity key);
  // the runtime's error otherwise (ResourceExhausted → 429, Unavailable, Internal).
  absl::StatusOr<std::string> Predict(std::string_view endpoint, std::string_view request_json);

  // True when a Predict on `endpoint` now computes entirely in this process: its champion
  // and, during a canary, its challenger run in process (ModelRuntime::runs_in_process).
  // The HTTP server then answers on its I/O thread (no hand-off to the predict pool);
  // the caller must also know that the online lookups are in memory. False for an unknown
  // or undeployed endpoint. Cheap: one lookup and a few loads.
  bool PredictsInProcess(std::string_view endpoint);

  // Predict for a caller that must not block (an HTTP I/O thread): answers as Predict
  // when the deployment it reads computes in process, and nullopt — having done nothing —
  // when it does not (a redeploy or a canary with a Python challenger since the caller's
  // PredictsInProcess): the caller then calls Predict where blocking is allowed.
  std::optional<absl::StatusOr<std::string>> PredictInProcess(std::string_view endpoint,
                                                               std::string_view request_json);

  // Predicts every row of a CSV file (header first; columns: entity join keys and/or model
  // inputs) in chunks, streaming; writes `output_csv` with the header "id,prediction" and
  // one line per input row, in order. Returns the number of rows predicted. Rows are not
  // logged and do not feed a rollout (the champion answers). NotFound for an unknown
  // endpoint or input file; InvalidArgument naming the file, line and column. Both paths
  // lie under options.data_dir: relative ones resolve under it; an absolute one, or one
  // whose '..' or symbolic link leads elsewhere, outside it, is InvalidArgument naming the
  // field, the path and the directory; so is a path that is not a .csv file or lies in
  // options.protected_paths (the server's own state). The output is written to a temporary file of this
  // call beside it (removed on any error) and renamed into place at the end.
  absl::StatusOr<int64_t> PredictBatch(std::string_view endpoint, const std::string& input_csv,
                                       const std::string& output_csv);

  // The same over a saved training set (options.load_training_set): its columns feed the
  // model inputs by name (the online store is not read: the snapshot holds the features
  // as of each row's timestamp). `output_csv` gets the header "id,<entity columns…>,
  // prediction" (TrainingSetRows::entity_columns in the snapshot's order: the join keys
  // and event timestamp, so rows join back) and one line per snapshot row, in order;
  // timestamps as RFC 3339 UTC, strings quoted as CSV needs. Rows are predicted in chunks
  // (the snapshot itself is read whole by the loader). NotFound for an unknown endpoint
  // or training set (naming it); InvalidArgument naming a model input the snapshot lacks
  // and the snapshot's columns, and for the output path as PredictBatch;
  // FailedPrecondition when no loader is configured.
  absl::StatusOr<int64_t> PredictTrainingSet(std::string_view endpoint,
                                             std::string_view training_set,
                                             const std::string& output_csv);

  // Starts a canary / shadow of `spec` (version or alias, resolved now) on the endpoint:
  // loads the challenger, stores the rollout (EndpointStore::Create), and routes traffic.
  // FailedPrecondition when one runs already or the challenger is the champion; NotFound
  // for an unknown endpoint or version; InvalidArgument for a bad spec.
  absl::StatusOr<Rollout> StartRollout(std::string_view endpoint, const RolloutSpec& spec,
                                       std::string_view actor, std::string_view reason);

  // cicd's start_rollout (PromotionService): starts `spec` with the challenger `version`
  // on every endpoint that serves `model` by alias. Returns a sentence naming them ("canary
  // of churn version 4 at 20% on endpoint churn"); NotFound when no endpoint serves the
  // model by alias; the first error when none could start.
  absl::StatusOr<std::string> StartRolloutsForModel(std::string_view model, int64_t version,
                                                    const RolloutSpec& spec,
                                                    std::string_view actor,
                                                    std::string_view reason);

  // Ends the endpoint's running rollout by hand: `action` "promote" (promote the
  // challenger, state promoted) or "rollback" (drop it, state rolled_back). `rollout_id`
  // not empty: must be the running one (NotFound otherwise). The verdict records the
  // guard's counts so far and who stopped it.
  absl::StatusOr<Rollout> StopRollout(std::string_view endpoint, std::string_view rollout_id,
                                      std::string_view action, std::string_view actor,
                                      std::string_view reason);

  // {"name", "definition_version", "spec": EndpointSpecToJson, "status":
  // DeploymentStatusToJson, "runtime": {"replicas", "in_flight", "queued", "rejected"},
  // "traffic": {"requests", "rows", "errors"}, "rollout": null | {RolloutToJson… +
  // "challenger_runtime", "progress": {"champion": {requests, errors, p99_us},
  // "challenger": {…}, "elapsed_ms", "window_ms", "min_requests"}}}. NotFound for an
  // endpoint that is not deployed.
  absl::StatusOr<Json> Describe(std::string_view endpoint);

  // Every deployment, by name.
  std::vector<DeploymentStatus> List();

  // Stops the background and shadow threads, unsubscribes from the bus, drops the
  // runtimes. Idempotent; Predict afterwards answers Unavailable.
  void Shutdown();

  // Internal (endpoint_service.cc).
  struct Deployment;    // one endpoint: its current Serving, status and counters
  struct Serving;       // one endpoint's immutable serving state (champion, rollout, …)
  struct RolloutState;  // the challenger, its guard and its share of traffic
  struct Runtime;       // a loaded model version

 private:
  struct ShadowTask;
  struct PendingVerdict;
  explicit EndpointService(EndpointServiceOptions options);
  void Loop();
  void ShadowLoop();
  std::shared_ptr<Deployment> Find(std::string_view name);
  // Predict; with `declined` set, only when the snapshot computes in process (else
  // *declined = true and nothing is done).
  absl::StatusOr<std::string> PredictImpl(std::string_view endpoint,
                                          std::string_view request_json, bool* declined);
  static bool ServesInProcess(const Serving* serving);
  std::vector<std::shared_ptr<Deployment>> All();
  static absl::Status NotDeployed(std::string_view endpoint);
  void AddEvent(std::string_view endpoint, std::string_view kind, const Json& detail);
  absl::StatusOr<std::string> LocalModelDir(std::string_view model, int64_t version);
  absl::StatusOr<std::shared_ptr<const Runtime>> Load(const EndpointSpec& spec, int64_t version);
  absl::StatusOr<int64_t> ResolveVersion(const EndpointSpec& spec);
  void SetError(Deployment& d, std::string_view endpoint, std::string error, const Json& detail);
  void Publish(Deployment& d, std::shared_ptr<Serving> next);
  absl::Status Deploy(Deployment& d, const EndpointSpec& spec, int64_t definition_version,
                      std::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  void RefreshFeatures(Serving& s);
  absl::StatusOr<Rollout> AttachRollout(Deployment& d, Rollout record, bool create)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  void EnsureRollout(Deployment& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  absl::StatusOr<std::string> ResolveBatchPath(std::string_view field,
                                               const std::string& path) const;
  absl::StatusOr<int64_t> PredictBatchTo(std::string_view endpoint, const std::string& input_csv,
                                         const std::string& output_csv,
                                         const std::string& tmp_output);
  absl::StatusOr<int64_t> PredictTableTo(std::string_view endpoint, std::string_view id,
                                         const TrainingSetRows& rows,
                                         const std::string& output_csv,
                                         const std::string& tmp_output);
  // Finishes `rollout_id` in the store as ended: the endpoint's definition now names `model`.
  void EndRolloutOfOtherModel(std::string_view endpoint, std::string_view rollout_id,
                              std::string_view model);
  absl::Status PromoteVersion(const EndpointSpec& spec, int64_t version, std::string_view actor,
                              std::string_view reason);
  // Ends a running rollout (`action` promote | rollback | end); takes sync_mu_ itself and
  // calls `promote` without it.
  absl::StatusOr<Rollout> FinishRollout(const std::shared_ptr<Deployment>& d,
                                        std::string rollout_id, std::string_view action,
                                        Json verdict, std::string_view actor,
                                        std::string_view reason)
      ABSL_LOCKS_EXCLUDED(sync_mu_);
  absl::StatusOr<Rollout> FinishRolloutLocked(Deployment& d, std::string_view rollout_id,
                                              std::string_view state, bool promoted,
                                              Json verdict, std::string_view actor,
                                              std::string_view reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  void RecheckLocked(const std::shared_ptr<Deployment>& d,
                     std::vector<PendingVerdict>* verdicts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  bool Sample(std::string_view id, double rate) const;
  void EnqueueShadow(const std::shared_ptr<Deployment>& d,
                     const std::shared_ptr<const Serving>& s, const PredictRequest& request,
                     const std::vector<std::string>& ids, int64_t time_ms);
  DeploymentStatus StatusOf(const Deployment& d);

  EndpointServiceOptions options_;
  Clock* clock_;
  std::string id_prefix_;  // random per service start; row ids are prefix + counter (hex)
  std::atomic<uint64_t> id_counter_{0};

  absl::Mutex mu_;  // the map only; never held while loading or predicting
  std::map<std::string, std::shared_ptr<Deployment>, std::less<>> deployments_
      ABSL_GUARDED_BY(mu_);
  // One Sync / recheck / rollout change at a time (they load models). Never held while
  // calling `promote` (cicd may call back into StartRolloutsForModel under its own lock).
  absl::Mutex sync_mu_;
  std::set<std::string> finishing_ ABSL_GUARDED_BY(sync_mu_);  // rollouts being finished
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> split_counter_{0};
  int subscription_ = 0;

  absl::Mutex loop_mu_;
  bool wake_ ABSL_GUARDED_BY(loop_mu_) = false;
  bool stop_loop_ ABSL_GUARDED_BY(loop_mu_) = false;
  std::thread loop_thread_;

  absl::Mutex shadow_mu_;
  std::vector<std::unique_ptr<ShadowTask>> shadow_queue_ ABSL_GUARDED_BY(shadow_mu_);
  bool stop_shadow_ ABSL_GUARDED_BY(shadow_mu_) = false;
  std::thread shadow_thread_;
};

}  // namespace cairn::serving
