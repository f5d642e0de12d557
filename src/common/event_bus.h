#pragma once
// A small in-server publish/subscribe bus (DESIGN.md §5): components publish events
// ("source_ingested", "model_version_registered", "alert", "pipeline_run_finished")
// without knowing who listens; pipeline triggers and monitors subscribe. Delivery is
// asynchronous, in publish order, on the bus's own thread, at most once per subscriber;
// a slow subscriber delays the others, so subscribers hand long work elsewhere. Events
// published before Shutdown are delivered; Publish after Shutdown is dropped. Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace cairn {

struct Event {
  std::string type;                              // "source_ingested", …
  std::map<std::string, std::string> attributes;  // {"source": "events", "rows": "1000"}
  int64_t time_ms = 0;                           // set by Publish when 0
};

class EventBus {
 public:
  using Handler = std::function<void(const Event&)>;
  EventBus();
  ~EventBus();  // Shutdown()

  // Returns a subscription id. `type` empty: every event.
  int Subscribe(std::string type, Handler handler);
  void Unsubscribe(int id);
  void Publish(Event event);
  // Blocks until every event published so far has been delivered (tests).
  void Drain();
  void Shutdown();
};

}  // namespace cairn
