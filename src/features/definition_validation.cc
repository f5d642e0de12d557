#include "features/definition_validation.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/did_you_mean.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::features {
namespace {

// One object of the union with where it came from.
struct Entry {
  const Definition* def = nullptr;
  int index = -1;  // into incoming; -1 = from the registry
};

class Validator {
 public:
  Validator(const DefinitionSet& incoming, std::span<const Definition> existing,
            const ExpressionTypeChecker& check)
      : incoming_(incoming), check_(check) {
    for (const Definition& def : existing) objects_[{def.kind, def.name()}] = Entry{&def, -1};
  }

  absl::Status Run() {
    for (size_t i = 0; i < incoming_.definitions.size(); ++i) {
      const Definition& def = incoming_.definitions[i];
      auto key = std::make_pair(def.kind, def.name());
      auto [it, inserted] = seen_.emplace(key, static_cast<int>(i));
      if (!inserted) {
        const Definition& first = incoming_.definitions[it->second];
        return Error(Entry{&def, static_cast<int>(i)}, "name",
                     absl::StrCat("field 'name': value '", def.name(), "' is already used by ",
                                  ToAbsl(KindName(def.kind)), " at ", first.file, ":", first.line,
                                  "; names are unique per kind"));
      }
      objects_[key] = Entry{&def, static_cast<int>(i)};
    }
    for (const auto& [key, entry] : objects_) {
      switch (key.first) {
        case DefinitionKind::kEntity: break;
        case DefinitionKind::kSource: CAIRN_RETURN_IF_ERROR(CheckSource(entry)); break;
        case DefinitionKind::kFeatureView: CAIRN_RETURN_IF_ERROR(CheckView(entry)); break;
        case DefinitionKind::kFeatureService: CAIRN_RETURN_IF_ERROR(CheckService(entry)); break;
      }
    }
    return absl::OkStatus();
  }

 private:
  template <typename T>
  const T* Find(DefinitionKind kind, const std::string& name) const {
    auto it = objects_.find({kind, name});
    if (it == objects_.end()) return nullptr;
    return &std::get<T>(it->second.def->spec);
  }

  std::vector<std::string_view> Names(DefinitionKind kind) const {
    std::vector<std::string_view> names;
    for (const auto& [key, entry] : objects_) {
      if (key.first == kind) names.push_back(key.second);
    }
    return names;
  }

  std::string Hint(std::string_view word, const std::vector<std::string_view>& names) const {
    std::string nearest = NearestName(word, names);
    return nearest.empty() ? "" : absl::StrCat(" (did you mean '", nearest, "'?)");
  }

  absl::Status Error(const Entry& entry, std::string_view path, std::string_view what) const {
    const Definition& def = *entry.def;
    std::string where;
    if (entry.index >= 0) {
      where = absl::StrCat(def.file, ":", incoming_.LineOf(entry.index, path));
    } else {
      where = def.file.empty() ? "registry" : def.file;
    }
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", ToAbsl(KindName(def.kind)), " ", def.name(), ": ", ToAbsl(what)));
  }

