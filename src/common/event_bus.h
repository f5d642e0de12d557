#pragma once
// A small in-server publish/subscribe bus (DESIGN.md §5): components publish events
// ("source_ingested", "model_version_registered", "alert", "pipeline_run_finished"; the
// names and their attributes are in common/event_types.h) without knowing who listens;
// pipeline triggers and monitors subscribe. Delivery is asynchronous, in publish order, on
// the bus's own thread, at most once per subscriber; a slow subscriber delays the others,
// so subscribers hand long work elsewhere. Events published before Shutdown are
// delivered; Publish after Shutdown is dropped. A handler that throws is logged and the
// bus carries on. Thread-safe.
//
// Handlers may call Publish, Subscribe and Unsubscribe (their own id included). Once
// Unsubscribe returns (called from any other thread), the handler is not running and
// will not be called again, so its owner may be destroyed.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace cairn {

struct Event {
  std::string type;                              // "source_ingested", …
  std::map<std::string, std::string> attributes;  // {"source": "events", "rows": "1000"}
  int64_t time_ms = 0;                           // set by Publish when 0
};

// The event as JSON text, keys sorted:
// {"attributes":{"monitor":"drift"},"time_ms":1700000000000,"type":"alert"}.
std::string EventToJson(const Event& event);

class EventBus {
 public:
  using Handler = std::function<void(const Event&)>;
  EventBus();                     // time_ms from the real clock
  explicit EventBus(Clock& clock);  // time_ms from `clock` (tests); it outlives the bus
  ~EventBus();  // Shutdown()
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Returns a subscription id (> 0). `type` empty: every event.
  int Subscribe(std::string type, Handler handler);
  // Unknown or already removed ids are ignored.
  void Unsubscribe(int id);
  void Publish(Event event);
  // Blocks until every event published so far has been delivered (tests). Returns at once
  // when called from a handler (the bus thread cannot wait for itself).
  void Drain();
  // Delivers what was published so far, then stops the bus thread. Idempotent.
  void Shutdown();

 private:
  struct Subscription {
    std::string type;
    std::shared_ptr<Handler> handler;
  };
  void Loop();
  bool OnBusThread() const;

  Clock& clock_;
  absl::Mutex mu_;
  std::map<int, Subscription> subscriptions_ ABSL_GUARDED_BY(mu_);
  std::deque<Event> queue_ ABSL_GUARDED_BY(mu_);
  int next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t published_ ABSL_GUARDED_BY(mu_) = 0;  // events accepted by Publish
  int64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;  // events handed to every subscriber
  int delivering_to_ ABSL_GUARDED_BY(mu_) = 0;  // the subscription whose handler runs now
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex shutdown_mu_;  // serializes Shutdown (joins the thread once)
  std::thread thread_;
};

}  // namespace cairn
