#pragma once
// The canonical form of a definition: one JSON object per spec with every field present
// (defaults filled), keys sorted, durations as integer milliseconds ("ttl_ms",
// "window_ms"), enums as their YAML names. Its compact serialization is what the registry
// stores and hashes (SHA-256, lowercase hex), so two definitions that mean the same are
// byte-identical and re-applying an unchanged one creates no version.
//
//   Entity          {kind, name, description, owner, tags, join_keys: [{name, type}]}
//   Source          {kind, name, description, owner, tags, type: file|push, path,
//                    format: csv|jsonl, timestamp_field, created_timestamp_field,
//                    schema: [{name, type, nullable}]}
//   FeatureView     {kind, name, description, owner, tags, entities, source, ttl_ms,
//                    online, features: [{name, type, nullable, description, expr,
//                                        agg ("" | count | …), of, window_ms}]}
//   FeatureService  {kind, name, description, owner, tags, features: ["view:feature" |
//                                                                     "view"]}
//
// Pure functions; thread-safe.

#include <string>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "common/sha256.h"
#include "features/definitions.h"

namespace cairn::features {

Json ToCanonicalJson(const Definition& def);
Json ToCanonicalJson(const EntitySpec& spec);
Json ToCanonicalJson(const SourceSpec& spec);
Json ToCanonicalJson(const FeatureViewSpec& spec);
Json ToCanonicalJson(const FeatureServiceSpec& spec);

// The compact serialization of ToCanonicalJson (sorted keys, no spaces).
std::string CanonicalText(const Definition& def);

// Lowercase hex SHA-256 of `text` (common/sha256.h) / of CanonicalText(def).
using ::cairn::Sha256Hex;
std::string ContentHash(const Definition& def);

// Back from the canonical JSON (missing fields take their defaults; `kind` decides the
// spec). InvalidArgument naming the field for anything malformed. file/line stay empty.
absl::StatusOr<Definition> DefinitionFromJson(const Json& json);

// "view:feature", or "view" for all of its features.
std::string FeatureRefText(const FeatureRef& ref);

// Parses "Entity" | "Source" | "FeatureView" | "FeatureService".
absl::StatusOr<DefinitionKind> ParseKindName(std::string_view name);

}  // namespace cairn::features
