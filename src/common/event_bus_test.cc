// EventBus: delivery order, type filtering, unsubscribe guarantees, shutdown, handlers
// that publish or throw.

#include "common/event_bus.h"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/event_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn {
namespace {

using ::testing::ElementsAre;

// Collects what a subscriber received (thread-safe).
class Recorder {
 public:
  EventBus::Handler Handler(std::string tag = "") {
    return [this, tag](const Event& event) {
      absl::MutexLock lock(&mu_);
      seen_.push_back(tag + event.type + ":" + Attr(event, "n"));
    };
  }
  std::vector<std::string> Seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  static std::string Attr(const Event& event, const std::string& key) {
    auto it = event.attributes.find(key);
    return it == event.attributes.end() ? "" : it->second;
  }
  absl::Mutex mu_;
  std::vector<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

Event MakeEvent(std::string type, std::string n) {
  Event event;
  event.type = std::move(type);
  event.attributes["n"] = std::move(n);
  return event;
}

TEST(EventBus, DeliversInPublishOrderToSubscribersOfTheTypeAndToCatchAlls) {
  EventBus bus;
  Recorder alerts, all;
  bus.Subscribe(kEventAlert, alerts.Handler());
  bus.Subscribe("", all.Handler());
  for (int i = 0; i < 100; ++i) {
    bus.Publish(MakeEvent(i % 2 ? kEventAlert : kEventSourceIngested, std::to_string(i)));
  }
  bus.Drain();
  std::vector<std::string> expected_alerts, expected_all;
  for (int i = 0; i < 100; ++i) {
    std::string type = i % 2 ? kEventAlert : kEventSourceIngested;
    if (i % 2) expected_alerts.push_back(type + ":" + std::to_string(i));
    expected_all.push_back(type + ":" + std::to_string(i));
  }
  EXPECT_EQ(alerts.Seen(), expected_alerts);
  EXPECT_EQ(all.Seen(), expected_all);
}

TEST(EventBus, PublishStampsTimeFromTheClockOnlyWhenUnset) {
  FakeClock clock(1'234'000);
  EventBus bus(clock);
  std::vector<int64_t> times;
  absl::Mutex mu;
  bus.Subscribe("", [&](const Event& event) {
    absl::MutexLock lock(&mu);
    times.push_back(event.time_ms);
  });
  bus.Publish(MakeEvent(kEventAlert, "1"));
  Event stamped = MakeEvent(kEventAlert, "2");
  stamped.time_ms = 42;
  bus.Publish(stamped);
  bus.Drain();
  absl::MutexLock lock(&mu);
  EXPECT_THAT(times, ElementsAre(1'234'000, 42));
}

TEST(EventBus, UnsubscribedHandlerIsNotCalledAgain) {
  EventBus bus;
  Recorder first, second;
  int id = bus.Subscribe(kEventAlert, first.Handler());
  bus.Subscribe(kEventAlert, second.Handler());
  bus.Publish(MakeEvent(kEventAlert, "1"));
  bus.Drain();
  bus.Unsubscribe(id);
  bus.Unsubscribe(id);      // twice: ignored
  bus.Unsubscribe(12345);   // unknown: ignored
  bus.Publish(MakeEvent(kEventAlert, "2"));
  bus.Drain();
  EXPECT_THAT(first.Seen(), ElementsAre("alert:1"));
  EXPECT_THAT(second.Seen(), ElementsAre("alert:1", "alert:2"));
}

TEST(EventBus, UnsubscribeWaitsForTheRunningHandler) {
  EventBus bus;
  absl::Notification entered, release;
  std::atomic<bool> finished{false};
  int id = bus.Subscribe(kEventAlert, [&](const Event&) {
    entered.Notify();
    release.WaitForNotification();
    finished = true;
  });
  bus.Publish(MakeEvent(kEventAlert, "1"));
  entered.WaitForNotification();
  std::thread releaser([&] { release.Notify(); });
  bus.Unsubscribe(id);  // returns only after the handler has returned
  EXPECT_TRUE(finished.load());
  releaser.join();
}

TEST(EventBus, HandlersMayPublishSubscribeAndUnsubscribeThemselves) {
  EventBus bus;
  Recorder late;
  std::atomic<int> calls{0};
  int self = 0;
  self = bus.Subscribe(kEventSourceIngested, [&](const Event& event) {
    ++calls;
    bus.Unsubscribe(self);
    bus.Subscribe(kEventAlert, late.Handler());
    bus.Publish(MakeEvent(kEventAlert, "from-handler"));
  });
  bus.Publish(MakeEvent(kEventSourceIngested, "1"));
  bus.Publish(MakeEvent(kEventSourceIngested, "2"));
  bus.Drain();
  bus.Drain();  // the event published by the handler
  EXPECT_EQ(calls.load(), 1);
  EXPECT_THAT(late.Seen(), ElementsAre("alert:from-handler"));
}

TEST(EventBus, ThrowingHandlerDoesNotStopDelivery) {
  EventBus bus;
  Recorder after;
  bus.Subscribe(kEventAlert, [](const Event&) { throw std::runtime_error("boom"); });
  bus.Subscribe(kEventAlert, after.Handler());
  bus.Publish(MakeEvent(kEventAlert, "1"));
  bus.Publish(MakeEvent(kEventAlert, "2"));
  bus.Drain();
  EXPECT_THAT(after.Seen(), ElementsAre("alert:1", "alert:2"));
}

TEST(EventBus, ShutdownDeliversWhatWasPublishedAndDropsLaterEvents) {
  Recorder recorder;
  EventBus bus;
  absl::Notification release;
  bus.Subscribe(kEventAlert, [&](const Event& event) {
    release.WaitForNotification();
    recorder.Handler()(event);
  });
  for (int i = 0; i < 5; ++i) bus.Publish(MakeEvent(kEventAlert, std::to_string(i)));
  std::thread stopper([&] { bus.Shutdown(); });
  release.Notify();
  stopper.join();
  bus.Publish(MakeEvent(kEventAlert, "late"));
  bus.Drain();     // returns: nothing pending
  bus.Shutdown();  // idempotent
  EXPECT_THAT(recorder.Seen(), ElementsAre("alert:0", "alert:1", "alert:2", "alert:3", "alert:4"));
}

TEST(EventBus, ConcurrentPublishersLoseNothing) {
  EventBus bus;
  std::atomic<int> received{0};
  bus.Subscribe("", [&](const Event&) { ++received; });
  std::vector<std::thread> publishers;
  for (int t = 0; t < 4; ++t) {
    publishers.emplace_back([&bus, t] {
      for (int i = 0; i < 500; ++i) bus.Publish(MakeEvent(kEventAlert, std::to_string(t)));
    });
  }
  for (auto& thread : publishers) thread.join();
  bus.Drain();
  EXPECT_EQ(received.load(), 2000);
}

TEST(EventTypes, KnownTypesAndJson) {
  EXPECT_TRUE(IsKnownEventType("alert"));
  EXPECT_TRUE(IsKnownEventType("pipeline_run_finished"));
  EXPECT_FALSE(IsKnownEventType("alerts"));
  EXPECT_EQ(KnownEventTypes().size(), 6u);
  Event event{kEventModelVersionRegistered, {{"model", "churn"}, {"version", "3"}}, 5};
  EXPECT_EQ(EventToJson(event),
            R"({"attributes":{"model":"churn","version":"3"},"time_ms":5,)"
            R"("type":"model_version_registered"})");
}

}  // namespace
}  // namespace cairn
