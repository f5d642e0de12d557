#include "monitoring/alerts/alert_service.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/event_types.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "monitoring/alerts/alert_store.h"

namespace cairn::monitoring {
namespace {

// What an alert with retrain.await_model waits for after a successful retraining run:
// "a new version of model churn" or "model churn's alias 'production' to move".
std::string Awaited(const RetrainAction& retrain) {
  if (!retrain.await_alias.empty()) {
    return absl::StrCat("model ", retrain.await_model, "'s alias '", retrain.await_alias,
                        "' to move");
  }
  return absl::StrCat("a new version of model ", retrain.await_model);
}

// "drift" / "constraint violations": what a monitor run of this kind finds.
std::string ProblemWord(const std::string& kind) {
  if (kind == "constraints") return "constraint violations";
  if (kind == "quality") return "quality failures";
  return kind;
}

std::map<std::string, std::string> ExpandParams(const Alert& alert,
                                                const std::string& monitor_run) {
  std::map<std::string, std::string> params;
  if (!alert.retrain) return params;
  const std::string severity(SeverityName(alert.severity));
  const std::vector<std::pair<absl::string_view, absl::string_view>> replacements = {
      {"{{alert.id}}", alert.id},
      {"{{alert.severity}}", severity},
      {"{{monitor}}", alert.monitor},
      {"{{monitor_run}}", monitor_run},
  };
  for (const auto& [name, value] : alert.retrain->params) {
    params[name] = absl::StrReplaceAll(value, replacements);
  }
  return params;
}

}  // namespace

AlertService::AlertService(storage::Database& db, Clock& clock, EventBus& bus,
                           StartRetrainFn start, AlertServiceOptions options)
    : db_(db),
      clock_(clock),
      bus_(bus),
      start_retrain_(std::move(start)),
      options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<AlertService>> AlertService::Open(storage::Database& db,
                                                                 Clock& clock, EventBus& bus,
                                                                 StartRetrainFn start_retrain,
                                                                 AlertServiceOptions options) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<AlertStore> store, AlertStore::Open(db));
  std::unique_ptr<AlertService> service(
      new AlertService(db, clock, bus, std::move(start_retrain), std::move(options)));
  service->store_ = std::move(store);
  CAIRN_ASSIGN_OR_RETURN(service->outbox_, NotificationOutbox::Open(db));
  CAIRN_ASSIGN_OR_RETURN(std::vector<OutboxNotification> pending, service->outbox_->Pending());
  AlertService* self = service.get();
  service->notifier_ = std::make_unique<Notifier>(
      clock, service->options_.webhook,
      [self](const DeliveryReport& report) { self->OnDelivery(report); });
  // Notifications queued when the server last stopped (or was killed): tried again.
  for (OutboxNotification& n : pending) {
    absl::StatusOr<std::unique_ptr<Sink>> sink = service->options_.make_sink
                                                      ? service->options_.make_sink(n.sink)
                                                      : MakeSink(n.sink, service->options_.webhook);
    if (!sink.ok()) {
      Log(LogLevel::kError, absl::StrCat("alert ", n.alert_id, ": ", n.event,
                                         " notification to ", n.sink.kind, " sink ", n.sink.url,
                                         " dropped at startup: ", sink.status().message()));
      service->outbox_->Remove(n.id).IgnoreError();
      continue;
    }
    Log(LogLevel::kInfo, absl::StrCat("alert ", n.alert_id, ": resuming the ", n.event,
                                      " notification to ", (*sink)->Describe(), " after ",
                                      n.attempts, " tries"));
    service->notifier_->Enqueue(std::move(n.alert_id), std::move(n.event),
                                std::shared_ptr<Sink>(std::move(*sink)), std::move(n.body),
                                n.id, n.attempts, n.next_try_ms);
  }
  if (service->options_.subscribe) {
    absl::MutexLock lock(&service->shutdown_mu_);
    for (const char* type :
         {kEventPipelineRunFinished, kEventModelVersionRegistered, kEventModelAliasMoved}) {
      service->subscriptions_.push_back(
          bus.Subscribe(type, [self](const Event& event) { self->HandleEvent(event); }));
    }
  }
  return service;
}

AlertService::~AlertService() { Shutdown(); }

void AlertService::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (int id : subscriptions_) bus_.Unsubscribe(id);
  subscriptions_.clear();
  if (notifier_) notifier_->Shutdown();
}

bool AlertService::WaitNotificationsIdle(int64_t timeout_ms) {
  return notifier_->WaitIdle(timeout_ms);
}

absl::Status AlertService::AddEvent(Alert& alert, int64_t now, std::string kind,
                                    std::string message,
                                    std::map<std::string, std::string> attributes) {
  AlertEvent event;
  event.time_ms = now;
  event.kind = std::move(kind);
  event.message = std::move(message);
  event.attributes = std::move(attributes);
  CAIRN_ASSIGN_OR_RETURN(event.seq, store_->AppendEvent(alert.id, event));
  alert.timeline.push_back(std::move(event));
  return absl::OkStatus();
}

void AlertService::PublishAlertEvent(const Alert& alert, const std::string& what) {
  Event event;
  event.type = kEventAlert;
  event.attributes = {{"monitor", alert.monitor},
                      {"severity", std::string(SeverityName(alert.severity))},
                      {"alert_id", alert.id},
                      {"kind", alert.kind},
                      {"state", std::string(AlertStateName(alert.state))},
                      {"event", what},
                      {"monitor_run", alert.last_monitor_run},
                      {"summary", alert.summary}};
  bus_.Publish(std::move(event));
}

