#include "features/definition_json.h"


#include <exception>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::features {
namespace {

void PutMeta(const ObjectMeta& meta, std::string_view kind, Json* out) {
  (*out)["kind"] = kind;
  (*out)["name"] = meta.name;
  (*out)["description"] = meta.description;
  (*out)["owner"] = meta.owner;
  Json tags = Json::object();
  for (const auto& [key, value] : meta.tags) tags[key] = value;
  (*out)["tags"] = std::move(tags);
}

// Readers that throw nlohmann's exceptions on a wrong type; caught at the boundary.
std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::string() : it->get<std::string>();
}
bool Bool(const Json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<bool>();
}
int64_t Int(const Json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? 0 : it->get<int64_t>();
}
const Json& Arr(const Json& j, const char* key) {
  static const Json* const kEmpty = new Json(Json::array());
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return *kEmpty;
  if (!it->is_array()) throw std::invalid_argument(absl::StrCat("'", key, "' must be a list"));
  return *it;
}

FeatureType Type(const Json& j, const char* key) {
  absl::StatusOr<FeatureType> type = ParseType(Str(j, key));
  if (!type.ok()) throw std::invalid_argument(std::string(type.status().message()));
  return *type;
}

ObjectMeta GetMeta(const Json& j) {
  ObjectMeta meta;
  meta.name = Str(j, "name");
  meta.description = Str(j, "description");
  meta.owner = Str(j, "owner");
  auto tags = j.find("tags");
  if (tags != j.end() && !tags->is_null()) {
    for (auto it = tags->begin(); it != tags->end(); ++it) {
      meta.tags[it.key()] = it.value().get<std::string>();
    }
  }
  return meta;
}

}  // namespace

std::string FeatureRefText(const FeatureRef& ref) {
  return ref.feature.empty() ? ref.view : absl::StrCat(ref.view, ":", ref.feature);
}

absl::StatusOr<DefinitionKind> ParseKindName(std::string_view name) {
  for (DefinitionKind kind : {DefinitionKind::kEntity, DefinitionKind::kSource,
                              DefinitionKind::kFeatureView, DefinitionKind::kFeatureService}) {
    if (KindName(kind) == name) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("kind: '", ToAbsl(name),
                   "' is not a kind (Entity, Source, FeatureView, FeatureService)"));
}

Json ToCanonicalJson(const EntitySpec& spec) {
  Json out = Json::object();
  PutMeta(spec.meta, "Entity", &out);
  Json keys = Json::array();
  for (const Field& key : spec.join_keys) {
    keys.push_back({{"name", key.name}, {"type", TypeName(key.type)}});
  }
  out["join_keys"] = std::move(keys);
  return out;
}

Json ToCanonicalJson(const SourceSpec& spec) {
  Json out = Json::object();
  PutMeta(spec.meta, "Source", &out);
  out["type"] = spec.kind == SourceKind::kFile ? "file" : "push";
  out["path"] = spec.path;
  out["format"] = spec.format == FileFormat::kCsv ? "csv" : "jsonl";
  out["timestamp_field"] = spec.timestamp_field;
  out["created_timestamp_field"] = spec.created_timestamp_field;
  Json schema = Json::array();
  for (const Field& field : spec.schema) {
    schema.push_back(
        {{"name", field.name}, {"type", TypeName(field.type)}, {"nullable", field.nullable}});
  }
  out["schema"] = std::move(schema);
  return out;
}

Json ToCanonicalJson(const FeatureViewSpec& spec) {
  Json out = Json::object();
  PutMeta(spec.meta, "FeatureView", &out);
  out["entities"] = spec.entities;
  out["source"] = spec.source;
  out["ttl_ms"] = spec.ttl_ms;
  out["online"] = spec.online;
  Json features = Json::array();
  for (const FeatureSpec& f : spec.features) {
    features.push_back({{"name", f.name},
                        {"type", TypeName(f.type)},
                        {"nullable", f.nullable},
                        {"description", f.description},
                        {"expr", f.expr},
                        {"agg", AggName(f.agg)},
                        {"of", f.of},
                        {"window_ms", f.window_ms}});
  }
  out["features"] = std::move(features);
  return out;
}

Json ToCanonicalJson(const FeatureServiceSpec& spec) {
  Json out = Json::object();
  PutMeta(spec.meta, "FeatureService", &out);
  Json refs = Json::array();
  for (const FeatureRef& ref : spec.features) refs.push_back(FeatureRefText(ref));
  out["features"] = std::move(refs);
  return out;
}

