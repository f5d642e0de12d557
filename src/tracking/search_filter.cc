#include "tracking/search_filter.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::tracking {
namespace {

// A single left-to-right scanner over the filter text. Every loop advances `pos_`, so
// the parser is linear in the input length, and there is no recursion at all (IN lists
// are flat), so depth is trivially bounded.
//
// Quoted keys and string values keep their text verbatim between the outer quotes
// (the tokenizer accepts '' and \' inside '...', "" and \" inside "...", `` inside
// `...`), exactly as MLflow does: MLflow strips the outer quotes and never unescapes,
// so parity means the store sees the same value MLflow's store would see.

bool IsWordByte(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return std::isalnum(byte) || c == '_' || byte >= 0x80;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char AsciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t char_idx = 0; char_idx < a.size(); ++char_idx) {
    if (AsciiUpper(a[char_idx]) != AsciiUpper(b[char_idx])) return false;
  }
  return true;
}

// Error messages quote user text; cap it so a megabyte filter gives a short message.
std::string Excerpt(std::string_view text) {
  constexpr size_t kMaxExcerpt = 200;
  if (text.size() <= kMaxExcerpt) return std::string(text);
  return absl::StrCat(ToAbsl(text.substr(0, kMaxExcerpt)), "...");
}

absl::Status InvalidClause(std::string_view token) {
  return absl::InvalidArgumentError(
      absl::StrCat("Invalid clause(s) in filter string: '", Excerpt(token), "'"));
}

// What a dialect (runs, experiments, registered models, model versions) accepts.
struct DialectRules {
  // Entity-type spellings accepted before the first '.', with the entity they name.
  std::vector<std::pair<std::string_view, FilterEntity>> entity_names;
  std::string_view entity_names_display;
  std::vector<std::string_view> string_attributes;
  std::vector<std::string_view> numeric_attributes;
  std::vector<std::string_view> list_attributes;  // support IN / NOT IN
  std::vector<std::string_view> order_by_attributes;
  bool tags_allow_null = false;
  bool params_allow_null = false;
  bool bare_order_by_keys_only = false;  // registered models: "name DESC" only
};

const DialectRules& RulesFor(SearchDialect dialect) {
  static const DialectRules* const kRuns = new DialectRules{
      .entity_names = {{"metric", FilterEntity::kMetric},
                       {"metrics", FilterEntity::kMetric},
                       {"parameter", FilterEntity::kParam},
                       {"parameters", FilterEntity::kParam},
                       {"param", FilterEntity::kParam},
                       {"params", FilterEntity::kParam},
                       {"tag", FilterEntity::kTag},
                       {"tags", FilterEntity::kTag},
                       {"attribute", FilterEntity::kAttribute},
                       {"attributes", FilterEntity::kAttribute},
                       {"attr", FilterEntity::kAttribute},
                       {"run", FilterEntity::kAttribute},
                       {"dataset", FilterEntity::kDataset},
                       {"datasets", FilterEntity::kDataset}},
      .entity_names_display = "['metric', 'parameter', 'tag', 'attribute', 'dataset']",
      .string_attributes = {"run_id", "run_name", "status", "user_id", "artifact_uri",
                            "run name", "Run name", "Run Name"},
      .numeric_attributes = {"start_time", "end_time", "created", "Created"},
      .list_attributes = {"run_id"},
      .order_by_attributes = {"artifact_uri", "created", "Created", "end_time", "run_id",
                              "run_name", "start_time", "status", "user_id"},
      .tags_allow_null = true,
      .params_allow_null = true,
  };
  static const DialectRules* const kExperiments = new DialectRules{
      .entity_names = {{"attribute", FilterEntity::kAttribute},
                       {"tag", FilterEntity::kTag},
                       {"tags", FilterEntity::kTag}},
      .entity_names_display = "('attribute', 'tag', 'tags')",
      .string_attributes = {"name", "experiment_id"},
      .numeric_attributes = {"creation_time", "last_update_time"},
      .list_attributes = {"experiment_id"},
      .order_by_attributes = {"name", "experiment_id", "creation_time", "last_update_time"},
      .tags_allow_null = true,
  };
  static const DialectRules* const kRegisteredModels = new DialectRules{
      .entity_names = {{"attribute", FilterEntity::kAttribute},
                       {"tag", FilterEntity::kTag},
                       {"tags", FilterEntity::kTag}},
      .entity_names_display = "('attribute', 'tag', 'tags')",
      .string_attributes = {"name"},
      .numeric_attributes = {},
      .list_attributes = {"name"},
      .order_by_attributes = {"name", "creation_timestamp", "last_updated_timestamp"},
      .bare_order_by_keys_only = true,
  };
  static const DialectRules* const kModelVersions = new DialectRules{
      .entity_names = {{"attribute", FilterEntity::kAttribute},
                       {"tag", FilterEntity::kTag},
                       {"tags", FilterEntity::kTag}},
      .entity_names_display = "('attribute', 'tag', 'tags')",
      .string_attributes = {"name", "run_id", "source_path"},
      .numeric_attributes = {"version_number"},
      .list_attributes = {"name", "run_id"},
      .order_by_attributes = {"name", "version_number", "creation_timestamp",
                              "last_updated_timestamp"},
  };
  switch (dialect) {
    case SearchDialect::kExperiments:
      return *kExperiments;
    case SearchDialect::kRegisteredModels:
      return *kRegisteredModels;
    case SearchDialect::kModelVersions:
      return *kModelVersions;
    case SearchDialect::kRuns:
      break;
  }
  return *kRuns;
}

