#pragma once
// Delays between the attempts of a step (issue 4 §1): exponential backoff with a cap and
// jitter, as Prefect / Dagster / KFP retries.
//
//   delay before attempt n+1 = min(backoff * factor^(n-1), max_backoff) * (1 ± U(0, jitter))

#include <cstdint>

#include "pipelines/pipeline_spec.h"

namespace cairn::pipelines {

// The delay in ms after failed attempt `failed_attempt` (1-based) before the next one.
// `uniform` in [0, 1) draws the jitter (0.5 = none); pure, for tests.
int64_t RetryDelayMs(const RetryPolicy& policy, int failed_attempt, double uniform);

// The same with a random draw. Thread-safe.
int64_t RetryDelayMs(const RetryPolicy& policy, int failed_attempt);

// True when a step that has failed `attempts_made` times may try again.
inline bool ShouldRetry(const RetryPolicy& policy, int attempts_made) {
  return attempts_made < policy.attempts;
}

}  // namespace cairn::pipelines
