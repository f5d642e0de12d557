#pragma once
// A serving endpoint as users write it (`kind: Endpoint`, DESIGN.md §8), and the rollout
// (canary or shadow) that can run on it. Parsed and validated by endpoint_yaml.h;
// versioned by endpoint_registry.h; served by endpoint_service.h.
//
//   kind: Endpoint
//   name: churn
//   description: …            owner: …            tags: {team: growth}
//   model: churn@production          # name@alias (follows the alias), or name/3 (pinned)
//   feature_service: churn           # fetch features online by entity key (optional)
//   runtime: auto                    # auto (from MLmodel) | xgboost | python
//   replicas: {min: 1, max: 4}       # python runtime's worker pool
//   max_queue: 32                    # requests waiting per replica before 429
//   timeout: 30s                     # python runtime: a request's deadline (queue + model);
//                                    # past it 504, and a busy worker is killed and replaced
//   inference_log: {sample: 0.1, max_rows: 1000000}
//   rollout:                         # optional: a standing canary / shadow
//     mode: canary                   # canary | shadow
//     version: 4                     # or alias: challenger
//     percent: 10                    # canary: share of requests answered by it
//                                    # shadow: share of requests mirrored to it
//     guard: {window: 10m, min_requests: 200, max_error_rate_increase: 0.01,
//             max_p99_latency_ratio: 1.5, max_prediction_drift: 0.2, drift_test: psi}
//     on_pass: promote               # promote | none
//     on_fail: rollback              # rollback | none

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace cairn::serving {

// When a canary (or shadow) is judged, compared with the champion over the same window.
struct GuardSpec {
  int64_t window_ms = 600'000;          // the verdict comes when the window has passed…
  int64_t min_requests = 100;           // …and the challenger made at least this many
  double max_error_rate_increase = 0.01;  // challenger error rate − champion's, at most
  double max_p99_latency_ratio = 2.0;     // challenger p99 / champion p99, at most
  // Drift of the challenger's predictions from the champion's (drift_test's statistic
  // from monitoring/stats, e.g. psi, wasserstein); absent: not checked.
  std::optional<double> max_prediction_drift;
  std::string drift_test = "psi";
  bool operator==(const GuardSpec&) const = default;
};

struct RolloutSpec {
  std::string mode = "canary";   // "canary" | "shadow"
  int64_t version = 0;           // the challenger version, or…
  std::string alias;             // …the alias naming it (exactly one of the two)
  double percent = 10;           // 0 < percent <= 100
  GuardSpec guard;
  std::string on_pass = "promote";   // "promote" | "none"
  std::string on_fail = "rollback";  // "rollback" | "none"
  bool operator==(const RolloutSpec&) const = default;
};

inline constexpr int64_t kDefaultEndpointTimeoutMs = 30'000;

struct EndpointSpec {
  std::string name;  // [A-Za-z0-9_.-]+, at most 255
  std::string description;
  std::string owner;
  std::map<std::string, std::string> tags;
  // The model: a registered model and either an alias (followed: an alias move redeploys)
  // or a pinned version (exactly one of the two).
  std::string model;
  std::string alias;
  int64_t version = 0;
  std::string feature_service;  // empty: the request carries every feature value
  std::string runtime = "auto";  // "auto" | "xgboost" | "python"
  int min_replicas = 1;          // 0 <= min <= max, max >= 1
  int max_replicas = 1;
  int max_queue = 32;            // >= 1
  // A request's deadline in the python runtime, from the moment it reaches the pool:
  // waiting for a worker plus the model's predict. 1 ms .. 1 h. Past it the caller gets
  // DeadlineExceeded (HTTP 504); a worker still predicting is killed and replaced.
  int64_t timeout_ms = kDefaultEndpointTimeoutMs;
  double log_sample = 1.0;       // share of predicted rows logged, 0..1
  int64_t log_max_rows = 1'000'000;  // the endpoint's log keeps the newest this many
  std::optional<RolloutSpec> rollout;
  std::string file;  // where it was read (messages only; not part of the content)
  int line = 0;
  bool operator==(const EndpointSpec& o) const {
    return name == o.name && description == o.description && owner == o.owner &&
           tags == o.tags && model == o.model && alias == o.alias && version == o.version &&
           feature_service == o.feature_service && runtime == o.runtime &&
           min_replicas == o.min_replicas && max_replicas == o.max_replicas &&
           max_queue == o.max_queue && timeout_ms == o.timeout_ms &&
           log_sample == o.log_sample &&
           log_max_rows == o.log_max_rows && rollout == o.rollout;
  }
};

}  // namespace cairn::serving
