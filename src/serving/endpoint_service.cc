#include "serving/endpoint_service.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/online/online_feature_service.h"
#include "serving/endpoint_json.h"
#include "serving/endpoint_registry.h"
#include "serving/endpoint_service_internal.h"
#include "serving/model_source.h"
#include "serving/endpoint_yaml.h"
#include "serving/inference_log.h"
#include "serving/model_loader.h"
#include "serving/rollout_guard.h"
#include "storage/artifact_store.h"
#include "tracking/model_registry.h"

namespace cairn::serving {

namespace {

using endpoint_internal::ColumnPlan;
using endpoint_internal::ModelLabel;
using endpoint_internal::PlanColumns;
using Runtime = EndpointService::Runtime;
using Serving = EndpointService::Serving;
using RolloutState = EndpointService::RolloutState;

bool SameFeatures(const features::OnlineFeatureSet* a, const features::OnlineFeatureSet* b) {
  if (a == nullptr || b == nullptr) return a == b;
  if (a->views.size() != b->views.size() || a->features.size() != b->features.size()) {
    return false;
  }
  for (size_t i = 0; i < a->views.size(); ++i) {
    if (a->views[i] != b->views[i]) return false;
  }
  for (size_t i = 0; i < a->features.size(); ++i) {
    if (a->features[i].name != b->features[i].name || a->features[i].view != b->features[i].view ||
        a->features[i].index != b->features[i].index) {
      return false;
    }
  }
  return true;
}

std::shared_ptr<Serving> CopyServing(const std::shared_ptr<const Serving>& s) {
  return s != nullptr ? std::make_shared<Serving>(*s) : std::make_shared<Serving>();
}

}  // namespace

namespace endpoint_internal {

ColumnPlan PlanColumns(const Runtime& runtime, const features::OnlineFeatureSet* set) {
  ColumnPlan plan;
  plan.columns = runtime.model->info().input_columns;
  plan.online.assign(plan.columns.size(), -1);
  if (set == nullptr) return plan;
  for (size_t c = 0; c < plan.columns.size(); ++c) {
    for (size_t f = 0; f < set->features.size(); ++f) {
      if (set->features[f].name == plan.columns[c]) {
        plan.online[c] = static_cast<int>(f);
        break;
      }
    }
  }
  return plan;
}


}  // namespace endpoint_internal


Json DeploymentStatusToJson(const DeploymentStatus& s) {
  return Json{{"endpoint", s.endpoint},
              {"definition_version", s.definition_version},
              {"state", s.state},
              {"model", s.model},
              {"model_version", s.model_version},
              {"error", s.error},
              {"deployed_ms", s.deployed_ms},
              {"rollout_id", s.rollout_id}};
}

EndpointService::EndpointService(EndpointServiceOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &RealClock()) {
  std::string uuid = NewUuidHex();
  id_prefix_ = absl::StrCat(uuid.substr(0, 12), "-");
}

absl::StatusOr<std::unique_ptr<EndpointService>> EndpointService::Start(
    EndpointServiceOptions options) {
  if (options.models == nullptr) {
    return absl::InvalidArgumentError("EndpointService: options.models (the registry) is required");
  }
  if (options.recheck_ms <= 0) options.recheck_ms = 1000;
  if (!options.load_runtime) options.load_runtime = DefaultLoadRuntime();
  std::unique_ptr<EndpointService> service(new EndpointService(std::move(options)));
  EndpointService* self = service.get();
  if (self->options_.events != nullptr) {
    self->subscription_ =
        self->options_.events->Subscribe(kEventModelAliasMoved, [self](const Event&) {
          absl::MutexLock lock(&self->loop_mu_);
          self->wake_ = true;
        });
  }
  self->shadow_thread_ = std::thread([self] { self->ShadowLoop(); });
  if (self->options_.definitions != nullptr) {
    absl::Status synced = self->Sync();
    if (!synced.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("endpoints: ", synced.message()));
    }
  }
  if (self->options_.start_thread) self->loop_thread_ = std::thread([self] { self->Loop(); });
  return service;
}

EndpointService::~EndpointService() { Shutdown(); }

void EndpointService::Shutdown() {
  if (stopped_.exchange(true)) return;
  if (options_.events != nullptr && subscription_ != 0) options_.events->Unsubscribe(subscription_);
  {
    absl::MutexLock lock(&loop_mu_);
    stop_loop_ = true;
  }
  if (loop_thread_.joinable()) loop_thread_.join();
  {
    absl::MutexLock lock(&shadow_mu_);
    stop_shadow_ = true;
  }
  if (shadow_thread_.joinable()) shadow_thread_.join();
  absl::MutexLock sync(&sync_mu_);
  absl::MutexLock lock(&mu_);
  deployments_.clear();
}

void EndpointService::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&loop_mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_) {
        return wake_ || stop_loop_;
      };
      loop_mu_.AwaitWithTimeout(absl::Condition(&woken),
                                absl::Milliseconds(options_.recheck_ms));
      if (stop_loop_) return;
      wake_ = false;
    }
    RecheckNow();
  }
}

