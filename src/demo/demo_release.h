#pragma once
// The demo's release chapter (issue 6): the model retrained in the monitoring chapter goes
// through the release gate against production (examples/churn/serving/churn-gate.yaml:
// metrics on the newest labeled traffic next to the production version on the same rows,
// per contract type, and operational checks), passes, and goes out through a canary on
// the churn endpoint (examples/churn/serving/churn-endpoint.yaml) while simulated
// requests flow; the guard's verdict promotes it. A rushed candidate (two shallow trees)
// is then rejected by the gate, with the failing gates named. Finally the endpoint serves
// predictions for customers by id, their features fetched from the online store. All of
// it runs in this process on the data directory's stores with the services a server runs
// (cicd/release_stack.h).

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "demo/demo_stores.h"

namespace cairn::demo {

struct ReleaseChapterOptions {
  std::string data_dir;                // absolute
  std::vector<int64_t> customer_ids;   // customers the simulated requests ask about
  uint64_t seed = 20240601;
};

struct ServedPrediction {
  int64_t customer_id = 0;
  double score = 0;
  int64_t model_version = 0;
};

struct ReleaseChapterResult {
  int64_t candidate_version = 0;    // the retrained version that was gated
  bool candidate_passed = false;
  std::string candidate_action;     // what followed its check (PromotionOutcome::action)
  std::string rollout_id;           // the canary ("" when none ran)
  std::string rollout_state;        // "promoted" | "rolled_back" | …
  int64_t canary_requests = 0;      // simulated requests sent while it ran
  int64_t rejected_version = 0;     // the rushed candidate
  bool rejected_passed = false;     // expected false
  std::vector<std::string> failed_gates;  // of the rushed candidate
  int64_t production_version = 0;   // at the end
  std::vector<ServedPrediction> predictions;
  int64_t logged_predictions = 0;   // rows in the endpoint's inference log at the end
};

// Needs stores opened with the feature store (materialized) after the monitoring chapter
// (its labeled traffic and its retrained version). Errors of the stores, definitions and
// services; a gate that fails is not an error.
absl::StatusOr<ReleaseChapterResult> RunReleaseChapter(DemoStores& stores,
                                                       const ReleaseChapterOptions& options,
                                                       std::ostream& out);

}  // namespace cairn::demo