bool Contains(const std::vector<std::string_view>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string DisplaySet(const std::vector<std::string_view>& names) {
  std::vector<std::string> quoted;
  quoted.reserve(names.size());
  for (std::string_view name : names) quoted.push_back(absl::StrCat("'", ToAbsl(name), "'"));
  return absl::StrCat("{", absl::StrJoin(quoted, ", "), "}");
}

// MLflow's aliases (SearchUtils.translate_key_alias) resolved at parse time so that
// stores see one canonical attribute name.
std::string CanonicalAttribute(std::string_view key) {
  if (key == "created" || key == "Created") return "start_time";
  if (key == "run name" || key == "Run name" || key == "Run Name") return "run_name";
  return std::string(key);
}

const std::vector<std::string_view>& DatasetKeys() {
  static const auto* const kKeys = new std::vector<std::string_view>{"name", "digest", "context"};
  return *kKeys;
}

// An identifier as written: `entity.key`, or a bare attribute `key`.
struct RawIdentifier {
  std::optional<std::string_view> entity;  // absent for a bare name
  std::string_view key;                     // quotes removed
  std::string_view text;                    // as written, for messages
};

class Scanner {
 public:
  explicit Scanner(std::string_view input) : input_(input) {}

  void SkipSpace() {
    while (pos_ < input_.size() && IsSpace(input_[pos_])) ++pos_;
  }
  bool AtEnd() const { return pos_ >= input_.size(); }
  char Peek() const { return AtEnd() ? '\0' : input_[pos_]; }
  size_t pos() const { return pos_; }
  std::string_view Rest() const { return input_.substr(std::min(pos_, input_.size())); }

  // The next "token" as text, for error messages: a word, a quoted run, or one byte.
  std::string_view PeekTokenText() const {
    if (AtEnd()) return "";
    size_t end = pos_;
    if (IsWordByte(input_[end])) {
      while (end < input_.size() && (IsWordByte(input_[end]) || input_[end] == '.')) ++end;
    } else {
      ++end;
    }
    return input_.substr(pos_, end - pos_);
  }

  // A bare word ([A-Za-z0-9_] and UTF-8 bytes); empty if none.
  std::string_view ConsumeWord() {
    const size_t start = pos_;
    while (pos_ < input_.size() && IsWordByte(input_[pos_])) ++pos_;
    return input_.substr(start, pos_ - start);
  }

  // Consumes `keyword` (case-insensitive) when it is the next whole word.
  bool ConsumeKeyword(std::string_view keyword) {
    if (input_.size() - pos_ < keyword.size()) return false;
    if (!EqualsIgnoreCase(input_.substr(pos_, keyword.size()), keyword)) return false;
    const size_t after = pos_ + keyword.size();
    if (after < input_.size() && IsWordByte(input_[after])) return false;
    pos_ = after;
    return true;
  }

  // At an opening quote (', " or `): consumes the quoted run and returns its content
  // (verbatim, see above). Doubled quotes stay inside; for ' and " a backslash escapes
  // the next byte. Unterminated → nullopt and the position is unchanged.
  std::optional<std::string_view> ConsumeQuoted() {
    const char quote = Peek();
    size_t cursor = pos_ + 1;
    while (cursor < input_.size()) {
      const char c = input_[cursor];
      if (c == '\\' && quote != '`' && cursor + 1 < input_.size()) {
        cursor += 2;
      } else if (c == quote) {
        if (cursor + 1 < input_.size() && input_[cursor + 1] == quote) {
          cursor += 2;  // doubled quote
        } else {
          std::string_view content = input_.substr(pos_ + 1, cursor - pos_ - 1);
          pos_ = cursor + 1;
          return content;
        }
      } else {
        ++cursor;
      }
    }
    return std::nullopt;
  }

  // A number as MLflow's tokenizer reads one: -?(digits[.digits*] | .digits)
  // ([eE][+-]?digits)?, not followed by a word byte. Returns the text, or nullopt
  // (position unchanged) when there is no number here.
  std::optional<std::string_view> ConsumeNumber() {
    size_t cursor = pos_;
    if (cursor < input_.size() && input_[cursor] == '-') ++cursor;
    size_t int_digits = 0;
    while (cursor < input_.size() && std::isdigit(static_cast<unsigned char>(input_[cursor]))) {
      ++cursor;
      ++int_digits;
    }
    size_t frac_digits = 0;
    if (cursor < input_.size() && input_[cursor] == '.') {
      size_t frac = cursor + 1;
      while (frac < input_.size() && std::isdigit(static_cast<unsigned char>(input_[frac]))) {
        ++frac;
        ++frac_digits;
      }
      if (int_digits > 0 || frac_digits > 0) cursor = frac;
    }
    if (int_digits == 0 && frac_digits == 0) return std::nullopt;
    if (cursor < input_.size() && (input_[cursor] == 'e' || input_[cursor] == 'E')) {
      size_t exp = cursor + 1;
      if (exp < input_.size() && (input_[exp] == '+' || input_[exp] == '-')) ++exp;
      size_t exp_digits = 0;
      while (exp < input_.size() && std::isdigit(static_cast<unsigned char>(input_[exp]))) {
        ++exp;
        ++exp_digits;
      }
      if (exp_digits > 0) cursor = exp;
    }
    if (cursor < input_.size() && (IsWordByte(input_[cursor]) || input_[cursor] == '.')) {
      return std::nullopt;  // "1abc", "1e", "1.5.5": not a number token
    }
    std::string_view text = input_.substr(pos_, cursor - pos_);
    pos_ = cursor;
    return text;
  }

  void Advance(size_t count) { pos_ = std::min(input_.size(), pos_ + count); }
  bool StartsWith(std::string_view prefix) const {
    return input_.substr(std::min(pos_, input_.size())).substr(0, prefix.size()) == prefix;
  }
  std::string_view Slice(size_t start) const { return input_.substr(start, pos_ - start); }

 private:
  std::string_view input_;
  size_t pos_ = 0;
};

bool IsQuote(char c) { return c == '\'' || c == '"' || c == '`'; }

// identifier := part ['.' key]; part := word | quoted; key := quoted | [word.]+
absl::StatusOr<RawIdentifier> ParseIdentifier(Scanner& scanner) {
  const size_t start = scanner.pos();
  RawIdentifier ident;
  std::string_view first;
  if (IsQuote(scanner.Peek())) {
    std::optional<std::string_view> quoted = scanner.ConsumeQuoted();
    if (!quoted) return InvalidClause(scanner.Rest());
    first = *quoted;
  } else {
    first = scanner.ConsumeWord();
    if (first.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid clause(s) in filter string: '", Excerpt(scanner.PeekTokenText()),
          "'. Expected an identifier such as metrics.<key>, params.<key>, tags.<key> or "
          "attributes.<key>"));
    }
  }
  if (scanner.Peek() != '.') {
    ident.key = first;
    ident.text = scanner.Slice(start);
    return ident;
  }
  scanner.Advance(1);
  ident.entity = first;
  if (IsQuote(scanner.Peek())) {
    std::optional<std::string_view> quoted = scanner.ConsumeQuoted();
    if (!quoted) return InvalidClause(scanner.Rest());
    ident.key = *quoted;
  } else {
    const size_t key_start = scanner.pos();
    while (IsWordByte(scanner.Peek()) || scanner.Peek() == '.') {
      scanner.Advance(1);
    }
    ident.key = scanner.Slice(key_start);
    if (ident.key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid identifier '", Excerpt(scanner.Slice(start)),
          "': expected a key after the '.'; put names with special characters in double "
          "quotes or backticks, e.g. metrics.\"my metric\""));
    }
  }
  ident.text = scanner.Slice(start);
  return ident;
}