std::shared_ptr<EndpointService::Deployment> EndpointService::Find(std::string_view name) {
  absl::ReaderMutexLock lock(&mu_);
  auto it = deployments_.find(name);
  return it == deployments_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<EndpointService::Deployment>> EndpointService::All() {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::shared_ptr<Deployment>> out;
  for (const auto& [name, d] : deployments_) out.push_back(d);
  return out;
}

void EndpointService::AddEvent(std::string_view endpoint, std::string_view kind,
                               const Json& detail) {
  if (options_.store == nullptr) return;
  absl::StatusOr<EndpointEvent> added = options_.store->AddEvent(endpoint, kind, detail);
  if (!added.ok()) {
    Log(LogLevel::kWarning, absl::StrCat("endpoint '", ToAbsl(endpoint), "': event ",
                                         ToAbsl(kind), " not recorded: ",
                                         added.status().message()));
  }
}

// ---- loading -------------------------------------------------------------------------

absl::StatusOr<std::string> EndpointService::LocalModelDir(std::string_view model,
                                                           int64_t version) {
  return serving::LocalModelDir(*options_.models, options_.artifacts, model, version);
}

absl::StatusOr<std::shared_ptr<const Runtime>> EndpointService::Load(const EndpointSpec& spec,
                                                                     int64_t version) {
  CAIRN_ASSIGN_OR_RETURN(std::string dir, LocalModelDir(spec.model, version));
  RuntimeRequest request;
  request.model_dir = dir;
  request.endpoint = spec.name;
  request.model = spec.model;
  request.version = version;
  request.runtime = spec.runtime;
  request.min_replicas = spec.min_replicas;
  request.max_replicas = spec.max_replicas;
  request.max_queue = spec.max_queue;
  request.timeout_ms = spec.timeout_ms;
  EndpointStore* store = options_.store;
  std::string endpoint = spec.name;
  request.on_scaling = [store, endpoint, version](int64_t time_ms, int from, int to,
                                                  const std::string& reason) {
    if (store == nullptr) return;
    absl::StatusOr<EndpointEvent> added = store->AddEvent(
        endpoint, kEndpointEventScaling,
        Json{{"from", from}, {"to", to}, {"reason", reason}, {"time_ms", time_ms},
             {"version", version}});
    if (!added.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("endpoint '", endpoint,
                                           "': scaling event not recorded: ",
                                           added.status().message()));
    }
  };
  absl::StatusOr<std::shared_ptr<ModelRuntime>> model = options_.load_runtime(request);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat("loading model ", ModelLabel(spec.model, version), " from '",
                                     dir, "': ", model.status().message()));
  }
  auto runtime = std::make_shared<Runtime>();
  runtime->model = std::move(*model);
  runtime->model_name = spec.model;
  runtime->version = version;
  runtime->model_dir = dir;
  runtime->runtime = spec.runtime;
  runtime->min_replicas = spec.min_replicas;
  runtime->max_replicas = spec.max_replicas;
  runtime->max_queue = spec.max_queue;
  runtime->timeout_ms = spec.timeout_ms;
  return std::shared_ptr<const Runtime>(std::move(runtime));
}

absl::StatusOr<int64_t> EndpointService::ResolveVersion(const EndpointSpec& spec) {
  if (spec.version > 0) return spec.version;
  absl::StatusOr<tracking::ModelVersion> mv =
      options_.models->GetModelVersionByAlias(spec.model, spec.alias);
  if (!mv.ok()) {
    return absl::Status(
        absl::IsInvalidArgument(mv.status()) ? absl::StatusCode::kFailedPrecondition
                                             : mv.status().code(),
        absl::StrCat("endpoint '", spec.name, "': model '", spec.model, "@", spec.alias,
                     "' does not resolve (", mv.status().message(),
                     "); set the alias (cairn models promote) or pin a version"));
  }
  return mv->version;
}

// A runtime for `version` that is already loaded (champion or challenger) with the same
// settings, or null.
static std::shared_ptr<const Runtime> ReuseRuntime(const Serving* s, const EndpointSpec& spec,
                                            int64_t version) {
  if (s == nullptr) return nullptr;
  auto same = [&](const std::shared_ptr<const Runtime>& r) {
    return r != nullptr && r->model_name == spec.model && r->version == version &&
           r->runtime == spec.runtime && r->min_replicas == spec.min_replicas &&
           r->max_replicas == spec.max_replicas && r->max_queue == spec.max_queue &&
           r->timeout_ms == spec.timeout_ms;
  };
  if (same(s->champion)) return s->champion;
  if (s->rollout != nullptr && same(s->rollout->challenger)) return s->rollout->challenger;
  return nullptr;
}

void EndpointService::SetError(Deployment& d, std::string_view endpoint, std::string error,
                               const Json& detail) {
  bool changed;
  {
    absl::MutexLock lock(&d.mu);
    changed = d.error != error;
    d.error = error;
  }
  if (changed && !error.empty()) {
    Log(LogLevel::kWarning, absl::StrCat("endpoint '", ToAbsl(endpoint), "': ", error));
    Json event = detail;
    event["error"] = error;
    AddEvent(endpoint, kEndpointEventDeployFailed, event);
  }
}

