#include "features/definition_yaml.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/did_you_mean.h"
#include "common/duration.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/yaml_documents.h"
#include "common/yaml_reader.h"
#include "yaml-cpp/yaml.h"

namespace cairn::features {
namespace {

constexpr size_t kMaxNameLength = 128;

// Parses one document. Remembers the object's label for messages.
class DocumentParser : private YamlFieldReader {
 public:
  DocumentParser(std::string_view file, const YAML::Node& doc)
      : YamlFieldReader(file), doc_(doc), doc_line_(YamlLine(doc)) {}

  absl::Status Parse(Definition* def, FieldLines* lines) {
    lines_ = lines;
    if (!doc_.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file(), ":", doc_line_, ": a definition must be a map with 'kind' and 'name', got ",
          YamlShown(doc_)));
    }
    // Kind and name first, so that every later message can name the object.
    YAML::Node kind_node = doc_["kind"];
    if (!kind_node.IsDefined() || kind_node.IsNull()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file(), ":", doc_line_,
          ": missing field 'kind': add kind: Entity | Source | FeatureView | FeatureService"));
    }
    if (!kind_node.IsScalar()) return FieldError(kind_node, "kind", "must be a string");
    const std::string kind = kind_node.Scalar();
    static const std::vector<std::string_view> kKinds = {
        "Entity", "Source", "FeatureView", "FeatureService", "Pipeline", "Monitor", "Policy",
        "Endpoint"};
    set_label(kind);
    YAML::Node name_node = doc_["name"];
    if (name_node.IsDefined() && name_node.IsScalar()) {
      set_label(absl::StrCat(kind, " ", name_node.Scalar()));
    }
    if (kind == "Entity") {
      def->kind = DefinitionKind::kEntity;
    } else if (kind == "Source") {
      def->kind = DefinitionKind::kSource;
    } else if (kind == "FeatureView") {
      def->kind = DefinitionKind::kFeatureView;
    } else if (kind == "FeatureService") {
      def->kind = DefinitionKind::kFeatureService;
    } else {
      std::string hint = NearestName(kind, kKinds);
      return FieldError(kind_node, "kind",
                        absl::StrCat("is not a kind (Entity, Source, FeatureView, FeatureService)",
                                     hint.empty() ? "" : absl::StrCat("; did you mean '", hint, "'?")));
    }
    def->file = file();
    def->line = doc_line_;
    switch (def->kind) {
      case DefinitionKind::kEntity: {
        EntitySpec spec;
        CAIRN_RETURN_IF_ERROR(ParseEntity(&spec));
        def->spec = std::move(spec);
        break;
      }
      case DefinitionKind::kSource: {
        SourceSpec spec;
        CAIRN_RETURN_IF_ERROR(ParseSource(&spec));
        def->spec = std::move(spec);
        break;
      }
      case DefinitionKind::kFeatureView: {
        FeatureViewSpec spec;
        CAIRN_RETURN_IF_ERROR(ParseView(&spec));
        def->spec = std::move(spec);
        break;
      }
      case DefinitionKind::kFeatureService: {
        FeatureServiceSpec spec;
        CAIRN_RETURN_IF_ERROR(ParseService(&spec));
        def->spec = std::move(spec);
        break;
      }
    }
    return absl::OkStatus();
  }

 private:
  void Note(const std::string& path, const YAML::Node& node) {
    if (lines_) (*lines_)[path] = YamlLine(node);
  }

  // Every key of `map` must be one of `allowed`.
  absl::Status CheckFields(const YAML::Node& map, const std::vector<std::string_view>& allowed,
                           std::string_view where) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) {
        return ObjectError(YamlLine(it->first),
                           absl::StrCat("keys must be strings, got ", YamlShown(it->first)));
      }
      const std::string key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string hint = NearestName(key, allowed);
      return ObjectError(
          YamlLine(it->first),
          absl::StrCat("unknown field '", key, "'", where.empty() ? "" : " in ", ToAbsl(where),
                       " (value ", YamlShown(it->second), ")",
                       hint.empty() ? absl::StrCat("; valid fields: ", JoinNames(allowed))
                                    : absl::StrCat("; did you mean '", hint, "'?")));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const YAML::Node& map, std::string_view field,
                                     std::string_view path, bool required) {
    YAML::Node node = map[std::string(field)];
    if (!YamlPresent(node)) {
      if (required) {
        return ObjectError(YamlLine(map),
                           absl::StrCat("missing field '", ToAbsl(path), "': it is required"));
      }
      return std::string();
    }
    if (!node.IsScalar()) return FieldError(node, path, "must be a string");
    Note(std::string(path), node);
    return node.Scalar();
  }

  absl::StatusOr<std::string> Name(const YAML::Node& map, std::string_view path, bool column) {
    CAIRN_ASSIGN_OR_RETURN(std::string name, String(map, "name", path, /*required=*/true));
    bool ok = column ? IsValidColumnName(name) : IsValidObjectName(name);
    if (!ok) {
      return FieldError(map["name"], path,
                        column ? "is not a valid name: use letters, digits and '_', starting "
                                 "with a letter or '_' (at most 128 characters)"
                               : "is not a valid name: use letters, digits, '_' and '-', "
                                 "starting with a letter or '_' (at most 128 characters)");
    }
    return name;
  }

  absl::StatusOr<bool> Bool(const YAML::Node& map, std::string_view field, bool fallback) {
    YAML::Node node = map[std::string(field)];
    if (!YamlPresent(node)) return fallback;
    if (node.IsScalar()) {
      const std::string& text = node.Scalar();
      if (text == "true" || text == "True" || text == "yes") return true;
      if (text == "false" || text == "False" || text == "no") return false;
    }
    return FieldError(node, field, "must be true or false");
  }

  absl::StatusOr<int64_t> Duration(const YAML::Node& map, std::string_view field,
                                   std::string_view path) {
    YAML::Node node = map[std::string(field)];
    if (!YamlPresent(node)) return int64_t{0};
    if (!node.IsScalar()) return FieldError(node, path, "must be a duration like 30s, 1h or 7d");
    absl::StatusOr<int64_t> ms = ParseDuration(node.Scalar());
    if (!ms.ok()) {
      return FieldError(node, path,
                        absl::StrCat("is not a duration: write an integer and a unit (ms, s, m, "
                                     "h, d), like 30s or 7d"));
    }
    Note(std::string(path), node);
    return *ms;
  }

  absl::StatusOr<FeatureType> Type(const YAML::Node& map, std::string_view path,
                                   std::optional<FeatureType> fallback) {
    YAML::Node node = map["type"];
    if (!YamlPresent(node)) {
      if (fallback) return *fallback;
      return ObjectError(YamlLine(map), absl::StrCat("missing field '", ToAbsl(path),
                                                   "': give one of int64, double, string, "
                                                   "bool, timestamp"));
    }
    if (!node.IsScalar()) return FieldError(node, path, "must be a type name");
    absl::StatusOr<FeatureType> type = ParseType(node.Scalar());
    if (!type.ok()) {
      std::string hint = NearestName(node.Scalar(), {"int64", "double", "string", "bool",
                                                     "timestamp"});
      return FieldError(node, path,
                        absl::StrCat("is not a type (int64, double, string, bool, timestamp)",
                                     hint.empty() ? "" : absl::StrCat("; did you mean '", hint,
                                                                      "'?")));
    }
    Note(std::string(path), node);
    return *type;
  }

  absl::Status Meta(ObjectMeta* meta) {
    CAIRN_ASSIGN_OR_RETURN(meta->name, Name(doc_, "name", /*column=*/false));
    CAIRN_ASSIGN_OR_RETURN(meta->description, String(doc_, "description", "description", false));
    CAIRN_ASSIGN_OR_RETURN(meta->owner, String(doc_, "owner", "owner", false));
    YAML::Node tags = doc_["tags"];
    if (YamlPresent(tags)) {
      if (!tags.IsMap()) return FieldError(tags, "tags", "must be a map of strings");
      for (auto it = tags.begin(); it != tags.end(); ++it) {
        if (!it->first.IsScalar() || !it->second.IsScalar()) {
          return FieldError(it->second, "tags",
                            "must map string keys to string values (tags: {team: growth})");
        }
        meta->tags[it->first.Scalar()] = it->second.Scalar();
      }
      Note("tags", tags);
    }
    return absl::OkStatus();
  }

  absl::Status ParseEntity(EntitySpec* spec) {
    CAIRN_RETURN_IF_ERROR(CheckFields(
        doc_, {"kind", "name", "description", "owner", "tags", "join_keys", "join_key", "type"},
        ""));
    CAIRN_RETURN_IF_ERROR(Meta(&spec->meta));
    YAML::Node keys = doc_["join_keys"];
    YAML::Node key = doc_["join_key"];
    auto check_key_type = [&](const YAML::Node& at, std::string_view path,
                              FeatureType type) -> absl::Status {
      if (type == FeatureType::kInt64 || type == FeatureType::kString) return absl::OkStatus();
      return FieldError(at, path, "is not a join-key type: join keys are int64 or string");
    };
    if (YamlPresent(keys) && YamlPresent(key)) {
      return FieldError(key, "join_key", "conflicts with 'join_keys': give one of the two");
    }
    if (YamlPresent(key)) {
      if (!key.IsScalar()) return FieldError(key, "join_key", "must be a column name");
      Field field;
      field.name = key.Scalar();
      field.nullable = false;
      if (!IsValidColumnName(field.name)) {
        return FieldError(key, "join_key", "is not a valid column name");
      }
      CAIRN_ASSIGN_OR_RETURN(field.type, Type(doc_, "type", FeatureType::kInt64));
      CAIRN_RETURN_IF_ERROR(check_key_type(doc_["type"], "type", field.type));
      Note("join_keys[0]", key);
      spec->join_keys.push_back(std::move(field));
      return absl::OkStatus();
    }
    if (YamlPresent(doc_["type"])) {
      return FieldError(doc_["type"], "type",
                        "is only valid with 'join_key'; with 'join_keys' give each key's type");
    }
    if (!YamlPresent(keys)) {
      return ObjectError(doc_line_,
                         "missing field 'join_keys': add join_keys: [{name: customer_id, type: "
                         "int64}] or join_key: customer_id");
    }
    if (!keys.IsSequence() || keys.size() == 0) {
      return FieldError(keys, "join_keys", "must be a non-empty list of {name, type}");
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string path = absl::StrCat("join_keys[", i, "]");
      YAML::Node item = keys[i];
      Field field;
      field.nullable = false;
      if (item.IsScalar()) {
        field.name = item.Scalar();
        field.type = FeatureType::kInt64;
        if (!IsValidColumnName(field.name)) {
          return FieldError(item, path, "is not a valid column name");
        }
      } else if (item.IsMap()) {
        CAIRN_RETURN_IF_ERROR(CheckFields(item, {"name", "type"}, path));
        CAIRN_ASSIGN_OR_RETURN(field.name, Name(item, path + ".name", /*column=*/true));
        CAIRN_ASSIGN_OR_RETURN(field.type, Type(item, path + ".type", FeatureType::kInt64));
        CAIRN_RETURN_IF_ERROR(check_key_type(item["type"], path + ".type", field.type));
      } else {
        return FieldError(item, path, "must be {name: …, type: int64 | string}");
      }
      if (!seen.insert(field.name).second) {
        return FieldError(item, path, absl::StrCat("repeats join key '", field.name, "'"));
      }
      Note(path, item);
      spec->join_keys.push_back(std::move(field));
    }
    return absl::OkStatus();
  }

  absl::Status ParseSource(SourceSpec* spec) {
    CAIRN_RETURN_IF_ERROR(CheckFields(doc_,
                                      {"kind", "name", "description", "owner", "tags", "type",
                                       "path", "format", "timestamp_field",
                                       "created_timestamp_field", "schema"},
                                      ""));
    CAIRN_RETURN_IF_ERROR(Meta(&spec->meta));
    CAIRN_ASSIGN_OR_RETURN(std::string type, String(doc_, "type", "type", false));
    if (type.empty() || type == "file") {
      spec->kind = SourceKind::kFile;
    } else if (type == "push") {
      spec->kind = SourceKind::kPush;
    } else {
      return FieldError(doc_["type"], "type", "is not a source type: use file or push");
    }
    CAIRN_ASSIGN_OR_RETURN(spec->path, String(doc_, "path", "path", false));
    CAIRN_ASSIGN_OR_RETURN(std::string format, String(doc_, "format", "format", false));
    if (format.empty() || format == "csv") {
      spec->format = FileFormat::kCsv;
    } else if (format == "jsonl") {
      spec->format = FileFormat::kJsonl;
    } else {
      return FieldError(doc_["format"], "format", "is not a file format: use csv or jsonl");
    }
    if (spec->kind == SourceKind::kPush && !spec->path.empty()) {
      return FieldError(doc_["path"], "path", "is only valid for type: file");
    }
    CAIRN_ASSIGN_OR_RETURN(spec->timestamp_field,
                           String(doc_, "timestamp_field", "timestamp_field", true));
    CAIRN_ASSIGN_OR_RETURN(
        spec->created_timestamp_field,
        String(doc_, "created_timestamp_field", "created_timestamp_field", false));
    YAML::Node schema = doc_["schema"];
    if (!YamlPresent(schema)) {
      return ObjectError(doc_line_,
                         "missing field 'schema': list the columns, like schema: [{name: "
                         "customer_id, type: int64}, {name: event_timestamp, type: timestamp}]");
    }
    if (!schema.IsSequence() || schema.size() == 0) {
      return FieldError(schema, "schema", "must be a non-empty list of {name, type, nullable}");
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < schema.size(); ++i) {
      const std::string path = absl::StrCat("schema[", i, "]");
      YAML::Node item = schema[i];
      if (!item.IsMap()) return FieldError(item, path, "must be {name, type, nullable}");
      CAIRN_RETURN_IF_ERROR(CheckFields(item, {"name", "type", "nullable"}, path));
      Field field;
      CAIRN_ASSIGN_OR_RETURN(field.name, Name(item, path + ".name", /*column=*/true));
      CAIRN_ASSIGN_OR_RETURN(field.type, Type(item, path + ".type", std::nullopt));
      CAIRN_ASSIGN_OR_RETURN(field.nullable, Bool(item, "nullable", true));
      if (!seen.insert(field.name).second) {
        return FieldError(item["name"], path + ".name", "repeats a column name");
      }
      Note(path, item);
      spec->schema.push_back(std::move(field));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> NameList(std::string_view field, bool required) {
    YAML::Node node = doc_[std::string(field)];
    std::vector<std::string> out;
    if (!YamlPresent(node)) {
      if (required) {
        return ObjectError(doc_line_,
                           absl::StrCat("missing field '", ToAbsl(field), "': it is required"));
      }
      return out;
    }
    if (node.IsScalar()) {
      Note(absl::StrCat(ToAbsl(field), "[0]"), node);
      out.push_back(node.Scalar());
      return out;
    }
    if (!node.IsSequence()) return FieldError(node, field, "must be a list of names");
    for (size_t i = 0; i < node.size(); ++i) {
      YAML::Node item = node[i];
      const std::string path = absl::StrCat(ToAbsl(field), "[", i, "]");
      if (!item.IsScalar()) return FieldError(item, path, "must be a name");
      Note(path, item);
      out.push_back(item.Scalar());
    }
    return out;
  }

  absl::Status ParseFeature(const YAML::Node& item, const std::string& path, FeatureSpec* f) {
    if (!item.IsMap()) {
      return FieldError(item, path, "must be a map like {name: amount, type: double}");
    }
    CAIRN_RETURN_IF_ERROR(CheckFields(
        item, {"name", "type", "nullable", "description", "expr", "agg", "of", "window"}, path));
    CAIRN_ASSIGN_OR_RETURN(f->name, Name(item, path + ".name", /*column=*/true));
    CAIRN_ASSIGN_OR_RETURN(f->type, Type(item, path + ".type", std::nullopt));
    CAIRN_ASSIGN_OR_RETURN(f->nullable, Bool(item, "nullable", true));
    CAIRN_ASSIGN_OR_RETURN(f->description, String(item, "description", path + ".description",
                                                  false));
    CAIRN_ASSIGN_OR_RETURN(f->expr, String(item, "expr", path + ".expr", false));
    CAIRN_ASSIGN_OR_RETURN(std::string agg, String(item, "agg", path + ".agg", false));
    CAIRN_ASSIGN_OR_RETURN(f->of, String(item, "of", path + ".of", false));
    CAIRN_ASSIGN_OR_RETURN(f->window_ms, Duration(item, "window", path + ".window"));
    Note(path, item);
    if (agg.empty()) {
      f->agg = AggFn::kNone;
      if (YamlPresent(item["of"])) {
        return FieldError(item["of"], path + ".of", "needs 'agg' (count, sum, mean, min, max)");
      }
      if (YamlPresent(item["window"])) {
        return FieldError(item["window"], path + ".window",
                          "needs 'agg' (count, sum, mean, min, max)");
      }
      if (YamlPresent(item["expr"]) && f->expr.empty()) {
        return FieldError(item["expr"], path + ".expr", "must not be empty");
      }
      return absl::OkStatus();
    }
    static const std::vector<std::string_view> kAggs = {"count", "sum", "mean", "min", "max"};
    f->agg = AggFn::kNone;
    for (AggFn fn : {AggFn::kCount, AggFn::kSum, AggFn::kMean, AggFn::kMin, AggFn::kMax}) {
      if (ToAbsl(AggName(fn)) == agg) f->agg = fn;
    }
    if (f->agg == AggFn::kNone) {
      std::string hint = NearestName(agg, kAggs);
      return FieldError(item["agg"], path + ".agg",
                        absl::StrCat("is not an aggregation (count, sum, mean, min, max)",
                                     hint.empty() ? "" : absl::StrCat("; did you mean '", hint,
                                                                      "'?")));
    }
    if (YamlPresent(item["expr"])) {
      return FieldError(item["expr"], path + ".expr",
                        "cannot be combined with 'agg': put the expression in 'of'");
    }
    if (f->window_ms <= 0) {
      YAML::Node window = item["window"];
      return YamlPresent(window)
                 ? FieldError(window, path + ".window", "must be greater than 0 for an aggregation")
                 : ObjectError(YamlLine(item),
                               absl::StrCat("missing field '", path,
                                            ".window': an aggregation needs a window like 7d"));
    }
    if (f->of.empty() && f->agg != AggFn::kCount) {
      return ObjectError(YamlLine(item),
                         absl::StrCat("missing field '", path, ".of': agg ", agg,
                                      " needs the column or expression to aggregate"));
    }
    FeatureType want = f->agg == AggFn::kCount ? FeatureType::kInt64 : FeatureType::kDouble;
    if (f->type != want) {
      return FieldError(item["type"], path + ".type",
                        absl::StrCat("does not match agg ", agg, ": its type is ",
                                     ToAbsl(TypeName(want))));
    }
    return absl::OkStatus();
  }

  absl::Status ParseView(FeatureViewSpec* spec) {
    CAIRN_RETURN_IF_ERROR(CheckFields(doc_,
                                      {"kind", "name", "description", "owner", "tags", "entities",
                                       "source", "ttl", "online", "features"},
                                      ""));
    CAIRN_RETURN_IF_ERROR(Meta(&spec->meta));
    CAIRN_ASSIGN_OR_RETURN(spec->entities, NameList("entities", true));
    if (spec->entities.empty()) {
      return FieldError(doc_["entities"], "entities", "must name at least one entity");
    }
    CAIRN_ASSIGN_OR_RETURN(spec->source, String(doc_, "source", "source", true));
    CAIRN_ASSIGN_OR_RETURN(spec->ttl_ms, Duration(doc_, "ttl", "ttl"));
    CAIRN_ASSIGN_OR_RETURN(spec->online, Bool(doc_, "online", true));
    YAML::Node features = doc_["features"];
    if (!YamlPresent(features)) {
      return ObjectError(doc_line_,
                         "missing field 'features': list them, like features: [{name: amount, "
                         "type: double}]");
    }
    if (!features.IsSequence() || features.size() == 0) {
      return FieldError(features, "features", "must be a non-empty list of features");
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < features.size(); ++i) {
      const std::string path = absl::StrCat("features[", i, "]");
      FeatureSpec f;
      CAIRN_RETURN_IF_ERROR(ParseFeature(features[i], path, &f));
      if (!seen.insert(f.name).second) {
        return FieldError(features[i]["name"], path + ".name",
                          "repeats a feature name of this view");
      }
      spec->features.push_back(std::move(f));
    }
    return absl::OkStatus();
  }

  absl::Status ParseService(FeatureServiceSpec* spec) {
    CAIRN_RETURN_IF_ERROR(
        CheckFields(doc_, {"kind", "name", "description", "owner", "tags", "features"}, ""));
    CAIRN_RETURN_IF_ERROR(Meta(&spec->meta));
    CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> refs, NameList("features", true));
    if (refs.empty()) {
      return FieldError(doc_["features"], "features", "must list at least one feature");
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < refs.size(); ++i) {
      const std::string path = absl::StrCat("features[", i, "]");
      YAML::Node at = doc_["features"].IsSequence() ? doc_["features"][i] : doc_["features"];
      const std::string& text = refs[i];
      FeatureRef ref;
      size_t colon = text.find(':');
      ref.view = text.substr(0, colon);
      if (colon != std::string::npos) ref.feature = text.substr(colon + 1);
      if (ref.feature == "*") ref.feature.clear();
      if (!IsValidObjectName(ref.view) ||
          (!ref.feature.empty() && !IsValidColumnName(ref.feature)) ||
          (colon != std::string::npos && colon + 1 == text.size())) {
        return FieldError(at, path, "is not a feature reference: write view:feature or view");
      }
      if (!seen.insert(text).second) return FieldError(at, path, "is listed twice");
      spec->features.push_back(std::move(ref));
    }
    return absl::OkStatus();
  }

  const YAML::Node doc_;
  int doc_line_;
  FieldLines* lines_ = nullptr;
};

