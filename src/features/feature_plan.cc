#include "features/feature_plan.h"

#include "absl/strings/str_cat.h"

namespace cairn::features {
namespace {

void Diff(const std::string& path, const Json& a, const Json& b, std::vector<FieldDiff>* out) {
  if (a == b) return;
  if (a.is_object() && b.is_object()) {
    // Both key sets are sorted (nlohmann objects are std::map): merge them.
    auto ia = a.begin();
    auto ib = b.begin();
    auto child = [&](const std::string& key) { return path.empty() ? key : path + "." + key; };
    while (ia != a.end() || ib != b.end()) {
      if (ib == b.end() || (ia != a.end() && ia.key() < ib.key())) {
        Diff(child(ia.key()), ia.value(), Json(), out);
        ++ia;
      } else if (ia == a.end() || ib.key() < ia.key()) {
        Diff(child(ib.key()), Json(), ib.value(), out);
        ++ib;
      } else {
        Diff(child(ia.key()), ia.value(), ib.value(), out);
        ++ia;
        ++ib;
      }
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    size_t n = std::max(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
      Diff(absl::StrCat(path, "[", i, "]"), i < a.size() ? a[i] : Json(),
           i < b.size() ? b[i] : Json(), out);
    }
    return;
  }
  out->push_back(FieldDiff{path, a, b});
}

}  // namespace

std::string_view ActionName(ChangeAction action) {
  switch (action) {
    case ChangeAction::kAdded: return "added";
    case ChangeAction::kChanged: return "changed";
    case ChangeAction::kUnchanged: return "unchanged";
    case ChangeAction::kRemoved: return "removed";
  }
  return "unknown";
}

std::vector<FieldDiff> DiffCanonicalJson(const Json& old_json, const Json& new_json) {
  std::vector<FieldDiff> out;
  Diff("", old_json, new_json, &out);
  return out;
}

Json PlannedChangeToJson(const PlannedChange& change) {
  Json diffs = Json::array();
  for (const FieldDiff& diff : change.diffs) {
    diffs.push_back({{"path", diff.path}, {"old", diff.old_value}, {"new", diff.new_value}});
  }
  return Json{{"kind", KindName(change.kind)},
              {"name", change.name},
              {"action", ActionName(change.action)},
              {"old_version", change.old_version > 0 ? Json(change.old_version) : Json()},
              {"new_version", change.new_version > 0 ? Json(change.new_version) : Json()},
              {"diffs", std::move(diffs)},
              {"file", change.file},
              {"line", change.line}};
}

}  // namespace cairn::features