void EndpointService::Publish(Deployment& d, std::shared_ptr<Serving> next) {
  // Plans follow the runtimes and the feature set.
  if (next->champion != nullptr) next->plan = PlanColumns(*next->champion, next->features.get());
  if (next->rollout != nullptr) {
    auto rollout = std::make_shared<RolloutState>(*next->rollout);
    rollout->plan = PlanColumns(*rollout->challenger, next->features.get());
    next->rollout = std::move(rollout);
  }
  d.Set(std::move(next));
}

absl::Status EndpointService::Deploy(Deployment& d, const EndpointSpec& spec,
                                     int64_t definition_version, std::string_view why) {
  std::shared_ptr<const Serving> current = d.Get();
  Json detail = {{"model", spec.model}, {"definition_version", definition_version}};
  absl::StatusOr<int64_t> version = ResolveVersion(spec);
  const int64_t wanted = version.ok() ? *version : 0;
  std::shared_ptr<const Runtime> runtime;
  if (version.ok()) {
    detail["version"] = *version;
    runtime = ReuseRuntime(current.get(), spec, *version);
    if (runtime == nullptr) {
      absl::StatusOr<std::shared_ptr<const Runtime>> loaded = Load(spec, *version);
      if (!loaded.ok()) {
        version = loaded.status();
      } else {
        runtime = std::move(*loaded);
      }
    }
  }
  // A version that does not load is retried after 1 s, 2 s, 4 s, … up to a minute (a python
  // model that fails to start costs a process each time).
  if (!version.ok()) {
    d.retry_delay_ms = d.retry_version == wanted
                           ? std::min<int64_t>(std::max<int64_t>(d.retry_delay_ms * 2, 1000),
                                               60'000)
                           : std::max<int64_t>(options_.recheck_ms, 1000);
    d.retry_version = wanted;
    d.retry_at_ms = clock_->NowMillis() + d.retry_delay_ms;
  } else {
    d.retry_version = d.retry_at_ms = d.retry_delay_ms = 0;
  }
  std::shared_ptr<Serving> next = CopyServing(current);
  const bool definition_changed = next->definition_version != definition_version;
  if (!version.ok() && next->champion != nullptr && next->champion->model_name == spec.model) {
    // The alias moved to a version that does not load, or a new definition of this model
    // does not load (new settings): the old runtime keeps serving under the old spec and
    // definition version, so that Sync and the recheck try the new definition again.
    if (definition_changed) {
      d.pending_spec = spec;
      d.pending_definition_version = definition_version;
    }
    SetError(d, spec.name, std::string(version.status().message()), detail);
    return version.status();
  }
  d.pending_spec.reset();
  const int64_t previous = next->champion != nullptr ? next->champion->version : 0;
  next->spec = spec;
  next->definition_version = definition_version;
  if (version.ok()) {
    next->champion = runtime;
  } else if (next->champion != nullptr &&
             (next->champion->model_name != spec.model)) {
    next->champion = nullptr;  // a definition for another model: the old one must not answer
  }
  RefreshFeatures(*next);
  std::string dropped_rollout;
  if (next->rollout != nullptr && next->rollout->record.model != spec.model) {
    dropped_rollout = next->rollout->record.id;
    next->rollout = nullptr;
  }
  Publish(d, next);
  if (!dropped_rollout.empty()) EndRolloutOfOtherModel(d.name, dropped_rollout, spec.model);
  if (!version.ok()) {
    SetError(d, spec.name, std::string(version.status().message()), detail);
    return version.status();
  }
  SetError(d, spec.name, "", detail);
  {
    absl::MutexLock lock(&d.mu);
    if (previous != *version) d.deployed_ms = clock_->NowMillis();
  }
  if (previous != *version || definition_changed) {
    detail["previous_version"] = previous;
    detail["reason"] = std::string(why);
    AddEvent(spec.name, kEndpointEventDeployed, detail);
    Log(LogLevel::kInfo, absl::StrCat("endpoint '", spec.name, "': serving ",
                                      ModelLabel(spec.model, *version), " (", ToAbsl(why), ")"));
  }
  if (options_.set_log_retention) {
    options_.set_log_retention(spec.name, spec.log_max_rows);
  } else if (auto* log = dynamic_cast<InferenceLog*>(options_.inference_log)) {
    log->SetRetention(spec.name, spec.log_max_rows);
  }
  return absl::OkStatus();
}

void EndpointService::RefreshFeatures(Serving& s) {
  if (s.spec.feature_service.empty()) {
    s.features = nullptr;
    s.features_error.clear();
    return;
  }
  if (options_.online == nullptr) {
    s.features = nullptr;
    s.features_error = "this server has no online feature store";
    return;
  }
  absl::StatusOr<features::OnlineFeatureSet> set =
      options_.online->ResolveFeatures(s.spec.feature_service);
  if (!set.ok()) {
    s.features = nullptr;
    s.features_error = std::string(set.status().message());
    return;
  }
  s.features_error.clear();
  if (!SameFeatures(s.features.get(), &*set)) {
    s.features = std::make_shared<const features::OnlineFeatureSet>(std::move(*set));
  }
}

// ---- sync and recheck ----------------------------------------------------------------

absl::Status EndpointService::Sync() {
  if (options_.definitions == nullptr) {
    return absl::FailedPreconditionError("EndpointService: no endpoint registry to sync with");
  }
  absl::MutexLock sync(&sync_mu_);
  if (stopped_) return absl::UnavailableError("the endpoint service is shut down");
  CAIRN_ASSIGN_OR_RETURN(std::vector<EndpointVersion> versions, options_.definitions->List());
  absl::Status first = absl::OkStatus();
  std::set<std::string, std::less<>> names;
  for (const EndpointVersion& v : versions) {
    names.insert(v.name);
    std::shared_ptr<Deployment> d = Find(v.name);
    if (d == nullptr) {
      d = std::make_shared<Deployment>();
      d->name = v.name;
      absl::MutexLock lock(&mu_);
      deployments_[v.name] = d;
    }
    std::shared_ptr<const Serving> s = d->Get();
    if (s == nullptr || s->definition_version != v.version || s->champion == nullptr) {
      absl::Status deployed =
          Deploy(*d, v.spec, v.version,
                 s == nullptr ? "deployed" : absl::StrCat("definition version ", v.version));
      if (!deployed.ok() && first.ok()) first = deployed;
    }
    EnsureRollout(*d);
  }
  // Endpoints no longer registered.
  for (const std::shared_ptr<Deployment>& d : All()) {
    if (names.contains(d->name)) continue;
    std::shared_ptr<const Serving> s = d->Get();
    if (s != nullptr && s->rollout != nullptr) {
      absl::StatusOr<Rollout> ended = FinishRolloutLocked(
          *d, s->rollout->record.id, kRolloutEnded, /*promoted=*/false,
          Json{{"passed", nullptr}, {"reason", "endpoint removed"}}, "endpoint-service",
          "the endpoint was removed");
      if (!ended.ok()) {
        Log(LogLevel::kWarning, absl::StrCat("endpoint '", d->name, "': ending its rollout: ",
                                             ended.status().message()));
      }
    }
    {
      absl::MutexLock lock(&mu_);
      deployments_.erase(d->name);
    }
    AddEvent(d->name, kEndpointEventRemoved, Json::object());
    Log(LogLevel::kInfo, absl::StrCat("endpoint '", d->name, "': removed"));
  }
  return first;
}

void EndpointService::RecheckNow() {
  std::vector<PendingVerdict> verdicts;
  {
    absl::MutexLock sync(&sync_mu_);
    if (stopped_) return;
    for (const std::shared_ptr<Deployment>& d : All()) {
      RecheckLocked(d, &verdicts);
    }
  }
  // Verdicts are acted on without the lock: a promotion calls into cicd.
  for (PendingVerdict& v : verdicts) {
    absl::StatusOr<Rollout> finished = FinishRollout(v.deployment, v.rollout_id, v.action,
                                                     std::move(v.record), "rollout-guard",
                                                     v.reason);
    if (!finished.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("endpoint '", v.deployment->name,
                                           "': recording the verdict of rollout ", v.rollout_id,
                                           ": ", finished.status().message()));
    }
  }
}