struct ResolvedKey {
  FilterEntity entity;
  std::string key;
  bool numeric = false;  // numeric attribute
  std::string_view raw_key;
};

absl::StatusOr<ResolvedKey> ResolveIdentifier(const RawIdentifier& ident,
                                              const DialectRules& rules,
                                              const std::vector<std::string_view>& attributes,
                                              bool allow_dataset) {
  ResolvedKey resolved{FilterEntity::kAttribute, "", false, ident.key};
  if (ident.entity.has_value()) {
    bool found = false;
    for (const auto& [name, entity] : rules.entity_names) {
      if (name == *ident.entity) {
        resolved.entity = entity;
        found = true;
        break;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat("Invalid entity type '", Excerpt(*ident.entity), "'. Valid values are ",
                       ToAbsl(rules.entity_names_display)));
    }
  }
  switch (resolved.entity) {
    case FilterEntity::kAttribute:
      if (!Contains(attributes, ident.key)) {
        return absl::InvalidArgumentError(absl::StrCat("Invalid attribute key '",
                                                       Excerpt(ident.key),
                                                       "' specified. Valid keys are '",
                                                       DisplaySet(attributes), "'"));
      }
      resolved.numeric = Contains(rules.numeric_attributes, ident.key);
      resolved.key = CanonicalAttribute(ident.key);
      break;
    case FilterEntity::kDataset:
      if (!allow_dataset) {
        return absl::InvalidArgumentError(
            absl::StrCat("Invalid order_by entity type 'dataset' in '", Excerpt(ident.text),
                         "'; order by metrics, params, tags or attributes"));
      }
      if (!Contains(DatasetKeys(), ident.key)) {
        return absl::InvalidArgumentError(
            absl::StrCat("Invalid dataset key '", Excerpt(ident.key),
                         "' specified. Valid keys are '", DisplaySet(DatasetKeys()), "'"));
      }
      resolved.key = std::string(ident.key);
      break;
    default:
      resolved.key = std::string(ident.key);
      break;
  }
  return resolved;
}