void AlertService::Notify(const Alert& alert, const std::string& event,
                          const std::string& message, int64_t now) {
  if (alert.sinks.empty()) return;
  const std::string body = DumpJson(Json{{"event", event},
                                         {"message", message},
                                         {"alert", AlertToJson(alert, false)},
                                         {"time_ms", now}});
  for (const SinkSpec& spec : alert.sinks) {
    absl::StatusOr<std::unique_ptr<Sink>> sink =
        options_.make_sink ? options_.make_sink(spec) : MakeSink(spec, options_.webhook);
    if (!sink.ok()) {
      Alert copy = alert;
      absl::Status added = AddEvent(
          copy, now, "delivery_failed",
          absl::StrCat(event, " notification not sent to ", spec.kind, " sink ", spec.url, ": ",
                       sink.status().message(), "; fix the monitor's sinks and apply it again"),
          {{"sink", spec.kind}, {"event", event}});
      if (!added.ok()) Log(LogLevel::kError, absl::StrCat("alert ", alert.id, ": ", added.message()));
      continue;
    }
    // Stored before the first try, so a shutdown or crash does not lose it.
    absl::StatusOr<std::string> outbox_id = outbox_->Add(OutboxNotification{
        .alert_id = alert.id, .event = event, .sink = spec, .body = body, .attempts = 0,
        .next_try_ms = now, .created_ms = now});
    if (!outbox_id.ok()) {
      Log(LogLevel::kError, absl::StrCat("alert ", alert.id, ": the ", event,
                                         " notification could not be stored (it is sent, but "
                                         "a restart before delivery loses it): ",
                                         outbox_id.status().message()));
    }
    notifier_->Enqueue(alert.id, event, std::shared_ptr<Sink>(std::move(*sink)), body,
                       outbox_id.ok() ? *outbox_id : "");
  }
}

void AlertService::OnDelivery(const DeliveryReport& report) {
  absl::MutexLock lock(&mu_);
  Alert alert;
  alert.id = report.alert_id;
  std::map<std::string, std::string> attributes = {
      {"sink", report.sink},
      {"event", report.event},
      {"attempt", absl::StrCat(report.attempt)},
      {"http_status", absl::StrCat(report.http_status)}};
  absl::Status added;
  if (report.delivered) {
    added = AddEvent(alert, clock_.NowMillis(), "delivered",
                     absl::StrCat(report.event, " notification delivered to ", report.sink,
                                  " (attempt ", report.attempt, ")"),
                     std::move(attributes));
  } else {
    std::string next =
        report.final
            ? absl::StrCat("giving up after ", report.attempt,
                           " attempts: check that the receiver is up and accepts the signature")
            : absl::StrCat("retrying at ", FormatTimestamp(report.next_try_ms));
    added = AddEvent(alert, clock_.NowMillis(), "delivery_failed",
                     absl::StrCat(report.event, " notification to ", report.sink,
                                  " failed (attempt ", report.attempt, " of ",
                                  options_.webhook.attempts, "): ", report.error, "; ", next),
                     std::move(attributes));
  }
  if (!added.ok()) {
    Log(LogLevel::kError, absl::StrCat("alert ", report.alert_id,
                                       ": cannot record a delivery: ", added.message()));
  }
  if (!report.outbox_id.empty()) {
    absl::Status kept = report.final ? outbox_->Remove(report.outbox_id)
                                     : outbox_->RecordTry(report.outbox_id, report.attempt,
                                                          report.next_try_ms);
    if (!kept.ok()) {
      Log(LogLevel::kError, absl::StrCat("alert ", report.alert_id, ": the outbox of the ",
                                         report.event, " notification: ", kept.message(),
                                         " (a restart may send it again)"));
    }
  }
}

absl::StatusOr<std::optional<Alert>> AlertService::OnMonitorRun(const MonitorOutcome& outcome) {
  if (outcome.monitor.empty()) {
    return absl::InvalidArgumentError("monitor outcome: monitor must not be empty");
  }
  if (outcome.kind.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "monitor outcome of ", outcome.monitor, ": kind must not be empty (drift|constraints)"));
  }
  absl::MutexLock lock(&mu_);
  return OnMonitorRunLocked(outcome, clock_.NowMillis());
}

