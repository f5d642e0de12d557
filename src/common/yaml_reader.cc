#include "common/yaml_reader.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/did_you_mean.h"
#include "common/duration.h"
#include "common/strings.h"
#include "common/yaml_documents.h"

namespace cairn {

bool YamlPresent(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

absl::Status YamlFieldReader::FieldError(const YAML::Node& at, std::string_view field,
                                         std::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(file_, ":", YamlLine(at), ": ", label_,
                                                 ": field '", ToAbsl(field), "': value ",
                                                 YamlShown(at), " ", ToAbsl(what)));
}

absl::Status YamlFieldReader::ObjectError(int line, std::string_view what) const {
  return absl::InvalidArgumentError(
      absl::StrCat(file_, ":", line, ": ", label_, ": ", ToAbsl(what)));
}

absl::Status YamlFieldReader::CheckFields(const YAML::Node& map,
                                          const std::vector<std::string_view>& allowed,
                                          std::string_view where) const {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node key_node = it->first;  // copies: `*it` is a temporary
    const YAML::Node value_node = it->second;
    if (!key_node.IsScalar()) {
      return ObjectError(YamlLine(key_node),
                         absl::StrCat("keys must be strings, got ", YamlShown(key_node)));
    }
    const std::string key = key_node.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    const std::string hint = NearestName(key, allowed);
    return ObjectError(
        YamlLine(key_node),
        absl::StrCat("unknown field '", ToAbsl(where), key, "' (value ", YamlShown(value_node),
                     ")",
                     hint.empty() ? absl::StrCat("; valid fields: ", JoinNames(allowed))
                                  : absl::StrCat("; did you mean '", hint, "'?")));
  }
  return absl::OkStatus();
}

absl::Status YamlFieldReader::RequireMap(const YAML::Node& node, std::string_view path,
                                         std::string_view example) const {
  if (node.IsMap()) return absl::OkStatus();
  return FieldError(node, path, absl::StrCat("must be a map, like ", ToAbsl(example)));
}

absl::StatusOr<std::string> YamlFieldReader::String(const YAML::Node& map,
                                                    std::string_view field,
                                                    std::string_view path, bool required,
                                                    std::string_view fallback) const {
  const YAML::Node node = map[std::string(field)];
  if (!YamlPresent(node)) {
    if (required) {
      return ObjectError(YamlLine(map),
                         absl::StrCat("missing field '", ToAbsl(path), "': it is required"));
    }
    return std::string(fallback);
  }
  if (!node.IsScalar()) return FieldError(node, path, "must be a string");
  return node.Scalar();
}

absl::StatusOr<std::map<std::string, std::string>> YamlFieldReader::StringMap(
    const YAML::Node& node, std::string_view path, std::string_view example) const {
  std::map<std::string, std::string> out;
  if (!YamlPresent(node)) return out;
  if (!node.IsMap()) {
    return FieldError(node, path, absl::StrCat("must be a map, like ", ToAbsl(example)));
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;  // copies: `*it` is a temporary
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      return FieldError(key, path,
                        absl::StrCat("has a key that is not a string; write ", ToAbsl(example)));
    }
    const std::string sub = absl::StrCat(ToAbsl(path), ".", key.Scalar());
    if (!YamlPresent(value) || !value.IsScalar()) {
      return FieldError(value, sub, "must be a string, number or bool (quote it)");
    }
    out[key.Scalar()] = value.Scalar();
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> YamlFieldReader::StringList(
    const YAML::Node& node, std::string_view path, std::string_view example,
    ListItems items) const {
  std::vector<std::string> out;
  if (!YamlPresent(node)) return out;
  if (!node.IsSequence()) {
    return FieldError(node, path,
                      absl::StrCat("must be a list of strings, like ", ToAbsl(example)));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string at = absl::StrCat(ToAbsl(path), "[", i, "]");
    if (items == ListItems::kStrings) {
      if (!YamlPresent(item) || !item.IsScalar()) {
        return FieldError(item, at, "must be a string (quote it)");
      }
    } else {
      if (!YamlPresent(item) || !item.IsScalar() || item.Scalar().empty()) {
        return FieldError(item, at, "must be a non-empty string (quote it)");
      }
      if (std::find(out.begin(), out.end(), item.Scalar()) != out.end()) {
        return FieldError(item, at, "is listed twice: name each column once");
      }
    }
    out.push_back(item.Scalar());
  }
  return out;
}

absl::StatusOr<bool> YamlFieldReader::Bool(const YAML::Node& node, std::string_view path,
                                           bool fallback) const {
  if (!YamlPresent(node)) return fallback;
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    if (text == "true" || text == "True" || text == "yes") return true;
    if (text == "false" || text == "False" || text == "no") return false;
  }
  return FieldError(node, path, "must be true or false");
}

absl::StatusOr<int64_t> YamlFieldReader::Integer(const YAML::Node& node, std::string_view path,
                                                 int64_t fallback) const {
  if (!YamlPresent(node)) return fallback;
  int64_t value = 0;
  if (node.IsScalar() && absl::SimpleAtoi(node.Scalar(), &value)) return value;
  return FieldError(node, path, "must be a whole number");
}

absl::StatusOr<double> YamlFieldReader::Number(const YAML::Node& node,
                                               std::string_view path) const {
  double value = 0;
  if (node.IsScalar() && absl::SimpleAtod(node.Scalar(), &value) && std::isfinite(value)) {
    return value;
  }
  return FieldError(node, path, "must be a number");
}

absl::StatusOr<double> YamlFieldReader::Number(const YAML::Node& node, std::string_view path,
                                               double fallback) const {
  if (!YamlPresent(node)) return fallback;
  return Number(node, path);
}

absl::StatusOr<int64_t> YamlFieldReader::Duration(const YAML::Node& node, std::string_view path,
                                                  int64_t fallback) const {
  if (!YamlPresent(node)) return fallback;
  if (node.IsScalar()) {
    absl::StatusOr<int64_t> ms = ParseDuration(node.Scalar());
    if (ms.ok()) return *ms;
  }
  return FieldError(node, path,
                    "is not a duration: write an integer and a unit (ms, s, m, h, d), like "
                    "30s or 5m");
}

}  // namespace cairn
