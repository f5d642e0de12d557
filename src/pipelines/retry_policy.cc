#include "pipelines/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace cairn::pipelines {

int64_t RetryDelayMs(const RetryPolicy& policy, int failed_attempt, double uniform) {
  double delay = static_cast<double>(std::max<int64_t>(policy.backoff_ms, 0)) *
                 std::pow(std::max(policy.factor, 1.0), std::max(failed_attempt - 1, 0));
  if (policy.max_backoff_ms > 0) delay = std::min(delay, static_cast<double>(policy.max_backoff_ms));
  double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  delay *= 1.0 + jitter * (2.0 * uniform - 1.0);
  return std::max<int64_t>(0, static_cast<int64_t>(std::llround(delay)));
}

int64_t RetryDelayMs(const RetryPolicy& policy, int failed_attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return RetryDelayMs(policy, failed_attempt, std::uniform_real_distribution<double>(0, 1)(rng));
}

}  // namespace cairn::pipelines
