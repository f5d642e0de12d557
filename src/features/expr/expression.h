#pragma once
// Row-level feature expressions: the language of FeatureSpec::expr and FeatureSpec::of,
// compiled once against the source schema (errors at `apply` time) and evaluated over
// columnar batches. docs/features/expressions.md is the user-facing reference.
//
// LANGUAGE
//   Literals    42 (int64), 1.5 .5 1e-3 2.5E+4 (double), 'text' or "text" (string; a
//               backslash escapes \\ \' \" \n \t \r, or double the quote: 'it''s'),
//               true, false, null.
//   Columns     by name: [A-Za-z_][A-Za-z0-9_]* (case-sensitive), or any name in
//               backquotes: `weird name`. A name followed by '(' is a function call.
//   Keywords    and or not true false null, case-insensitive; function names too.
//   Operators, loosest first:
//               or  |  and  |  not  |  = == != <> < <= > >= (do not chain)  |  + -  |
//               * / %  |  unary - +
//
// TYPES AND OPERATORS
//   int64 op int64 stays int64 (+ - * %), except `/`, which is always double (7 / 2 = 3.5).
//   int64 mixed with double → double. Integer arithmetic is checked: an int64 overflow
//   (including -INT64_MIN and abs(INT64_MIN)) gives null, never a wrapped value. Integer
//   `% 0` gives null; `%` takes the sign of the dividend. Double arithmetic is IEEE: x / 0.0
//   is ±inf, 0.0 / 0.0 is NaN, `%` on doubles is fmod.
//   `+` on two strings concatenates. timestamp - timestamp → int64 milliseconds;
//   timestamp ± int64 (ms) → timestamp; int64 + timestamp → timestamp.
//   Comparisons: numbers with numbers (int64 vs double compares as double), or two values
//   of the same type (strings bytewise, false < true, timestamps by time). → bool.
//   and / or / not take bools.
//
// NULLS
//   A null operand makes an operator's or function's result null, except:
//   - and / or / not follow SQL three-valued logic (false and null = false,
//     true or null = true, not null = null);
//   - coalesce(a, b, ...) returns the first non-null argument;
//   - if(cond, a, b) takes the else branch when cond is null;
//   - is_null(x) is true or false, never null.
//   A bare `null` takes the type its context needs (`null + 1` is an int64 null); an
//   expression that is null as a whole has type double.
//
// FUNCTIONS (x, y: numbers; int64 arguments of double functions are converted)
//   log(x)        natural log, double; null for x <= 0.
//   log1p(x)      log(1 + x), double; null for x <= -1.
//   exp(x)        double (overflow → inf).
//   sqrt(x)       double; null for x < 0.
//   NaN passes through log, log1p, exp and sqrt as NaN.
//   abs(x)        same type as x.
//   floor(x), ceil(x), round(x)   same type as x (an int64 is returned unchanged); round
//                 rounds half away from zero.
//   round(x, digits)  double, rounded to `digits` decimal places (negative: tens, hundreds).
//   pow(x, y)     double, IEEE pow (pow(-8, 1.0/3) is NaN).
//   clip(x, lo, hi)  max(lo, min(x, hi)) applied as min(max(x, lo), hi); int64 when all
//                 three are int64, else double.
//   least(a, ...), greatest(a, ...)  smallest / largest of numbers, strings, bools or
//                 timestamps; null if any argument is null.
//   coalesce(a, ...)  first non-null argument.
//   if(cond, a, b)    a where cond is true, else b (cond false or null).
//   is_null(x)    bool.
//   int64(x), double(x), string(x), bool(x), timestamp(x)   casts:
//     - from string: int64 parses a whole integer ("12"; "1.5" → null), double parses a
//       decimal number ("1.5", "1e3", "inf", "nan"), bool accepts true/false/1/0 (any case),
//       timestamp parses RFC 3339 or epoch milliseconds (cairn::ParseTimestamp); a failed
//       parse gives null.
//     - double → int64 / timestamp truncates toward zero; NaN and out-of-range give null.
//     - int64 ↔ timestamp reinterprets epoch milliseconds. bool → int64/double is 1 or 0;
//       number → bool is x != 0 (NaN → null). string(x) writes int64 in decimal, doubles in
//       the shortest form that reads back exactly ("0.1", "1e+300", "nan", "inf"),
//       bools as true/false, timestamps as FormatTimestamp ("2024-05-01T12:00:00.000Z";
//       null beyond ±8.64e15 ms, about ±275,760 years, which RFC 3339 cannot write).
//     - not allowed (compile error): bool(timestamp), timestamp(bool).
//   year(ts), month(ts), day(ts), hour(ts), minute(ts), second(ts), day_of_year(ts),
//   day_of_week(ts) (ISO: Monday = 1 … Sunday = 7)   int64 parts of a timestamp, in UTC.
//
// ERRORS
//   Compile returns InvalidArgument with the text and a 1-based character position:
//     expr 'log1p(amout)': position 7: unknown column 'amout' (did you mean 'amount'?)
//   for unknown columns and functions (with a suggestion when one is close), wrong arity,
//   type mismatches ("'+' cannot add string and double"), unterminated strings, unexpected
//   tokens, and expressions nested deeper than 128 levels or taller than 256 operators.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "features/table.h"
#include "features/types.h"

namespace cairn::features {

namespace expr {
struct Node;
}

// A compiled expression. Immutable; copies share the compiled tree; Evaluate is
// thread-safe.
class Expression {
 public:
  // Parses and type-checks `text` against `inputs` (column names and types).
  // InvalidArgument "expr 'log1p(amout)': position 7: unknown column 'amout' (did you
  // mean 'amount'?)" style errors: position is 1-based character offset.
  static absl::StatusOr<Expression> Compile(std::string_view text, const Schema& inputs);

  FeatureType result_type() const { return result_type_; }
  // The input columns the expression reads, each once, in order of first use.
  const std::vector<std::string>& referenced_columns() const { return columns_; }
  const std::string& text() const { return text_; }

  // Evaluates over every row of `input` (columns found by name; extra columns ignored).
  // Null propagates (SQL semantics) except in coalesce/if/is_null. Never throws; math
  // domain errors give null or NaN as documented above. The result has input.num_rows()
  // rows and type result_type(). InvalidArgument when a referenced column is missing from
  // `input` or has another type than the schema it was compiled against.
  absl::StatusOr<Column> Evaluate(const Table& input) const;

 private:
  Expression() = default;

  std::string text_;
  std::shared_ptr<const expr::Node> root_;
  std::vector<std::string> columns_;
  std::vector<FeatureType> column_types_;
  FeatureType result_type_ = FeatureType::kDouble;
};

}  // namespace cairn::features
