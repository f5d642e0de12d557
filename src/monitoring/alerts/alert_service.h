#pragma once
// The alert service (issue 5 items 6 and 7): turns monitor runs into alerts, keeps them
// (alert_store.h), announces them on the EventBus (kEventAlert) and through their sinks
// (sinks.h), and closes the loop to retraining with escalation.
//
// OnMonitorRun(outcome), for the outcome's (monitor, kind):
//   problem, no open alert      → a new alert (state open, the outcome's severity):
//                                 timeline "opened", kEventAlert, sinks notified
//                                 ("opened"); with outcome.retrain, retraining run 1 starts.
//   problem, open alert         → occurrences+1, summary/details/last_monitor_run updated,
//                                 "repeated"; then by phase:
//     kAwaitingVerification       retraining did not help: escalate (severity critical,
//                                 an acknowledged alert is open again, "escalated",
//                                 kEventAlert, sinks "escalated"), then retrain again
//                                 while attempts < max_attempts, else exhaust (below);
//     otherwise                   nothing more (a run is in progress, or none declared).
//   no problem, open alert      → kNone or kAwaitingVerification: resolved by "cairn"
//                                 ("resolved: monitor run R found no drift after
//                                 retraining run X", or "… found no drift" without
//                                 retraining), sinks "resolved"; kRetraining /
//                                 kAwaitingModel: noted ("verification_pending"), the alert
//                                 stays until the retraining is verified; kExhausted:
//                                 resolved too.
//   no problem, no open alert   → nothing (nullopt).
// kEventPipelineRunFinished for an alert's current retraining run:
//   succeeded → kAwaitingModel when retrain.await_model is set, else kAwaitingVerification
//               ("retrain_succeeded");
//   failed / cancelled → "retrain_failed", escalate, then retrain again while
//               attempts < max_attempts, else exhaust.
// kEventModelVersionRegistered{model} for alerts in kAwaitingModel waiting for that model
//   (without retrain.await_alias) → kAwaitingVerification ("model_registered").
// kEventModelAliasMoved{model, alias, to_version} for alerts waiting for that model with
//   retrain.await_alias == alias (a promotion; a move back to an older version is not one)
//   → kAwaitingVerification ("model_promoted").
// Exhaust: phase kExhausted, "retrain_exhausted" (no more retraining runs are started for
//   this alert), sinks "paged".
// A retraining run that cannot be started (StartRetrainFn error):
//   InvalidArgument / NotFound / FailedPrecondition (a configuration problem: unknown
//     pipeline, missing params) → "retrain_start_failed", escalate once, phase kExhausted
//     ("retrain_exhausted": retraining blocked, saying what to fix), sinks "paged" once;
//   Unavailable (the engine is stopping) → "retrain_start_failed", not counted as an
//     attempt, phase kNone: the next monitor run that finds the problem tries again;
//   any other error counts as an attempt that failed (escalates and retries as above).
// Retraining params: {{alert.id}}, {{monitor}}, {{alert.severity}} and {{monitor_run}} in
//   values are replaced. Runs are started with trigger label "alert".
// Acknowledge / Resolve by a person: "acknowledged" / "resolved" with `by` and the note;
//   a retraining run that finishes after a resolve is only noted in the timeline.
//
// Servers sharing one database (PostgreSQL): starting a retraining run, and escalating or
// giving up after one, is claimed once per alert and step (AlertStore::ClaimRetrainStep):
// of two servers whose monitor runs find the same problem at once, one starts the run and
// records it; the other records its repeat and nothing more. An error after the claim and
// before the step is recorded gives the step back; a claimer that died holds it for at most
// kRetrainClaimLeaseMs (alert_store.h), then another server takes it over. Every change of
// an alert (repeats, retraining, escalation, resolve, acknowledge, model events) is decided
// and written on the alert as stored, under its row lock (AlertStore::Modify/ModifyIf), so
// no server loses another's; a step another server already took (a run's end, a model
// event, an auto-resolve of an alert resolved meanwhile) is not taken again.
//
// All state changes are serialized by one mutex and written to the database before the
// method returns (bus events are handled on the bus thread under the same mutex, so a
// retraining run that finishes at once still finds its id stored). Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/event_bus.h"
#include "monitoring/alerts/alert_types.h"
#include "monitoring/alerts/notification_outbox.h"
#include "monitoring/alerts/sinks.h"
#include "storage/database.h"

