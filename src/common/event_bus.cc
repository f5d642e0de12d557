#include "common/event_bus.h"

#include <array>
#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/event_types.h"
#include "common/json.h"
#include "common/log.h"

namespace cairn {

std::span<const std::string_view> KnownEventTypes() {
  static constexpr std::array<std::string_view, 6> kTypes = {
      kEventSourceIngested,      kEventModelVersionRegistered, kEventAlert,
      kEventPipelineRunFinished, kEventModelAliasMoved,        kEventEvaluationFinished};
  return kTypes;
}

bool IsKnownEventType(std::string_view type) {
  for (std::string_view known : KnownEventTypes()) {
    if (known == type) return true;
  }
  return false;
}

std::string EventToJson(const Event& event) {
  Json attributes = Json::object();
  for (const auto& [key, value] : event.attributes) attributes[key] = value;
  return DumpJson(Json{{"type", event.type}, {"attributes", std::move(attributes)},
                       {"time_ms", event.time_ms}});
}

EventBus::EventBus() : EventBus(RealClock()) {}

EventBus::EventBus(Clock& clock) : clock_(clock) { thread_ = std::thread([this] { Loop(); }); }

EventBus::~EventBus() { Shutdown(); }

bool EventBus::OnBusThread() const { return std::this_thread::get_id() == thread_.get_id(); }

int EventBus::Subscribe(std::string type, Handler handler) {
  absl::MutexLock lock(&mu_);
  int id = next_id_++;
  subscriptions_[id] =
      Subscription{std::move(type), std::make_shared<Handler>(std::move(handler))};
  return id;
}

void EventBus::Unsubscribe(int id) {
  absl::MutexLock lock(&mu_);
  subscriptions_.erase(id);
  // The handler may be running right now on the bus thread; wait for it so that the
  // caller may destroy what it captured. A handler unsubscribing itself must not wait.
  if (!OnBusThread()) {
    auto not_running = [this, id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return delivering_to_ != id;
    };
    mu_.Await(absl::Condition(&not_running));
  }
}

void EventBus::Publish(Event event) {
  if (event.time_ms == 0) event.time_ms = clock_.NowMillis();
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  queue_.push_back(std::move(event));
  ++published_;
}

void EventBus::Drain() {
  if (OnBusThread()) return;
  absl::MutexLock lock(&mu_);
  const int64_t target = published_;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return delivered_ >= target;
  };
  mu_.Await(absl::Condition(&done));
}

void EventBus::Shutdown() {
  absl::MutexLock shutdown_lock(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable() && !OnBusThread()) thread_.join();
}

void EventBus::Loop() {
  for (;;) {
    Event event;
    std::vector<std::pair<int, std::shared_ptr<Handler>>> targets;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and everything published was delivered
      event = std::move(queue_.front());
      queue_.pop_front();
      for (const auto& [id, subscription] : subscriptions_) {
        if (subscription.type.empty() || subscription.type == event.type) {
          targets.emplace_back(id, subscription.handler);
        }
      }
    }
    for (auto& [id, handler] : targets) {
      {
        absl::MutexLock lock(&mu_);
        // Unsubscribed by an earlier handler of this event, or meanwhile: skip it.
        if (subscriptions_.count(id) == 0) continue;
        delivering_to_ = id;
      }
      try {
        (*handler)(event);
      } catch (const std::exception& e) {
        Log(LogLevel::kError, absl::StrCat("event bus: a handler of '", event.type,
                                           "' threw: ", e.what()));
      } catch (...) {
        Log(LogLevel::kError,
            absl::StrCat("event bus: a handler of '", event.type, "' threw"));
      }
      absl::MutexLock lock(&mu_);
      delivering_to_ = 0;
    }
    absl::MutexLock lock(&mu_);
    ++delivered_;
  }
}

}  // namespace cairn
