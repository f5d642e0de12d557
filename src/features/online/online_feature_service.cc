#include "features/online/online_feature_service.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <span>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/did_you_mean.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "features/entity_key.h"

namespace cairn::features {
namespace {

namespace od = simdjson::ondemand;

// ---- the request -------------------------------------------------------------------

// One entity value as sent: an integer, a string, or something else (kept raw for the
// error message).
struct EntityValue {
  enum Kind : uint8_t { kInt, kString, kOther } kind = kOther;
  int64_t i = 0;
  std::string_view text;  // kString: the unescaped string; kOther: the raw JSON token
};

struct EntityColumn {
  std::string_view name;
  std::vector<EntityValue> values;
};

struct Request {
  bool has_features = false;
  std::vector<std::string_view> features;
  std::optional<std::string_view> feature_service;
  bool has_entities = false;
  std::vector<EntityColumn> entities;
  bool full_feature_names = false;
};

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(ToAbsl(message));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' ||
                        s.back() == '\t' || s.back() == ',')) {
    s.remove_suffix(1);
  }
  return s;
}

absl::Status JsonError(simdjson::error_code error, std::string_view where) {
  return Invalid(absl::StrCat("request body: ", ToAbsl(where), ": invalid JSON (",
                              simdjson::error_message(error), ")"));
}

#define CAIRN_JSON_OK(expr, where)                       \
  do {                                                   \
    auto cairn_json_error_ = (expr);                     \
    if (cairn_json_error_) return JsonError(cairn_json_error_, where); \
  } while (0)

absl::Status ParseEntities(od::object entities, Request* req) {
  for (auto field : entities) {
    std::string_view name;
    CAIRN_JSON_OK(field.unescaped_key().get(name), "entities");
    EntityColumn column{name, {}};
    od::array values;
    if (field.value().get_array().get(values)) {
      return Invalid(absl::StrCat("entities.", ToAbsl(name), ": expected a list of values"));
    }
    for (auto element : values) {
      od::value v;
      CAIRN_JSON_OK(element.get(v), "entities");
      EntityValue out;
      od::json_type type;
      CAIRN_JSON_OK(v.type().get(type), "entities");
      if (type == od::json_type::number) {
        int64_t i;
        if (!v.get_int64().get(i)) {
          out.kind = EntityValue::kInt;
          out.i = i;
        } else {
          out.text = Trim(v.raw_json_token());
        }
      } else if (type == od::json_type::string) {
        std::string_view s;
        CAIRN_JSON_OK(v.get_string().get(s), "entities");
        out.kind = EntityValue::kString;
        out.text = s;
      } else {
        std::string_view raw;
        if (type == od::json_type::object || type == od::json_type::array) {
          raw = type == od::json_type::object ? "an object" : "a list";
        } else {
          raw = Trim(v.raw_json_token());
        }
        out.text = raw;
      }
      column.values.push_back(out);
    }
    req->entities.push_back(std::move(column));
  }
  return absl::OkStatus();
}

absl::Status ParseRequest(od::document& doc, Request* req) {
  od::object root;
  if (doc.get_object().get(root)) return Invalid("request body: expected a JSON object");
  for (auto field : root) {
    std::string_view key;
    CAIRN_JSON_OK(field.unescaped_key().get(key), "request");
    od::value value;
    CAIRN_JSON_OK(field.value().get(value), key);
    if (key == "features") {
      od::array list;
      if (value.get_array().get(list)) return Invalid("features: expected a list of strings");
      req->has_features = true;
      for (auto element : list) {
        std::string_view s;
        if (element.get_string().get(s)) {
          return Invalid(absl::StrCat("features[", req->features.size(),
                                      "]: expected a string \"view:feature\""));
        }
        req->features.push_back(s);
      }
    } else if (key == "feature_service") {
      bool is_null = false;
      if (!value.is_null().get(is_null) && is_null) continue;
      std::string_view s;
      if (value.get_string().get(s)) return Invalid("feature_service: expected a string");
      req->feature_service = s;
    } else if (key == "entities") {
      od::object entities;
      if (value.get_object().get(entities)) {
        return Invalid("entities: expected an object of join key → list of values");
      }
      req->has_entities = true;
      CAIRN_RETURN_IF_ERROR(ParseEntities(entities, req));
    } else if (key == "full_feature_names") {
      if (value.get_bool().get(req->full_feature_names)) {
        return Invalid("full_feature_names: expected true or false");
      }
    }
    // Other fields are ignored, as Feast's server ignores them.
  }
  return absl::OkStatus();
}