std::string_view EntityName(FilterEntity entity) {
  switch (entity) {
    case FilterEntity::kMetric:
      return "metric";
    case FilterEntity::kParam:
      return "parameter";
    case FilterEntity::kTag:
      return "tag";
    case FilterEntity::kAttribute:
      return "attribute";
    case FilterEntity::kDataset:
      return "dataset";
  }
  return "attribute";
}

// Reads the comparison operator after an identifier. Returns it upper-cased; "==",
// "<>" and "NOT LIKE" are read so that the error can name them.
absl::StatusOr<std::string> ParseOperator(Scanner& scanner, std::string_view ident_text) {
  static constexpr std::array<std::string_view, 8> kSymbolOps = {"==", "!=", "<>", ">=",
                                                                 "<=", "=",  ">",  "<"};
  for (std::string_view op : kSymbolOps) {
    if (scanner.StartsWith(op)) {
      scanner.Advance(op.size());
      return std::string(op);
    }
  }
  if (scanner.ConsumeKeyword("LIKE")) return std::string("LIKE");
  if (scanner.ConsumeKeyword("ILIKE")) return std::string("ILIKE");
  if (scanner.ConsumeKeyword("IN")) return std::string("IN");
  if (scanner.ConsumeKeyword("NOT")) {
    scanner.SkipSpace();
    if (scanner.ConsumeKeyword("IN")) return std::string("NOT IN");
    if (scanner.ConsumeKeyword("LIKE")) return std::string("NOT LIKE");
    if (scanner.ConsumeKeyword("ILIKE")) return std::string("NOT ILIKE");
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid clause(s) in filter string: '", Excerpt(ident_text),
                     "', 'NOT'. Expected 'NOT IN' after '", Excerpt(ident_text), "'"));
  }
  if (scanner.ConsumeKeyword("IS")) {
    scanner.SkipSpace();
    if (scanner.ConsumeKeyword("NULL")) return std::string("IS NULL");
    if (scanner.ConsumeKeyword("NOT")) {
      scanner.SkipSpace();
      if (scanner.ConsumeKeyword("NULL")) return std::string("IS NOT NULL");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid clause(s) in filter string: '", Excerpt(ident_text),
                     "', 'IS'. Expected 'IS NULL' or 'IS NOT NULL'"));
  }
  if (scanner.AtEnd()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid clause(s) in filter string: '", Excerpt(ident_text),
        "'. Expected a comparison operator (=, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, "
        "IS NULL, IS NOT NULL) after it"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "Invalid clause(s) in filter string: '", Excerpt(ident_text), "', '",
      Excerpt(scanner.PeekTokenText()),
      "'. Expected a comparison operator (=, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, "
      "IS NULL, IS NOT NULL)"));
}

