#include "tracking/registry_search.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json.h"
#include "common/strings.h"

namespace cairn::tracking {
namespace {

enum class TokenKind { kWord, kString, kNumber, kOperator, kLParen, kRParen, kComma };

struct Token {
  TokenKind kind;
  std::string text;  // words/identifiers as written (quotes kept); strings unquoted
};

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

bool IsWordStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '`';
}
bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ||
         c == ':' || c == '/';
}

// Reads a quoted run starting at text[pos] (the quote), appending it with its quotes to
// `out`. Returns false when it is not terminated.
bool ReadQuoted(std::string_view text, size_t& pos, std::string& out, bool keep_quotes) {
  char quote = text[pos];
  size_t end = text.find(quote, pos + 1);
  if (end == std::string_view::npos) return false;
  if (keep_quotes)
    out.append(text.substr(pos, end - pos + 1));
  else
    out.append(text.substr(pos + 1, end - pos - 1));
  pos = end + 1;
  return true;
}

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view text) {
  std::vector<Token> tokens;
  size_t pos = 0;
  while (pos < text.size()) {
    char c = text[pos];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++pos;
      continue;
    }
    if (c == '(' || c == ')' || c == ',') {
      tokens.push_back({c == '(' ? TokenKind::kLParen
                        : c == ')' ? TokenKind::kRParen
                                   : TokenKind::kComma,
                        std::string(1, c)});
      ++pos;
      continue;
    }
    if (c == '\'' || c == '"') {
      Token token{TokenKind::kString, {}};
      if (!ReadQuoted(text, pos, token.text, /*keep_quotes=*/false))
        return Invalid(absl::StrCat("Invalid filter string: unterminated quote at position ",
                                    pos));
      tokens.push_back(std::move(token));
      continue;
    }
    if (c == '=' || c == '!' || c == '<' || c == '>') {
      std::string op(1, c);
      if (pos + 1 < text.size() && (text[pos + 1] == '=' || (c == '<' && text[pos + 1] == '>')))
        op.push_back(text[pos + 1]);
      if (op == "!") return Invalid("Invalid filter string: '!' must be followed by '='");
      if (op == "<>") op = "!=";
      pos += op.size() == 1 ? 1 : 2;
      tokens.push_back({TokenKind::kOperator, op});
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') {
      size_t start = pos++;
      while (pos < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[pos])) || text[pos] == '.'))
        ++pos;
      tokens.push_back({TokenKind::kNumber, std::string(text.substr(start, pos - start))});
      continue;
    }
    if (IsWordStart(c)) {
      Token token{TokenKind::kWord, {}};
      while (pos < text.size()) {
        char w = text[pos];
        if (w == '`' || ((w == '"') && !token.text.empty() && token.text.back() == '.')) {
          if (!ReadQuoted(text, pos, token.text, /*keep_quotes=*/true))
            return Invalid(absl::StrCat(
                "Invalid filter string: unterminated quote at position ", pos));
        } else if (IsWordChar(w)) {
          token.text.push_back(w);
          ++pos;
        } else {
          break;
        }
      }
      tokens.push_back(std::move(token));
      continue;
    }
    return Invalid(absl::StrCat("Invalid clause(s) in filter string: unexpected character '",
                                std::string(1, c), "' at position ", pos));
  }
  return tokens;
}

std::string Upper(std::string_view s) { return absl::AsciiStrToUpper(ToAbsl(s)); }

std::string StripQuotes(std::string_view key) {
  if (key.size() >= 2 && (key.front() == '`' || key.front() == '"') && key.back() == key.front())
    return std::string(key.substr(1, key.size() - 2));
  return std::string(key);
}

const std::set<std::string>& ValidAttributes(RegistrySearchTarget target) {
  static const std::set<std::string> kModels = {"name"};
  static const std::set<std::string> kVersions = {"name", "run_id", "source_path",
                                                  "version_number"};
  return target == RegistrySearchTarget::kRegisteredModels ? kModels : kVersions;
}

std::string SetRepr(const std::set<std::string>& keys) {
  std::vector<std::string> quoted;
  for (const auto& key : keys) quoted.push_back(absl::StrCat("'", key, "'"));
  return absl::StrCat("{", absl::StrJoin(quoted, ", "), "}");
}

}  // namespace

