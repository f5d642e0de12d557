#include "serving/predict_request.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::serving {
namespace {

namespace od = simdjson::ondemand;

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(message); }

std::string_view TrimToken(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' ||
                        s.back() == '\t' || s.back() == ',' || s.back() == '}' ||
                        s.back() == ']')) {
    s.remove_suffix(1);
  }
  return s;
}

absl::Status JsonError(simdjson::error_code error, std::string_view where) {
  return Invalid(absl::StrCat("request body: ", ToAbsl(where), ": invalid JSON (",
                              simdjson::error_message(error), ")"));
}

#define CAIRN_PREDICT_JSON_OK(expr, where)                             \
  do {                                                                 \
    auto cairn_json_error_ = (expr);                                   \
    if (cairn_json_error_) return JsonError(cairn_json_error_, where); \
  } while (0)

// What a value that is not allowed looks like in a message.
std::string Describe(od::value& v) {
  od::json_type type;
  if (v.type().get(type)) return "invalid JSON";
  switch (type) {
    case od::json_type::array: return "a list";
    case od::json_type::object: return "an object";
    default: return std::string(TrimToken(v.raw_json_token()));
  }
}

absl::Status ParseEntities(od::object object, PredictRequest* out) {
  for (auto field : object) {
    std::string_view name;
    CAIRN_PREDICT_JSON_OK(field.unescaped_key().get(name), "entities");
    od::array list;
    if (field.value().get_array().get(list)) {
      return Invalid(absl::StrCat("entities.", ToAbsl(name),
                                  ": expected a list of values, one per row"));
    }
    PredictRequest::EntityColumn& column = out->AddEntity(name);
    for (auto element : list) {
      od::value v;
      CAIRN_PREDICT_JSON_OK(element.get(v), "entities");
      int64_t i;
      std::string_view s;
      if (!v.get_int64().get(i)) {
        column.values.push_back({false, i, {}});
      } else if (!v.get_string().get(s)) {
        column.values.push_back({true, 0, s});
      } else {
        return Invalid(absl::StrCat("entities.", ToAbsl(name), "[", column.values.size(),
                                    "]: expected an integer or a string, got ", Describe(v)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseFeatures(od::object object, PredictRequest* out) {
  for (auto field : object) {
    std::string_view name;
    CAIRN_PREDICT_JSON_OK(field.unescaped_key().get(name), "features");
    od::array list;
    if (field.value().get_array().get(list)) {
      return Invalid(absl::StrCat("features.", ToAbsl(name),
                                  ": expected a list of values, one per row"));
    }
    PredictRequest::FeatureColumn& column = out->AddFeature(name);
    for (auto element : list) {
      od::value v;
      CAIRN_PREDICT_JSON_OK(element.get(v), "features");
      od::json_type type;
      CAIRN_PREDICT_JSON_OK(v.type().get(type), "features");
      switch (type) {
        case od::json_type::number: {
          int64_t i;
          double d;
          if (!v.get_int64().get(i)) {
            column.values.emplace_back(i);
          } else if (!v.get_double().get(d)) {
            column.values.emplace_back(d);
          } else {
            return Invalid(absl::StrCat("features.", ToAbsl(name), "[", column.values.size(),
                                        "]: number out of range: ", Describe(v)));
          }
          break;
        }
        case od::json_type::string: {
          std::string_view s;
          CAIRN_PREDICT_JSON_OK(v.get_string().get(s), "features");
          column.values.emplace_back(std::string(s));
          break;
        }
        case od::json_type::boolean: {
          bool b;
          CAIRN_PREDICT_JSON_OK(v.get_bool().get(b), "features");
          column.values.emplace_back(b);
          break;
        }
        case od::json_type::null:
          column.values.emplace_back(std::monostate{});
          break;
        default:
          return Invalid(absl::StrCat("features.", ToAbsl(name), "[", column.values.size(),
                                      "]: expected a number, string, bool or null, got ",
                                      Describe(v)));
      }
    }
  }
  return absl::OkStatus();
}

thread_local od::parser tls_parser;
thread_local std::string tls_padded;

}  // namespace

int PredictRequest::FindFeature(std::string_view name) const {
  for (size_t i = 0; i < num_features; ++i) {
    if (feature_slots[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

PredictRequest::EntityColumn& PredictRequest::AddEntity(std::string_view name) {
  if (num_entities == entity_slots.size()) entity_slots.emplace_back();
  EntityColumn& column = entity_slots[num_entities++];
  column.name = name;
  column.values.clear();
  return column;
}

PredictRequest::FeatureColumn& PredictRequest::AddFeature(std::string_view name) {
  if (num_features == feature_slots.size()) feature_slots.emplace_back();
  FeatureColumn& column = feature_slots[num_features++];
  column.name = name;
  column.values.clear();
  return column;
}

absl::Status ParsePredictRequest(std::string_view json, PredictRequest* out) {
  out->Clear();
  tls_padded.assign(json.data(), json.size());
  tls_padded.append(simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  CAIRN_PREDICT_JSON_OK(tls_parser.iterate(tls_padded.data(), json.size(), tls_padded.size())
                            .get(doc),
                        "request");
  od::object root;
  if (doc.get_object().get(root)) {
    return Invalid(
        "request body: expected a JSON object {\"entities\": {KEY: [values]}, \"features\": "
        "{NAME: [values]}}");
  }
  bool has_entities = false, has_features = false;
  for (auto field : root) {
    std::string_view key;
    CAIRN_PREDICT_JSON_OK(field.unescaped_key().get(key), "request");
    if (key == "entities") {
      od::object object;
      if (field.value().get_object().get(object)) {
        return Invalid("entities: expected an object of join key → list of values");
      }
      has_entities = true;
      CAIRN_RETURN_IF_ERROR(ParseEntities(object, out));
    } else if (key == "features") {
      od::object object;
      if (field.value().get_object().get(object)) {
        return Invalid("features: expected an object of feature name → list of values");
      }
      has_features = true;
      CAIRN_RETURN_IF_ERROR(ParseFeatures(object, out));
    }
  }
  if ((!has_entities || out->num_entities == 0) && (!has_features || out->num_features == 0)) {
    return Invalid(
        "request: give \"entities\" (join key → values, looked up online) and/or \"features\" "
        "(feature name → values)");
  }
  // Every list has the same length: the number of rows.
  std::string_view first_name;
  bool first = true;
  for (const PredictRequest::EntityColumn& column : out->entities()) {
    if (first) {
      out->rows = column.values.size();
      first_name = column.name;
      first = false;
    } else if (column.values.size() != out->rows) {
      return Invalid(absl::StrCat("entities.", ToAbsl(column.name), ": ", column.values.size(),
                                  " values, but entities.", ToAbsl(first_name), " has ",
                                  out->rows, "; every list needs one value per row"));
    }
  }
  bool first_is_entity = !first;
  for (const PredictRequest::FeatureColumn& column : out->features()) {
    if (first) {
      out->rows = column.values.size();
      first_name = column.name;
      first = false;
    } else if (column.values.size() != out->rows) {
      return Invalid(absl::StrCat("features.", ToAbsl(column.name), ": ", column.values.size(),
                                  " values, but ", first_is_entity ? "entities." : "features.",
                                  ToAbsl(first_name), " has ", out->rows,
                                  "; every list needs one value per row"));
    }
  }
  if (out->rows == 0) return Invalid("request: the lists are empty; send at least one row");
  return absl::OkStatus();
}

void AppendJsonDouble(double value, std::string* out) {
  if (!std::isfinite(value)) {
    out->append("null");
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out->append(buf, end);
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out->append(esc, 6);
      }
    }
  }
  out->append(s.data() + start, s.size() - start);
  out->push_back('"');
}

void AppendPredictResponse(std::span<const std::string> ids, std::string_view model,
                           int64_t version, std::span<const double> predictions,
                           std::string_view variant, std::string* out) {
  out->append("{\"ids\":[");
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(ids[i], out);
  }
  out->append("],\"model\":");
  AppendJsonString(model, out);
  out->append(",\"model_version\":");
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, version);
  out->append(buf, end);
  out->append(",\"predictions\":[");
  for (size_t i = 0; i < predictions.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonDouble(predictions[i], out);
  }
  out->append("],\"variant\":");
  AppendJsonString(variant, out);
  out->push_back('}');
}

}  // namespace cairn::serving