bool ValidName(std::string_view name, bool allow_dash) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(name[0])) return false;
  for (char c : name) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && !(allow_dash && c == '-')) return false;
  }
  return true;
}

}  // namespace

int DefinitionSet::LineOf(size_t index, std::string_view path) const {
  if (index < field_lines.size()) {
    auto it = field_lines[index].find(std::string(path));
    if (it != field_lines[index].end()) return it->second;
  }
  return index < definitions.size() ? definitions[index].line : 0;
}

void DefinitionSet::Append(DefinitionSet other) {
  // Keep field_lines parallel (padding with empty maps when one side has none).
  field_lines.resize(definitions.size());
  other.field_lines.resize(other.definitions.size());
  for (auto& def : other.definitions) definitions.push_back(std::move(def));
  for (auto& lines : other.field_lines) field_lines.push_back(std::move(lines));
}

bool IsValidObjectName(std::string_view name) { return ValidName(name, true); }
bool IsValidColumnName(std::string_view name) { return ValidName(name, false); }

namespace {

// Documents of the kinds other modules own (DESIGN.md §8): one directory may hold them all,
// and `cairn apply` gives each module the whole files.
bool IsOtherModulesKind(const YAML::Node& doc) {
  if (!doc.IsMap()) return false;
  YAML::Node kind = doc["kind"];
  if (!kind.IsDefined() || !kind.IsScalar()) return false;
  const std::string& text = kind.Scalar();
  return text == "Pipeline" || text == "Monitor" || text == "Policy" || text == "Endpoint";
}

}  // namespace

