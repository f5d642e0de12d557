#pragma once
// The body of `POST /api/v1/endpoints/{name}/predict` read into columns, and the answer
// written back, without a JSON tree (the endpoint's hot path):
//
//   {"entities": {"customer_id": [1001, 1002]},            join keys: int64 or string
//    "features": {"tenure": [3, 40], "plan": ["a", null]}}  raw values: number, string,
//                                                            bool or null
//   → {"ids":["…","…"],"model":"churn","model_version":3,"predictions":[0.12,0.83],
//      "variant":"champion"}
//
// Buffers are reused between requests: a PredictRequest kept per thread parses the next
// request into the columns it already has.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "features/online/online_feature_service.h"
#include "features/types.h"

namespace cairn::serving {

struct PredictRequest {
  struct EntityColumn {
    std::string_view name;
    std::vector<features::EntityKeyValue> values;
  };
  struct FeatureColumn {
    std::string_view name;
    std::vector<features::Value> values;
  };

  size_t rows = 0;
  // The first num_entities / num_features slots are this request's; the rest are spare
  // (kept for their capacity). Names and string views point into the parser's buffers (or
  // the caller's, for CSV): valid until the next parse on this object.
  std::vector<EntityColumn> entity_slots;
  size_t num_entities = 0;
  std::vector<FeatureColumn> feature_slots;
  size_t num_features = 0;

  std::span<const EntityColumn> entities() const { return {entity_slots.data(), num_entities}; }
  std::span<const FeatureColumn> features() const { return {feature_slots.data(), num_features}; }
  // -1 when the request has no such raw feature column.
  int FindFeature(std::string_view name) const;

  void Clear() { rows = 0, num_entities = 0, num_features = 0; }
  EntityColumn& AddEntity(std::string_view name);
  FeatureColumn& AddFeature(std::string_view name);
};

// Parses `json` into `out` (cleared first; string views into a per-thread parser, valid
// until the next call on this thread). InvalidArgument naming the field: not an object,
// "entities.customer_id: expected a list of values", "entities.customer_id[2]: expected an
// integer or a string, got 1.5", "features.x[0]: expected a number, string, bool or null,
// got a list", lists of different lengths ("features.x: 3 values, but entities.customer_id
// has 2; every list needs one value per row"), neither entities nor features, no rows.
// Unknown top-level fields are ignored.
absl::Status ParsePredictRequest(std::string_view json, PredictRequest* out);

// Appends the response JSON (keys sorted; NaN and infinities as null).
void AppendPredictResponse(std::span<const std::string> ids, std::string_view model,
                           int64_t version, std::span<const double> predictions,
                           std::string_view variant, std::string* out);

// Shortest round-trip decimal for a double ("0.125", "1e-07"); "null" when not finite.
void AppendJsonDouble(double value, std::string* out);
void AppendJsonString(std::string_view value, std::string* out);

}  // namespace cairn::serving
