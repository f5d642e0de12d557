#include "api/apply_changes.h"

#include <utility>

namespace cairn::api {

Json ApplyChangesReply(std::string_view kind, const std::vector<storage::DefinitionChange>& changes,
                       const std::map<std::string, DefinitionPlace>& places, bool dry_run) {
  Json items = Json::array();
  bool changed = false;
  for (const storage::DefinitionChange& change : changes) {
    Json item = storage::DefinitionChangeToJson(change);
    item["kind"] = std::string(kind);
    auto place = places.find(change.name);
    item["file"] = place == places.end() ? "" : place->second.file;
    item["line"] = place == places.end() ? 0 : place->second.line;
    items.push_back(std::move(item));
    changed = changed || change.action != "unchanged";
  }
  return Json{{"changes", std::move(items)}, {"applied", !dry_run && changed}};
}

}  // namespace cairn::api