// ---- suggestions ---------------------------------------------------------------------

std::string FeatureSuggestion(std::string_view name, const FeatureViewSpec& spec) {
  const std::string* best = nullptr;
  size_t best_distance = std::max<size_t>(2, name.size() / 3) + 1;
  for (const FeatureSpec& f : spec.features) {
    size_t d = EditDistance(name, f.name);
    if (d < best_distance) {
      best_distance = d;
      best = &f.name;
    }
  }
  if (best != nullptr) return absl::StrCat(" (did you mean '", *best, "'?)");
  std::string all;
  for (const FeatureSpec& f : spec.features) absl::StrAppend(&all, all.empty() ? "" : ", ", f.name);
  return absl::StrCat("; its features: ", all);
}

// ---- the response --------------------------------------------------------------------

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': out->append(std::string_view("\\\"")); break;
      case '\\': out->append(std::string_view("\\\\")); break;
      case '\n': out->append(std::string_view("\\n")); break;
      case '\r': out->append(std::string_view("\\r")); break;
      case '\t': out->append(std::string_view("\\t")); break;
      case '\b': out->append(std::string_view("\\b")); break;
      case '\f': out->append(std::string_view("\\f")); break;
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

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, end);
}

// Python's repr(float): shortest round-trip digits; fixed notation for exponents in
// [-4, 16) with at least one fractional digit, scientific ("1e+16", "1.5e-07") otherwise.
// The fixed form is laid out from the scientific digits (one to_chars call per value).
void AppendPythonDouble(double v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append(std::string_view("null"));
    return;
  }
  char buf[64];
  auto [sci_end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, sci_end - buf);
  const size_t e_pos = sci.find('e');
  int exponent = 0;
  std::from_chars(sci.data() + e_pos + (sci[e_pos + 1] == '+' ? 2 : 1), sci_end, exponent);
  if (exponent < -4 || exponent >= 16) {
    out->append(sci);
    return;
  }
  // Mantissa "[-]d[.ddd]": its digits without the point.
  std::string_view mantissa = sci.substr(0, e_pos);
  const bool negative = mantissa.front() == '-';
  if (negative) mantissa.remove_prefix(1);
  char digits[32];
  size_t num_digits = 0;
  for (char c : mantissa) {
    if (c != '.') digits[num_digits++] = c;
  }
  char fixed[64];
  size_t n = 0;
  if (negative) fixed[n++] = '-';
  if (exponent < 0) {
    fixed[n++] = '0';
    fixed[n++] = '.';
    for (int z = -1; z > exponent; --z) fixed[n++] = '0';
    for (size_t d = 0; d < num_digits; ++d) fixed[n++] = digits[d];
  } else {
    const size_t integer_digits = static_cast<size_t>(exponent) + 1;
    for (size_t d = 0; d < integer_digits; ++d) fixed[n++] = d < num_digits ? digits[d] : '0';
    fixed[n++] = '.';
    if (num_digits > integer_digits) {
      for (size_t d = integer_digits; d < num_digits; ++d) fixed[n++] = digits[d];
    } else {
      fixed[n++] = '0';
    }
  }
  out->append(fixed, n);
}