absl::StatusOr<std::optional<Alert>> AlertService::OnMonitorRunLocked(
    const MonitorOutcome& outcome, int64_t now, bool retried) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<Alert> existing,
                         store_->FindUnresolved(outcome.monitor, outcome.kind));
  const std::string& run = outcome.run_id;
  const std::string word = ProblemWord(outcome.kind);
  const std::map<std::string, std::string> run_attr = {{"monitor_run", run}};

  if (!outcome.problem) {
    if (!existing) return std::nullopt;
    // Decided and written on the alert as stored, under its row lock: what another server
    // sharing the database wrote since FindUnresolved (its repeats, its retraining) is kept.
    enum class Next { kGone, kPending, kResolved };
    Next next = Next::kGone;
    std::string waiting;
    CAIRN_ASSIGN_OR_RETURN(
        Alert alert, store_->ModifyIf(existing->id, [&](Alert& a) -> absl::StatusOr<bool> {
          next = Next::kGone;
          if (a.state == AlertState::kResolved) return false;  // resolved elsewhere meanwhile
          a.updated_ms = now;
          a.last_monitor_run = run;
          a.retrain = outcome.retrain;  // the monitor's current definition
          const bool awaiting_model = a.phase == RetrainPhase::kAwaitingModel && a.retrain &&
                                      !a.retrain->await_model.empty();
          if (a.phase == RetrainPhase::kRetraining || awaiting_model) {
            next = Next::kPending;
            waiting = a.phase == RetrainPhase::kRetraining
                          ? absl::StrCat("retraining run ", a.retrain_run, " is still running")
                          : absl::StrCat("retraining run ", a.retrain_run, " succeeded but ",
                                         Awaited(*a.retrain), " has not happened yet");
            return true;
          }
          next = Next::kResolved;
          a.state = AlertState::kResolved;
          a.resolved_ms = now;
          a.resolved_by = "cairn";
          return true;
        }));
    if (next == Next::kGone) return std::nullopt;  // no open alert any more
    if (next == Next::kPending) {
      CAIRN_RETURN_IF_ERROR(AddEvent(
          alert, now, "verification_pending",
          absl::StrCat("monitor run ", run, " found no ", word, ", but ", waiting,
                       "; the alert stays ", ToAbsl(AlertStateName(alert.state)),
                       " until a monitor run after the retraining confirms the fix"),
          run_attr));
      return alert;
    }
    std::string message =
        alert.retrain_run.empty()
            ? absl::StrCat("resolved: monitor run ", run, " found no ", word)
            : absl::StrCat("resolved: monitor run ", run, " found no ", word,
                           " after retraining run ", alert.retrain_run);
    std::map<std::string, std::string> attributes = run_attr;
    if (!alert.retrain_run.empty()) attributes["pipeline_run"] = alert.retrain_run;
    CAIRN_RETURN_IF_ERROR(AddEvent(alert, now, "resolved", message, std::move(attributes)));
    Notify(alert, "resolved", message, now);
    return alert;
  }

  if (!existing) {
    Alert alert;
    alert.id = NewUuidHex();
    alert.monitor = outcome.monitor;
    alert.monitor_version = outcome.monitor_version;
    alert.kind = outcome.kind;
    alert.severity = outcome.severity;
    alert.state = AlertState::kOpen;
    alert.summary = outcome.summary;
    alert.details = outcome.details;
    alert.first_monitor_run = run;
    alert.last_monitor_run = run;
    alert.opened_ms = now;
    alert.updated_ms = now;
    alert.retrain = outcome.retrain;
    alert.sinks = outcome.sinks;
    absl::Status inserted = store_->Insert(alert);
    if (absl::IsAlreadyExists(inserted) && !retried) {
      // Another server sharing the database opened this (monitor, kind) alert since our
      // FindUnresolved: this outcome repeats that one.
      return OnMonitorRunLocked(outcome, now, /*retried=*/true);
    }
    CAIRN_RETURN_IF_ERROR(inserted);
    std::string message = absl::StrCat(ToAbsl(SeverityName(alert.severity)), " ", alert.kind,
                                       " alert opened by monitor run ", run, " of monitor ",
                                       alert.monitor, ": ", outcome.summary);
    CAIRN_RETURN_IF_ERROR(AddEvent(alert, now, "opened", message, run_attr));
    PublishAlertEvent(alert, "opened");
    Notify(alert, "opened", message, now);
    if (alert.retrain) CAIRN_RETURN_IF_ERROR(Retrain(alert, run, now));
    return alert;
  }

  // A repeat. The stored alert is modified under its row lock: what another server sharing
  // the database wrote since FindUnresolved (its retraining run, its repeats) is kept.
  bool retraining_off = false;
  bool resolved_meanwhile = false;
  auto repeat = [&](Alert& a) -> absl::StatusOr<bool> {
    resolved_meanwhile = a.state == AlertState::kResolved;
    if (resolved_meanwhile) return false;
    a.occurrences += 1;
    a.summary = outcome.summary;
    a.details = outcome.details;
    a.last_monitor_run = run;
    a.monitor_version = outcome.monitor_version;
    a.updated_ms = now;
    a.sinks = outcome.sinks;  // the monitor's current definition
    // Also its retraining: a monitor without on_alert any more stops retraining this alert
    // (attempts and runs so far stay on it).
    a.retrain = outcome.retrain;
    if (a.phase == RetrainPhase::kAwaitingModel &&
        (!a.retrain || a.retrain->await_model.empty())) {
      a.phase = RetrainPhase::kAwaitingVerification;  // nothing to wait for any more
    }
    retraining_off = !a.retrain && a.phase == RetrainPhase::kAwaitingVerification;
    if (retraining_off) a.phase = RetrainPhase::kNone;
    return true;
  };
  CAIRN_ASSIGN_OR_RETURN(Alert alert, store_->ModifyIf(existing->id, repeat));
  if (resolved_meanwhile) {
    // Another server sharing the database resolved it since FindUnresolved: the problem is
    // found again, so it is a new alert (or a repeat of one opened meanwhile).
    if (!retried) return OnMonitorRunLocked(outcome, now, /*retried=*/true);
    return absl::AbortedError(absl::StrCat(
        "monitor run ", run, " of monitor ", outcome.monitor, ": its alert ", alert.id,
        " was resolved by another server while this one recorded the run; run the monitor "
        "again"));
  }
  std::string status =
      retraining_off ? "; retraining is off: the monitor no longer declares on_alert.pipeline"
                     : "";
  switch (alert.phase) {
    case RetrainPhase::kRetraining:
      status = absl::StrCat("; retraining run ", alert.retrain_run, " is still running");
      break;
    case RetrainPhase::kAwaitingModel:
      status = absl::StrCat("; waiting for ", Awaited(*alert.retrain), " after retraining run ",
                            alert.retrain_run);
      break;
    case RetrainPhase::kExhausted:
      status = "; retraining was given up: look at it by hand";
      break;
    default:
      break;
  }
  CAIRN_RETURN_IF_ERROR(AddEvent(alert, now, "repeated",
                                 absl::StrCat("monitor run ", run, " still finds ", word, ": ",
                                              outcome.summary, " (occurrence ",
                                              alert.occurrences, ")", status),
                                 run_attr));
  if (alert.phase == RetrainPhase::kAwaitingVerification) {
    CAIRN_RETURN_IF_ERROR(EscalateAndRetry(
        alert,
        absl::StrCat("monitor run ", run, " still finds ", word, " after retraining run ",
                     alert.retrain_run, " succeeded"),
        run, now));
  } else if (alert.phase == RetrainPhase::kNone && alert.retrain) {
    // Not started yet, or the last start found the engine unavailable: try (again) now.
    CAIRN_RETURN_IF_ERROR(Retrain(alert, run, now));
  }
  return alert;
}