  absl::Status CheckReserved(const Entry& entry, std::string_view path, const std::string& name) {
    if (name.rfind("__", 0) == 0) {
      return Error(entry, path,
                   absl::StrCat("field '", ToAbsl(path), "': value '", name,
                                "' starts with '__', which is reserved for Cairn's own columns; "
                                "rename it"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckSource(const Entry& entry) {
    const auto& spec = std::get<SourceSpec>(entry.def->spec);
    std::vector<std::string_view> columns;
    for (size_t i = 0; i < spec.schema.size(); ++i) {
      columns.push_back(spec.schema[i].name);
      CAIRN_RETURN_IF_ERROR(CheckReserved(entry, absl::StrCat("schema[", i, "]"),
                                          spec.schema[i].name));
    }
    for (const char* field : {"timestamp_field", "created_timestamp_field"}) {
      const std::string& column = std::string_view(field) == "timestamp_field"
                                      ? spec.timestamp_field
                                      : spec.created_timestamp_field;
      if (column.empty()) continue;
      int idx = FindField(spec.schema, column);
      if (idx < 0) {
        return Error(entry, field,
                     absl::StrCat("field '", field, "': value '", column,
                                  "' is not a column of the schema", Hint(column, columns),
                                  "; add it with type: timestamp"));
      }
      if (spec.schema[idx].type != FeatureType::kTimestamp) {
        return Error(entry, field,
                     absl::StrCat("field '", field, "': value '", column, "' has type ",
                                  ToAbsl(TypeName(spec.schema[idx].type)),
                                  " in the schema; it must be timestamp"));
      }
    }
    return absl::OkStatus();
  }

  // The result type of expression `text` over `schema`.
  absl::StatusOr<std::optional<FeatureType>> ExprType(const std::string& text,
                                                      const Schema& schema,
                                                      std::string* error) const {
    if (IsValidColumnName(text)) {
      int idx = FindField(schema, text);
      if (idx >= 0) return std::optional<FeatureType>(schema[idx].type);
      if (!check_) {
        std::vector<std::string_view> names;
        for (const Field& f : schema) names.push_back(f.name);
        *error = absl::StrCat("unknown column '", text, "'", Hint(text, names));
        return absl::InvalidArgumentError(*error);
      }
    }
    if (!check_) return std::optional<FeatureType>();
    absl::StatusOr<FeatureType> type = check_(text, schema);
    if (!type.ok()) {
      *error = std::string(type.status().message());
      return type.status();
    }
    return std::optional<FeatureType>(*type);
  }

  absl::Status CheckView(const Entry& entry) {
    const auto& spec = std::get<FeatureViewSpec>(entry.def->spec);
    const SourceSpec* source = Find<SourceSpec>(DefinitionKind::kSource, spec.source);
    if (source == nullptr) {
      return Error(entry, "source",
                   absl::StrCat("field 'source': value '", spec.source, "' is not a Source",
                                Hint(spec.source, Names(DefinitionKind::kSource)),
                                "; define it (kind: Source) or fix the name"));
    }
    std::vector<std::string_view> columns;
    for (const Field& f : source->schema) columns.push_back(f.name);
    std::map<std::string, FeatureType> keys;
    for (size_t i = 0; i < spec.entities.size(); ++i) {
      const std::string path = absl::StrCat("entities[", i, "]");
      const std::string& name = spec.entities[i];
      const EntitySpec* entity = Find<EntitySpec>(DefinitionKind::kEntity, name);
      if (entity == nullptr) {
        return Error(entry, path,
                     absl::StrCat("field '", ToAbsl(path), "': value '", name, "' is not an Entity",
                                  Hint(name, Names(DefinitionKind::kEntity)),
                                  "; define it (kind: Entity) or fix the name"));
      }
      for (const Field& key : entity->join_keys) {
        int idx = FindField(source->schema, key.name);
        if (idx < 0) {
          return Error(entry, path,
                       absl::StrCat("field '", ToAbsl(path), "': value '", name, "': join key '",
                                    key.name, "' is not a column of source '", spec.source, "'",
                                    Hint(key.name, columns)));
        }
        if (source->schema[idx].type != key.type) {
          return Error(entry, path,
                       absl::StrCat("field '", ToAbsl(path), "': value '", name, "': join key '",
                                    key.name, "' is ", ToAbsl(TypeName(key.type)), " but source '",
                                    spec.source, "' has it as ",
                                    ToAbsl(TypeName(source->schema[idx].type)),
                                    "; make the two types agree"));
        }
        auto [it, inserted] = keys.emplace(key.name, key.type);
        if (!inserted) {
          return Error(entry, path,
                       absl::StrCat("field '", ToAbsl(path), "': value '", name, "': join key '",
                                    key.name, "' is also a key of another entity of this view"));
        }
      }
    }
    for (size_t i = 0; i < spec.features.size(); ++i) {
      const FeatureSpec& f = spec.features[i];
      const std::string path = absl::StrCat("features[", i, "]");
      CAIRN_RETURN_IF_ERROR(CheckReserved(entry, path + ".name", f.name));
      if (keys.count(f.name)) {
        return Error(entry, path + ".name",
                     absl::StrCat("field '", path, ".name': value '", f.name,
                                  "' is a join key of the view; give the feature another name"));
      }
      if (f.agg != AggFn::kNone) {
        if (f.of.empty()) continue;  // count of rows
        std::string error;
        auto type = ExprType(f.of, source->schema, &error);
        if (!type.ok()) {
          return Error(entry, path + ".of",
                       absl::StrCat("field '", path, ".of': value '", f.of, "': ", error));
        }
        if (type->has_value() && **type != FeatureType::kInt64 &&
            **type != FeatureType::kDouble && **type != FeatureType::kBool) {
          return Error(entry, path + ".of",
                       absl::StrCat("field '", path, ".of': value '", f.of, "' is ",
                                    ToAbsl(TypeName(**type)), "; ", ToAbsl(AggName(f.agg)),
                                    " needs a numeric input (int64, double or bool)"));
        }
        continue;
      }
      if (!f.expr.empty()) {
        std::string error;
        auto type = ExprType(f.expr, source->schema, &error);
        if (!type.ok()) {
          return Error(entry, path + ".expr",
                       absl::StrCat("field '", path, ".expr': value '", f.expr, "': ", error));
        }
        if (type->has_value() && !TypeCompatible(**type, f.type)) {
          return Error(entry, path + ".expr",
                       absl::StrCat("field '", path, ".expr': value '", f.expr, "' yields ",
                                    ToAbsl(TypeName(**type)), " but the feature is declared ",
                                    ToAbsl(TypeName(f.type)), "; change its type or cast"));
        }
        continue;
      }
      int idx = FindField(source->schema, f.name);
      if (idx < 0) {
        return Error(entry, path + ".name",
                     absl::StrCat("field '", path, ".name': value '", f.name,
                                  "' is not a column of source '", spec.source, "'",
                                  Hint(f.name, columns),
                                  "; name a column, or add expr: to compute it"));
      }
      if (!TypeCompatible(source->schema[idx].type, f.type)) {
        return Error(entry, path + ".type",
                     absl::StrCat("field '", path, ".type': value '", ToAbsl(TypeName(f.type)),
                                  "' does not match column '", f.name, "' of source '",
                                  spec.source, "', which is ", ToAbsl(TypeName(source->schema[idx].type))));
      }
    }
    return absl::OkStatus();
  }

  absl::Status CheckService(const Entry& entry) {
    const auto& spec = std::get<FeatureServiceSpec>(entry.def->spec);
    for (size_t i = 0; i < spec.features.size(); ++i) {
      const FeatureRef& ref = spec.features[i];
      const std::string path = absl::StrCat("features[", i, "]");
      const std::string shown = ref.feature.empty() ? ref.view : ref.view + ":" + ref.feature;
      const FeatureViewSpec* view = Find<FeatureViewSpec>(DefinitionKind::kFeatureView, ref.view);
      if (view == nullptr) {
        return Error(entry, path,
                     absl::StrCat("field '", path, "': value '", shown, "': '", ref.view,
                                  "' is not a FeatureView",
                                  Hint(ref.view, Names(DefinitionKind::kFeatureView))));
      }
      if (ref.feature.empty()) continue;
      std::vector<std::string_view> names;
      bool found = false;
      for (const FeatureSpec& f : view->features) {
        names.push_back(f.name);
        found = found || f.name == ref.feature;
      }
      if (!found) {
        return Error(entry, path,
                     absl::StrCat("field '", path, "': value '", shown, "': view '", ref.view,
                                  "' has no feature '", ref.feature, "'",
                                  Hint(ref.feature, names)));
      }
    }
    return absl::OkStatus();
  }

  const DefinitionSet& incoming_;
  const ExpressionTypeChecker& check_;
  std::map<std::pair<DefinitionKind, std::string>, Entry> objects_;
  std::map<std::pair<DefinitionKind, std::string>, int> seen_;
};

}  // namespace

bool TypeCompatible(FeatureType from, FeatureType to) {
  return from == to || (from == FeatureType::kInt64 && to == FeatureType::kDouble);
}

absl::Status ValidateDefinitions(const DefinitionSet& incoming,
                                 std::span<const Definition> existing,
                                 const ExpressionTypeChecker& check_expression) {
  return Validator(incoming, existing, check_expression).Run();
}

}  // namespace cairn::features