// A value token after the operator.
struct RawValue {
  enum Kind { kString, kNumber, kList, kOther } kind = kOther;
  std::string_view text;              // string content, number text, or offending token
  std::vector<std::string> list;      // for kList
};

absl::StatusOr<RawValue> ParseValue(Scanner& scanner) {
  RawValue value;
  const char next = scanner.Peek();
  if (next == '\'' || next == '"') {
    std::optional<std::string_view> quoted = scanner.ConsumeQuoted();
    if (!quoted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid clause(s) in filter string: '", Excerpt(scanner.Rest()),
          "'. The string value has no closing quote"));
    }
    value.kind = RawValue::kString;
    value.text = *quoted;
    return value;
  }
  if (next == '(') {
    const size_t start = scanner.pos();
    scanner.Advance(1);
    bool expect_item = true;
    while (true) {
      scanner.SkipSpace();
      const char c = scanner.Peek();
      if (c == ')') {
        scanner.Advance(1);
        break;
      }
      if (scanner.AtEnd()) {
        return absl::InvalidArgumentError(
            absl::StrCat("Invalid clause(s) in filter string: '", Excerpt(scanner.Slice(start)),
                         "'. The list has no closing ')'"));
      }
      if (expect_item && (c == '\'' || c == '"')) {
        std::optional<std::string_view> quoted = scanner.ConsumeQuoted();
        if (!quoted) {
          return absl::InvalidArgumentError(absl::StrCat(
              "Invalid clause(s) in filter string: '", Excerpt(scanner.Rest()),
              "'. The string value has no closing quote"));
        }
        value.list.emplace_back(*quoted);
        expect_item = false;
        continue;
      }
      if (!expect_item && c == ',') {
        scanner.Advance(1);
        expect_item = true;
        continue;
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "While parsing a list in the query, expected a comma-separated list of quoted "
          "string values, but got '",
          Excerpt(scanner.PeekTokenText()), "' in ", Excerpt(scanner.Slice(start)), "..."));
    }
    if (value.list.empty()) {
      return absl::InvalidArgumentError(
          "While parsing a list in the query, expected a non-empty list of string values, "
          "but got empty list");
    }
    value.kind = RawValue::kList;
    value.text = scanner.Slice(start);
    return value;
  }
  if (std::optional<std::string_view> number = scanner.ConsumeNumber()) {
    value.kind = RawValue::kNumber;
    value.text = *number;
    return value;
  }
  if (scanner.AtEnd()) {
    return absl::InvalidArgumentError(
        "Invalid comparison clause: expected a value after the comparison operator, found "
        "the end of the filter");
  }
  // A bare word, "1abc", or punctuation: consume it so the message can name it.
  const size_t start = scanner.pos();
  if (IsWordByte(scanner.Peek()) || scanner.Peek() == '-' || scanner.Peek() == '.') {
    scanner.Advance(1);
    while (IsWordByte(scanner.Peek()) || scanner.Peek() == '.') scanner.Advance(1);
  } else {
    scanner.Advance(1);
  }
  value.kind = RawValue::kOther;
  value.text = scanner.Slice(start);
  return value;
}