void Append2(unsigned v, char* p) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// protobuf's Timestamp JSON: "YYYY-MM-DDTHH:MM:SS[.mmm]Z", quoted.
void AppendProtoTimestamp(int64_t ms, std::string* out) {
  int64_t days = ms >= 0 ? ms / 86'400'000 : -((-ms + 86'399'999) / 86'400'000);
  int64_t rem = ms - days * 86'400'000;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  if (y < 0 || y > 9999) {
    // Outside protobuf's range; still an RFC 3339-like string.
    AppendJsonString(FormatTimestamp(ms), out);
    return;
  }
  unsigned secs = static_cast<unsigned>(rem / 1000);
  unsigned milli = static_cast<unsigned>(rem % 1000);
  char buf[32];
  buf[0] = '"';
  Append2(static_cast<unsigned>(y / 100), buf + 1);
  Append2(static_cast<unsigned>(y % 100), buf + 3);
  buf[5] = '-';
  Append2(m, buf + 6);
  buf[8] = '-';
  Append2(d, buf + 9);
  buf[11] = 'T';
  Append2(secs / 3600, buf + 12);
  buf[14] = ':';
  Append2(secs / 60 % 60, buf + 15);
  buf[17] = ':';
  Append2(secs % 60, buf + 18);
  size_t n = 20;
  if (milli != 0) {
    buf[n++] = '.';
    buf[n++] = static_cast<char>('0' + milli / 100);
    buf[n++] = static_cast<char>('0' + milli / 10 % 10);
    buf[n++] = static_cast<char>('0' + milli % 10);
  }
  buf[n++] = 'Z';
  buf[n++] = '"';
  out->append(buf, n);
}

constexpr std::string_view kEpochZero = "\"1970-01-01T00:00:00Z\"";

void AppendValue(const Value& v, FeatureType type, std::string* out) {
  switch (v.index()) {
    case 0:
      out->append(std::string_view("null"));
      break;
    case 1: {
      int64_t i = std::get<int64_t>(v);
      if (type == FeatureType::kTimestamp) {
        // Feast's unix_timestamp_val: whole seconds.
        i = i >= 0 ? i / 1000 : -((-i + 999) / 1000);
      }
      AppendInt(i, out);
      break;
    }
    case 2:
      AppendPythonDouble(std::get<double>(v), out);
      break;
    case 3:
      AppendJsonString(std::get<std::string>(v), out);
      break;
    case 4:
      out->append(std::get<bool>(v) ? std::string_view("true") : std::string_view("false"));
      break;
  }
}

void AppendEntityValue(const EntityValue& v, std::string* out) {
  switch (v.kind) {
    case EntityValue::kInt:
      AppendInt(v.i, out);
      break;
    case EntityValue::kString:
      AppendJsonString(v.text, out);
      break;
    case EntityValue::kOther:
      out->append(v.text);
      break;
  }
}

// ---- the plan ------------------------------------------------------------------------

struct PlannedView {
  std::shared_ptr<const ServedView> view;
  std::vector<int> entity_columns;  // index into Request::entities per join key
  std::vector<std::string> keys;    // encoded, one per entity row
  std::vector<std::optional<OnlineRow>> rows;
  std::string timestamps;  // formatted event times of `rows`, comma-separated, built once
};

struct PlannedFeature {
  size_t view;     // index into the planned views
  int feature;     // index into the view's features
};

// The views of one request. PlannedView objects (with their key strings and decoded rows)
// are kept per thread between requests so that their buffers are reused: a lookup then
// decodes into rows whose value vectors already have capacity instead of allocating.
struct Plan {
  std::vector<PlannedView> view_pool;  // the first num_views are this request's
  size_t num_views = 0;
  std::vector<PlannedFeature> features;

