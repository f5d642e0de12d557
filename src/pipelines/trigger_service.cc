#include "pipelines/trigger_service.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/event_types.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"

namespace cairn::pipelines {
namespace {

std::string Msg(const absl::Status& status) { return std::string(status.message()); }

std::string TriggerKey(const std::string& pipeline, const TriggerSpec& trigger) {
  Json match = Json::object();
  for (const auto& [key, value] : trigger.match) match[key] = value;
  return absl::StrCat(pipeline, "\n", trigger.on, "\n", DumpJson(match));
}

bool Matches(const TriggerSpec& trigger, const Event& event) {
  if (trigger.on != event.type) return false;
  for (const auto& [key, value] : trigger.match) {
    auto it = event.attributes.find(key);
    if (it == event.attributes.end() || it->second != value) return false;
  }
  return true;
}

std::string AttributeNames(const Event& event) {
  std::vector<std::string> names;
  for (const auto& [key, value] : event.attributes) names.push_back(key);
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<std::string> ExpandEventTemplates(std::string_view text, const Event& event) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(text.substr(pos, open - pos));
    std::string_view inner = ToStd(absl::StripAsciiWhitespace(
        ToAbsl(text.substr(open + 2, close - open - 2))));
    std::string_view whole = text.substr(open, close + 2 - open);
    constexpr std::string_view kPrefix = "event.";
    if (inner.substr(0, kPrefix.size()) != kPrefix) {
      return absl::InvalidArgumentError(absl::StrCat(
          "template '", ToAbsl(whole), "' is not allowed in trigger params; use "
          "{{event.ATTRIBUTE}}"));
    }
    std::string name(inner.substr(kPrefix.size()));
    auto it = event.attributes.find(name);
    if (it == event.attributes.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "template '", ToAbsl(whole), "': the ", event.type, " event has no attribute '", name,
          "' (it has: ", AttributeNames(event), ")"));
    }
    out.append(it->second);
    pos = close + 2;
  }
  out.append(text.substr(pos));
  return out;
}

TriggerService::TriggerService(EventBus& bus, Clock& clock, ListPipelinesFn list,
                               StartRunFn start, RunActiveFn run_active, TriggerOptions options)
    : bus_(bus),
      clock_(clock),
      list_(std::move(list)),
      start_(std::move(start)),
      run_active_(std::move(run_active)),
      options_(options) {
  subscription_ = bus_.Subscribe("", [this](const Event& event) { HandleEvent(event); });
}

TriggerService::~TriggerService() { bus_.Unsubscribe(subscription_); }

void TriggerService::Refresh() {
  absl::MutexLock lock(&refresh_mu_);
  stale_ = true;
}

absl::StatusOr<std::vector<PipelineSpec>> TriggerService::Pipelines(int64_t now_ms) {
  bool stale;
  {
    absl::MutexLock lock(&refresh_mu_);
    stale = stale_;
    stale_ = false;
  }
  if (stale || !cached_at_ms_ || now_ms - *cached_at_ms_ >= options_.spec_cache_ms ||
      now_ms < *cached_at_ms_) {
    auto specs = list_();
    if (!specs.ok()) {
      if (stale) Refresh();  // still stale: list again at the next event
      return specs.status();
    }
    cache_ = std::move(*specs);
    cached_at_ms_ = now_ms;
  }
  return cache_;
}

void TriggerService::HandleEvent(const Event& event) {
  absl::MutexLock lock(&handle_mu_);
  if (event.type == kEventPipelineRunFinished) {
    // Only a terminal state ends a debounce (a publisher may report every state change).
    auto run = event.attributes.find("run_id");
    auto state = event.attributes.find("state");
    const bool terminal = state == event.attributes.end() ||
                          (state->second != "queued" && state->second != "running");
    if (run != event.attributes.end() && terminal) {
      for (auto it = active_.begin(); it != active_.end();) {
        it = it->second == run->second ? active_.erase(it) : std::next(it);
      }
    }
  }
  const int64_t now_ms = clock_.NowMillis();
  auto specs = Pipelines(now_ms);
  if (!specs.ok()) {
    Log(LogLevel::kError, absl::StrCat("triggers: cannot list pipelines for a ", event.type,
                                       " event: ", Msg(specs.status()), "; event dropped"));
    return;
  }
  for (const PipelineSpec& spec : *specs) {
    for (size_t i = 0; i < spec.triggers.size(); ++i) {
      if (Matches(spec.triggers[i], event)) Fire(spec, static_cast<int>(i), event, now_ms);
    }
  }
}