AlertService::StepClaim::~StepClaim() {
  if (!held_) return;
  absl::Status released = store_.ReleaseRetrainStep(id_, step_, token_);
  if (released.ok()) {
    Log(LogLevel::kWarning, absl::StrCat("alert ", id_, ": retraining step ", step_,
                                         " was given back after an error (unless another "
                                         "server took it over meanwhile); the next monitor "
                                         "run that still finds the problem tries again"));
  } else {
    Log(LogLevel::kError,
        absl::StrCat("alert ", id_, ": retraining step ", step_,
                     " could not be given back after an error (", released.message(),
                     "); it can be claimed again when its lease of ",
                     kRetrainClaimLeaseMs / 60000, " minutes runs out"));
  }
}

absl::StatusOr<std::optional<int64_t>> AlertService::ClaimNextStep(Alert& alert) {
  const int step = alert.attempts + 1;
  int64_t token = 0;
  CAIRN_ASSIGN_OR_RETURN(bool claimed,
                         store_->ClaimRetrainStep(alert.id, step, clock_.NowMillis(), &token));
  if (claimed) return token;
  Log(LogLevel::kInfo, absl::StrCat("alert ", alert.id, ": retraining step ", step,
                                    " was claimed by another server sharing the database; "
                                    "it starts the run and records it"));
  CAIRN_ASSIGN_OR_RETURN(alert, store_->Get(alert.id, /*with_timeline=*/true));
  return std::nullopt;
}