Json ToCanonicalJson(const Definition& def) {
  return std::visit([](const auto& spec) { return ToCanonicalJson(spec); }, def.spec);
}

std::string CanonicalText(const Definition& def) { return DumpJson(ToCanonicalJson(def)); }

std::string ContentHash(const Definition& def) { return Sha256Hex(CanonicalText(def)); }

absl::StatusOr<Definition> DefinitionFromJson(const Json& json) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError("a definition must be a JSON object");
  }
  Definition def;
  try {
    CAIRN_ASSIGN_OR_RETURN(def.kind, ParseKindName(Str(json, "kind")));
    switch (def.kind) {
      case DefinitionKind::kEntity: {
        EntitySpec spec;
        spec.meta = GetMeta(json);
        for (const Json& key : Arr(json, "join_keys")) {
          spec.join_keys.push_back(
              Field{.name = Str(key, "name"), .type = Type(key, "type"), .nullable = false});
        }
        def.spec = std::move(spec);
        break;
      }
      case DefinitionKind::kSource: {
        SourceSpec spec;
        spec.meta = GetMeta(json);
        std::string type = Str(json, "type");
        if (type != "" && type != "file" && type != "push") {
          return absl::InvalidArgumentError(absl::StrCat("type: '", type, "' is not file|push"));
        }
        spec.kind = type == "push" ? SourceKind::kPush : SourceKind::kFile;
        spec.path = Str(json, "path");
        std::string format = Str(json, "format");
        if (format != "" && format != "csv" && format != "jsonl") {
          return absl::InvalidArgumentError(
              absl::StrCat("format: '", format, "' is not csv|jsonl"));
        }
        spec.format = format == "jsonl" ? FileFormat::kJsonl : FileFormat::kCsv;
        spec.timestamp_field = Str(json, "timestamp_field");
        spec.created_timestamp_field = Str(json, "created_timestamp_field");
        for (const Json& field : Arr(json, "schema")) {
          spec.schema.push_back(Field{.name = Str(field, "name"),
                                      .type = Type(field, "type"),
                                      .nullable = Bool(field, "nullable", true)});
        }
        def.spec = std::move(spec);
        break;
      }
      case DefinitionKind::kFeatureView: {
        FeatureViewSpec spec;
        spec.meta = GetMeta(json);
        for (const Json& entity : Arr(json, "entities")) {
          spec.entities.push_back(entity.get<std::string>());
        }
        spec.source = Str(json, "source");
        spec.ttl_ms = Int(json, "ttl_ms");
        spec.online = Bool(json, "online", true);
        for (const Json& f : Arr(json, "features")) {
          FeatureSpec feature;
          feature.name = Str(f, "name");
          feature.type = Type(f, "type");
          feature.nullable = Bool(f, "nullable", true);
          feature.description = Str(f, "description");
          feature.expr = Str(f, "expr");
          std::string agg = Str(f, "agg");
          feature.agg = AggFn::kNone;
          for (AggFn fn : {AggFn::kCount, AggFn::kSum, AggFn::kMean, AggFn::kMin, AggFn::kMax}) {
            if (AggName(fn) == agg) feature.agg = fn;
          }
          if (!agg.empty() && feature.agg == AggFn::kNone) {
            return absl::InvalidArgumentError(absl::StrCat(
                "features: agg '", agg, "' is not one of count, sum, mean, min, max"));
          }
          feature.of = Str(f, "of");
          feature.window_ms = Int(f, "window_ms");
          spec.features.push_back(std::move(feature));
        }
        def.spec = std::move(spec);
        break;
      }
      case DefinitionKind::kFeatureService: {
        FeatureServiceSpec spec;
        spec.meta = GetMeta(json);
        for (const Json& ref : Arr(json, "features")) {
          std::string text = ref.get<std::string>();
          FeatureRef parsed;
          size_t colon = text.find(':');
          parsed.view = text.substr(0, colon);
          if (colon != std::string::npos) parsed.feature = text.substr(colon + 1);
          if (parsed.feature == "*") parsed.feature.clear();
          spec.features.push_back(std::move(parsed));
        }
        def.spec = std::move(spec);
        break;
      }
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed definition JSON: ", e.what()));
  }
  return def;
}

}  // namespace cairn::features
