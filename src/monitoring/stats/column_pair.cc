#include "monitoring/stats/column_pair.h"

namespace cairn::monitoring::stats {

void Decide(TestResult& result) {
  const bool p_test =
      result.rule == DriftRule::kPValueBelow || result.rule == DriftRule::kPValueAtMost;
  result.score = p_test ? result.p_value.value_or(1.0) : result.statistic;
  switch (result.rule) {
    case DriftRule::kPValueBelow: result.drifted = result.score < result.threshold; break;
    case DriftRule::kPValueAtMost: result.drifted = result.score <= result.threshold; break;
    case DriftRule::kDistanceAtLeast: result.drifted = result.score >= result.threshold; break;
    case DriftRule::kDistanceAbove: result.drifted = result.score > result.threshold; break;
  }
}

}  // namespace cairn::monitoring::stats