void TriggerService::Fire(const PipelineSpec& spec, int index, const Event& event,
                          int64_t now_ms) {
  const TriggerSpec& trigger = spec.triggers[index];
  TriggerFiring firing;
  firing.time_ms = now_ms;
  firing.pipeline = spec.name;
  firing.trigger = index;
  firing.event_type = event.type;
  firing.event_json = EventToJson(event);
  const std::string where = absl::StrCat("triggers: pipeline '", spec.name, "' trigger ", index,
                                         " (on ", trigger.on, ")");

  if (event.type == kEventPipelineRunFinished) {
    auto pipeline = event.attributes.find("pipeline");
    if (pipeline != event.attributes.end() && pipeline->second == spec.name) {
      firing.outcome = "skipped";
      firing.message = "a run of the pipeline itself finished; a trigger never starts its own "
                       "pipeline from its own runs (it would loop)";
      Log(LogLevel::kWarning, absl::StrCat(where, ": skipped: ", firing.message));
      Record(std::move(firing));
      return;
    }
  }

  const std::string key = TriggerKey(spec.name, trigger);
  if (auto active = active_.find(key); active != active_.end()) {
    bool still_active = true;  // without run_active, until its run_finished event
    std::string unknown;
    if (run_active_) {
      auto answer = run_active_(active->second);
      if (answer.ok()) {
        still_active = *answer;
      } else if (answer.status().code() == absl::StatusCode::kNotFound) {
        still_active = false;
      } else {
        unknown = absl::StrCat(" (its state is unknown: ", Msg(answer.status()), ")");
      }
    }
    if (still_active) {
      firing.outcome = "skipped";
      firing.run_id = active->second;
      firing.message = absl::StrCat("run ", active->second,
                                    " started by this trigger is still queued or running",
                                    unknown);
      Log(LogLevel::kInfo, absl::StrCat(where, ": ", event.type, " event skipped: ",
                                        firing.message));
      Record(std::move(firing));
      return;
    }
    active_.erase(active);
  }

  StartRunRequest request;
  request.pipeline = spec.name;
  request.trigger = absl::StrCat("event:", event.type);
  request.trigger_detail = firing.event_json;
  for (const auto& [name, value] : trigger.params) {
    auto expanded = ExpandEventTemplates(value, event);
    if (!expanded.ok()) {
      firing.outcome = "failed";
      firing.message = absl::StrCat("param '", name, "': ", Msg(expanded.status()));
      Log(LogLevel::kError, absl::StrCat(where, ": ", firing.message));
      Record(std::move(firing));
      return;
    }
    request.params[name] = std::move(*expanded);
  }
  auto run = start_(request);
  if (!run.ok()) {
    firing.outcome = "failed";
    firing.message = absl::StrCat("the run could not start: ", Msg(run.status()));
    Log(LogLevel::kError, absl::StrCat(where, ": ", firing.message));
    Record(std::move(firing));
    return;
  }
  active_[key] = *run;
  firing.outcome = "started";
  firing.run_id = *run;
  Log(LogLevel::kInfo, absl::StrCat(where, ": started run ", *run, " for ", firing.event_json));
  Record(std::move(firing));
}

void TriggerService::Record(TriggerFiring firing) {
  absl::MutexLock lock(&firings_mu_);
  auto& list = firings_[firing.pipeline];
  list.push_front(std::move(firing));
  while (list.size() > std::max<size_t>(1, options_.firings_kept)) list.pop_back();
}

std::vector<TriggerFiring> TriggerService::RecentFirings(std::string_view pipeline) {
  absl::MutexLock lock(&firings_mu_);
  auto it = firings_.find(std::string(pipeline));
  if (it == firings_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

}  // namespace cairn::pipelines