absl::StatusOr<DefinitionSet> ParseDefinitionsYaml(std::string_view text, std::string_view file) {
  DefinitionSet out;
  CAIRN_ASSIGN_OR_RETURN(std::vector<YAML::Node> docs, LoadYamlDocuments(text, file));
  for (const YAML::Node& doc : docs) {
    if (!doc.IsDefined() || doc.IsNull()) continue;
    if (IsOtherModulesKind(doc)) continue;  // pipelines, monitors, … parse their own kinds
    Definition def;
    FieldLines lines;
    try {
      DocumentParser parser(file, doc);
      CAIRN_RETURN_IF_ERROR(parser.Parse(&def, &lines));
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(file), ":", e.mark.line + 1,
                                                     ": invalid definition: ", e.msg));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ":", YamlLine(doc), ": invalid definition: ", e.what()));
    }
    out.definitions.push_back(std::move(def));
    out.field_lines.push_back(std::move(lines));
  }
  return out;
}

absl::StatusOr<DefinitionSet> ParseDefinitionFiles(const std::vector<DefinitionFile>& files) {
  DefinitionSet out;
  for (const DefinitionFile& file : files) {
    CAIRN_ASSIGN_OR_RETURN(DefinitionSet one, ParseDefinitionsYaml(file.content, file.path));
    out.Append(std::move(one));
  }
  return out;
}

absl::StatusOr<std::vector<DefinitionFile>> ReadDefinitionFiles(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  std::vector<std::string> paths;
  if (fs::is_directory(status)) {
    for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      std::string ext = it->path().extension().string();
      if (ext == ".yaml" || ext == ".yml") paths.push_back(it->path().string());
    }
    if (ec) return absl::InvalidArgumentError(absl::StrCat(path, ": ", ec.message()));
    std::sort(paths.begin(), paths.end());
    if (paths.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": no *.yaml or *.yml files below this directory"));
    }
  } else {
    paths.push_back(path);
  }
  std::vector<DefinitionFile> files;
  for (const std::string& file : paths) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return absl::InvalidArgumentError(absl::StrCat(file, ": cannot read"));
    std::ostringstream content;
    content << in.rdbuf();
    files.push_back(DefinitionFile{file, content.str()});
  }
  return files;
}

}  // namespace cairn::features