absl::Status AlertService::Retrain(Alert& alert, const std::string& monitor_run, int64_t now,
                                   std::optional<int64_t> claim) {
  if (!alert.retrain) {  // the monitor no longer declares on_alert.pipeline
    if (alert.phase == RetrainPhase::kNone) return absl::OkStatus();
    CAIRN_ASSIGN_OR_RETURN(alert, store_->Modify(alert.id, [](Alert& a) {
      a.phase = RetrainPhase::kNone;
    }));
    return absl::OkStatus();
  }
  if (!claim) {
    CAIRN_ASSIGN_OR_RETURN(claim, ClaimNextStep(alert));
    if (!claim) return absl::OkStatus();
  }
  const int64_t token = *claim;
  // Until the step is recorded (or deliberately given back), an error gives it back, so
  // that the next monitor run here or on another server tries again at once instead of
  // waiting for the claim's lease to run out.
  StepClaim step_claim(*store_, alert.id, alert.attempts + 1, token);
  // A copy: `alert` is read again from the store below.
  const RetrainAction action = *alert.retrain;
  if (alert.attempts >= action.max_attempts) {
    absl::Status exhausted = Exhaust(alert, now);
    if (exhausted.ok()) step_claim.Keep();
    return exhausted;
  }
  alert.attempts += 1;
  // The step is this server's (claimed): it writes the attempts with what it records.
  const int attempts = alert.attempts;
  std::map<std::string, std::string> params = ExpandParams(alert, monitor_run);
  absl::StatusOr<std::string> run =
      start_retrain_ ? start_retrain_(action.pipeline, params, "alert")
                     : absl::StatusOr<std::string>(
                           absl::FailedPreconditionError("this server cannot start pipeline runs"));
  const std::string attempt = absl::StrCat(alert.attempts, " of ", action.max_attempts);
  // This server's start outlived the claim's lease and another server took the step over
  // (and may have started and recorded its own run): nothing more is written here.
  auto taken_over = [&](const std::string& what) {
    Log(LogLevel::kError,
        absl::StrCat("alert ", alert.id, ": retraining step ", attempts,
                     " was taken over by another server sharing the database while this "
                     "server started pipeline ", action.pipeline, " (it took longer than the "
                     "claim's lease of ", kRetrainClaimLeaseMs / 60000, " minutes); ", what));
  };
  if (run.ok()) {
    // Recorded on the stored alert (repeats another server wrote meanwhile are kept).
    absl::StatusOr<std::optional<Alert>> recorded =
        store_->ModifyClaimed(alert.id, attempts, token, [&](Alert& a) {
          a.attempts = attempts;
          a.retrain_run = *run;
          a.retrain_runs.push_back(*run);
          a.registered_version.clear();
          a.phase = RetrainPhase::kRetraining;
          a.updated_ms = now;
        });
    if (recorded.ok() && !recorded->has_value()) {
      step_claim.Keep();  // not this server's any more
      taken_over(absl::StrCat("its run ", *run, " is not recorded on the alert and nothing "
                              "follows its end: cancel it with: cairn pipelines cancel ",
                              *run));
      CAIRN_ASSIGN_OR_RETURN(alert, store_->Get(alert.id, /*with_timeline=*/true));
      return absl::OkStatus();
    }
    if (!recorded.ok()) {
      Log(LogLevel::kError,
          absl::StrCat("alert ", alert.id, ": retraining run ", *run, " of pipeline ",
                       action.pipeline, " was started but could not be recorded on the alert (",
                       recorded.status().message(),
                       "); its step is given back, so the next monitor run that still finds ",
                       ProblemWord(alert.kind), " starts another (cancel ", *run,
                       " with: cairn pipelines cancel ", *run, ")"));
      return recorded.status();
    }
    step_claim.Keep();
    alert = **std::move(recorded);
    return AddEvent(alert, now, "retrain_started",
                    absl::StrCat("retraining attempt ", attempt, ": started run ", *run,
                                 " of pipeline ", action.pipeline,
                                 " (follow it with: cairn pipelines get ", *run, ")"),
                    {{"pipeline", action.pipeline},
                     {"pipeline_run", *run},
                     {"attempt", absl::StrCat(alert.attempts)},
                     {"monitor_run", monitor_run}});
  }
  const absl::StatusCode code = run.status().code();
  if (code == absl::StatusCode::kUnavailable) {
    // The engine is stopping (or not ready): not the pipeline's fault and not an attempt;
    // the step is given back (after the phase is written, so that a server that claims it
    // next is not undone) so that the next monitor run (here or elsewhere) can claim it.
    CAIRN_ASSIGN_OR_RETURN(std::optional<Alert> written,
                           store_->ModifyClaimed(alert.id, attempts, token, [&](Alert& a) {
                             a.attempts = attempts - 1;
                             a.phase = RetrainPhase::kNone;
                             a.updated_ms = now;
                           }));
    step_claim.Keep();  // given back here (or not this server's any more)
    if (!written) {
      taken_over(absl::StrCat("the engine was unavailable here (", run.status().message(),
                              "); nothing is written"));
      CAIRN_ASSIGN_OR_RETURN(alert, store_->Get(alert.id, /*with_timeline=*/true));
      return absl::OkStatus();
    }
    alert = *std::move(written);
    CAIRN_RETURN_IF_ERROR(store_->ReleaseRetrainStep(alert.id, attempts, token));
    return AddEvent(
        alert, now, "retrain_start_failed",
        absl::StrCat("retraining not started: pipeline ", action.pipeline,
                     " cannot be started now: ", run.status().message(),
                     "; not counted as an attempt: the next run of monitor ", alert.monitor,
                     " that still finds ", ProblemWord(alert.kind), " tries again"),
        {{"pipeline", action.pipeline}, {"attempt", absl::StrCat(alert.attempts)}});
  }
  if (code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound ||
      code == absl::StatusCode::kFailedPrecondition) {
    // A configuration problem (an unknown pipeline, missing params): every further attempt
    // would fail the same way. Escalate once, stop retrying and page the team once.
    // First a write under the claim that changes nothing: a server whose step was taken
    // over meanwhile records nothing (no event, no escalation) on the alert the other
    // server now drives. The phase is written last, so that a failure in between leaves the
    // alert to the next monitor run, which tries (and pages) again, instead of exhausted
    // with nobody paged.
    CAIRN_ASSIGN_OR_RETURN(std::optional<Alert> held,
                           store_->ModifyClaimed(alert.id, attempts, token, [](Alert&) {}));
    if (!held) {
      step_claim.Keep();
      taken_over(absl::StrCat("it could not be started here (", run.status().message(),
                              "); retraining is not given up"));
      CAIRN_ASSIGN_OR_RETURN(alert, store_->Get(alert.id, /*with_timeline=*/true));
      return absl::OkStatus();
    }
    CAIRN_RETURN_IF_ERROR(
        AddEvent(alert, now, "retrain_start_failed",
                 absl::StrCat("retraining attempt ", attempt, ": could not start pipeline ",
                              action.pipeline, ": ", run.status().message(),
                              "; fix the pipeline or the monitor's on_alert.pipeline"),
                 {{"pipeline", action.pipeline}, {"attempt", absl::StrCat(alert.attempts)}}));
    CAIRN_RETURN_IF_ERROR(Escalate(
        alert, absl::StrCat("retraining pipeline ", action.pipeline, " could not be started"),
        monitor_run, now));
    CAIRN_ASSIGN_OR_RETURN(std::optional<Alert> written,
                           store_->ModifyClaimed(alert.id, attempts, token, [&](Alert& a) {
                             a.attempts = attempts;
                             a.phase = RetrainPhase::kExhausted;
                             a.updated_ms = now;
                           }));
    step_claim.Keep();
    if (!written) {
      taken_over(absl::StrCat("it could not be started here (", run.status().message(),
                              "); retraining is not given up"));
      CAIRN_ASSIGN_OR_RETURN(alert, store_->Get(alert.id, /*with_timeline=*/true));
      return absl::OkStatus();
    }
    alert = *std::move(written);
    std::string message = absl::StrCat(
        "retraining blocked: pipeline ", action.pipeline, " of monitor ", alert.monitor,
        " cannot be started (", run.status().message(),
        "); no more retraining is tried for this alert. Fix the pipeline or the monitor's "
        "on_alert (pipeline, params) and apply it, then resolve this alert (cairn alerts "
        "resolve ",
        alert.id, ")");
    CAIRN_RETURN_IF_ERROR(AddEvent(alert, now, "retrain_exhausted", message,
                                   {{"attempts", absl::StrCat(alert.attempts)},
                                    {"pipeline", action.pipeline}}));
    PublishAlertEvent(alert, "paged");
    Notify(alert, "paged", message, now);
    return absl::OkStatus();
  }
  CAIRN_ASSIGN_OR_RETURN(std::optional<Alert> written,
                         store_->ModifyClaimed(alert.id, attempts, token, [&](Alert& a) {
                           a.attempts = attempts;
                           a.phase = RetrainPhase::kNone;
                           a.updated_ms = now;
                         }));
  step_claim.Keep();
  if (!written) {
    taken_over(absl::StrCat("it could not be started here (", run.status().message(),
                            "); nothing is written"));
    CAIRN_ASSIGN_OR_RETURN(alert, store_->Get(alert.id, /*with_timeline=*/true));
    return absl::OkStatus();
  }
  alert = *std::move(written);
  CAIRN_RETURN_IF_ERROR(AddEvent(
      alert, now, "retrain_start_failed",
      absl::StrCat("retraining attempt ", attempt, ": could not start pipeline ",
                   action.pipeline, ": ", run.status().message(),
                   "; fix the pipeline or the monitor's on_alert.pipeline"),
      {{"pipeline", action.pipeline}, {"attempt", absl::StrCat(alert.attempts)}}));
  return EscalateAndRetry(
      alert, absl::StrCat("retraining pipeline ", action.pipeline, " could not be started"),
      monitor_run, now);
}