void EndpointService::RecheckLocked(const std::shared_ptr<Deployment>& d,
                                    std::vector<PendingVerdict>* verdicts) {
  {
    std::shared_ptr<const Serving> s = d->Get();
    if (s == nullptr) return;
    // 0. A newer definition that failed to load: retried with the load backoff.
    if (d->pending_spec.has_value() && clock_->NowMillis() >= d->retry_at_ms) {
      const EndpointSpec pending = *d->pending_spec;
      Deploy(*d, pending, d->pending_definition_version,
             absl::StrCat("definition version ", d->pending_definition_version, " (retry)"))
          .IgnoreError();  // recorded by Deploy
      s = d->Get();
    }
    // 1. The alias (or a failed load): redeploy when it names another version; a version
    // that failed to load is retried with a backoff.
    {
      absl::StatusOr<int64_t> version = ResolveVersion(s->spec);
      const bool backing_off = version.ok() && d->retry_version == *version &&
                               clock_->NowMillis() < d->retry_at_ms;
      if (!version.ok()) {
        SetError(*d, s->spec.name, std::string(version.status().message()),
                 Json{{"model", s->spec.model}});
      } else if (!backing_off &&
                 (s->champion == nullptr || s->champion->version != *version)) {
        std::string why = s->champion == nullptr
                              ? std::string("retry")
                              : absl::StrCat("alias ", s->spec.alias, " moved from version ",
                                             s->champion->version, " to ", *version);
        Deploy(*d, s->spec, s->definition_version, why).IgnoreError();  // recorded by Deploy
        s = d->Get();
      }
    }
    // 2. The feature service's definition.
    if (!s->spec.feature_service.empty()) {
      std::shared_ptr<Serving> next = CopyServing(s);
      RefreshFeatures(*next);
      if (next->features != s->features || next->features_error != s->features_error) {
        Publish(*d, next);
        s = d->Get();
      }
    }
    // 3. The rollout's verdict, or a standing rollout to start.
    if (s->rollout != nullptr) {
      std::optional<GuardVerdict> verdict = s->rollout->guard->Judge(clock_->NowMillis());
      if (verdict.has_value()) {
        Json record = {{"passed", verdict->passed},
                       {"reason", verdict->reason},
                       {"details", verdict->details}};
        const Rollout& r = s->rollout->record;
        std::string action = verdict->passed ? (r.on_pass == "promote" ? "promote" : "end")
                                             : (r.on_fail == "rollback" ? "rollback" : "end");
        verdicts->push_back({d, r.id, action, verdict->reason, std::move(record)});
      }
    } else {
      EnsureRollout(*d);
    }
  }
}

