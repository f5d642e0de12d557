#include "monitoring/constraints.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::monitoring {
namespace {

constexpr size_t kMaxExamples = 3;

std::string Quoted(std::string_view label) {
  std::string shown(label.substr(0, 60));
  if (label.size() > 60) shown += "...";
  return absl::StrCat("'", shown, "'");
}

std::string Number(double v) { return absl::StrFormat("%.6g", v); }

std::string Share(int64_t part, int64_t whole) {
  return absl::StrFormat("%.4g%%", whole == 0 ? 0.0 : 100.0 * part / whole);
}

bool IsWhole(double v) {
  return std::fabs(v) >= 4503599627370496.0 || v == static_cast<double>(static_cast<int64_t>(v));
}

// Whether a label of a categorical column reads as a value of `type`.
bool LabelHasType(std::string_view label, InferredType type) {
  if (type == InferredType::kString || type == InferredType::kUnknown) return true;
  double v = 0;
  if (!absl::SimpleAtod(ToAbsl(label), &v) || !std::isfinite(v)) return false;
  return type == InferredType::kFractional || IsWhole(v);
}

// What one column of the new data looks like, from a frame or a profile.
struct Observation {
  int64_t rows = 0;
  int64_t non_null = 0;
  int64_t not_of_type = 0;
  std::vector<std::string> type_examples;
  bool has_numbers = false;  // lo / hi / negatives / outside are known
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  int64_t negatives = 0;
  int64_t outside = 0;
  int64_t unknown = 0;
  std::vector<std::string> unknown_examples;
};

void AddExample(std::vector<std::string>& examples, std::string text) {
  if (examples.size() < kMaxExamples &&
      std::find(examples.begin(), examples.end(), text) == examples.end()) {
    examples.push_back(std::move(text));
  }
}

struct DomainIndex {
  absl::flat_hash_set<std::string> labels;
  absl::flat_hash_set<double> numbers;  // the labels that read as numbers
};

DomainIndex IndexDomain(const FeatureConstraint& c) {
  DomainIndex index;
  for (const std::string& label : c.domain) {
    index.labels.insert(label);
    double v = 0;
    if (absl::SimpleAtod(label, &v)) index.numbers.insert(v);
  }
  return index;
}

bool OutOfRange(const FeatureConstraint& c, double v) {
  return (c.min.has_value() && v < *c.min) || (c.max.has_value() && v > *c.max);
}

// One numeric value (non-null) into the observation.
inline void ObserveNumber(const FeatureConstraint& c, const DomainIndex* domain, double v,
                          int64_t weight, Observation& o) {
  o.lo = std::min(o.lo, v);
  o.hi = std::max(o.hi, v);
  if (v < 0) o.negatives += weight;
  if (OutOfRange(c, v)) o.outside += weight;
  if (domain != nullptr && !domain->numbers.contains(v)) {
    o.unknown += weight;
    AddExample(o.unknown_examples, Number(v));
  }
}

Observation ObserveFrameColumn(const FeatureConstraint& c, const FrameColumn& col,
                               int64_t rows) {
  Observation o;
  o.rows = rows;
  DomainIndex domain_index;
  const DomainIndex* domain = nullptr;
  if (!c.domain.empty()) {
    domain_index = IndexDomain(c);
    domain = &domain_index;
  }
  if (!col.categorical) {
    const bool want_whole = c.inferred_type == InferredType::kIntegral;
    o.has_numbers = true;
    for (double v : col.numbers) {
      if (!std::isfinite(v)) continue;
      ++o.non_null;
      if (want_whole && !IsWhole(v)) {
        ++o.not_of_type;
        AddExample(o.type_examples, Number(v));
      }
      ObserveNumber(c, domain, v, 1, o);
    }
    return o;
  }
  std::vector<int64_t> counts(col.categories.size(), 0);
  for (int32_t code : col.codes) {
    if (code >= 0 && static_cast<size_t>(code) < counts.size()) ++counts[code];
  }
  const bool numeric_constraint = c.min.has_value() || c.max.has_value() || c.is_non_negative;
  for (size_t code = 0; code < counts.size(); ++code) {
    const int64_t n = counts[code];
    if (n == 0) continue;
    const std::string& label = col.categories[code];
    o.non_null += n;
    if (!LabelHasType(label, c.inferred_type)) {
      o.not_of_type += n;
      AddExample(o.type_examples, Quoted(label));
    }
    double v = 0;
    if (numeric_constraint && absl::SimpleAtod(label, &v) && std::isfinite(v)) {
      o.has_numbers = true;
      ObserveNumber(c, nullptr, v, n, o);
    }
    if (domain != nullptr && !domain->labels.contains(label)) {
      o.unknown += n;
      AddExample(o.unknown_examples, Quoted(label));
    }
  }
  return o;
}

Observation ObserveProfileColumn(const FeatureConstraint& c, const ColumnProfile& col) {
  Observation o;
  o.rows = col.rows();
  o.non_null = col.count();
  if (!col.categorical()) {
    if (c.inferred_type == InferredType::kIntegral && col.non_integral() > 0) {
      o.not_of_type = col.non_integral();
      AddExample(o.type_examples, "a value with a fractional part");
    }
    DomainIndex domain_index;
    const DomainIndex* domain = nullptr;
    if (!c.domain.empty()) {
      domain_index = IndexDomain(c);
      domain = &domain_index;
    }
    if (col.count() > 0) {
      o.has_numbers = true;
      for (const auto& [value, weight] : col.sketch().SortedItems())
        ObserveNumber(c, domain, value, weight, o);
      o.lo = col.min();
      o.hi = col.max();
      if (o.lo < 0 && o.negatives == 0) o.negatives = 1;  // the sketch may have dropped it
      if (OutOfRange(c, o.lo) || OutOfRange(c, o.hi)) o.outside = std::max<int64_t>(o.outside, 1);
    }
    return o;
  }
  absl::flat_hash_set<std::string> domain(c.domain.begin(), c.domain.end());
  int64_t in_domain = 0;
  int64_t held = 0;
  const bool numeric_constraint = c.min.has_value() || c.max.has_value() || c.is_non_negative;
  for (const LabelCount& e : col.categories().Sorted()) {
    held += e.count;
    if (!LabelHasType(e.label, c.inferred_type)) {
      o.not_of_type += e.count;
      AddExample(o.type_examples, Quoted(e.label));
    }
    double v = 0;
    if (numeric_constraint && absl::SimpleAtod(e.label, &v) && std::isfinite(v)) {
      o.has_numbers = true;
      ObserveNumber(c, nullptr, v, e.count, o);
    }
    if (domain.contains(e.label)) {
      in_domain += e.count;
    } else {
      AddExample(o.unknown_examples, Quoted(e.label));
    }
  }
  if (!c.domain.empty()) o.unknown = col.count() - in_domain;  // unheld labels count as unknown
  (void)held;
  return o;
}

void Judge(const FeatureConstraint& c, const ConstraintsConfig& config, const Observation& o,
           std::vector<Violation>& out) {
  const std::string column = absl::StrCat("column '", c.name, "'");
  auto add = [&](const char* check, std::string description) {
    out.push_back({c.name, check, std::move(description)});
  };
  if (o.non_null > 0 && o.not_of_type > 0 &&
      static_cast<double>(o.non_null - o.not_of_type) / o.non_null <
          config.datatype_check_threshold) {
    add("data_type_check",
        absl::StrCat(column, ": ", o.not_of_type, " of ", o.non_null, " non-null values (",
                     Share(o.not_of_type, o.non_null), ") are not ",
                     ToAbsl(InferredTypeName(c.inferred_type)), ", e.g. ",
                     absl::StrJoin(o.type_examples, ", "), "; the baseline type is ",
                     ToAbsl(InferredTypeName(c.inferred_type)), " and datatype_check_threshold is ",
                     Number(config.datatype_check_threshold)));
  }
  const double completeness =
      o.rows == 0 ? 1.0 : static_cast<double>(o.non_null) / static_cast<double>(o.rows);
  if (completeness < c.completeness) {
    add("completeness_check",
        absl::StrCat(column, ": completeness ", Number(completeness), " (", o.rows - o.non_null,
                     " of ", o.rows, " values missing) is below the baseline's ",
                     Number(c.completeness)));
  }
  if (o.has_numbers) {
    // One range_check per column: the sign, then the range.
    std::vector<std::string> parts;
    if (c.is_non_negative.value_or(false) && o.negatives > 0) {
      parts.push_back(absl::StrCat(o.negatives, " negative value", o.negatives == 1 ? "" : "s",
                                   " (min ", Number(o.lo), "), but the baseline is non-negative"));
    }
    if ((c.min.has_value() || c.max.has_value()) && o.non_null > 0 && o.outside > 0 &&
        static_cast<double>(o.outside) / o.non_null > config.out_of_range_threshold) {
      parts.push_back(absl::StrCat(
          o.outside, " of ", o.non_null, " values (", Share(o.outside, o.non_null),
          ") are outside the baseline range [", c.min ? Number(*c.min) : "-inf", ", ",
          c.max ? Number(*c.max) : "inf", "] (observed min ", Number(o.lo), ", max ",
          Number(o.hi), "); out_of_range_threshold is ", Number(config.out_of_range_threshold)));
    }
    if (!parts.empty()) add("range_check", absl::StrCat(column, ": ", absl::StrJoin(parts, "; ")));
  }
  if (!c.domain.empty() && o.non_null > 0 && o.unknown > 0 &&
      static_cast<double>(o.non_null - o.unknown) / o.non_null < config.domain_content_threshold) {
    add("categorical_values_check",
        absl::StrCat(column, ": ", o.unknown, " of ", o.non_null, " values (",
                     Share(o.unknown, o.non_null), ") are not in the baseline domain of ",
                     c.domain.size(), " label", c.domain.size() == 1 ? "" : "s", ", e.g. ",
                     absl::StrJoin(o.unknown_examples, ", "),
                     "; domain_content_threshold is ", Number(config.domain_content_threshold)));
  }
}

absl::Status CheckConfig(const ConstraintsConfig& config) {
  for (auto [name, value] : {std::pair{"datatype_check_threshold", config.datatype_check_threshold},
                             std::pair{"domain_content_threshold", config.domain_content_threshold},
                             std::pair{"out_of_range_threshold", config.out_of_range_threshold}}) {
    if (!(value >= 0.0 && value <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat("monitoring_config.", name,
                                                     ": must be a number from 0 to 1, got ",
                                                     Number(value)));
    }
  }
  return absl::OkStatus();
}

Violation Missing(const FeatureConstraint& c) {
  return {c.name, "missing_column_check",
          absl::StrCat("column '", c.name, "' is in the baseline constraints (",
                       ToAbsl(InferredTypeName(c.inferred_type)), ") but not in the data")};
}

Violation Extra(const std::string& name) {
  return {name, "extra_column_check",
          absl::StrCat("column '", name,
                       "' is in the data but not in the baseline constraints; add it to "
                       "the baseline or set check_extra_columns to false")};
}

}  // namespace

