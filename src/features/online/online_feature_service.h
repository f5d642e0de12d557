#pragma once
// Online feature serving with Feast's request and response shapes (FACTS.md "Feast"), as
// `feast serve` answers POST /get-online-features.
//
// Request:
//   {"features": ["view:feature", …] | "feature_service": "name",
//    "entities": {"customer_id": [1001, 1002], …}, "full_feature_names": false}
// Response (column-major: results[j] is column j across the entity rows; the entity
// columns come first, in request order, then the features in request order):
//   {"metadata": {"feature_names": ["customer_id", "total", …]},
//    "results": [{"values": [1001, 1002], "statuses": ["PRESENT", "PRESENT"],
//                 "event_timestamps": ["1970-01-01T00:00:00Z", …]}, …]}
// Entity columns: their values as given, PRESENT, epoch 0. Features:
//   NOT_FOUND        no row for the key: null, epoch 0;
//   NULL_VALUE       the row's value is null: null, the row's event time;
//   OUTSIDE_MAX_AGE  the view has ttl > 0 and now - event_ts > ttl: the value as stored
//                    (as Feast's Go server), the row's event time;
//   PRESENT          otherwise.
// Event times are RFC 3339 UTC as protobuf's JSON mapping writes them
// ("2021-12-31T23:00:00Z", "…:00.250Z"). Values: int64 as JSON integers, doubles in
// Python's repr form (1.0, 0.1, 1e+16; NaN and ±inf as null), strings, booleans, and
// timestamp features as integer epoch seconds (Feast's unix_timestamp_val). With
// full_feature_names, feature columns are named "view__feature".

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "features/definitions.h"
#include "features/online/online_store.h"

namespace cairn::features {

// A feature view as served: its spec and its join keys (the entities' join-key fields,
// in the order the view's rows are keyed by, i.e. the order EncodeKey used when
// materializing).
struct ServedView {
  FeatureViewSpec spec;
  std::vector<Field> join_keys;
};

// What the server knows about served views and feature services; the integrator
// implements it from the registry. Must be thread-safe.
class FeatureCatalog {
 public:
  virtual ~FeatureCatalog() = default;
  // NotFound (message naming the view, ideally with a suggestion) for an unknown view.
  virtual absl::StatusOr<std::shared_ptr<const ServedView>> View(std::string_view name) const = 0;
  // The feature service's feature list; NotFound for an unknown service.
  virtual absl::StatusOr<std::vector<FeatureRef>> Service(std::string_view name) const = 0;
};

// A feature list resolved against the catalog once (ResolveFeatures), for repeated typed
// lookups on a predict path. Immutable; share it between threads; resolve it again after
// the definitions change.
//
// Request-time features: for every timestamp feature `f` the set also holds
// `days_since_f` (double), computed at lookup time as (now − f) in days (null when f is
// null) — the form in which training sets hand timestamps to a model (a model sees
// tenure and recency, not calendar dates; demo/training_data.h), so a model trained on
// them is served the same values online. A real feature of that name wins.
struct OnlineFeatureSet {
  struct Feature {
    std::string name;  // the feature's name (what a model reads it as)
    FeatureType type = FeatureType::kDouble;
    size_t view = 0;   // index into `views`
    int index = 0;     // index into the view's features
    bool days_since = false;  // request-time: days from the timestamp feature `index` to now
  };
  std::vector<std::shared_ptr<const ServedView>> views;
  std::vector<Feature> features;
  std::vector<Field> join_keys;  // every view's join keys, first seen first, no repeats
};

// One entity key value as a request gave it: an integer or a string (entity join keys are
// int64, timestamp or string).
struct EntityKeyValue {
  bool is_string = false;
  int64_t int_value = 0;
  std::string_view text;  // is_string: the value
};

// One join key's values, one per entity row. Borrowed for the call.
struct EntityKeyColumn {
  std::string_view name;
  std::span<const EntityKeyValue> values;
};

class OnlineFeatureService {
 public:
  // Borrows all three; they must outlive the service.
  OnlineFeatureService(const FeatureCatalog* catalog, const OnlineStore* store,
                       const Clock* clock)
      : catalog_(catalog), store_(store), clock_(clock) {}

  // The response JSON for `request_json`. InvalidArgument naming the field for a bad
  // request ("entities.customer_id: expected int64 values, got \"abc\""; an unknown view,
  // feature or feature service, with a suggestion; entity lists of different lengths);
  // the store's error otherwise (Unavailable when Redis is down). Thread-safe.
  absl::StatusOr<std::string> GetOnlineFeatures(std::string_view request_json) const;

  // The features of `feature_service` resolved for Lookup. InvalidArgument naming the
  // service ("feature_service: …", with a suggestion) for an unknown service or view; two
  // views with a feature of the same name: InvalidArgument (a model reads features by
  // name). Thread-safe.
  absl::StatusOr<OnlineFeatureSet> ResolveFeatures(std::string_view feature_service) const;

  // Looks up `rows` entity rows and writes feature f of row r to
  // out[r * stride + target[f]] (features with target[f] < 0 are skipped; target.size()
  // == set.features.size()). A key with no row gives null, as does a null value; values
  // outside the view's ttl are written as stored (Feast's Go server). `entities` must
  // name every join key of set.join_keys (InvalidArgument "entities: missing
  // 'customer_id', a join key of feature view 'x'" otherwise; "entities.customer_id:
  // expected int64 values, got \"abc\"" for a value of the wrong kind); each column has
  // `rows` values. Allocation-free in the steady state apart from string values (buffers
  // are reused per thread). Thread-safe.
  absl::Status Lookup(const OnlineFeatureSet& set, std::span<const EntityKeyColumn> entities,
                      size_t rows, std::span<const int> target, size_t stride,
                      Value* out) const;

 private:
  const FeatureCatalog* catalog_;
  const OnlineStore* store_;
  const Clock* clock_;
};

}  // namespace cairn::features