absl::Status AlertService::EscalateAndRetry(Alert& alert, const std::string& why,
                                            const std::string& monitor_run, int64_t now) {
  // The next step is claimed before escalating: of two servers that find the same failed or
  // useless retraining, one escalates and retrains (or gives up), the other records nothing.
  std::optional<int64_t> claim;
  if (alert.retrain) {
    CAIRN_ASSIGN_OR_RETURN(claim, ClaimNextStep(alert));
    if (!claim) return absl::OkStatus();
  }
  {
    // Retrain takes the claim over from here; an escalation that fails gives it back.
    std::optional<StepClaim> step_claim;
    if (claim) step_claim.emplace(*store_, alert.id, alert.attempts + 1, *claim);
    CAIRN_RETURN_IF_ERROR(Escalate(alert, why, monitor_run, now));
    if (step_claim) step_claim->Keep();
  }
  return Retrain(alert, monitor_run, now, claim);
}

absl::Status AlertService::Escalate(Alert& alert, const std::string& why,
                                    const std::string& monitor_run, int64_t now) {
  // On the alert as stored (an acknowledgement another server wrote meanwhile is seen). The
  // attempts are this server's: it escalates only with the next retraining step claimed.
  Severity before = Severity::kCritical;
  std::string reopened;
  const int attempts = alert.attempts;
  CAIRN_ASSIGN_OR_RETURN(alert, store_->Modify(alert.id, [&](Alert& a) {
    before = a.severity;
    a.severity = Severity::kCritical;
    reopened.clear();
    if (a.state == AlertState::kAcknowledged) {
      a.state = AlertState::kOpen;
      reopened = absl::StrCat(" (open again: it was acknowledged by ", a.acknowledged_by, ")");
    }
    a.attempts = attempts;
    a.updated_ms = now;
  }));
  std::string message =
      before == Severity::kCritical
          ? absl::StrCat("still critical: ", why, reopened)
          : absl::StrCat("escalated from ", ToAbsl(SeverityName(before)), " to critical: ", why,
                         reopened);
  CAIRN_RETURN_IF_ERROR(AddEvent(alert, now, "escalated", message,
                                 {{"from", std::string(SeverityName(before))},
                                  {"to", "critical"},
                                  {"monitor_run", monitor_run}}));
  PublishAlertEvent(alert, "escalated");
  Notify(alert, "escalated", message, now);
  return absl::OkStatus();
}

absl::Status AlertService::Exhaust(Alert& alert, int64_t now) {
  const RetrainAction action = *alert.retrain;  // the caller's; the stored one may be gone
  CAIRN_ASSIGN_OR_RETURN(alert, store_->Modify(alert.id, [&](Alert& a) {
    a.phase = RetrainPhase::kExhausted;
    a.updated_ms = now;
  }));
  std::string runs = alert.retrain_runs.empty()
                         ? std::string("none started")
                         : absl::StrCat("runs ", absl::StrJoin(alert.retrain_runs, ", "));
  std::string message = absl::StrCat(
      "retraining stopped: ", alert.attempts, " of ", action.max_attempts,
      " attempts with pipeline ", action.pipeline, " did not fix the ",
      ProblemWord(alert.kind), " of monitor ", alert.monitor, " (", runs,
      "); paging the team: look at the data and the model by hand, then resolve this alert "
      "(cairn alerts resolve ",
      alert.id, ")");
  CAIRN_RETURN_IF_ERROR(AddEvent(alert, now, "retrain_exhausted", message,
                                 {{"attempts", absl::StrCat(alert.attempts)}}));
  PublishAlertEvent(alert, "paged");
  Notify(alert, "paged", message, now);
  return absl::OkStatus();
}

void AlertService::HandleEvent(const Event& event) {
  absl::MutexLock lock(&mu_);
  absl::Status status;
  if (event.type == kEventPipelineRunFinished) {
    status = OnRunFinished(event);
  } else if (event.type == kEventModelVersionRegistered) {
    status = OnModelRegistered(event);
  } else if (event.type == kEventModelAliasMoved) {
    status = OnAliasMoved(event);
  }
  if (!status.ok()) {
    Log(LogLevel::kError, absl::StrCat("alerts: cannot handle ", EventToJson(event), ": ",
                                       status.message()));
  }
}

absl::Status AlertService::OnRunFinished(const Event& event) {
  auto attr = [&](const char* name) {
    auto it = event.attributes.find(name);
    return it == event.attributes.end() ? std::string() : it->second;
  };
  return OnRunEnded(attr("run_id"), attr("state"), "");
}

absl::Status AlertService::Reconcile(
    std::function<absl::StatusOr<std::string>(const std::string& run_id)> run_state) {
  absl::MutexLock lock(&mu_);
  CAIRN_ASSIGN_OR_RETURN(std::vector<Alert> retraining,
                         store_->FindUnresolvedInPhase(RetrainPhase::kRetraining, ""));
  absl::Status first;
  for (const Alert& alert : retraining) {
    absl::StatusOr<std::string> state = run_state(alert.retrain_run);
    absl::Status status;
    if (!state.ok()) {
      status = absl::Status(state.status().code(),
                            absl::StrCat("alert ", alert.id, ": cannot read the state of retraining run ",
                                         alert.retrain_run, ": ", state.status().message()));
    } else {
      status = OnRunEnded(alert.retrain_run, *state, " (found at startup)");
    }
    if (!status.ok()) {
      Log(LogLevel::kError, absl::StrCat("alerts: reconcile: ", status.message()));
      if (first.ok()) first = status;
    }
  }
  return first;
}