Constraints InferConstraints(const DataProfile& reference, const InferOptions& options) {
  Constraints out;
  for (const ColumnProfile& col : reference.columns()) {
    FeatureConstraint c;
    c.name = col.name();
    c.inferred_type = col.type();
    c.completeness = col.completeness();
    if (!col.categorical() && col.count() > 0) {
      c.is_non_negative = col.min() >= 0;
      c.min = col.min();
      c.max = col.max();
    }
    if (col.categorical() && col.categories().exact() && col.count() > 0 &&
        col.categories().size() <= static_cast<size_t>(options.max_domain_size)) {
      for (const LabelCount& e : col.categories().Sorted()) c.domain.push_back(e.label);
      std::sort(c.domain.begin(), c.domain.end());
    }
    out.features.push_back(std::move(c));
  }
  return out;
}

Json ConstraintsToJson(const Constraints& constraints) {
  Json features = Json::array();
  for (const FeatureConstraint& c : constraints.features) {
    Json f = {{"name", c.name},
              {"inferred_type", std::string(ToAbsl(InferredTypeName(c.inferred_type)))},
              {"completeness", c.completeness}};
    if (c.is_non_negative || c.min || c.max) {
      Json num = Json::object();
      if (c.is_non_negative) num["is_non_negative"] = *c.is_non_negative;
      if (c.min) num["min"] = *c.min;
      if (c.max) num["max"] = *c.max;
      f["num_constraints"] = std::move(num);
    }
    if (!c.domain.empty()) f["string_constraints"] = {{"domains", c.domain}};
    features.push_back(std::move(f));
  }
  const ConstraintsConfig& cfg = constraints.config;
  return Json{{"version", 0.0},
              {"features", std::move(features)},
              {"monitoring_config",
               {{"evaluate_constraints", "Enabled"},
                {"datatype_check_threshold", cfg.datatype_check_threshold},
                {"domain_content_threshold", cfg.domain_content_threshold},
                {"out_of_range_threshold", cfg.out_of_range_threshold},
                {"check_extra_columns", cfg.check_extra_columns}}}};
}

