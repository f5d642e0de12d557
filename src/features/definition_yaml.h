#pragma once
// Feature-store definitions as users write them: YAML documents with `kind: Entity |
// Source | FeatureView | FeatureService` (DESIGN.md §8), several per file (`---`), in
// every *.yaml / *.yml file below a directory.
//
//   kind: Entity          name, description, owner, tags, join_keys: [{name, type}]
//                         (int64 | string), or join_key: NAME [+ type:, default int64]
//   kind: Source          name, description, owner, tags, type: file | push, path,
//                         format: csv | jsonl, timestamp_field, created_timestamp_field,
//                         schema: [{name, type, nullable (default true)}]
//   kind: FeatureView     name, description, owner, tags, entities: [..], source,
//                         ttl (duration, 0 = no limit), online (default true),
//                         features: [{name, type, nullable, description, expr,
//                                     agg: count|sum|mean|min|max, of, window}]
//   kind: FeatureService  name, description, owner, tags, features: ["view:feature" |
//                         "view" | "view:*"]
//
// Parsing checks everything one document can tell on its own: the YAML itself, known
// kinds and fields (an unknown one is an error naming the nearest valid name), value
// types, name syntax, durations, types, and the feature rules (exactly one of plain /
// expr / agg; agg needs window > 0; count is int64, other aggregations double). Checks
// across objects live in definition_validation.h.
//
// Every error is InvalidArgument and reads "FILE:LINE: KIND NAME: field 'F': value 'V'
// …" with what to do. Pure functions; thread-safe.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "features/definitions.h"

namespace cairn::features {

// Where each part of a definition was written: "name", "source", "entities[0]",
// "features[2]", "features[2].expr", … → 1-based line. Used to point cross-object
// errors at the right line; absent entries fall back to the document's line.
using FieldLines = std::map<std::string, int>;

// Definitions with their field lines (field_lines is parallel to definitions, or empty
// when the definitions did not come from YAML).
struct DefinitionSet {
  DefinitionSet() = default;
  DefinitionSet(std::vector<Definition> defs) : definitions(std::move(defs)) {}  // NOLINT
  std::vector<Definition> definitions;
  std::vector<FieldLines> field_lines;

  // The line of `path` in definition `index`, else the definition's own line.
  int LineOf(size_t index, std::string_view path) const;
  void Append(DefinitionSet other);
};

// One input file.
struct DefinitionFile {
  std::string path;     // as shown in messages
  std::string content;
};

// "[A-Za-z_][A-Za-z0-9_-]*", at most 128 characters (object names).
bool IsValidObjectName(std::string_view name);
// "[A-Za-z_][A-Za-z0-9_]*", at most 128 characters (feature and column names).
bool IsValidColumnName(std::string_view name);

// Parses every document of `text`; `file` names it in messages. Empty documents are
// skipped.
absl::StatusOr<DefinitionSet> ParseDefinitionsYaml(std::string_view text, std::string_view file);

// All files, in order.
absl::StatusOr<DefinitionSet> ParseDefinitionFiles(const std::vector<DefinitionFile>& files);

// Reads `path`: a file, or every *.yaml / *.yml below a directory (recursive, sorted by
// path). Paths in the result are `path` joined with the relative name. NotFound when
// `path` does not exist; InvalidArgument when a directory holds no definition file.
absl::StatusOr<std::vector<DefinitionFile>> ReadDefinitionFiles(const std::string& path);


}  // namespace cairn::features