std::optional<double> ToDouble(std::string_view text) {
  double parsed = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, parsed);
  if (ec == std::errc() && ptr == end) return parsed;
  if (ec == std::errc::result_out_of_range) {
    // Overflow → ±inf, underflow → 0, as Python's float() does.
    std::string copy(text);
    return std::strtod(copy.c_str(), nullptr);
  }
  return std::nullopt;
}

const std::vector<std::string_view>& NumericOps() {
  static const auto* const kOps = new std::vector<std::string_view>{"=", "!=", ">", ">=", "<", "<="};
  return *kOps;
}

std::string OpsDisplay(const std::vector<std::string_view>& ops) { return DisplaySet(ops); }

absl::Status BadComparator(std::string_view op, std::string_view what,
                           const std::vector<std::string_view>& valid) {
  return absl::InvalidArgumentError(absl::StrCat("Invalid comparator '", ToAbsl(op), "' for ",
                                                 ToAbsl(what), ": not one of '",
                                                 OpsDisplay(valid), "'"));
}

// Checks the operator and value for one clause against the dialect and builds it.
absl::StatusOr<FilterClause> BuildClause(const ResolvedKey& key, std::string op,
                                         const RawValue* value, const DialectRules& rules) {
  FilterClause clause{key.entity, key.key, op, std::monostate{}};
  const bool is_null_op = (op == "IS NULL" || op == "IS NOT NULL");
  const std::string what = absl::StrCat(ToAbsl(EntityName(key.entity)), " '",
                                        Excerpt(key.raw_key), "'");

  if (is_null_op) {
    const bool allowed = (key.entity == FilterEntity::kTag && rules.tags_allow_null) ||
                         (key.entity == FilterEntity::kParam && rules.params_allow_null);
    if (!allowed) {
      if (!rules.tags_allow_null) {
        return absl::InvalidArgumentError(
            absl::StrCat("IS NULL / IS NOT NULL is not supported in this search (", what, ")"));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "IS NULL / IS NOT NULL is only supported for ",
          rules.params_allow_null ? "tags and params" : "tags", ", not for ", what));
    }
    return clause;
  }

  const bool numeric = key.entity == FilterEntity::kMetric ||
                       (key.entity == FilterEntity::kAttribute && key.numeric);
  if (numeric) {
    if (!Contains(NumericOps(), op)) return BadComparator(op, what, NumericOps());
    if (value->kind != RawValue::kNumber) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Expected numeric value type for ", what, ". Found ",
          value->kind == RawValue::kString ? absl::StrCat("'", Excerpt(value->text), "'")
                                           : Excerpt(value->text)));
    }
    std::optional<double> number = ToDouble(value->text);
    if (!number) {
      return absl::InvalidArgumentError(absl::StrCat("Expected numeric value type for ", what,
                                                     ". Found ", Excerpt(value->text)));
    }
    clause.value = *number;
    return clause;
  }

  std::vector<std::string_view> valid_ops = {"=", "!=", "LIKE", "ILIKE"};
  bool list_allowed = false;
  if (key.entity == FilterEntity::kAttribute) {
    list_allowed = Contains(rules.list_attributes, key.raw_key);
    valid_ops.push_back("IN");
    valid_ops.push_back("NOT IN");
  } else if (key.entity == FilterEntity::kDataset) {
    list_allowed = true;
    valid_ops.push_back("IN");
    valid_ops.push_back("NOT IN");
  } else {
    if (key.entity == FilterEntity::kTag && rules.tags_allow_null) {
      valid_ops.push_back("IS NULL");
      valid_ops.push_back("IS NOT NULL");
    } else if (key.entity == FilterEntity::kParam && rules.params_allow_null) {
      valid_ops.push_back("IS NULL");
      valid_ops.push_back("IS NOT NULL");
    }
  }
  if (!Contains(valid_ops, op)) return BadComparator(op, what, valid_ops);

  const bool list_op = (op == "IN" || op == "NOT IN");
  if (list_op) {
    if (!list_allowed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Only ", DisplaySet(rules.list_attributes),
          " attributes support comparison with a list of quoted string values; got ", what));
    }
    if (value->kind != RawValue::kList) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Expected a parenthesised list of quoted string values after '", op, "' for ", what,
          ", e.g. ('a', 'b'). Got value ", Excerpt(value->text)));
    }
    clause.value = value->list;
    return clause;
  }
  if (value->kind != RawValue::kString) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Expected a quoted string value for ", what, " (e.g. 'my-value'). Got value ",
        Excerpt(value->text)));
  }
  clause.value = std::string(value->text);
  return clause;
}

