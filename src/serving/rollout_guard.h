#pragma once
// The judge of a canary (or shadow) rollout: the endpoint service feeds it every request
// of the champion and of the challenger, and asks it on a timer for a verdict. It compares
// the challenger with the champion over the same window: error rate (challenger − champion
// ≤ max_error_rate_increase), p99 latency (challenger / champion ≤ max_p99_latency_ratio)
// and, when max_prediction_drift is set, the drift of the challenger's predictions from
// the champion's (drift_test's statistic, monitoring/stats RunStatTest, ≤ the bound).
//
// Record is lock-free and allocation-free (atomic counters, a log-scale latency
// histogram, a fixed reservoir of predictions per variant): call it on the request path
// from any thread. Judge / Snapshot copy the state and may be called from any thread.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "serving/endpoint_spec.h"

namespace cairn::serving {

struct GuardVerdict {
  bool passed = false;
  // One sentence: "passed: 240 challenger requests over 10m; error rate +0.000 (max
  // +0.010), p99 1.10× (max 1.50×), psi 0.03 (max 0.20)" or "failed: p99 latency 2.40× the
  // champion's (max 1.50×)".
  std::string reason;
  // {"window_ms", "elapsed_ms", "min_requests",
  //  "champion": {"requests", "errors", "error_rate", "p50_latency_us", "p99_latency_us"},
  //  "challenger": {…same…},
  //  "error_rate_increase", "max_error_rate_increase",
  //  "p99_latency_ratio" (null when the champion has no latency), "max_p99_latency_ratio",
  //  "drift": null | {"test", "statistic", "max", "champion_samples",
  //                   "challenger_samples"},
  //  "checks": [{"name": "error_rate" | "p99_latency" | "prediction_drift",
  //              "passed": bool, "value": number | null, "max": number, "note": "…"}]}
  Json details = Json::object();
};

class RolloutGuard {
 public:
  // `max_samples`: predictions kept per variant for the drift test (reservoir).
  RolloutGuard(GuardSpec spec, int64_t started_ms, size_t max_samples = 4096);
  RolloutGuard(const RolloutGuard&) = delete;
  RolloutGuard& operator=(const RolloutGuard&) = delete;

  // One answered request (or row) of the champion (challenger = false) or the challenger.
  // `error`: the variant failed (its prediction is ignored). Thread-safe, lock-free.
  void Record(bool challenger, int64_t latency_us, bool error, double prediction);

  // nullopt until the challenger has min_requests requests. From then on a failing
  // check is a verdict at once (fail fast: details.early = true, and the reason ends
  // "— after 2m of its 10m window"); a pass is a verdict only once the window has passed
  // (now_ms − started_ms ≥ window_ms). A check that cannot be computed (the champion
  // answered nothing, or too few predictions for the drift test) passes with a note in
  // details.checks. Thread-safe.
  std::optional<GuardVerdict> Judge(int64_t now_ms) const;

  // The same details at any time (for Describe / the API's rollout progress), plus
  // "ready" (Judge would answer) and "passing" (the checks as of now). Thread-safe.
  Json Snapshot(int64_t now_ms) const;

  const GuardSpec& spec() const { return spec_; }
  int64_t started_ms() const { return started_ms_; }
  int64_t requests(bool challenger) const;

 private:
  // Latency histogram: 32 sub-buckets per power of two of microseconds (≤ 3.2% error).
  static constexpr int kSubBits = 5;
  static constexpr int kBuckets = 64 << kSubBits;
  struct Variant {
    std::atomic<int64_t> requests{0};
    std::atomic<int64_t> errors{0};
    std::atomic<int64_t> predictions_seen{0};
    std::array<std::atomic<int64_t>, kBuckets> latency{};
    std::unique_ptr<std::atomic<double>[]> samples;
  };
  struct VariantCopy;
  VariantCopy Copy(const Variant& variant) const;
  Json Evaluate(int64_t now_ms, bool* passed, std::string* reason) const;

  const GuardSpec spec_;
  const int64_t started_ms_;
  const size_t max_samples_;
  Variant champion_, challenger_;
};

}  // namespace cairn::serving