// ---- rollouts ------------------------------------------------------------------------

absl::StatusOr<Rollout> EndpointService::AttachRollout(Deployment& d, Rollout record,
                                                       bool create) {
  std::shared_ptr<const Serving> s = d.Get();
  std::shared_ptr<const Runtime> challenger = ReuseRuntime(s.get(), s->spec, record.version);
  if (challenger == nullptr || challenger == s->champion) {
    CAIRN_ASSIGN_OR_RETURN(challenger, Load(s->spec, record.version));
  }
  if (create) {
    CAIRN_ASSIGN_OR_RETURN(record, options_.store->Create(std::move(record)));
  }
  auto state = std::make_shared<RolloutState>();
  state->record = record;
  state->challenger = std::move(challenger);
  state->guard = std::make_shared<RolloutGuard>(record.guard, record.started_ms);
  state->share = record.percent / 100.0;
  std::shared_ptr<Serving> next = CopyServing(d.Get());
  next->rollout = std::move(state);
  Publish(d, next);
  Log(LogLevel::kInfo, absl::StrCat("endpoint '", d.name, "': ", record.mode, " of ",
                                    ModelLabel(record.model, record.version), " at ",
                                    record.percent, "% (rollout ", record.id, ")"));
  return record;
}

void EndpointService::EndRolloutOfOtherModel(std::string_view endpoint,
                                             std::string_view rollout_id,
                                             std::string_view model) {
  if (options_.store == nullptr) return;
  const std::string reason = absl::StrCat("the endpoint now serves model ", ToAbsl(model));
  absl::StatusOr<Rollout> ended =
      options_.store->Finish(rollout_id, kRolloutEnded,
                             Json{{"passed", nullptr}, {"reason", reason}}, "endpoint-service",
                             reason);
  if (!ended.ok()) {
    Log(LogLevel::kWarning, absl::StrCat("endpoint '", ToAbsl(endpoint), "': ending rollout ",
                                         ToAbsl(rollout_id), ": ", ended.status().message()));
  }
}

void EndpointService::EnsureRollout(Deployment& d) {
  if (options_.store == nullptr) return;
  std::shared_ptr<const Serving> s = d.Get();
  if (s == nullptr || s->champion == nullptr || s->rollout != nullptr) return;
  // A rollout running in the store (this server restarted, or another process started it).
  absl::StatusOr<std::optional<Rollout>> active = options_.store->Active(d.name);
  if (!active.ok()) {
    SetError(d, d.name, std::string(active.status().message()), Json::object());
    return;
  }
  if (active->has_value() && (*active)->model != s->spec.model) {
    // Started before the definition named another model: its challenger is not this
    // endpoint's model, and its version number means nothing for the new one.
    EndRolloutOfOtherModel(d.name, (*active)->id, s->spec.model);
  } else if (active->has_value()) {
    Rollout record = **active;
    absl::StatusOr<Rollout> attached = AttachRollout(d, record, /*create=*/false);
    if (!attached.ok()) {
      std::string reason = absl::StrCat("the challenger could not be loaded: ",
                                        attached.status().message());
      options_.store
          ->Finish(record.id, kRolloutEnded, Json{{"passed", nullptr}, {"reason", reason}},
                   "endpoint-service", reason)
          .IgnoreError();  // a concurrent finish wins; either way it is not running here
    }
    return;
  }
  // The definition's standing rollout, unless its challenger serves already or was judged.
  if (!s->spec.rollout.has_value()) return;
  const RolloutSpec& spec = *s->spec.rollout;
  int64_t version = spec.version;
  if (version == 0) {
    absl::StatusOr<tracking::ModelVersion> mv =
        options_.models->GetModelVersionByAlias(s->spec.model, spec.alias);
    if (!mv.ok()) return;  // no challenger named yet: nothing to roll out
    version = mv->version;
  }
  if (version == s->champion->version) return;
  absl::StatusOr<std::vector<Rollout>> past = options_.store->List(d.name);
  if (!past.ok()) return;
  for (const Rollout& r : *past) {
    if (r.version == version && r.model == s->spec.model) return;  // judged already
  }
  absl::StatusOr<Rollout> started = AttachRollout(
      d,
      MakeRollout(d.name, s->spec.model, version, spec, "endpoint-service",
                  absl::StrCat("standing ", spec.mode, " of endpoint '", d.name,
                               "' (definition version ", s->definition_version, ")")),
      /*create=*/true);
  if (!started.ok()) {
    SetError(d, d.name, std::string(started.status().message()),
             Json{{"rollout_version", version}});
  }
}