  std::span<PlannedView> views() { return {view_pool.data(), num_views}; }
  PlannedView& view(size_t i) { return view_pool[i]; }
  PlannedView& AddView(std::shared_ptr<const ServedView> view) {
    if (num_views == view_pool.size()) view_pool.emplace_back();
    PlannedView& pv = view_pool[num_views++];
    pv.view = std::move(view);
    pv.entity_columns.clear();
    pv.timestamps.clear();
    return pv;
  }
  // Starts a request; drops what the previous one referenced.
  void Reset() {
    Release();
    features.clear();
  }
  // Lets go of the served views (a registry change must not be pinned by an idle thread).
  void Release() {
    for (size_t i = 0; i < num_views; ++i) view_pool[i].view.reset();
    num_views = 0;
  }
};

// `field` names the request field in error messages ("features[3]"); `field_index` >= 0
// appends "[field_index]" to it (built only when there is an error).
absl::Status AddFeature(const FeatureCatalog& catalog, std::string_view view_name,
                        std::string_view feature_name, std::string_view field_base,
                        int field_index, Plan* plan) {
  auto field = [&] {
    return field_index < 0 ? std::string(field_base)
                           : absl::StrCat(ToAbsl(field_base), "[", field_index, "]");
  };
  size_t view_index = 0;
  while (view_index < plan->num_views &&
         plan->view(view_index).view->spec.meta.name != view_name) {
    ++view_index;
  }
  if (view_index == plan->num_views) {
    absl::StatusOr<std::shared_ptr<const ServedView>> view = catalog.View(view_name);
    if (!view.ok()) {
      if (absl::IsNotFound(view.status())) {
        return Invalid(absl::StrCat(field(), ": ", view.status().message()));
      }
      return view.status();
    }
    plan->AddView(std::move(*view));
  }
  const FeatureViewSpec& spec = plan->view(view_index).view->spec;
  if (feature_name.empty() || feature_name == "*") {
    for (size_t i = 0; i < spec.features.size(); ++i) {
      plan->features.push_back({view_index, static_cast<int>(i)});
    }
    return absl::OkStatus();
  }
  for (size_t i = 0; i < spec.features.size(); ++i) {
    if (spec.features[i].name == feature_name) {
      plan->features.push_back({view_index, static_cast<int>(i)});
      return absl::OkStatus();
    }
  }
  return Invalid(absl::StrCat(field(), ": feature view '", spec.meta.name,
                              "' has no feature '", ToAbsl(feature_name), "'",
                              FeatureSuggestion(feature_name, spec)));
}

absl::Status EncodeKeys(const Request& req, size_t num_rows, PlannedView* pv) {
  const std::vector<Field>& join_keys = pv->view->join_keys;
  for (const Field& key : join_keys) {
    int found = -1;
    for (size_t c = 0; c < req.entities.size(); ++c) {
      if (req.entities[c].name == key.name) found = static_cast<int>(c);
    }
    if (found < 0) {
      return Invalid(absl::StrCat("entities: missing '", key.name, "', a join key of feature view '",
                                  pv->view->spec.meta.name, "'"));
    }
    pv->entity_columns.push_back(found);
  }
  pv->keys.resize(num_rows);
  for (size_t r = 0; r < num_rows; ++r) {
    std::string& out = pv->keys[r];
    out.clear();  // reused from an earlier request
    for (size_t k = 0; k < join_keys.size(); ++k) {
      const EntityColumn& column = req.entities[pv->entity_columns[k]];
      const EntityValue& v = column.values[r];
      FeatureType type = join_keys[k].type;
      bool is_int = type == FeatureType::kInt64 || type == FeatureType::kTimestamp;
      if (is_int && v.kind == EntityValue::kInt) {
        EncodeKeyValue(Value(v.i), type, &out);
      } else if (type == FeatureType::kString && v.kind == EntityValue::kString) {
        EncodeKeyValue(Value(std::string(v.text)), type, &out);
      } else {
        std::string got;
        if (v.kind == EntityValue::kString) {
          AppendJsonString(v.text, &got);
        } else {
          AppendEntityValue(v, &got);
        }
        return Invalid(absl::StrCat("entities.", ToAbsl(column.name), ": expected ",
                                    ToAbsl(TypeName(type)), " values, got ", got));
      }
    }
  }
  return absl::OkStatus();
}

