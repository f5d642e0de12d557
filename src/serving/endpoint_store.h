#pragma once
// What happens to endpoints over time, on the metadata database (SQLite or PostgreSQL):
// rollouts (canary / shadow runs of a challenger version, their state and verdict) and
// the endpoint's event timeline (deployments, scaling of the python pool, rollouts started
// and finished). Written by the endpoint service; read by the API (`GET
// /api/v1/endpoints/{name}/rollouts`, `…/events`). Thread-safe (each call is one
// transaction); safe across processes (at most one running rollout per endpoint is
// enforced by a unique index).
//
// Tables (migrations component "serving_endpoints", endpoint_registry.h applies them):
// endpoint_rollouts, endpoint_events.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/json.h"
#include "serving/endpoint_spec.h"

namespace cairn::storage {
class Database;
}  // namespace cairn::storage

namespace cairn::serving {

// Rollout states.
inline constexpr char kRolloutRunning[] = "running";
inline constexpr char kRolloutPromoted[] = "promoted";        // passed; challenger promoted
inline constexpr char kRolloutRolledBack[] = "rolled_back";   // failed or stopped by hand
inline constexpr char kRolloutEnded[] = "ended";              // ended without a move
                                                              // (on_pass / on_fail: none,
                                                              // endpoint removed, …)

// Endpoint event kinds (AddEvent's `kind`; free text is accepted, these are the ones the
// service writes). Create and Finish write the rollout ones themselves.
inline constexpr char kEndpointEventDeployed[] = "deployed";          // {model, version,
                                                                      //  previous_version}
inline constexpr char kEndpointEventDeployFailed[] = "deploy_failed";  // {model, version,
                                                                       //  error}
inline constexpr char kEndpointEventScaling[] = "scaling";            // {from, to, reason}
inline constexpr char kEndpointEventRolloutStarted[] = "rollout_started";
inline constexpr char kEndpointEventRolloutFinished[] = "rollout_finished";
inline constexpr char kEndpointEventRemoved[] = "removed";

struct Rollout {
  std::string id;        // assigned by Create when empty
  std::string endpoint;
  std::string model;
  int64_t version = 0;   // the challenger version (resolved when started by alias)
  std::string alias;     // the alias it was started by ("" when by version)
  std::string mode = "canary";  // "canary" | "shadow"
  double percent = 10;
  GuardSpec guard;
  std::string on_pass = "promote";
  std::string on_fail = "rollback";
  std::string state = kRolloutRunning;
  int64_t started_ms = 0;  // Create: the clock's now when 0
  int64_t ended_ms = 0;    // 0 while running
  Json verdict = nullptr;  // the guard's verdict (or a hand stop's record) once finished
  std::string actor;       // who started it, and why
  std::string reason;
  std::string ended_by;    // who finished it (Finish's actor), and why
  std::string end_reason;
};

// A rollout ready to Create from a resolved spec: endpoint, model, version (the resolved
// challenger), alias, mode, percent, guard, on_pass, on_fail, actor, reason; state running.
Rollout MakeRollout(std::string_view endpoint, std::string_view model, int64_t version,
                    const RolloutSpec& spec, std::string_view actor, std::string_view reason);
// The spec back (version set; alias as started).
RolloutSpec RolloutToSpec(const Rollout& rollout);

// {"id", "endpoint", "model", "version", "alias", "mode", "percent", "guard":
// GuardSpecToJson, "on_pass", "on_fail", "state", "started_ms", "ended_ms", "verdict",
// "actor", "reason", "ended_by", "end_reason"}.
Json RolloutToJson(const Rollout& rollout);

struct EndpointEvent {
  int64_t id = 0;  // increasing per database
  std::string endpoint;
  int64_t time_ms = 0;
  std::string kind;
  Json detail = Json::object();
};
// {"id", "endpoint", "time_ms", "kind", "detail"}.
Json EndpointEventToJson(const EndpointEvent& event);

struct EndpointStoreOptions {
  // Events kept per endpoint (the newest); older ones are deleted now and then by AddEvent.
  int64_t max_events_per_endpoint = 10'000;
};

class EndpointStore {
 public:
  // Applies the migrations (ApplyEndpointMigrations). `db` and `clock` outlive the store.
  static absl::StatusOr<std::unique_ptr<EndpointStore>> Open(storage::Database& db,
                                                             Clock& clock,
                                                             EndpointStoreOptions options = {});
  ~EndpointStore();

  // Stores a new running rollout (id assigned when empty, started_ms = now when 0, state
  // forced to running, ended_* cleared) and a rollout_started event {rollout, model,
  // version, mode, percent, actor, reason}. FailedPrecondition naming the running one when
  // the endpoint already has a running rollout ("stop it first: cairn endpoints promote|
  // rollback ENDPOINT ID"); InvalidArgument when endpoint, model or version is missing.
  absl::StatusOr<Rollout> Create(Rollout rollout);

  // NotFound names the id.
  absl::StatusOr<Rollout> Get(std::string_view id);

  // The endpoint's rollouts, newest first (at most `limit`; 0: all).
  absl::StatusOr<std::vector<Rollout>> List(std::string_view endpoint, int64_t limit = 0);

  // The endpoint's running rollout, if any.
  absl::StatusOr<std::optional<Rollout>> Active(std::string_view endpoint);

  // Ends a running rollout: state (promoted | rolled_back | ended), ended_ms = now, the
  // verdict, ended_by = actor, end_reason = reason; adds a rollout_finished event {rollout,
  // model, version, state, actor, reason, passed (verdict.passed when present)}.
  // Returns the finished rollout. NotFound (unknown id), InvalidArgument (another state),
  // FailedPrecondition when it is not running (names its state: finishing twice — a
  // timer's verdict racing a hand stop — is refused, not applied twice).
  absl::StatusOr<Rollout> Finish(std::string_view id, std::string_view state,
                                 const Json& verdict, std::string_view actor,
                                 std::string_view reason);

  // Appends an event at the clock's now. InvalidArgument when endpoint or kind is empty.
  absl::StatusOr<EndpointEvent> AddEvent(std::string_view endpoint, std::string_view kind,
                                         const Json& detail);

  // The endpoint's newest `limit` events (0: all kept), newest first. `kind` filters when
  // not empty.
  absl::StatusOr<std::vector<EndpointEvent>> ListEvents(std::string_view endpoint,
                                                        int64_t limit = 100,
                                                        std::string_view kind = {});

 private:
  EndpointStore(storage::Database& db, Clock& clock, EndpointStoreOptions options);
  storage::Database& db_;
  Clock& clock_;
  EndpointStoreOptions options_;
  std::atomic<int64_t> added_{0};  // AddEvent calls, to trim now and then
};

}  // namespace cairn::serving