absl::Status EndpointService::PromoteVersion(const EndpointSpec& spec, int64_t version,
                                             std::string_view actor, std::string_view reason) {
  if (spec.alias.empty()) {
    // A pinned endpoint (a standing rollout of its definition): moving any alias would not
    // change what it serves.
    return absl::FailedPreconditionError(absl::StrCat(
        "endpoint '", spec.name, "' is pinned to ", ModelLabel(spec.model, spec.version),
        " and has no alias to move; set on_pass: none on its rollouts"));
  }
  if (options_.promote) return options_.promote(spec.model, version, actor, reason);
  const std::string& alias = spec.alias;  // the endpoint's own alias
  absl::StatusOr<tracking::ModelVersion> before =
      options_.models->GetModelVersionByAlias(spec.model, alias);
  CAIRN_RETURN_IF_ERROR(options_.models->SetAlias(spec.model, alias, version, actor, reason));
  if (options_.events != nullptr) {
    options_.events->Publish(Event{
        kEventModelAliasMoved,
        {{"model", spec.model},
         {"alias", alias},
         {"from_version", before.ok() ? absl::StrCat(before->version) : ""},
         {"to_version", absl::StrCat(version)},
         {"actor", std::string(actor)},
         {"reason", std::string(reason)}},
        0});
  }
  return absl::OkStatus();
}

absl::StatusOr<Rollout> EndpointService::FinishRollout(const std::shared_ptr<Deployment>& d,
                                                       std::string rollout_id,
                                                       std::string_view action, Json verdict,
                                                       std::string_view actor,
                                                       std::string_view reason) {
  std::shared_ptr<const Serving> s;
  {
    absl::MutexLock sync(&sync_mu_);
    s = d->Get();
    if (s == nullptr || s->rollout == nullptr || s->rollout->record.id != rollout_id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "rollout ", rollout_id, " is no longer running on endpoint '", d->name, "'"));
    }
    if (!finishing_.insert(rollout_id).second) {
      return absl::FailedPreconditionError(
          absl::StrCat("rollout ", rollout_id, " is being finished already"));
    }
  }
  // The promotion calls into cicd (which may call StartRolloutsForModel while holding its
  // own lock): no lock of this service is held here.
  std::string state = kRolloutEnded;
  bool promoted = false;
  if (action == "promote") {
    const Rollout& record = s->rollout->record;
    absl::Status moved = PromoteVersion(s->spec, record.version, actor, reason);
    // The injected promote moves its policy's target alias: when that is not the alias this
    // endpoint follows, the endpoint keeps its champion and the rollout is not "promoted".
    absl::StatusOr<int64_t> follows =
        moved.ok() ? ResolveVersion(s->spec) : absl::StatusOr<int64_t>(moved);
    if (moved.ok() && (!follows.ok() || *follows != record.version)) {
      verdict["promote_error"] = absl::StrCat(
          "promoted, but alias ", s->spec.alias, " of endpoint '", d->name, "' does not name ",
          ModelLabel(record.model, record.version), ": the endpoint keeps its champion");
      Log(LogLevel::kWarning, absl::StrCat("endpoint '", d->name, "': ",
                                           verdict["promote_error"].get<std::string>()));
    } else if (moved.ok()) {
      state = kRolloutPromoted;
      promoted = true;
    } else {
      verdict["promote_error"] = std::string(moved.message());
      Log(LogLevel::kWarning, absl::StrCat("endpoint '", d->name, "': promoting ",
                                           ModelLabel(record.model, record.version),
                                           " failed: ", moved.message()));
    }
  } else if (action == "rollback") {
    state = kRolloutRolledBack;
  }
  absl::MutexLock sync(&sync_mu_);
  finishing_.erase(rollout_id);
  return FinishRolloutLocked(*d, rollout_id, state, promoted, std::move(verdict), actor, reason);
}

absl::StatusOr<Rollout> EndpointService::FinishRolloutLocked(Deployment& d,
                                                             std::string_view rollout_id,
                                                             std::string_view state,
                                                             bool promoted, Json verdict,
                                                             std::string_view actor,
                                                             std::string_view reason) {
  absl::StatusOr<Rollout> finished =
      options_.store != nullptr
          ? options_.store->Finish(rollout_id, state, verdict, actor, reason)
          : absl::StatusOr<Rollout>(absl::FailedPreconditionError("no endpoint store"));
  std::shared_ptr<const Serving> s = d.Get();
  if (s == nullptr || s->rollout == nullptr || s->rollout->record.id != rollout_id) {
    return finished;  // the endpoint changed meanwhile; its traffic no longer has it
  }
  const RolloutState& rollout = *s->rollout;
  // Whatever the store says (a concurrent finish elsewhere), traffic returns to one model.
  std::shared_ptr<Serving> next = CopyServing(s);
  if (promoted && !s->spec.alias.empty()) {
    // The alias now names the challenger: it becomes the champion without a reload (the
    // next recheck confirms the alias).
    absl::StatusOr<int64_t> now_serving = ResolveVersion(s->spec);
    if (now_serving.ok() && *now_serving == rollout.record.version) {
      next->champion = rollout.challenger;
      absl::MutexLock lock(&d.mu);
      d.deployed_ms = clock_->NowMillis();
    }
  }
  next->rollout = nullptr;
  const int64_t previous = s->champion != nullptr ? s->champion->version : 0;
  const bool swapped = next->champion != s->champion;
  Publish(d, next);
  if (swapped) {
    AddEvent(d.name, kEndpointEventDeployed,
             Json{{"model", s->spec.model},
                  {"version", rollout.record.version},
                  {"previous_version", previous},
                  {"definition_version", s->definition_version},
                  {"reason", absl::StrCat("rollout ", rollout.record.id, " promoted")}});
  }
  if (!finished.ok() && options_.store == nullptr) {
    Rollout record = rollout.record;
    record.state = std::string(state);
    record.verdict = verdict;
    return record;
  }
  return finished;
}