thread_local od::parser tls_parser;
thread_local std::string tls_padded;
thread_local Plan tls_plan;

// Resets the thread's plan on entry and releases its views on every exit.
class PlanScope {
 public:
  PlanScope() { tls_plan.Reset(); }
  ~PlanScope() { tls_plan.Release(); }
  Plan& plan() { return tls_plan; }
};

}  // namespace

absl::StatusOr<std::string> OnlineFeatureService::GetOnlineFeatures(
    std::string_view request_json) const {
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: copy into a padded buffer
  // reused by this thread.
  tls_padded.assign(request_json.data(), request_json.size());
  tls_padded.append(simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (auto error = tls_parser
                       .iterate(tls_padded.data(), request_json.size(), tls_padded.size())
                       .get(doc)) {
    return JsonError(error, "request");
  }
  Request req;
  CAIRN_RETURN_IF_ERROR(ParseRequest(doc, &req));

  // Which features.
  PlanScope plan_scope;
  Plan& plan = plan_scope.plan();
  if (req.has_features && req.feature_service.has_value()) {
    return Invalid("request: give either features or feature_service, not both");
  }
  if (req.feature_service.has_value()) {
    absl::StatusOr<std::vector<FeatureRef>> refs = catalog_->Service(*req.feature_service);
    if (!refs.ok()) {
      if (absl::IsNotFound(refs.status())) {
        return Invalid(absl::StrCat("feature_service: ", refs.status().message()));
      }
      return refs.status();
    }
    for (const FeatureRef& ref : *refs) {
      CAIRN_RETURN_IF_ERROR(
          AddFeature(*catalog_, ref.view, ref.feature, "feature_service", -1, &plan));
    }
  } else if (req.has_features) {
    if (req.features.empty()) return Invalid("features: must name at least one feature");
    for (size_t i = 0; i < req.features.size(); ++i) {
      std::string_view ref = req.features[i];
      size_t colon = ref.find(':');
      if (colon == std::string_view::npos || colon == 0 || colon + 1 == ref.size()) {
        return Invalid(absl::StrCat("features[", i, "]: '", ToAbsl(ref),
                                    "' is not of the form \"view:feature\""));
      }
      CAIRN_RETURN_IF_ERROR(AddFeature(*catalog_, ref.substr(0, colon), ref.substr(colon + 1),
                                       "features", static_cast<int>(i), &plan));
    }
  } else {
    return Invalid("request: give features (a list of \"view:feature\") or feature_service");
  }

  // Which entity rows.
  if (!req.has_entities || req.entities.empty()) {
    return Invalid("entities: must map each join key to a list of values");
  }
  size_t num_rows = req.entities[0].values.size();
  for (const EntityColumn& column : req.entities) {
    if (column.values.size() != num_rows) {
      return Invalid(absl::StrCat("entities.", ToAbsl(column.name), ": ", column.values.size(),
                                  " values, but entities.", ToAbsl(req.entities[0].name),
                                  " has ", num_rows, "; every join key needs one value per row"));
    }
  }
  // Feature column names; without full names two views' features may collide.
  // (With full names, "view__feature" is written as two parts; the names here are only
  // compared without full names.)
  absl::InlinedVector<std::string_view, 16> names;
  names.reserve(plan.features.size());
  for (const PlannedFeature& f : plan.features) {
    names.push_back(plan.view(f.view).view->spec.features[f.feature].name);
  }
  if (!req.full_feature_names && plan.num_views > 1) {
    for (size_t i = 0; i < names.size(); ++i) {
      for (size_t j = i + 1; j < names.size(); ++j) {
        if (names[i] == names[j] && plan.features[i].view != plan.features[j].view) {
          return Invalid(absl::StrCat("features: two feature views have a feature named '",
                                      ToAbsl(names[i]), "'; set full_feature_names to true"));
        }
      }
    }
  }

  // Look up.
  for (PlannedView& pv : plan.views()) {
    CAIRN_RETURN_IF_ERROR(EncodeKeys(req, num_rows, &pv));
    CAIRN_RETURN_IF_ERROR(store_->Read(pv.view->spec.meta.name, pv.keys, &pv.rows));
  }
  int64_t now = clock_->NowMillis();
  for (PlannedView& pv : plan.views()) {
    // Every feature of a view shares its rows' event times: format them once.
    for (size_t r = 0; r < num_rows; ++r) {
      if (r > 0) pv.timestamps.push_back(',');
      const std::optional<OnlineRow>& row = pv.rows[r];
      if (row.has_value()) {
        AppendProtoTimestamp(row->event_ts, &pv.timestamps);
      } else {
        pv.timestamps.append(kEpochZero);
      }
    }
  }

  // Write the response.
  std::string out;
  out.reserve(128 + (req.entities.size() + plan.features.size()) * (80 + num_rows * 40));
  out.append(std::string_view("{\"metadata\":{\"feature_names\":["));
  bool first = true;
  for (const EntityColumn& column : req.entities) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(column.name, &out);
  }
  for (size_t i = 0; i < names.size(); ++i) {
    out.push_back(',');
    if (req.full_feature_names) {
      const PlannedFeature& f = plan.features[i];
      const FeatureViewSpec& spec = plan.view(f.view).view->spec;
      AppendJsonString(absl::StrCat(spec.meta.name, "__", spec.features[f.feature].name), &out);
    } else {
      AppendJsonString(names[i], &out);
    }
  }
  out.append(std::string_view("]},\"results\":["));
  first = true;
  for (const EntityColumn& column : req.entities) {
    if (!first) out.push_back(',');
    first = false;
    out.append(std::string_view("{\"values\":["));
    for (size_t r = 0; r < num_rows; ++r) {
      if (r > 0) out.push_back(',');
      AppendEntityValue(column.values[r], &out);
    }
    out.append(std::string_view("],\"statuses\":["));
    for (size_t r = 0; r < num_rows; ++r) {
      out.append(r > 0 ? std::string_view(",\"PRESENT\"") : std::string_view("\"PRESENT\""));
    }
    out.append(std::string_view("],\"event_timestamps\":["));
    for (size_t r = 0; r < num_rows; ++r) {
      if (r > 0) out.push_back(',');
      out.append(kEpochZero);
    }
    out.append(std::string_view("]}"));
  }
  for (const PlannedFeature& f : plan.features) {
    const PlannedView& pv = plan.view(f.view);
    const FeatureViewSpec& spec = pv.view->spec;
    FeatureType type = spec.features[f.feature].type;
    out.append(std::string_view(",{\"values\":["));
    for (size_t r = 0; r < num_rows; ++r) {
      if (r > 0) out.push_back(',');
      const std::optional<OnlineRow>& row = pv.rows[r];
      if (!row.has_value() || static_cast<size_t>(f.feature) >= row->values.size()) {
        out.append(std::string_view("null"));
      } else {
        AppendValue(row->values[f.feature], type, &out);
      }
    }
    out.append(std::string_view("],\"statuses\":["));
    for (size_t r = 0; r < num_rows; ++r) {
      if (r > 0) out.push_back(',');
      const std::optional<OnlineRow>& row = pv.rows[r];
      if (!row.has_value() || static_cast<size_t>(f.feature) >= row->values.size()) {
        out.append(std::string_view("\"NOT_FOUND\""));
      } else if (IsNull(row->values[f.feature])) {
        out.append(std::string_view("\"NULL_VALUE\""));
      } else if (spec.ttl_ms > 0 && now - row->event_ts > spec.ttl_ms) {
        out.append(std::string_view("\"OUTSIDE_MAX_AGE\""));
      } else {
        out.append(std::string_view("\"PRESENT\""));
      }
    }
    out.append(std::string_view("],\"event_timestamps\":["));
    out.append(pv.timestamps);
    out.append(std::string_view("]}"));
  }
  out.append(std::string_view("]}"));
  return out;
}

}  // namespace cairn::features

