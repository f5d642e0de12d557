#pragma once
// The reply of every definition apply handler (monitors, pipelines, endpoints, policies):
//   {"changes": [{"kind", "name", "action", "old_version", "new_version", "diffs", "file",
//                 "line"}], "applied": bool}
// file and line say where the definition was read ("" and 0 for a removed one); "applied"
// is true when this was no dry run and something other than "unchanged" happened.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "storage/definition_store.h"

namespace cairn::api {

struct DefinitionPlace {
  std::string file;
  int line = 0;
};

// `places`: by definition name.
Json ApplyChangesReply(std::string_view kind, const std::vector<storage::DefinitionChange>& changes,
                       const std::map<std::string, DefinitionPlace>& places, bool dry_run);

// The same, with the places of `specs` (each has name, file, line).
template <typename Spec>
Json ApplyChangesReply(std::string_view kind, const std::vector<storage::DefinitionChange>& changes,
                       const std::vector<Spec>& specs, bool dry_run) {
  std::map<std::string, DefinitionPlace> places;
  for (const Spec& spec : specs) places[spec.name] = {spec.file, spec.line};
  return ApplyChangesReply(kind, changes, places, dry_run);
}

}  // namespace cairn::api