absl::StatusOr<Rollout> EndpointService::StartRollout(std::string_view endpoint,
                                                      const RolloutSpec& spec,
                                                      std::string_view actor,
                                                      std::string_view reason) {
  CAIRN_RETURN_IF_ERROR(ValidateRolloutSpec(spec, /*require_target=*/true, "rollout"));
  absl::MutexLock sync(&sync_mu_);
  std::shared_ptr<Deployment> d = Find(endpoint);
  if (d == nullptr) return NotDeployed(endpoint);
  if (options_.store == nullptr) {
    return absl::FailedPreconditionError("rollouts need the endpoint store; none is configured");
  }
  std::shared_ptr<const Serving> s = d->Get();
  if (s == nullptr || s->champion == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "endpoint '", ToAbsl(endpoint), "' serves no model yet (", d->Error(),
        "); a rollout needs a champion to compare with"));
  }
  if (s->rollout != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "endpoint '", ToAbsl(endpoint), "' already runs rollout ", s->rollout->record.id, " (",
        s->rollout->record.mode, " of version ", s->rollout->record.version,
        "); stop it first: cairn endpoints promote|rollback ", ToAbsl(endpoint), " ",
        s->rollout->record.id));
  }
  if (s->spec.alias.empty() && spec.on_pass == "promote") {
    return absl::InvalidArgumentError(absl::StrCat(
        "on_pass: \"promote\", but endpoint '", ToAbsl(endpoint), "' is pinned to ",
        ModelLabel(s->spec.model, s->spec.version),
        ": a pinned endpoint has no alias to move; use on_pass: none (or follow an alias)"));
  }
  int64_t version = spec.version;
  if (version == 0) {
    CAIRN_ASSIGN_OR_RETURN(tracking::ModelVersion mv,
                           options_.models->GetModelVersionByAlias(s->spec.model, spec.alias));
    version = mv.version;
  } else {
    CAIRN_RETURN_IF_ERROR(options_.models->GetModelVersion(s->spec.model, version).status());
  }
  if (version == s->champion->version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "version ", version, " of model '", s->spec.model, "' already serves endpoint '",
        ToAbsl(endpoint), "' as its champion; roll out another version"));
  }
  return AttachRollout(*d, MakeRollout(endpoint, s->spec.model, version, spec, actor, reason),
                       /*create=*/true);
}

absl::StatusOr<std::string> EndpointService::StartRolloutsForModel(
    std::string_view model, int64_t version, const RolloutSpec& spec, std::string_view actor,
    std::string_view reason) {
  std::vector<std::string> started;
  absl::Status first = absl::OkStatus();
  for (const std::shared_ptr<Deployment>& d : All()) {
    std::shared_ptr<const Serving> s = d->Get();
    if (s == nullptr || s->spec.model != model || s->spec.alias.empty()) continue;
    RolloutSpec resolved = spec;
    resolved.version = version;
    resolved.alias.clear();
    absl::StatusOr<Rollout> r = StartRollout(d->name, resolved, actor, reason);
    if (r.ok()) {
      started.push_back(absl::StrCat(r->mode, " of ", ToAbsl(model), " version ", version, " at ",
                                     r->percent, "% on endpoint ", d->name));
    } else if (first.ok()) {
      first = r.status();
    }
  }
  if (started.empty()) {
    if (!first.ok()) return first;
    return absl::NotFoundError(
        absl::StrCat("no endpoint serves model '", ToAbsl(model), "' by alias"));
  }
  return absl::StrJoin(started, "; ");
}

absl::StatusOr<Rollout> EndpointService::StopRollout(std::string_view endpoint,
                                                     std::string_view rollout_id,
                                                     std::string_view action,
                                                     std::string_view actor,
                                                     std::string_view reason) {
  if (action != "promote" && action != "rollback") {
    return absl::InvalidArgumentError(absl::StrCat(
        "action: '", ToAbsl(action), "' is not one of promote, rollback"));
  }
  std::shared_ptr<Deployment> d = Find(endpoint);
  if (d == nullptr) return NotDeployed(endpoint);
  std::shared_ptr<const Serving> s = d->Get();
  if (s == nullptr || s->rollout == nullptr) {
    if (!rollout_id.empty() && options_.store != nullptr) {
      absl::StatusOr<Rollout> r = options_.store->Get(rollout_id);
      if (r.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "rollout ", ToAbsl(rollout_id), " is not running (state ", r->state, ")"));
      }
      return r.status();
    }
    return absl::FailedPreconditionError(
        absl::StrCat("endpoint '", ToAbsl(endpoint), "' has no running rollout"));
  }
  if (!rollout_id.empty() && rollout_id != s->rollout->record.id) {
    if (options_.store != nullptr) {
      absl::StatusOr<Rollout> r = options_.store->Get(rollout_id);
      if (r.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "rollout ", ToAbsl(rollout_id), " is not running (state ", r->state,
            "); the running one is ", s->rollout->record.id));
      }
    }
    return absl::NotFoundError(absl::StrCat("rollout '", ToAbsl(rollout_id),
                                            "' is not endpoint '", ToAbsl(endpoint),
                                            "''s running rollout (", s->rollout->record.id,
                                            ")"));
  }
  Json verdict = {{"passed", nullptr},
                  {"stopped_by_hand", true},
                  {"action", std::string(action)},
                  {"reason", absl::StrCat(action == "promote" ? "promoted" : "rolled back",
                                          " by ", ToAbsl(actor),
                                          reason.empty() ? "" : ": ", ToAbsl(reason))},
                  {"details", s->rollout->guard->Snapshot(clock_->NowMillis())}};
  return FinishRollout(d, s->rollout->record.id, action, std::move(verdict), actor, reason);
}