absl::Status OrNotSupported() {
  return absl::InvalidArgumentError(
      "Invalid clause(s) in filter string: 'OR'. 'OR' is not supported: join clauses with "
      "AND only");
}

}  // namespace

absl::StatusOr<std::vector<FilterClause>> ParseSearchFilter(std::string_view filter,
                                                            SearchDialect dialect) {
  const DialectRules& rules = RulesFor(dialect);
  std::vector<std::string_view> attributes = rules.string_attributes;
  attributes.insert(attributes.end(), rules.numeric_attributes.begin(),
                    rules.numeric_attributes.end());

  std::vector<FilterClause> clauses;
  Scanner scanner(filter);
  scanner.SkipSpace();
  if (scanner.AtEnd()) return clauses;

  while (true) {
    scanner.SkipSpace();
    if (scanner.ConsumeKeyword("OR")) return OrNotSupported();
    if (scanner.ConsumeKeyword("AND")) {
      return absl::InvalidArgumentError(
          "Invalid clause(s) in filter string: 'AND'. Expected a clause before each AND");
    }
    if (scanner.Peek() == '(') {
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid clause(s) in filter string: '", Excerpt(scanner.Rest()),
          "'. Parentheses are not supported: write clauses joined by AND"));
    }
    CAIRN_ASSIGN_OR_RETURN(RawIdentifier ident, ParseIdentifier(scanner));
    scanner.SkipSpace();
    CAIRN_ASSIGN_OR_RETURN(std::string op, ParseOperator(scanner, ident.text));
    scanner.SkipSpace();
    std::optional<RawValue> value;
    if (op != "IS NULL" && op != "IS NOT NULL") {
      CAIRN_ASSIGN_OR_RETURN(value, ParseValue(scanner));
    }
    // Identifier first (MLflow reports a bad key before a bad operator), then the rest.
    CAIRN_ASSIGN_OR_RETURN(ResolvedKey key,
                           ResolveIdentifier(ident, rules, attributes, /*allow_dataset=*/true));
    CAIRN_ASSIGN_OR_RETURN(FilterClause clause,
                           BuildClause(key, std::move(op), value ? &*value : nullptr, rules));
    clauses.push_back(std::move(clause));

    scanner.SkipSpace();
    if (scanner.AtEnd()) break;
    if (scanner.ConsumeKeyword("AND")) {
      scanner.SkipSpace();
      if (scanner.AtEnd()) {
        return absl::InvalidArgumentError(
            "Invalid clause(s) in filter string: 'AND'. Expected a clause after the final AND");
      }
      continue;
    }
    if (scanner.ConsumeKeyword("OR")) return OrNotSupported();
    if (scanner.Peek() == ';') {
      return absl::InvalidArgumentError(absl::StrCat(
          "Search filter contained multiple expression '", Excerpt(filter),
          "'. Provide AND-ed expression list."));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid clause(s) in filter string: '", Excerpt(scanner.PeekTokenText()),
        "'. Expected AND between clauses"));
  }
  return clauses;
}

