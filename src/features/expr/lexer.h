#pragma once
// Tokens of the expression language (expression.h documents the language). Internal to
// features/expr.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::features::expr {

enum class TokenKind {
  kInt,         // 123 (text holds the digits)
  kDouble,      // 1.5, .5, 1e-3
  kString,      // 'a' or "a" (text holds the unescaped value)
  kIdent,       // name or `quoted name` (text holds the name)
  kQuotedIdent, // `quoted name`: always a column, never a keyword or function
  kLParen,
  kRParen,
  kComma,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
  kEq,  // = or ==
  kNe,  // != or <>
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
  kNot,
  kTrue,
  kFalse,
  kNull,
  kEnd,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;   // as written for operators; the value for literals and names
  size_t offset = 0;  // byte offset in the source
};

// How a token reads in an error message: "')'", "identifier 'foo'", "end of expression".
std::string Describe(const Token& token);

// 1-based character position (UTF-8 code points) of byte `offset` in `source`.
size_t CharPosition(std::string_view source, size_t offset);

// Splits `source` into tokens, ending with kEnd. Keywords (and, or, not, true, false,
// null) are case-insensitive. Errors (InvalidArgument, message "position N: reason"):
// unterminated string or backquoted name, unexpected character.
absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source);

}  // namespace cairn::features::expr
