#include "features/expr/lexer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace cairn::features::expr {
namespace {

bool IsIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsIdentChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

absl::Status ErrorAt(std::string_view source, size_t offset, std::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat("position ", CharPosition(source, offset), ": ", ToAbsl(reason)));
}

}  // namespace

size_t CharPosition(std::string_view source, size_t offset) {
  size_t pos = 1;
  for (size_t i = 0; i < offset && i < source.size(); ++i) {
    if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) ++pos;
  }
  return pos;  // offset == size (end of expression): one past the last character
}

std::string Describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::kEnd: return "end of expression";
    case TokenKind::kInt:
    case TokenKind::kDouble: return absl::StrCat("number ", ToAbsl(token.text));
    case TokenKind::kString: return absl::StrCat("string '", ToAbsl(token.text), "'");
    case TokenKind::kIdent: return absl::StrCat("name '", ToAbsl(token.text), "'");
    case TokenKind::kQuotedIdent: return absl::StrCat("name `", ToAbsl(token.text), "`");
    default: return absl::StrCat("'", ToAbsl(token.text), "'");
  }
}

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view src) {
  std::vector<Token> out;
  size_t i = 0;
  auto add = [&](TokenKind kind, size_t start, size_t len) {
    out.push_back(Token{kind, std::string(src.substr(start, len)), start});
    i = start + len;
  };
  while (i < src.size()) {
    const char c = src[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    const size_t start = i;
    const char next = i + 1 < src.size() ? src[i + 1] : '\0';
    if (IsDigit(c) || (c == '.' && IsDigit(next))) {
      size_t j = i;
      bool is_double = false;
      while (j < src.size() && IsDigit(src[j])) ++j;
      if (j < src.size() && src[j] == '.') {
        is_double = true;
        ++j;
        while (j < src.size() && IsDigit(src[j])) ++j;
      }
      if (j < src.size() && (src[j] == 'e' || src[j] == 'E')) {
        size_t k = j + 1;
        if (k < src.size() && (src[k] == '+' || src[k] == '-')) ++k;
        if (k < src.size() && IsDigit(src[k])) {
          is_double = true;
          j = k;
          while (j < src.size() && IsDigit(src[j])) ++j;
        }
      }
      if (j < src.size() && IsIdentChar(src[j])) {
        return ErrorAt(src, j, absl::StrCat("unexpected character '", ToAbsl(src.substr(j, 1)),
                                            "' in number '",
                                            ToAbsl(src.substr(start, j + 1 - start)), "'"));
      }
      add(is_double ? TokenKind::kDouble : TokenKind::kInt, start, j - start);
      continue;
    }
    if (IsIdentStart(c)) {
      size_t j = i;
      while (j < src.size() && IsIdentChar(src[j])) ++j;
      const std::string word = absl::AsciiStrToLower(ToAbsl(src.substr(start, j - start)));
      TokenKind kind = TokenKind::kIdent;
      if (word == "and") kind = TokenKind::kAnd;
      else if (word == "or") kind = TokenKind::kOr;
      else if (word == "not") kind = TokenKind::kNot;
      else if (word == "true") kind = TokenKind::kTrue;
      else if (word == "false") kind = TokenKind::kFalse;
      else if (word == "null") kind = TokenKind::kNull;
      add(kind, start, j - start);
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') {
      // Backslash escapes \\ \' \" \` \n \t \r, or the quote doubled ('it''s').
      std::string value;
      size_t j = i + 1;
      bool closed = false;
      while (j < src.size()) {
        const char d = src[j];
        if (d == c) {
          if (j + 1 < src.size() && src[j + 1] == c) {
            value.push_back(c);
            j += 2;
            continue;
          }
          closed = true;
          ++j;
          break;
        }
        if (d == '\\' && j + 1 < src.size()) {
          const char e = src[j + 1];
          value.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
          j += 2;
          continue;
        }
        value.push_back(d);
        ++j;
      }
      if (!closed) {
        return ErrorAt(src, start,
                       c == '`' ? "unterminated backquoted name (missing closing `)"
                                : absl::StrCat("unterminated string (missing closing ",
                                               std::string(1, c), ")"));
      }
      if (c == '`' && value.empty()) return ErrorAt(src, start, "empty backquoted name ``");
      out.push_back(Token{c == '`' ? TokenKind::kQuotedIdent : TokenKind::kString,
                          std::move(value), start});
      i = j;
      continue;
    }
    auto two = [&](char a, char b) { return c == a && next == b; };
    if (two('=', '=')) add(TokenKind::kEq, start, 2);
    else if (two('!', '=')) add(TokenKind::kNe, start, 2);
    else if (two('<', '>')) add(TokenKind::kNe, start, 2);
    else if (two('<', '=')) add(TokenKind::kLe, start, 2);
    else if (two('>', '=')) add(TokenKind::kGe, start, 2);
    else if (c == '=') add(TokenKind::kEq, start, 1);
    else if (c == '<') add(TokenKind::kLt, start, 1);
    else if (c == '>') add(TokenKind::kGt, start, 1);
    else if (c == '(') add(TokenKind::kLParen, start, 1);
    else if (c == ')') add(TokenKind::kRParen, start, 1);
    else if (c == ',') add(TokenKind::kComma, start, 1);
    else if (c == '+') add(TokenKind::kPlus, start, 1);
    else if (c == '-') add(TokenKind::kMinus, start, 1);
    else if (c == '*') add(TokenKind::kStar, start, 1);
    else if (c == '/') add(TokenKind::kSlash, start, 1);
    else if (c == '%') add(TokenKind::kPercent, start, 1);
    else {
      // Show the whole UTF-8 sequence of a non-ASCII character.
      size_t len = 1;
      while (start + len < src.size() &&
             (static_cast<unsigned char>(src[start + len]) & 0xC0) == 0x80 && len < 4) {
        ++len;
      }
      return ErrorAt(src, start, absl::StrCat("unexpected character '",
                                              ToAbsl(src.substr(start, len)), "'"));
    }
  }
  out.push_back(Token{TokenKind::kEnd, "", src.size()});
  return out;
}

}  // namespace cairn::features::expr