// ---- typed lookups -------------------------------------------------------------------

namespace cairn::features {
namespace {

// Per-thread buffers of Lookup: encoded keys and decoded rows per view, reused so that the
// steady state decodes into value vectors that already have capacity.
struct LookupScratch {
  std::vector<std::vector<std::string>> keys;
  std::vector<std::vector<std::optional<OnlineRow>>> rows;
  std::vector<int> key_columns;
};
thread_local LookupScratch tls_lookup;

}  // namespace

absl::StatusOr<OnlineFeatureSet> OnlineFeatureService::ResolveFeatures(
    std::string_view feature_service) const {
  absl::StatusOr<std::vector<FeatureRef>> refs = catalog_->Service(feature_service);
  if (!refs.ok()) {
    if (absl::IsNotFound(refs.status())) {
      return Invalid(absl::StrCat("feature_service: ", refs.status().message()));
    }
    return refs.status();
  }
  OnlineFeatureSet set;
  for (const FeatureRef& ref : *refs) {
    size_t view_index = 0;
    while (view_index < set.views.size() && set.views[view_index]->spec.meta.name != ref.view) {
      ++view_index;
    }
    if (view_index == set.views.size()) {
      absl::StatusOr<std::shared_ptr<const ServedView>> view = catalog_->View(ref.view);
      if (!view.ok()) {
        if (absl::IsNotFound(view.status())) {
          return Invalid(absl::StrCat("feature_service '", ToAbsl(feature_service),
                                      "': ", view.status().message()));
        }
        return view.status();
      }
      set.views.push_back(std::move(*view));
      for (const Field& key : set.views.back()->join_keys) {
        bool seen = false;
        for (const Field& k : set.join_keys) seen = seen || k.name == key.name;
        if (!seen) set.join_keys.push_back(key);
      }
    }
    const FeatureViewSpec& spec = set.views[view_index]->spec;
    bool found = false;
    for (size_t i = 0; i < spec.features.size(); ++i) {
      if (!ref.feature.empty() && ref.feature != "*" && spec.features[i].name != ref.feature) {
        continue;
      }
      found = true;
      set.features.push_back(
          {spec.features[i].name, spec.features[i].type, view_index, static_cast<int>(i)});
    }
    if (!found) {
      return Invalid(absl::StrCat("feature_service '", ToAbsl(feature_service),
                                  "': feature view '", spec.meta.name, "' has no feature '",
                                  ref.feature, "'", FeatureSuggestion(ref.feature, spec)));
    }
  }
  // Request-time features: days since each timestamp feature (see the header).
  const size_t stored = set.features.size();
  for (size_t i = 0; i < stored; ++i) {
    if (set.features[i].type != FeatureType::kTimestamp) continue;
    std::string name = absl::StrCat("days_since_", set.features[i].name);
    bool taken = false;
    for (size_t j = 0; j < stored; ++j) taken = taken || set.features[j].name == name;
    if (taken) continue;
    OnlineFeatureSet::Feature derived = set.features[i];
    derived.name = std::move(name);
    derived.type = FeatureType::kDouble;
    derived.days_since = true;
    set.features.push_back(std::move(derived));
  }
  for (size_t i = 0; i < stored; ++i) {
    for (size_t j = i + 1; j < stored; ++j) {
      if (set.features[i].name == set.features[j].name &&
          set.features[i].view != set.features[j].view) {
        return Invalid(absl::StrCat(
            "feature_service '", ToAbsl(feature_service), "': feature views '",
            set.views[set.features[i].view]->spec.meta.name, "' and '",
            set.views[set.features[j].view]->spec.meta.name, "' both have a feature named '",
            set.features[i].name, "'; a model reads features by name, so rename one"));
      }
    }
  }
  return set;
}

absl::Status OnlineFeatureService::Lookup(const OnlineFeatureSet& set,
                                          std::span<const EntityKeyColumn> entities,
                                          size_t rows, std::span<const int> target,
                                          size_t stride, Value* out) const {
  if (target.size() != set.features.size()) {
    return absl::InternalError("OnlineFeatureService::Lookup: one target per feature needed");
  }
  LookupScratch& scratch = tls_lookup;
  if (scratch.keys.size() < set.views.size()) {
    scratch.keys.resize(set.views.size());
    scratch.rows.resize(set.views.size());
  }
  for (size_t v = 0; v < set.views.size(); ++v) {
    const ServedView& view = *set.views[v];
    scratch.key_columns.clear();
    for (const Field& key : view.join_keys) {
      int found = -1;
      for (size_t c = 0; c < entities.size(); ++c) {
        if (entities[c].name == key.name) found = static_cast<int>(c);
      }
      if (found < 0) {
        return Invalid(absl::StrCat("entities: missing '", key.name,
                                    "', a join key of feature view '", view.spec.meta.name,
                                    "'"));
      }
      if (entities[found].values.size() != rows) {
        return Invalid(absl::StrCat("entities.", key.name, ": ", entities[found].values.size(),
                                    " values for ", rows, " rows"));
      }
      scratch.key_columns.push_back(found);
    }
    std::vector<std::string>& keys = scratch.keys[v];
    keys.resize(rows);
    for (size_t r = 0; r < rows; ++r) {
      std::string& key_out = keys[r];
      key_out.clear();
      for (size_t k = 0; k < view.join_keys.size(); ++k) {
        const Field& key = view.join_keys[k];
        const EntityKeyValue& value = entities[scratch.key_columns[k]].values[r];
        const bool is_int = key.type == FeatureType::kInt64 || key.type == FeatureType::kTimestamp;
        if (is_int && !value.is_string) {
          EncodeKeyValue(Value(value.int_value), key.type, &key_out);
        } else if (key.type == FeatureType::kString && value.is_string) {
          EncodeKeyValue(Value(std::string(value.text)), key.type, &key_out);
        } else {
          std::string got;
          if (value.is_string) {
            AppendJsonString(value.text, &got);
          } else {
            AppendInt(value.int_value, &got);
          }
          return Invalid(absl::StrCat("entities.", key.name, ": expected ",
                                      ToAbsl(TypeName(key.type)), " values, got ", got));
        }
      }
    }
    CAIRN_RETURN_IF_ERROR(store_->Read(view.spec.meta.name, keys, &scratch.rows[v]));
  }
  constexpr double kMillisPerDay = 86'400'000.0;
  const int64_t now_ms = clock_->NowMillis();
  for (size_t f = 0; f < set.features.size(); ++f) {
    if (target[f] < 0) continue;
    const OnlineFeatureSet::Feature& feature = set.features[f];
    const std::vector<std::optional<OnlineRow>>& view_rows = scratch.rows[feature.view];
    for (size_t r = 0; r < rows; ++r) {
      Value& cell = out[r * stride + static_cast<size_t>(target[f])];
      const std::optional<OnlineRow>& row = view_rows[r];
      if (!row.has_value() || static_cast<size_t>(feature.index) >= row->values.size()) {
        cell = std::monostate{};
      } else if (feature.days_since) {
        const Value& stamp = row->values[feature.index];
        if (const int64_t* ms = std::get_if<int64_t>(&stamp)) {
          cell = static_cast<double>(now_ms - *ms) / kMillisPerDay;
        } else {
          cell = std::monostate{};
        }
      } else {
        cell = row->values[feature.index];
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace cairn::features
