#include "pipelines/pipeline_diff.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "pipelines/pipeline_json.h"

namespace cairn::pipelines {
namespace {

void Add(const std::string& path, const Json& old_value, const Json& new_value, Json* out) {
  out->push_back({{"path", path}, {"old", old_value}, {"new", new_value}});
}

// A list whose entries are all objects with a string "name", unique.
bool IsNamedList(const Json& list) {
  if (!list.is_array() || list.empty()) return false;
  std::map<std::string, int> seen;
  for (const Json& item : list) {
    if (!item.is_object()) return false;
    auto it = item.find("name");
    if (it == item.end() || !it->is_string()) return false;
    if (!seen.emplace(it->get<std::string>(), 0).second) return false;
  }
  return true;
}

bool IsScalarList(const Json& list) {
  for (const Json& item : list) {
    if (item.is_object() || item.is_array()) return false;
  }
  return true;
}

void Diff(const std::string& path, const Json& a, const Json& b, Json* out);

void DiffNamedLists(const std::string& path, const Json& a, const Json& b, Json* out) {
  std::map<std::string, size_t> old_index, new_index;
  for (size_t i = 0; i < a.size(); ++i) old_index[a[i]["name"].get<std::string>()] = i;
  for (size_t i = 0; i < b.size(); ++i) new_index[b[i]["name"].get<std::string>()] = i;
  // Order of the names both versions share.
  Json old_common = Json::array(), new_common = Json::array();
  for (const Json& item : a) {
    if (new_index.count(item["name"].get<std::string>())) old_common.push_back(item["name"]);
  }
  for (const Json& item : b) {
    if (old_index.count(item["name"].get<std::string>())) new_common.push_back(item["name"]);
  }
  if (old_common != new_common) {
    Json old_names = Json::array(), new_names = Json::array();
    for (const Json& item : a) old_names.push_back(item["name"]);
    for (const Json& item : b) new_names.push_back(item["name"]);
    Add(path, old_names, new_names, out);
  }
  for (size_t i = 0; i < b.size(); ++i) {
    std::string item_path = absl::StrCat(path, "[", i, "]");
    auto it = old_index.find(b[i]["name"].get<std::string>());
    if (it == old_index.end()) {
      Add(item_path, nullptr, b[i], out);
    } else {
      Diff(item_path, a[it->second], b[i], out);
    }
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (!new_index.count(a[i]["name"].get<std::string>())) {
      Add(absl::StrCat(path, "[", i, "]"), a[i], nullptr, out);
    }
  }
}

void Diff(const std::string& path, const Json& a, const Json& b, Json* out) {
  if (a == b) return;
  if (a.is_object() && b.is_object()) {
    std::map<std::string, int> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys[it.key()] |= 1;
    for (auto it = b.begin(); it != b.end(); ++it) keys[it.key()] |= 2;
    for (const auto& [key, where] : keys) {
      std::string sub = path.empty() ? key : absl::StrCat(path, ".", key);
      const Json& old_value = where & 1 ? a.at(key) : Json(nullptr);
      const Json& new_value = where & 2 ? b.at(key) : Json(nullptr);
      if ((where & 1) && (where & 2)) {
        Diff(sub, old_value, new_value, out);
      } else {
        Add(sub, old_value, new_value, out);
      }
    }
    return;
  }
  if (a.is_array() && b.is_array() && !(IsScalarList(a) && IsScalarList(b))) {
    if ((a.empty() || IsNamedList(a)) && (b.empty() || IsNamedList(b))) {
      DiffNamedLists(path, a, b, out);
      return;
    }
    size_t n = std::max(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
      std::string sub = absl::StrCat(path, "[", i, "]");
      if (i >= a.size()) {
        Add(sub, nullptr, b[i], out);
      } else if (i >= b.size()) {
        Add(sub, a[i], nullptr, out);
      } else {
        Diff(sub, a[i], b[i], out);
      }
    }
    return;
  }
  Add(path, a, b, out);
}

}  // namespace

Json DiffPipelineJson(const Json& old_json, const Json& new_json) {
  Json out = Json::array();
  Diff("", old_json, new_json, &out);
  return out;
}

Json DiffPipelines(const PipelineSpec& old_spec, const PipelineSpec& new_spec) {
  return DiffPipelineJson(PipelineToJson(old_spec), PipelineToJson(new_spec));
}

}  // namespace cairn::pipelines
