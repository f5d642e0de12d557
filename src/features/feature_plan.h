#pragma once
// What `cairn apply` would do: one change per object (added / changed with field-level
// diffs / unchanged / removed), like `terraform plan`. Field diffs compare canonical JSON
// (definition_json.h): paths like "features[2].expr", "tags.team", "ttl_ms".
// Plain data and pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "features/definitions.h"

namespace cairn::features {

enum class ChangeAction { kAdded, kChanged, kUnchanged, kRemoved };

// "added", "changed", "unchanged", "removed".
std::string_view ActionName(ChangeAction action);

struct FieldDiff {
  std::string path;
  Json old_value;  // null when the field was absent
  Json new_value;  // null when the field is gone
  bool operator==(const FieldDiff&) const = default;
};

struct PlannedChange {
  DefinitionKind kind = DefinitionKind::kEntity;
  std::string name;
  ChangeAction action = ChangeAction::kUnchanged;
  int64_t old_version = 0;  // 0: none (added for the first time)
  int64_t new_version = 0;  // 0: none (removed); == old_version when unchanged
  std::vector<FieldDiff> diffs;  // changed only
  std::string file;              // where the definition came from ("" for removed)
  int line = 0;
};

// The field-level differences between two canonical JSON documents, in document order
// (object keys sorted, arrays by index).
std::vector<FieldDiff> DiffCanonicalJson(const Json& old_json, const Json& new_json);

// {"kind", "name", "action", "old_version" (null when 0), "new_version" (null when 0),
//  "diffs": [{"path", "old", "new"}], "file", "line"}
Json PlannedChangeToJson(const PlannedChange& change);

}  // namespace cairn::features