absl::Status EndpointService::NotDeployed(std::string_view endpoint) {
  return absl::NotFoundError(absl::StrCat(
      "endpoint '", ToAbsl(endpoint),
      "' is not deployed; define it (kind: Endpoint) and apply it: cairn apply -f FILE"));
}


// ---- describe and list ---------------------------------------------------------------

namespace {

Json RuntimeJson(const Runtime& runtime) {
  RuntimeStats stats = runtime.model->Stats();
  return Json{{"model", runtime.model_name},
              {"version", runtime.version},
              {"flavor", runtime.model->info().flavor},
              {"model_dir", runtime.model_dir},
              {"input_columns", runtime.model->info().input_columns},
              {"replicas", stats.replicas},
              {"in_flight", stats.in_flight},
              {"queued", stats.queued},
              {"rejected", stats.rejected}};
}

}  // namespace

DeploymentStatus EndpointService::StatusOf(const Deployment& d) {
  DeploymentStatus out;
  out.endpoint = d.name;
  std::shared_ptr<const Serving> s = d.Get();
  {
    absl::ReaderMutexLock lock(&d.mu);
    out.error = d.error;
    out.deployed_ms = d.deployed_ms;
  }
  if (s == nullptr) {
    out.state = "pending";
    return out;
  }
  out.definition_version = s->definition_version;
  out.model = s->spec.model;
  if (s->champion != nullptr) {
    out.state = "serving";
    out.model_version = s->champion->version;
  } else {
    out.state = "failed";
  }
  if (s->rollout != nullptr) out.rollout_id = s->rollout->record.id;
  return out;
}

std::vector<DeploymentStatus> EndpointService::List() {
  std::vector<DeploymentStatus> out;
  for (const std::shared_ptr<Deployment>& d : All()) out.push_back(StatusOf(*d));
  return out;
}

absl::StatusOr<Json> EndpointService::Describe(std::string_view endpoint) {
  std::shared_ptr<Deployment> d = Find(endpoint);
  if (d == nullptr) return NotDeployed(endpoint);
  std::shared_ptr<const Serving> s = d->Get();
  Json out = {{"name", d->name}, {"status", DeploymentStatusToJson(StatusOf(*d))}};
  out["definition_version"] = s != nullptr ? s->definition_version : 0;
  out["spec"] = s != nullptr ? EndpointSpecToJson(s->spec) : Json(nullptr);
  out["runtime"] = s != nullptr && s->champion != nullptr ? RuntimeJson(*s->champion)
                                                          : Json(nullptr);
  out["traffic"] = {{"requests", d->requests.load()},
                    {"rows", d->rows.load()},
                    {"errors", d->errors.load()},
                    {"shadow_dropped", d->shadow_dropped.load()}};
  Json features = nullptr;
  if (s != nullptr && !s->spec.feature_service.empty()) {
    features = {{"feature_service", s->spec.feature_service}, {"error", s->features_error}};
    if (s->features != nullptr) {
      Json names = Json::array();
      for (const auto& f : s->features->features) names.push_back(f.name);
      Json keys = Json::array();
      for (const auto& k : s->features->join_keys) keys.push_back(k.name);
      features["features"] = names;
      features["join_keys"] = keys;
    }
  }
  out["features"] = features;
  if (s != nullptr && s->rollout != nullptr) {
    Json rollout = RolloutToJson(s->rollout->record);
    rollout["challenger_runtime"] = RuntimeJson(*s->rollout->challenger);
    rollout["progress"] = s->rollout->guard->Snapshot(clock_->NowMillis());
    out["rollout"] = rollout;
  } else {
    out["rollout"] = nullptr;
  }
  return out;
}


// ---- the default loader --------------------------------------------------------------

LoadRuntimeFn DefaultLoadRuntime() {
  return [](const RuntimeRequest& request) -> absl::StatusOr<std::shared_ptr<ModelRuntime>> {
    RuntimeOptions options;
    options.runtime = request.runtime;
    options.python.min_replicas = request.min_replicas;
    options.python.max_replicas = request.max_replicas;
    options.python.max_queue_per_replica = request.max_queue;
    options.python.request_timeout_ms = request.timeout_ms;
    options.python.endpoint = request.endpoint;
    if (request.on_scaling) {
      auto on_scaling = request.on_scaling;
      options.python.on_scaling = [on_scaling](const ScalingEvent& event) {
        on_scaling(event.time_ms, event.from, event.to, event.reason);
      };
    }
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ModelRuntime> runtime,
                           LoadModelRuntime(request.model_dir, options));
    return std::shared_ptr<ModelRuntime>(std::move(runtime));
  };
}

}  // namespace cairn::serving
