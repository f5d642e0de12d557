#pragma once
// TrackingStore::EndRuns inside a caller's write transaction (the pipeline engine stores its
// own state and its step runs' ends in one commit). Defined in tracking_store.cc, beside
// EndRuns; kept out of tracking_store.h so that the store's many users do not see it.

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"
#include "tracking/tracking_store.h"

namespace cairn::tracking {

// As TrackingStore::EndRuns, in `session` (a write transaction on the store's database()).
// The returned status is an error only when a statement failed: the caller must then fail
// its transaction.
absl::StatusOr<std::vector<absl::Status>> EndRunsIn(storage::SqlSession& session,
                                                    const std::vector<RunEnd>& ends);

}  // namespace cairn::tracking
