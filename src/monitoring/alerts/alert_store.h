#pragma once
// Alerts and their timelines in the metadata store (migrations component
// "monitoring_alerts": tables monitoring_alerts and monitoring_alert_events). At most one
// alert per (monitor, kind) is not resolved: the table enforces it with a unique key that
// is NULL once the alert is resolved, on SQLite and PostgreSQL alike. The store keeps
// rows; the rules (when to open, escalate, resolve) live in AlertService. Thread-safe
// (every call is one transaction of the Database).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "monitoring/alerts/alert_types.h"
#include "storage/database.h"

namespace cairn::monitoring {

// How long a claimed retraining step that was not recorded (the stored attempts are still
// below it) blocks other claimers of the step: far longer than starting a run and recording
// it takes, short enough that an alert whose claimer died retrains again within minutes.
inline constexpr int64_t kRetrainClaimLeaseMs = 10 * 60 * 1000;

class AlertStore {
 public:
  // Applies the migrations; `db` outlives the store.
  static absl::StatusOr<std::unique_ptr<AlertStore>> Open(storage::Database& db);

  // Stores a new alert (its timeline is ignored: add events with AppendEvent).
  // AlreadyExists naming the alert when (monitor, kind) already has an unresolved one —
  // also when another server inserted it a moment ago: re-read it with FindUnresolved and
  // treat the outcome as a repeat (AlertService does).
  absl::Status Insert(const Alert& alert);
  // Overwrites everything but the id and the timeline with `alert`. NotFound for an unknown
  // id. A blind write: what another store wrote since `alert` was read is lost — a change
  // of a stored alert goes through Modify/ModifyIf (the service writes only through those).
  absl::Status Update(const Alert& alert);
  // Reads the alert as stored, applies `change` and writes it back (everything but the id
  // and the timeline) in one transaction that holds the alert's row: what another store on
  // the same database wrote meanwhile is read, not overwritten. Returns the alert as
  // written, with its timeline. NotFound for an unknown id.
  absl::StatusOr<Alert> Modify(const std::string& id, const std::function<void(Alert&)>& change);
  // Modify whose `change` decides, on the alert as stored, whether to change it: false
  // leaves the row as it is (nothing is written) and returns the alert as read; an error
  // rolls the transaction back and is returned. `change` may run more than once (a
  // serialization conflict): it assigns, never accumulates, what it reports to the caller.
  absl::StatusOr<Alert> ModifyIf(const std::string& id,
                                 const std::function<absl::StatusOr<bool>(Alert&)>& change);

  // Claim-once retraining: a step is the alert's attempts + 1 when a retraining run is
  // about to be started (or retraining given up). True when this call claimed `step` of
  // the alert at `now_ms` (the caller's Clock) — at most one call across every store on the
  // database gets true for a (alert, step) while its claim is held, and none once a higher
  // step was claimed; false when another holds it. A claim is a lease: once the claimer
  // has recorded the step (the stored attempts reach `step`) it is final; until then it
  // can be taken over kRetrainClaimLeaseMs after it was claimed (the claimer died, stalled,
  // or failed to record it without giving it back), unless the alert is exhausted
  // (retraining was given up at that step). A claim stored without its time (claimed_at 0 or
  // an ended claim's: a server from before the leases, during a rolling upgrade) is not
  // taken over: this call
  // stamps it with `now_ms` (and returns false), so it is taken over a lease later. The
  // lease assumes the servers' clocks agree to well within kRetrainClaimLeaseMs (NTP).
  // When claimed, `*token` (if given) is set to the claim's token, which no earlier claim
  // of the alert held: pass it to ReleaseRetrainStep and ModifyClaimed, which then act only
  // while the claim was not taken over. NotFound for an unknown alert.
  absl::StatusOr<bool> ClaimRetrainStep(const std::string& id, int step, int64_t now_ms,
                                        int64_t* token = nullptr);
  // Gives back `step` (the claim falls to step - 1) when it is still the claim that returned
  // `token` (not taken over, no higher step claimed), so that a start that did not happen
  // (the engine was unavailable, an error before the step was recorded) can be tried again
  // at once; the claim time is stored negated (ended, see ModifyClaimed). Otherwise nothing
  // changes (not an error).
  absl::Status ReleaseRetrainStep(const std::string& id, int step, int64_t token);
  // Modify while the alert's retraining claim is still (`step`, `token`) — the caller's
  // (ClaimRetrainStep): returns the alert as written, or nullopt, writing nothing, when the
  // claim was taken over or given back meanwhile (what the caller started is not its to
  // record). The claim is checked and the alert written under its row lock, in one
  // transaction. When the written attempts reach `step` (the step is recorded) the claim's
  // time is stored negated (ended): a later claim by a server that writes no claim time (one
  // from before the leases, during a rolling upgrade) then reads as unstamped
  // (ClaimRetrainStep), not as expired. `change` may run more than once. NotFound for an unknown id.
  absl::StatusOr<std::optional<Alert>> ModifyClaimed(const std::string& id, int step,
                                                     int64_t token,
                                                     const std::function<void(Alert&)>& change);
  // Appends to the alert's timeline; the stored seq is one past the alert's last event, and
  // is returned. Safe against other stores on the same database (two servers sharing one
  // PostgreSQL): appenders of one alert take turns on its row, and a seq taken meanwhile is
  // read again, so no event is lost and seqs stay 1, 2, 3, … NotFound for an unknown alert.
  absl::StatusOr<int64_t> AppendEvent(const std::string& alert_id, const AlertEvent& event);

  // NotFound "alert ID not found" for an unknown id.
  absl::StatusOr<Alert> Get(const std::string& id, bool with_timeline);
  // The unresolved alert of (monitor, kind), if any (with its timeline).
  absl::StatusOr<std::optional<Alert>> FindUnresolved(const std::string& monitor,
                                                      const std::string& kind);
  // The newest alert whose latest retraining run is `run_id`, if any (with its timeline).
  absl::StatusOr<std::optional<Alert>> FindByRetrainRun(const std::string& run_id);
  // Unresolved alerts in phase kAwaitingModel waiting for `model` (with their timelines).
  absl::StatusOr<std::vector<Alert>> FindAwaitingModel(const std::string& model);
  // Unresolved alerts in `phase` (and waiting for `await_model` unless it is empty), oldest
  // first (with their timelines).
  absl::StatusOr<std::vector<Alert>> FindUnresolvedInPhase(RetrainPhase phase,
                                                           const std::string& await_model);
  // Newest opened first, without timelines. InvalidArgument when limit is not 1..1000.
  absl::StatusOr<std::vector<Alert>> List(const AlertFilter& filter);

 private:
  explicit AlertStore(storage::Database& db) : db_(db) {}
  storage::Database& db_;
};

}  // namespace cairn::monitoring