absl::StatusOr<Constraints> ConstraintsFromJson(const Json& json) {
  auto bad = [](const std::string& field, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("constraints: ", field, ": ", what));
  };
  if (!json.is_object()) return bad("(top level)", "must be an object {features, monitoring_config}");
  Constraints out;
  auto features = json.find("features");
  if (features == json.end() || !features->is_array())
    return bad("features", "must be an array");
  for (size_t i = 0; i < features->size(); ++i) {
    const Json& f = (*features)[i];
    const std::string at = absl::StrCat("features[", i, "]");
    if (!f.is_object()) return bad(at, "must be an object");
    FeatureConstraint c;
    auto name = f.find("name");
    if (name == f.end() || !name->is_string() || name->get<std::string>().empty())
      return bad(at + ".name", "must be a non-empty string");
    c.name = name->get<std::string>();
    for (const FeatureConstraint& other : out.features) {
      if (other.name == c.name) return bad(at + ".name", absl::StrCat("'", c.name, "' appears twice"));
    }
    auto type = f.find("inferred_type");
    std::optional<InferredType> parsed;
    if (type != f.end() && type->is_string()) parsed = ParseInferredType(type->get<std::string>());
    if (!parsed) {
      return bad(at + ".inferred_type",
                 absl::StrCat("must be Integral, Fractional, String or Unknown, got ",
                              type == f.end() ? "nothing" : type->dump()));
    }
    c.inferred_type = *parsed;
    auto completeness = f.find("completeness");
    if (completeness != f.end()) {
      if (!completeness->is_number() || completeness->get<double>() < 0 ||
          completeness->get<double>() > 1) {
        return bad(at + ".completeness",
                   absl::StrCat("must be a number from 0 to 1, got ", completeness->dump()));
      }
      c.completeness = completeness->get<double>();
    }
    auto num = f.find("num_constraints");
    if (num != f.end() && !num->is_null()) {
      if (!num->is_object()) return bad(at + ".num_constraints", "must be an object");
      auto nn = num->find("is_non_negative");
      if (nn != num->end()) {
        if (!nn->is_boolean()) return bad(at + ".num_constraints.is_non_negative", "must be true or false");
        c.is_non_negative = nn->get<bool>();
      }
      for (auto [key, field] : {std::pair{"min", &c.min}, std::pair{"max", &c.max}}) {
        auto it = num->find(key);
        if (it == num->end() || it->is_null()) continue;
        if (!it->is_number())
          return bad(absl::StrCat(at, ".num_constraints.", key), absl::StrCat("must be a number, got ", it->dump()));
        *field = it->get<double>();
      }
      if (c.min && c.max && *c.min > *c.max)
        return bad(at + ".num_constraints", absl::StrCat("min ", Number(*c.min), " is above max ", Number(*c.max)));
    }
    auto str = f.find("string_constraints");
    if (str != f.end() && !str->is_null()) {
      auto domains = str->is_object() ? str->find("domains") : str->end();
      if (!str->is_object() || domains == str->end() || !domains->is_array())
        return bad(at + ".string_constraints", "must be an object {domains: [labels]}");
      for (const Json& label : *domains) {
        if (!label.is_string())
          return bad(at + ".string_constraints.domains", absl::StrCat("labels must be strings, got ", label.dump()));
        c.domain.push_back(label.get<std::string>());
      }
    }
    out.features.push_back(std::move(c));
  }
  auto config = json.find("monitoring_config");
  if (config != json.end() && !config->is_null()) {
    if (!config->is_object()) return bad("monitoring_config", "must be an object");
    for (auto [key, field] : {std::pair{"datatype_check_threshold", &out.config.datatype_check_threshold},
                              std::pair{"domain_content_threshold", &out.config.domain_content_threshold},
                              std::pair{"out_of_range_threshold", &out.config.out_of_range_threshold}}) {
      auto it = config->find(key);
      if (it == config->end()) continue;
      if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1)
        return bad(absl::StrCat("monitoring_config.", key), absl::StrCat("must be a number from 0 to 1, got ", it->dump()));
      *field = it->get<double>();
    }
    auto extra = config->find("check_extra_columns");
    if (extra != config->end()) {
      if (!extra->is_boolean()) return bad("monitoring_config.check_extra_columns", "must be true or false");
      out.config.check_extra_columns = extra->get<bool>();
    }
  }
  return out;
}