absl::Status AlertService::OnRunEnded(const std::string& run, const std::string& state,
                                      const std::string& how) {
  if (state != "succeeded" && state != "failed" && state != "cancelled") return absl::OkStatus();
  CAIRN_ASSIGN_OR_RETURN(std::optional<Alert> found, store_->FindByRetrainRun(run));
  if (!found) return absl::OkStatus();
  Alert& alert = *found;
  const int64_t now = clock_.NowMillis();
  const std::map<std::string, std::string> attributes = {{"pipeline_run", run},
                                                         {"state", state}};
  if (alert.state == AlertState::kResolved) {
    return AddEvent(alert, now, state == "succeeded" ? "retrain_succeeded" : "retrain_failed",
                    absl::StrCat("retraining run ", run, " ended ", state,
                                 " after the alert was resolved; nothing more to do"),
                    attributes);
  }
  if (alert.phase != RetrainPhase::kRetraining) return absl::OkStatus();  // already seen
  // Decided and written on the alert as stored, under its row lock (what another server wrote
  // since FindByRetrainRun is kept); nothing when another server moved it on meanwhile.
  bool moved = false;
  std::string pipeline;
  std::string next;
  CAIRN_ASSIGN_OR_RETURN(
      alert, store_->ModifyIf(alert.id, [&](Alert& a) -> absl::StatusOr<bool> {
        moved = a.state != AlertState::kResolved && a.phase == RetrainPhase::kRetraining &&
                a.retrain_run == run;
        if (!moved) return false;
        pipeline = a.retrain ? a.retrain->pipeline : "";
        a.updated_ms = now;
        if (state != "succeeded") {
          a.phase = RetrainPhase::kNone;
        } else if (a.retrain && !a.retrain->await_model.empty() &&
                   !a.registered_version.empty()) {
          a.phase = RetrainPhase::kAwaitingVerification;
          next = absl::StrCat("model ", a.retrain->await_model, " version ",
                              a.registered_version,
                              a.retrain->await_alias.empty()
                                  ? std::string(" was registered")
                                  : absl::StrCat(" took alias '", a.retrain->await_alias, "'"),
                              " while it ran; the next run of monitor ", a.monitor,
                              " verifies whether the ", ProblemWord(a.kind), " is gone");
        } else if (a.retrain && !a.retrain->await_model.empty()) {
          a.phase = RetrainPhase::kAwaitingModel;
          next = absl::StrCat("waiting for ", Awaited(*a.retrain),
                              "; the monitor run after that verifies the fix");
        } else {
          a.phase = RetrainPhase::kAwaitingVerification;
          next = absl::StrCat("the next run of monitor ", a.monitor, " verifies whether the ",
                              ProblemWord(a.kind), " is gone");
        }
        return true;
      }));
  if (!moved) return absl::OkStatus();  // another server sharing the database saw it
  if (state == "succeeded") {
    return AddEvent(alert, now, "retrain_succeeded",
                    absl::StrCat("retraining run ", run, " of pipeline ", pipeline,
                                 " succeeded", how, "; ", next),
                    attributes);
  }
  CAIRN_RETURN_IF_ERROR(AddEvent(
      alert, now, "retrain_failed",
      absl::StrCat("retraining run ", run, " of pipeline ", pipeline, " ended ", state, how,
                   "; see why with: cairn pipelines get ", run),
      attributes));
  return EscalateAndRetry(alert, absl::StrCat("retraining run ", run, " ", state),
                          alert.last_monitor_run, now);
}

absl::StatusOr<bool> AlertService::MoveOn(Alert& alert, RetrainPhase phase, int64_t now,
                                          const std::function<bool(Alert&)>& change) {
  bool moved = false;
  CAIRN_ASSIGN_OR_RETURN(
      alert, store_->ModifyIf(alert.id, [&](Alert& a) -> absl::StatusOr<bool> {
        moved = a.state != AlertState::kResolved && a.phase == phase && change(a);
        if (moved) a.updated_ms = now;
        return moved;
      }));
  return moved;
}

absl::Status AlertService::OnModelRegistered(const Event& event) {
  auto model = event.attributes.find("model");
  if (model == event.attributes.end() || model->second.empty()) return absl::OkStatus();
  auto version_it = event.attributes.find("version");
  const std::string version = version_it == event.attributes.end() ? "?" : version_it->second;
  CAIRN_ASSIGN_OR_RETURN(std::vector<Alert> waiting, store_->FindAwaitingModel(model->second));
  const int64_t now = clock_.NowMillis();
  for (Alert& alert : waiting) {
    if (alert.retrain && !alert.retrain->await_alias.empty()) continue;  // waits for a promotion
    auto change = [&](Alert& a) {
      if (a.retrain && !a.retrain->await_alias.empty()) return false;
      a.phase = RetrainPhase::kAwaitingVerification;
      return true;
    };
    CAIRN_ASSIGN_OR_RETURN(bool moved, MoveOn(alert, RetrainPhase::kAwaitingModel, now, change));
    if (!moved) continue;
    CAIRN_RETURN_IF_ERROR(AddEvent(
        alert, now, "model_registered",
        absl::StrCat("model ", model->second, " version ", version,
                     " registered after retraining run ", alert.retrain_run,
                     "; the next run of monitor ", alert.monitor, " verifies whether the ",
                     ProblemWord(alert.kind), " is gone"),
        {{"model", model->second}, {"version", version}, {"pipeline_run", alert.retrain_run}}));
  }
  // A retraining pipeline that registers the model itself does so before its run finishes:
  // remember the version on the alert, so that the run's success goes on to verification.
  CAIRN_ASSIGN_OR_RETURN(std::vector<Alert> running,
                         store_->FindUnresolvedInPhase(RetrainPhase::kRetraining, model->second));
  for (Alert& alert : running) {
    if (alert.retrain && !alert.retrain->await_alias.empty()) continue;  // waits for a promotion
    auto change = [&](Alert& a) {
      if (a.retrain && !a.retrain->await_alias.empty()) return false;
      a.registered_version = version;
      return true;
    };
    CAIRN_ASSIGN_OR_RETURN(bool moved, MoveOn(alert, RetrainPhase::kRetraining, now, change));
    if (!moved) continue;
    CAIRN_RETURN_IF_ERROR(AddEvent(
        alert, now, "model_registered",
        absl::StrCat("model ", model->second, " version ", version,
                     " registered while retraining run ", alert.retrain_run,
                     " is still running; once the run succeeds, the next run of monitor ",
                     alert.monitor, " verifies whether the ", ProblemWord(alert.kind),
                     " is gone"),
        {{"model", model->second}, {"version", version}, {"pipeline_run", alert.retrain_run}}));
  }
  return absl::OkStatus();
}

