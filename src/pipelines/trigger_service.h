#pragma once
// Event triggers of pipelines (`triggers: [{on: alert, match: {monitor: churn-drift},
// params: {reason: "{{event.severity}}"}}]`): subscribes to the server's EventBus and, for
// each trigger whose `on` equals the event's type and whose `match` attributes all equal
// the event's attributes, starts a run of the pipeline's latest version with the trigger's
// params (values may use `{{event.ATTR}}`, replaced by the event's attribute), trigger
// "event:<type>" and trigger_detail = the event as JSON (EventToJson).
//
// Debounce: a trigger does not start a second run while the run it started last is still
// queued or running (an alert storm or a burst of ingests starts one retraining, not one
// per event); the skipped event is logged and recorded as a firing with outcome
// "skipped". Whether that run is still active is asked of `run_active`; the service also
// forgets a run when it sees its pipeline_run_finished event with a terminal state. "The same trigger" is the
// pipeline's trigger with the same `on` and `match`, so re-applying a pipeline keeps it.
// A trigger on pipeline_run_finished never fires for a run of its own pipeline (it would
// loop); that is logged and recorded as skipped.
//
// Events are handled on the bus thread, one at a time. The pipelines come from `list`,
// cached for `spec_cache_ms` (Refresh() drops the cache: call it after an apply). Firings
// are kept in memory, the last `firings_kept` per pipeline (for `describe`). Thread-safe.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/event_bus.h"
#include "pipelines/pipeline_spec.h"
#include "pipelines/run_callbacks.h"

namespace cairn::pipelines {

// True while the run is queued or running; NotFound when there is no such run (treated as
// finished). In the server: PipelineEngine::GetRun(id) → state is kQueued or kRunning.
using RunActiveFn = std::function<absl::StatusOr<bool>(const std::string& run_id)>;

struct TriggerOptions {
  int64_t spec_cache_ms = 1'000;  // the pipelines are re-listed at most this often
  size_t firings_kept = 20;       // per pipeline
};

struct TriggerFiring {
  int64_t time_ms = 0;    // when the event was handled
  std::string pipeline;
  int trigger = 0;        // index in the pipeline's `triggers`
  std::string event_type;
  std::string event_json;
  std::string outcome;    // "started" | "skipped" | "failed"
  std::string run_id;     // started: the new run; skipped: the run still active
  std::string message;    // why it was skipped or failed
};

class TriggerService {
 public:
  // Subscribes to every event of `bus`; `bus` and `clock` outlive the service.
  // `run_active` may be empty: then only pipeline_run_finished events end a debounce.
  TriggerService(EventBus& bus, Clock& clock, ListPipelinesFn list, StartRunFn start,
                 RunActiveFn run_active, TriggerOptions options = {});
  ~TriggerService();  // unsubscribes; waits for an event being handled
  TriggerService(const TriggerService&) = delete;
  TriggerService& operator=(const TriggerService&) = delete;

  // What the subscription calls for each event (tests may call it directly).
  void HandleEvent(const Event& event);
  // Pipelines changed (apply): the next event re-lists them.
  void Refresh();
  // The last firings of one pipeline's triggers, newest first.
  std::vector<TriggerFiring> RecentFirings(std::string_view pipeline);

 private:
  absl::StatusOr<std::vector<PipelineSpec>> Pipelines(int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(handle_mu_);
  void Fire(const PipelineSpec& spec, int index, const Event& event, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(handle_mu_);
  void Record(TriggerFiring firing);

  EventBus& bus_;
  Clock& clock_;
  ListPipelinesFn list_;
  StartRunFn start_;
  RunActiveFn run_active_;
  const TriggerOptions options_;

  absl::Mutex handle_mu_;  // one event at a time; taken before firings_mu_
  std::vector<PipelineSpec> cache_ ABSL_GUARDED_BY(handle_mu_);
  std::optional<int64_t> cached_at_ms_ ABSL_GUARDED_BY(handle_mu_);
  // Trigger key (pipeline, on, match) → the run it started last, while maybe active.
  std::map<std::string, std::string> active_ ABSL_GUARDED_BY(handle_mu_);

  absl::Mutex refresh_mu_;
  bool stale_ ABSL_GUARDED_BY(refresh_mu_) = false;

  absl::Mutex firings_mu_;
  std::map<std::string, std::deque<TriggerFiring>> firings_ ABSL_GUARDED_BY(firings_mu_);

  int subscription_ = 0;
};

// Replaces `{{event.NAME}}` (spaces inside the braces allowed) with the event's attribute.
// InvalidArgument names the template when the event lacks the attribute or the template
// is not an event one.
absl::StatusOr<std::string> ExpandEventTemplates(std::string_view text, const Event& event);

}  // namespace cairn::pipelines