absl::StatusOr<std::vector<FilterClause>> ParseSearchFilter(std::string_view filter) {
  return ParseSearchFilter(filter, SearchDialect::kRuns);
}

absl::StatusOr<OrderByClause> ParseOrderBy(std::string_view clause, SearchDialect dialect) {
  const DialectRules& rules = RulesFor(dialect);
  Scanner scanner(clause);
  scanner.SkipSpace();
  if (scanner.AtEnd()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid order_by clause '", Excerpt(clause), "'. Could not be parsed."));
  }
  absl::StatusOr<RawIdentifier> ident = ParseIdentifier(scanner);
  if (!ident.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Invalid order_by clause '", Excerpt(clause),
                                                   "'. Could not be parsed."));
  }
  OrderByClause order;
  scanner.SkipSpace();
  if (!scanner.AtEnd()) {
    if (scanner.ConsumeKeyword("ASC")) {
      order.ascending = true;
    } else if (scanner.ConsumeKeyword("DESC")) {
      order.ascending = false;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid ordering key in order_by clause '", Excerpt(clause),
          "'. Expected ASC or DESC after the key, found '", Excerpt(scanner.PeekTokenText()),
          "'"));
    }
    scanner.SkipSpace();
    if (!scanner.AtEnd()) {
      return absl::InvalidArgumentError(absl::StrCat("Invalid order_by clause '",
                                                     Excerpt(clause),
                                                     "'. Could not be parsed."));
    }
  }
  if (rules.bare_order_by_keys_only) {
    if (ident->entity.has_value() || !Contains(rules.order_by_attributes, ident->key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Invalid order by key '", Excerpt(ident->text),
                       "' specified. Valid keys are '", DisplaySet(rules.order_by_attributes),
                       "'"));
    }
    order.entity = FilterEntity::kAttribute;
    order.key = std::string(ident->key);
    return order;
  }
  CAIRN_ASSIGN_OR_RETURN(ResolvedKey key, ResolveIdentifier(*ident, rules,
                                                            rules.order_by_attributes,
                                                            /*allow_dataset=*/false));
  order.entity = key.entity;
  order.key = std::move(key.key);
  return order;
}

absl::StatusOr<OrderByClause> ParseOrderBy(std::string_view clause) {
  return ParseOrderBy(clause, SearchDialect::kRuns);
}

bool LikeMatch(std::string_view value, std::string_view pattern, bool case_insensitive) {
  auto same = [case_insensitive](char a, char b) {
    return case_insensitive ? AsciiUpper(a) == AsciiUpper(b) : a == b;
  };
  // Greedy matching with a single backtrack point (the last '%'): O(|value|·|pattern|)
  // worst case, no recursion.
  size_t value_idx = 0;
  size_t pattern_idx = 0;
  size_t star_pattern_idx = std::string_view::npos;
  size_t star_value_idx = 0;
  while (value_idx < value.size()) {
    if (pattern_idx < pattern.size() && pattern[pattern_idx] == '%') {
      star_pattern_idx = pattern_idx++;
      star_value_idx = value_idx;
    } else if (pattern_idx < pattern.size() &&
               (pattern[pattern_idx] == '_' || same(pattern[pattern_idx], value[value_idx]))) {
      ++pattern_idx;
      ++value_idx;
    } else if (star_pattern_idx != std::string_view::npos) {
      pattern_idx = star_pattern_idx + 1;
      value_idx = ++star_value_idx;
    } else {
      return false;
    }
  }
  while (pattern_idx < pattern.size() && pattern[pattern_idx] == '%') ++pattern_idx;
  return pattern_idx == pattern.size();
}

}  // namespace cairn::tracking
