#pragma once
// The feature store's definition objects, as users write them in YAML (`kind: Entity |
// Source | FeatureView | FeatureService`, DESIGN.md §8) and as the registry stores them
// (one canonical JSON document per version). Plain data; parsing, validation, canonical
// form and hashing live in definition_yaml.h and definition_json.h.

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "features/types.h"

namespace cairn::features {

// Fields every object has.
struct ObjectMeta {
  std::string name;  // [A-Za-z_][A-Za-z0-9_-]*, unique per kind
  std::string description;
  std::string owner;
  std::map<std::string, std::string> tags;
  bool operator==(const ObjectMeta&) const = default;
};

// Who a feature row is about. Join keys are int64 or string columns (several make a
// composite key).
struct EntitySpec {
  ObjectMeta meta;
  std::vector<Field> join_keys;
  bool operator==(const EntitySpec&) const = default;
};

enum class SourceKind { kFile, kPush };
enum class FileFormat { kCsv, kJsonl };

// Where raw rows come from. A file source is ingested from CSV / JSON Lines; a push
// source receives rows through the push API. `schema` types the raw columns;
// `timestamp_field` (type timestamp) is each row's event time; `created_timestamp_field`
// (optional) breaks ties between rows with equal event times.
struct SourceSpec {
  ObjectMeta meta;
  SourceKind kind = SourceKind::kFile;
  std::string path;  // file sources: default file for `ingest` without a path (may be "")
  FileFormat format = FileFormat::kCsv;
  Schema schema;
  std::string timestamp_field;
  std::string created_timestamp_field;  // "" = none
  bool operator==(const SourceSpec&) const = default;
};

enum class AggFn { kNone, kCount, kSum, kMean, kMin, kMax };

// One feature of a view. Exactly one of:
//   - a source column of the same name (expr and agg empty);
//   - a row-level expression over source columns (`expr`);
//   - a trailing-window aggregation (`agg` over the expression `of`, in `window_ms`),
//     evaluated at each entity row's timestamp over source rows with event time in
//     (ts - window, ts].
struct FeatureSpec {
  std::string name;
  FeatureType type = FeatureType::kDouble;
  bool nullable = true;
  std::string description;
  std::string expr;
  AggFn agg = AggFn::kNone;
  std::string of;
  int64_t window_ms = 0;
  bool operator==(const FeatureSpec&) const = default;
};

// A versioned set of features about some entities, computed from one source.
// ttl_ms = 0 means no limit (Feast's semantics).
struct FeatureViewSpec {
  ObjectMeta meta;
  std::vector<std::string> entities;
  std::string source;
  int64_t ttl_ms = 0;
  bool online = true;
  std::vector<FeatureSpec> features;
  bool operator==(const FeatureViewSpec&) const = default;
};

// "view:feature", or "view" / "view:*" for every feature of the view.
struct FeatureRef {
  std::string view;
  std::string feature;  // "" = all features of the view
  bool operator==(const FeatureRef&) const = default;
};

// The feature list a model consumes.
struct FeatureServiceSpec {
  ObjectMeta meta;
  std::vector<FeatureRef> features;
  bool operator==(const FeatureServiceSpec&) const = default;
};

enum class DefinitionKind { kEntity, kSource, kFeatureView, kFeatureService };

// "Entity", "Source", "FeatureView", "FeatureService".
std::string_view KindName(DefinitionKind kind);

// One parsed document with where it came from (for error messages and the plan).
struct Definition {
  DefinitionKind kind = DefinitionKind::kEntity;
  std::variant<EntitySpec, SourceSpec, FeatureViewSpec, FeatureServiceSpec> spec;
  std::string file;
  int line = 0;
  const std::string& name() const;
};

// AggFn names: "count", "sum", "mean", "min", "max" ("" for kNone).
std::string_view AggName(AggFn fn);

}  // namespace cairn::features
