#pragma once
// The field readers shared by the YAML definition parsers (pipelines, monitors, endpoints,
// policies): one document's fields read with the same rules and the same error wording,
// "FILE:LINE: LABEL: field 'PATH': value V WHAT" for a bad value and
// "FILE:LINE: LABEL: WHAT" for a problem of the object, so that every kind reads alike.
// A parser derives from YamlFieldReader, sets the label once it knows the object
// ("pipeline train"), and adds its own kind-specific readers. Not thread-safe (one
// document at a time); holds no node.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace cairn {

// True when `node` is there and not null (`field:` with no value counts as absent).
bool YamlPresent(const YAML::Node& node);

class YamlFieldReader {
 public:
  // `file` names the document in messages.
  explicit YamlFieldReader(std::string_view file) : file_(file) {}

  // What the object is called in messages ("definition" until the kind is known).
  void set_label(std::string label) { label_ = std::move(label); }

  // InvalidArgument "FILE:LINE-of-at: LABEL: field 'FIELD': value V WHAT".
  absl::Status FieldError(const YAML::Node& at, std::string_view field,
                          std::string_view what) const;
  // InvalidArgument "FILE:LINE: LABEL: WHAT".
  absl::Status ObjectError(int line, std::string_view what) const;

  // Every key of `map` must be a string in `allowed`; otherwise names the unknown field
  // (`where` prefixes it: "retry.") and the nearest valid one or the list of them.
  absl::Status CheckFields(const YAML::Node& map, const std::vector<std::string_view>& allowed,
                           std::string_view where) const;
  // OK when `node` is a map; else "must be a map, like EXAMPLE".
  absl::Status RequireMap(const YAML::Node& node, std::string_view path,
                          std::string_view example) const;

  // map[field] as a string: `fallback` when absent, a "missing field" error when absent
  // and `required`, an error when not a scalar.
  absl::StatusOr<std::string> String(const YAML::Node& map, std::string_view field,
                                     std::string_view path, bool required,
                                     std::string_view fallback = "") const;
  // A map of scalars ({} when absent); EXAMPLE shows the expected shape in errors.
  absl::StatusOr<std::map<std::string, std::string>> StringMap(const YAML::Node& node,
                                                               std::string_view path,
                                                               std::string_view example) const;
  // How StringList checks its items.
  enum class ListItems {
    kStrings,          // any scalar
    kDistinctNames,    // non-empty scalars, each listed once (column names)
  };
  // A list of strings ({} when absent).
  absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& node,
                                                      std::string_view path,
                                                      std::string_view example,
                                                      ListItems items) const;
  // true/True/yes or false/False/no; `fallback` when absent.
  absl::StatusOr<bool> Bool(const YAML::Node& node, std::string_view path, bool fallback) const;
  // A whole number; `fallback` when absent.
  absl::StatusOr<int64_t> Integer(const YAML::Node& node, std::string_view path,
                                  int64_t fallback) const;
  // A finite number; an error when absent.
  absl::StatusOr<double> Number(const YAML::Node& node, std::string_view path) const;
  // A finite number; `fallback` when absent.
  absl::StatusOr<double> Number(const YAML::Node& node, std::string_view path,
                                double fallback) const;
  // A duration (common/duration.h: "30s", "5m") in milliseconds; `fallback` when absent.
  absl::StatusOr<int64_t> Duration(const YAML::Node& node, std::string_view path,
                                   int64_t fallback) const;

 protected:
  const std::string& file() const { return file_; }
  const std::string& label() const { return label_; }

 private:
  std::string file_;
  std::string label_ = "definition";
};

}  // namespace cairn