namespace cairn::monitoring {

class AlertStore;

// Starts a pipeline run and returns its id. In the server: PipelineEngine::StartRun with
// {pipeline, params, trigger = trigger_label ("alert"), trigger_detail: anything} → the
// RunRecord's id.
using StartRetrainFn = std::function<absl::StatusOr<std::string>(
    const std::string& pipeline, const std::map<std::string, std::string>& params,
    const std::string& trigger_label)>;

struct AlertServiceOptions {
  WebhookOptions webhook;
  // How sinks are made from specs (tests); empty: MakeSink(spec, webhook).
  MakeSinkFn make_sink;
  // Subscribe to the bus (kEventPipelineRunFinished, kEventModelVersionRegistered). Tests
  // that call HandleEvent directly may turn it off.
  bool subscribe = true;
};

class AlertService {
 public:
  // Applies the "monitoring_alerts" migrations to `db`, then subscribes to `bus`. `db`,
  // `clock` and `bus` outlive the service. `start_retrain` may be empty: then retraining
  // is recorded as "retrain_start_failed: this server cannot start pipeline runs".
  static absl::StatusOr<std::unique_ptr<AlertService>> Open(storage::Database& db,
                                                            Clock& clock, EventBus& bus,
                                                            StartRetrainFn start_retrain,
                                                            AlertServiceOptions options = {});
  ~AlertService();  // Shutdown()
  AlertService(const AlertService&) = delete;
  AlertService& operator=(const AlertService&) = delete;

  // See the header comment. Returns the alert as it stands afterwards (with its timeline),
  // or nullopt when there is none (no problem and no open alert).
  // InvalidArgument when outcome.monitor or outcome.kind is empty.
  absl::StatusOr<std::optional<Alert>> OnMonitorRun(const MonitorOutcome& outcome);

  // NotFound for an unknown id; FailedPrecondition when it is resolved. Acknowledging an
  // acknowledged alert records the new note and keeps the state. `by` empty → "unknown".
  absl::StatusOr<Alert> Acknowledge(const std::string& id, const std::string& by,
                                    const std::string& note);
  // NotFound for an unknown id; FailedPrecondition when it is already resolved.
  absl::StatusOr<Alert> Resolve(const std::string& id, const std::string& by,
                                const std::string& note);
  absl::StatusOr<std::vector<Alert>> List(const AlertFilter& filter);  // no timelines
  absl::StatusOr<Alert> Get(const std::string& id);                   // with its timeline

  // What the bus subscription calls (tests may call it directly).
  void HandleEvent(const Event& event);

  // At startup (after the engine recovered its runs): for every unresolved alert in
  // kRetraining, asks `run_state` for the state of its retraining run ("queued" |
  // "running" | "succeeded" | "failed" | "cancelled"; in the server: PipelineEngine::GetRun →
  // RunStateName) and, for a run that ended while no one listened (a restart, or a
  // pipeline_run_finished lost at shutdown), moves the alert on as that event would have
  // (the timeline says "(found at startup)"). Runs still queued or running are left to
  // their events. Goes through every alert; returns the first error (each is logged).
  absl::Status Reconcile(
      std::function<absl::StatusOr<std::string>(const std::string& run_id)> run_state);

  // Unsubscribes from the bus (waits for an event being handled) and stops the notifier
  // after the try in progress. Notifications still queued stay in the outbox
  // (notification_outbox.h): Open resumes them, at their next-try time, with the tries
  // already made counted. Idempotent.
  void Shutdown();

  // Tests: blocks until the notifier has nothing queued (true) or `timeout_ms` passed.
  bool WaitNotificationsIdle(int64_t timeout_ms);