absl::Status AlertService::OnAliasMoved(const Event& event) {
  auto attr = [&](const char* name) {
    auto it = event.attributes.find(name);
    return it == event.attributes.end() ? std::string() : it->second;
  };
  const std::string model = attr("model");
  const std::string alias = attr("alias");
  const std::string version = attr("to_version");
  if (model.empty() || alias.empty() || version.empty()) return absl::OkStatus();  // deleted
  // A move back to an older version (a rollback, a manual revert) is not the retrained
  // model's promotion: versions are numbered in order of registration.
  int64_t to = 0, from = 0;
  if (absl::SimpleAtoi(version, &to) && absl::SimpleAtoi(attr("from_version"), &from) &&
      to <= from) {
    return absl::OkStatus();
  }
  const int64_t now = clock_.NowMillis();
  CAIRN_ASSIGN_OR_RETURN(std::vector<Alert> waiting, store_->FindAwaitingModel(model));
  for (Alert& alert : waiting) {
    if (!alert.retrain || alert.retrain->await_alias != alias) continue;
    auto change = [&](Alert& a) {
      if (!a.retrain || a.retrain->await_alias != alias) return false;
      a.phase = RetrainPhase::kAwaitingVerification;
      return true;
    };
    CAIRN_ASSIGN_OR_RETURN(bool moved, MoveOn(alert, RetrainPhase::kAwaitingModel, now, change));
    if (!moved) continue;
    CAIRN_RETURN_IF_ERROR(AddEvent(
        alert, now, "model_promoted",
        absl::StrCat("model ", model, "'s alias '", alias, "' moved to version ", version,
                     " after retraining run ", alert.retrain_run, "; the next run of monitor ",
                     alert.monitor, " verifies whether the ", ProblemWord(alert.kind), " is gone"),
        {{"model", model},
         {"alias", alias},
         {"version", version},
         {"pipeline_run", alert.retrain_run}}));
  }
  // Promoted before the retraining run finished (a pipeline that promotes its own model):
  // remembered, so that the run's success goes on to verification.
  CAIRN_ASSIGN_OR_RETURN(std::vector<Alert> running,
                         store_->FindUnresolvedInPhase(RetrainPhase::kRetraining, model));
  for (Alert& alert : running) {
    if (!alert.retrain || alert.retrain->await_alias != alias) continue;
    auto change = [&](Alert& a) {
      if (!a.retrain || a.retrain->await_alias != alias) return false;
      a.registered_version = version;
      return true;
    };
    CAIRN_ASSIGN_OR_RETURN(bool moved, MoveOn(alert, RetrainPhase::kRetraining, now, change));
    if (!moved) continue;
    CAIRN_RETURN_IF_ERROR(AddEvent(
        alert, now, "model_promoted",
        absl::StrCat("model ", model, "'s alias '", alias, "' moved to version ", version,
                     " while retraining run ", alert.retrain_run,
                     " is still running; once the run succeeds, the next run of monitor ",
                     alert.monitor, " verifies whether the ", ProblemWord(alert.kind), " is gone"),
        {{"model", model},
         {"alias", alias},
         {"version", version},
         {"pipeline_run", alert.retrain_run}}));
  }
  return absl::OkStatus();
}

absl::StatusOr<Alert> AlertService::Acknowledge(const std::string& id, const std::string& by,
                                                const std::string& note) {
  absl::MutexLock lock(&mu_);
  const std::string who = by.empty() ? "unknown" : by;
  const int64_t now = clock_.NowMillis();
  // On the alert as stored, under its row lock: what another server wrote is kept.
  CAIRN_ASSIGN_OR_RETURN(
      Alert alert, store_->ModifyIf(id, [&](Alert& a) -> absl::StatusOr<bool> {
        if (a.state == AlertState::kResolved) {
          return absl::FailedPreconditionError(absl::StrCat(
              "alert ", id, " is already resolved; there is nothing to acknowledge"));
        }
        a.state = AlertState::kAcknowledged;
        a.acknowledged_by = who;
        a.updated_ms = now;
        return true;
      }));
  CAIRN_RETURN_IF_ERROR(AddEvent(
      alert, now, "acknowledged",
      absl::StrCat("acknowledged by ", who, note.empty() ? "" : absl::StrCat(": ", note)),
      {{"by", who}, {"note", note}}));
  return alert;
}

absl::StatusOr<Alert> AlertService::Resolve(const std::string& id, const std::string& by,
                                            const std::string& note) {
  absl::MutexLock lock(&mu_);
  const std::string who = by.empty() ? "unknown" : by;
  const int64_t now = clock_.NowMillis();
  // On the alert as stored, under its row lock: what another server wrote is kept, and of
  // two resolves of one alert the second fails.
  CAIRN_ASSIGN_OR_RETURN(
      Alert alert, store_->ModifyIf(id, [&](Alert& a) -> absl::StatusOr<bool> {
        if (a.state == AlertState::kResolved) {
          return absl::FailedPreconditionError(absl::StrCat(
              "alert ", id, " is already resolved (by ", a.resolved_by, " at ",
              FormatTimestamp(a.resolved_ms), ")"));
        }
        a.state = AlertState::kResolved;
        a.resolved_by = who;
        a.resolved_ms = now;
        a.updated_ms = now;
        return true;
      }));
  std::string message =
      absl::StrCat("resolved by ", who, note.empty() ? "" : absl::StrCat(": ", note));
  CAIRN_RETURN_IF_ERROR(AddEvent(alert, now, "resolved", message, {{"by", who}, {"note", note}}));
  Notify(alert, "resolved", message, now);
  return alert;
}

absl::StatusOr<std::vector<Alert>> AlertService::List(const AlertFilter& filter) {
  return store_->List(filter);
}

absl::StatusOr<Alert> AlertService::Get(const std::string& id) { return store_->Get(id, true); }

}  // namespace cairn::monitoring