absl::StatusOr<std::vector<RegistryClause>> ParseRegistryFilter(std::string_view filter,
                                                                RegistrySearchTarget target) {
  std::vector<RegistryClause> clauses;
  auto tokens_or = Tokenize(filter);
  if (!tokens_or.ok()) return tokens_or.status();
  const std::vector<Token>& tokens = *tokens_or;
  const std::set<std::string>& valid = ValidAttributes(target);
  size_t idx = 0;
  auto invalid_clause = [&](size_t at) {
    std::string shown = at < tokens.size() ? tokens[at].text : std::string("end of filter");
    return Invalid(absl::StrCat("Invalid clause(s) in filter string: ", shown));
  };
  while (idx < tokens.size()) {
    // Identifier.
    if (tokens[idx].kind != TokenKind::kWord) return invalid_clause(idx);
    std::string identifier = tokens[idx].text;
    ++idx;
    RegistryClause clause;
    size_t dot = identifier.find('.');
    if (identifier.front() == '`' || dot == std::string::npos) {
      clause.key = StripQuotes(identifier);
    } else {
      std::string entity = identifier.substr(0, dot);
      std::string key = identifier.substr(dot + 1);
      if (entity != "attribute" && entity != "tag" && entity != "tags")
        return Invalid(absl::StrCat("Invalid entity type '", entity,
                                    "'. Valid entity types are ('attribute', 'tag', 'tags')"));
      clause.is_tag = entity != "attribute";
      clause.key = StripQuotes(key);
    }
    if (!clause.is_tag && !valid.count(clause.key))
      return Invalid(absl::StrCat("Invalid attribute key '", clause.key,
                                  "' specified. Valid keys are '", SetRepr(valid), "'"));
    // Comparator.
    if (idx >= tokens.size()) return invalid_clause(idx);
    if (tokens[idx].kind == TokenKind::kOperator) {
      clause.op = tokens[idx].text;
      ++idx;
    } else if (tokens[idx].kind == TokenKind::kWord) {
      std::string word = Upper(tokens[idx].text);
      if (word == "NOT" && idx + 1 < tokens.size() && Upper(tokens[idx + 1].text) == "IN") {
        clause.op = "NOT IN";
        idx += 2;
      } else if (word == "LIKE" || word == "ILIKE" || word == "IN") {
        clause.op = word;
        ++idx;
      } else {
        return invalid_clause(idx);
      }
    } else {
      return invalid_clause(idx);
    }
    // Comparator rules.
    const bool numeric_attr = !clause.is_tag && clause.key == "version_number";
    const bool list_op = clause.op == "IN" || clause.op == "NOT IN";
    if (clause.is_tag) {
      if (clause.op != "=" && clause.op != "!=" && clause.op != "LIKE" && clause.op != "ILIKE")
        return Invalid(absl::StrCat("Invalid comparator for tag: ", clause.op));
    } else if (numeric_attr) {
      if (clause.op == "LIKE" || clause.op == "ILIKE" || list_op)
        return Invalid(
            absl::StrCat("Invalid comparator for attribute ", clause.key, ": ", clause.op));
    } else {
      bool string_op = clause.op == "=" || clause.op == "!=" || clause.op == "LIKE" ||
                       clause.op == "ILIKE" || list_op;
      if (!string_op || (list_op && clause.key != "name" && clause.key != "run_id"))
        return Invalid(absl::StrCat("Invalid comparator for attribute: ", clause.op));
    }
    // Value.
    if (idx >= tokens.size()) return invalid_clause(idx);
    const Token& value = tokens[idx];
    if (list_op) {
      if (value.kind != TokenKind::kLParen)
        return Invalid(absl::StrCat(
            "While parsing a list in the query, expected a non-empty list of string values, "
            "but got ",
            value.text));
      ++idx;
      std::vector<std::string> items;
      while (true) {
        if (idx >= tokens.size() || tokens[idx].kind != TokenKind::kString)
          return Invalid(
              "While parsing a list in the query, expected a non-empty list of string values, "
              "but got ill-formed list.");
        items.push_back(tokens[idx].text);
        ++idx;
        if (idx < tokens.size() && tokens[idx].kind == TokenKind::kComma) {
          ++idx;
          continue;
        }
        if (idx < tokens.size() && tokens[idx].kind == TokenKind::kRParen) {
          ++idx;
          break;
        }
        return Invalid(
            "While parsing a list in the query, expected a non-empty list of string values, "
            "but got ill-formed list.");
      }
      clause.value = std::move(items);
    } else if (value.kind == TokenKind::kString) {
      if (numeric_attr) {
        int64_t number;
        if (!absl::SimpleAtoi(value.text, &number))
          return Invalid(absl::StrCat("Invalid value for numeric attribute '", clause.key,
                                      "': '", value.text, "'"));
        clause.value = number;
      } else {
        clause.value = value.text;
      }
      ++idx;
    } else if (value.kind == TokenKind::kNumber) {
      if (clause.is_tag)
        return Invalid(absl::StrCat(
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value ", value.text));
      if (!numeric_attr)
        return Invalid(
            "Expected a quoted string value or a list of quoted string values for attributes. "
            "Got value " +
            value.text);
      int64_t number;
      if (!absl::SimpleAtoi(value.text, &number))
        return Invalid(absl::StrCat("Invalid value for numeric attribute '", clause.key,
                                    "': ", value.text));
      clause.value = number;
      ++idx;
    } else {
      if (clause.is_tag)
        return Invalid(absl::StrCat(
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value ", value.text));
      return Invalid(
          "Expected a quoted string value or a list of quoted string values for attributes. "
          "Got value " +
          value.text);
    }
    clauses.push_back(std::move(clause));
    // AND or end.
    if (idx < tokens.size()) {
      if (tokens[idx].kind == TokenKind::kWord && Upper(tokens[idx].text) == "AND") {
        ++idx;
        if (idx >= tokens.size()) return invalid_clause(idx);
      } else if (tokens[idx].kind == TokenKind::kWord && Upper(tokens[idx].text) == "OR") {
        return Invalid(
            "Invalid clause(s) in filter string: OR. Only AND is supported to join clauses.");
      } else {
        return invalid_clause(idx);
      }
    }
  }
  return clauses;
}

absl::StatusOr<std::vector<RegistryOrderBy>> ParseRegistryOrderBy(
    const std::vector<std::string>& order_by, RegistrySearchTarget target) {
  std::set<std::string> valid = {"name", "creation_timestamp", "last_updated_timestamp"};
  if (target == RegistrySearchTarget::kModelVersions) valid.insert("version_number");
  // MLflow accepts `timestamp` as an alias of last_updated_timestamp for models.
  std::vector<RegistryOrderBy> out;
  std::set<std::string> seen;
  for (const std::string& raw : order_by) {
    std::vector<std::string> words;
    std::string current;
    for (char c : raw) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        if (!current.empty()) words.push_back(std::move(current));
        current.clear();
      } else {
        current.push_back(c);
      }
    }
    if (!current.empty()) words.push_back(std::move(current));
    if (words.empty() || words.size() > 2)
      return Invalid(
          absl::StrCat("Invalid order_by clause '", raw, "'. Could not be parsed."));
    RegistryOrderBy clause;
    if (words.size() == 2) {
      std::string direction = Upper(words[1]);
      if (direction != "ASC" && direction != "DESC")
        return Invalid(absl::StrCat("Invalid ordering key in order_by clause '", raw, "'."));
      clause.ascending = direction == "ASC";
    }
    std::string key = words[0];
    for (std::string_view prefix : {"attributes.", "attribute.", "attr."}) {
      if (key.rfind(prefix, 0) == 0) key = key.substr(prefix.size());
    }
    key = StripQuotes(key);
    if (target == RegistrySearchTarget::kRegisteredModels && key == "timestamp")
      key = "last_updated_timestamp";
    if (!valid.count(key))
      return Invalid(absl::StrCat("Invalid order by key '", key,
                                  "' specified. Valid keys are ", SetRepr(valid)));
    if (!seen.insert(key).second)
      return Invalid(absl::StrCat("`order_by` contains duplicate fields: ['",
                                  absl::StrJoin(order_by, "', '"), "']"));
    clause.key = key;
    out.push_back(std::move(clause));
  }
  return out;
}

bool RegistryLikeMatch(std::string_view value, std::string_view pattern,
                       bool case_insensitive) {
  auto fold = [case_insensitive](char c) {
    return case_insensitive ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
  };
  // Iterative wildcard matching with backtracking to the last '%'.
  size_t v = 0, p = 0;
  size_t star_p = std::string_view::npos, star_v = 0;
  while (v < value.size()) {
    if (p < pattern.size() && pattern[p] == '%') {
      star_p = p++;
      star_v = v;
    } else if (p < pattern.size() && (pattern[p] == '_' || fold(pattern[p]) == fold(value[v]))) {
      ++p;
      ++v;
    } else if (star_p != std::string_view::npos) {
      p = star_p + 1;
      v = ++star_v;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '%') ++p;
  return p == pattern.size();
}

bool MatchesStringClause(std::string_view lhs, const RegistryClause& clause) {
  if (const auto* list = std::get_if<std::vector<std::string>>(&clause.value)) {
    bool found = std::find(list->begin(), list->end(), lhs) != list->end();
    return clause.op == "IN" ? found : !found;
  }
  const std::string* value = std::get_if<std::string>(&clause.value);
  if (!value) return false;
  if (clause.op == "=") return lhs == *value;
  if (clause.op == "!=") return lhs != *value;
  if (clause.op == "LIKE") return RegistryLikeMatch(lhs, *value, false);
  if (clause.op == "ILIKE") return RegistryLikeMatch(lhs, *value, true);
  return false;
}

std::string EncodePageToken(int64_t offset) {
  return absl::Base64Escape(absl::StrCat("{\"offset\": ", offset, "}"));
}

absl::StatusOr<int64_t> DecodePageToken(std::string_view token) {
  if (token.empty()) return 0;
  std::string decoded;
  if (!absl::Base64Unescape(ToAbsl(token), &decoded))
    return Invalid("Invalid page token, could not base64-decode");
  auto parsed = ParseJson(decoded);
  if (!parsed.ok() || !parsed->is_object())
    return Invalid(absl::StrCat("Invalid page token, decoded value=", decoded));
  auto it = parsed->find("offset");
  if (it == parsed->end() || it->is_null())
    return Invalid(absl::StrCat("Invalid page token, parsed value=", decoded));
  int64_t offset = -1;
  if (it->is_number_integer()) {
    offset = it->get<int64_t>();
  } else if (it->is_string()) {
    if (!absl::SimpleAtoi(it->get<std::string>(), &offset)) offset = -1;
  }
  if (offset < 0)
    return Invalid(absl::StrCat("Invalid page token, offset is not a non-negative integer: ",
                                decoded));
  return offset;
}

}  // namespace cairn::tracking