 private:
  AlertService(storage::Database& db, Clock& clock, EventBus& bus, StartRetrainFn start,
               AlertServiceOptions options);

  // Under mu_. `now` is clock_.NowMillis() at the start of the call. `retried`: a second
  // pass after another server inserted the (monitor, kind) alert first (the outcome is then
  // a repeat of that alert).
  absl::StatusOr<std::optional<Alert>> OnMonitorRunLocked(const MonitorOutcome& outcome,
                                                          int64_t now, bool retried = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Claims the alert's next retraining step (AlertStore::ClaimRetrainStep) and returns the
  // claim's token. Nullopt when another server sharing the database claimed it: `alert` is
  // then read again, and the caller records nothing more.
  absl::StatusOr<std::optional<int64_t>> ClaimNextStep(Alert& alert)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A claimed retraining step that is given back (ReleaseRetrainStep) when it goes out of
  // scope, unless Keep() was called once the step was recorded (or given back on purpose).
  // Only while it is still this server's claim (`token`): one taken over is left alone.
  class StepClaim {
   public:
    StepClaim(AlertStore& store, std::string id, int step, int64_t token)
        : store_(store), id_(std::move(id)), step_(step), token_(token) {}
    StepClaim(const StepClaim&) = delete;
    StepClaim& operator=(const StepClaim&) = delete;
    ~StepClaim();
    void Keep() { held_ = false; }

   private:
    AlertStore& store_;
    std::string id_;
    int step_;
    int64_t token_;
    bool held_ = true;
  };
  // Starts the next retraining run (or exhausts) and records it on `alert`; claims the step
  // first unless `claim` (the token of the claim already made; does nothing when another
  // server has it). What it records after starting is written only while the claim is still
  // this server's (AlertStore::ModifyClaimed): a run started after another server took the
  // step over is logged, with how to cancel it, and not recorded.
  absl::Status Retrain(Alert& alert, const std::string& monitor_run, int64_t now,
                       std::optional<int64_t> claim = std::nullopt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Escalates after a failed or useless retraining, then retrains again or exhausts.
  absl::Status EscalateAndRetry(Alert& alert, const std::string& why,
                                const std::string& monitor_run, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Severity critical (an acknowledged alert is open again), "escalated", kEventAlert, sinks.
  absl::Status Escalate(Alert& alert, const std::string& why, const std::string& monitor_run,
                        int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Exhaust(Alert& alert, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnRunFinished(const Event& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `run` ended in `state`; `how` is appended to the timeline's "ended …" wording.
  absl::Status OnRunEnded(const std::string& run, const std::string& state,
                          const std::string& how) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // For a model event: applies `change` to the alert as stored when it is still unresolved
  // in `phase` and `change` returns true (then updated_ms = now), and reads `alert` again.
  // False when it was moved on meanwhile (another server) or `change` declined.
  absl::StatusOr<bool> MoveOn(Alert& alert, RetrainPhase phase, int64_t now,
                              const std::function<bool(Alert&)>& change)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnModelRegistered(const Event& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A model alias moved: alerts awaiting that alias (retrain.await_alias) go on to
  // verification, or remember it while their retraining still runs.
  absl::Status OnAliasMoved(const Event& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds a timeline event (stored at once) and returns it.
  absl::Status AddEvent(Alert& alert, int64_t now, std::string kind, std::string message,
                        std::map<std::string, std::string> attributes = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishAlertEvent(const Alert& alert, const std::string& what);
  void Notify(const Alert& alert, const std::string& event, const std::string& message,
              int64_t now);
  void OnDelivery(const DeliveryReport& report);

  storage::Database& db_;
  Clock& clock_;
  EventBus& bus_;
  StartRetrainFn start_retrain_;
  AlertServiceOptions options_;
  std::unique_ptr<AlertStore> store_;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<NotificationOutbox> outbox_;
  absl::Mutex mu_;  // serializes every state change
  absl::Mutex shutdown_mu_;
  std::vector<int> subscriptions_ ABSL_GUARDED_BY(shutdown_mu_);
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace cairn::monitoring