absl::StatusOr<std::vector<Violation>> CheckConstraints(const Constraints& constraints,
                                                        const DataFrame& data) {
  CAIRN_RETURN_IF_ERROR(CheckConfig(constraints.config));
  absl::flat_hash_map<std::string, const FrameColumn*> by_name;
  for (const FrameColumn& col : data.columns) by_name.emplace(col.name, &col);
  std::vector<Violation> out;
  absl::flat_hash_set<std::string> constrained;
  for (const FeatureConstraint& c : constraints.features) {
    constrained.insert(c.name);
    auto it = by_name.find(c.name);
    if (it == by_name.end()) {
      out.push_back(Missing(c));
      continue;
    }
    Judge(c, constraints.config, ObserveFrameColumn(c, *it->second, data.rows), out);
  }
  if (constraints.config.check_extra_columns) {
    for (const FrameColumn& col : data.columns) {
      if (!constrained.contains(col.name)) out.push_back(Extra(col.name));
    }
  }
  return out;
}

absl::StatusOr<std::vector<Violation>> CheckConstraintsOnProfile(const Constraints& constraints,
                                                                 const DataProfile& profile) {
  CAIRN_RETURN_IF_ERROR(CheckConfig(constraints.config));
  std::vector<Violation> out;
  absl::flat_hash_set<std::string> constrained;
  for (const FeatureConstraint& c : constraints.features) {
    constrained.insert(c.name);
    const ColumnProfile* col = profile.Find(c.name);
    if (col == nullptr) {
      out.push_back(Missing(c));
      continue;
    }
    Judge(c, constraints.config, ObserveProfileColumn(c, *col), out);
  }
  if (constraints.config.check_extra_columns) {
    for (const ColumnProfile& col : profile.columns()) {
      if (!constrained.contains(col.name())) out.push_back(Extra(col.name()));
    }
  }
  return out;
}

Json ViolationsToJson(const std::vector<Violation>& violations) {
  Json list = Json::array();
  for (const Violation& v : violations) {
    list.push_back({{"feature_name", v.feature_name},
                    {"constraint_check_type", v.constraint_check_type},
                    {"description", v.description}});
  }
  return Json{{"violations", std::move(list)}};
}

}  // namespace cairn::monitoring
