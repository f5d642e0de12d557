#include "features/expr/expression.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace cairn::features {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
const Value N;  // null

Schema Inputs() {
  return {{"amount", FeatureType::kDouble, true}, {"n", FeatureType::kInt64, true},
          {"s", FeatureType::kString, true},      {"b", FeatureType::kBool, true},
          {"ts", FeatureType::kTimestamp, true},  {"weird name", FeatureType::kInt64, true}};
}

// Four rows; row 2 is null in every column.
//   ts: 2024-05-01T12:34:56.789Z (Wednesday), 1969-12-31T23:59:59.999Z (Wednesday), null,
//       2024-12-30T00:00:00Z (Monday).
Table Rows() {
  Table t = Table::FromSchema(Inputs());
  auto& c = t.columns;
  c[0].AppendDouble(20);      c[0].AppendDouble(-1);      c[0].AppendNull(); c[0].AppendDouble(0);
  c[1].AppendInt(3);          c[1].AppendInt(-7);         c[1].AppendNull(); c[1].AppendInt(0);
  c[2].AppendString("12");    c[2].AppendString("abc");   c[2].AppendNull(); c[2].AppendString("1.5");
  c[3].AppendBool(true);      c[3].AppendBool(false);     c[3].AppendNull(); c[3].AppendBool(true);
  c[4].AppendInt(1714566896789); c[4].AppendInt(-1);      c[4].AppendNull(); c[4].AppendInt(1735516800000);
  c[5].AppendInt(1);          c[5].AppendInt(2);          c[5].AppendNull(); c[5].AppendInt(3);
  return t;
}

struct Case {
  const char* text;
  FeatureType type;
  std::vector<Value> want;
};

std::string Show(const Value& v) {
  switch (v.index()) {
    case 0: return "null";
    case 1: return std::to_string(std::get<int64_t>(v));
    case 2: return std::to_string(std::get<double>(v));
    case 3: return "'" + std::get<std::string>(v) + "'";
    default: return std::get<bool>(v) ? "true" : "false";
  }
}

void RunCases(const std::vector<Case>& cases) {
  const Table rows = Rows();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto e = Expression::Compile(c.text, Inputs());
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(TypeName(e->result_type()), TypeName(c.type));
    auto out = e->Evaluate(rows);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->type, c.type);
    ASSERT_EQ(out->size(), rows.num_rows());
    for (size_t r = 0; r < c.want.size(); ++r) {
      const Value got = out->Get(r);
      if (auto* w = std::get_if<double>(&c.want[r]); w != nullptr && std::holds_alternative<double>(got)) {
        const double g = std::get<double>(got);
        if (std::isnan(*w)) {
          EXPECT_TRUE(std::isnan(g)) << "row " << r << ": " << g;
        } else if (std::isinf(*w)) {
          EXPECT_EQ(g, *w) << "row " << r;
        } else {
          EXPECT_NEAR(g, *w, 1e-12 * std::max(1.0, std::fabs(*w))) << "row " << r;
        }
        continue;
      }
      EXPECT_EQ(Show(got), Show(c.want[r])) << "row " << r;
    }
    // Null slots hold zero values (the Column contract).
    for (size_t r = 0; r < out->size(); ++r) {
      if (out->valid[r]) continue;
      if (out->type == FeatureType::kDouble) EXPECT_EQ(out->doubles[r], 0.0);
      else if (out->type == FeatureType::kString) EXPECT_EQ(out->strings[r], "");
      else EXPECT_EQ(out->ints[r], 0);
    }
  }
}

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
using I = int64_t;
using S = std::string;

TEST(Expression, Arithmetic) {
  RunCases({
      {"n + 1", FeatureType::kInt64, {I{4}, I{-6}, N, I{1}}},
      {"n - 1 * 2", FeatureType::kInt64, {I{1}, I{-9}, N, I{-2}}},
      {"n / 2", FeatureType::kDouble, {1.5, -3.5, N, 0.0}},
      {"n % 2", FeatureType::kInt64, {I{1}, I{-1}, N, I{0}}},
      {"n % 0", FeatureType::kInt64, {N, N, N, N}},
      {"n % -1", FeatureType::kInt64, {I{0}, I{0}, N, I{0}}},
      {"n / 0", FeatureType::kDouble, {kInf, -kInf, N, kNaN}},
      {"amount / 0.0", FeatureType::kDouble, {kInf, -kInf, N, kNaN}},
      {"amount % 3", FeatureType::kDouble, {2.0, -1.0, N, 0.0}},
      {"amount * 2 + n", FeatureType::kDouble, {43.0, -9.0, N, 0.0}},
      {"-n", FeatureType::kInt64, {I{-3}, I{7}, N, I{0}}},
      {"- -amount", FeatureType::kDouble, {20.0, -1.0, N, 0.0}},
      {"`weird name` * 10", FeatureType::kInt64, {I{10}, I{20}, N, I{30}}},
      {"s + '!'", FeatureType::kString, {S("12!"), S("abc!"), N, S("1.5!")}},
      {"'a' + \"b\"", FeatureType::kString, {S("ab"), S("ab"), S("ab"), S("ab")}},
      {"1 + 2 * 3", FeatureType::kInt64, {I{7}, I{7}, I{7}, I{7}}},
  });
}

TEST(Expression, Int64OverflowIsNullNotWrapped) {
  RunCases({
      {"n * 9223372036854775807", FeatureType::kInt64, {N, N, N, I{0}}},
      {"-9223372036854775808 - n", FeatureType::kInt64, {N, I{kMin + 7}, N, I{kMin}}},
      {"9223372036854775807 + n", FeatureType::kInt64, {N, I{kMax - 7}, N, I{kMax}}},
      {"-(n * 0 - 9223372036854775807 - 1)", FeatureType::kInt64, {N, N, N, N}},
      {"abs(n * 0 - 9223372036854775807 - 1)", FeatureType::kInt64, {N, N, N, N}},
      {"(n * 0 - 9223372036854775807 - 1) % -1", FeatureType::kInt64, {I{0}, I{0}, N, I{0}}},
  });
}

TEST(Expression, ComparisonsAndThreeValuedLogic) {
  RunCases({
      {"amount > 10", FeatureType::kBool, {true, false, N, false}},
      {"n = 3.0", FeatureType::kBool, {true, false, N, false}},
      {"n <> 3", FeatureType::kBool, {false, true, N, true}},
      {"s < 'b'", FeatureType::kBool, {true, true, N, true}},
      {"b == true", FeatureType::kBool, {true, false, N, true}},
      {"ts >= timestamp('2024-01-01')", FeatureType::kBool, {true, false, N, true}},
      {"b and null", FeatureType::kBool, {N, false, N, N}},
      {"b or null", FeatureType::kBool, {true, N, N, true}},
      {"null and false", FeatureType::kBool, {false, false, false, false}},
      {"not b", FeatureType::kBool, {false, true, N, false}},
      {"not null", FeatureType::kBool, {N, N, N, N}},
      {"amount > 0 and b or n < 0", FeatureType::kBool, {true, true, N, false}},
      {"null = null", FeatureType::kBool, {N, N, N, N}},
  });
}

TEST(Expression, MathFunctions) {
  RunCases({
      {"log(amount)", FeatureType::kDouble, {std::log(20.0), N, N, N}},
      {"log1p(amount)", FeatureType::kDouble, {std::log1p(20.0), N, N, 0.0}},
      {"log1p(amount + 0.5)", FeatureType::kDouble, {std::log1p(20.5), std::log1p(-0.5), N, std::log1p(0.5)}},
      {"sqrt(amount)", FeatureType::kDouble, {std::sqrt(20.0), N, N, 0.0}},
      {"exp(n)", FeatureType::kDouble, {std::exp(3.0), std::exp(-7.0), N, 1.0}},
      {"exp(1000)", FeatureType::kDouble, {kInf, kInf, kInf, kInf}},
      {"log(0.0 / 0.0)", FeatureType::kDouble, {kNaN, kNaN, kNaN, kNaN}},
      {"abs(n)", FeatureType::kInt64, {I{3}, I{7}, N, I{0}}},
      {"abs(amount)", FeatureType::kDouble, {20.0, 1.0, N, 0.0}},
      {"floor(n / 2)", FeatureType::kDouble, {1.0, -4.0, N, 0.0}},
      {"ceil(n / 2)", FeatureType::kDouble, {2.0, -3.0, N, 0.0}},
      {"round(n / 2)", FeatureType::kDouble, {2.0, -4.0, N, 0.0}},
      {"round(n)", FeatureType::kInt64, {I{3}, I{-7}, N, I{0}}},
      {"round(1234.5678, 2)", FeatureType::kDouble, {1234.57, 1234.57, 1234.57, 1234.57}},
      {"round(1234.5678, -2)", FeatureType::kDouble, {1200.0, 1200.0, 1200.0, 1200.0}},
      {"round(amount / 3, n)", FeatureType::kDouble, {6.667, 0.0, N, 0.0}},
      {"pow(n, 2)", FeatureType::kDouble, {9.0, 49.0, N, 0.0}},
      {"pow(-8, 1.0 / 3)", FeatureType::kDouble, {kNaN, kNaN, kNaN, kNaN}},
      {"clip(n, -5, 5)", FeatureType::kInt64, {I{3}, I{-5}, N, I{0}}},
      {"clip(amount, 0, 10)", FeatureType::kDouble, {10.0, 0.0, N, 0.0}},
      {"clip(n, null, 5)", FeatureType::kInt64, {N, N, N, N}},
      {"least(n, 1)", FeatureType::kInt64, {I{1}, I{-7}, N, I{0}}},
      {"greatest(amount, n, -3)", FeatureType::kDouble, {20.0, -1.0, N, 0.0}},
      {"least(s, 'b')", FeatureType::kString, {S("12"), S("abc"), N, S("1.5")}},
      {"greatest(s, 'b')", FeatureType::kString, {S("b"), S("b"), N, S("b")}},
  });
}

TEST(Expression, NullHandlingFunctions) {
  RunCases({
      {"coalesce(amount, n, 99)", FeatureType::kDouble, {20.0, -1.0, 99.0, 0.0}},
      {"coalesce(s, 'none')", FeatureType::kString, {S("12"), S("abc"), S("none"), S("1.5")}},
      {"if(b, 'y', 'n')", FeatureType::kString, {S("y"), S("n"), S("n"), S("y")}},
      {"if(amount > 10, 1, 0)", FeatureType::kInt64, {I{1}, I{0}, I{0}, I{0}}},
      {"if(b, amount, n)", FeatureType::kDouble, {20.0, -7.0, N, 0.0}},
      {"if(true, null, 1)", FeatureType::kInt64, {N, N, N, N}},
      {"is_null(amount)", FeatureType::kBool, {false, false, true, false}},
      {"is_null(null)", FeatureType::kBool, {true, true, true, true}},
      {"null", FeatureType::kDouble, {N, N, N, N}},
      {"null + 1", FeatureType::kInt64, {N, N, N, N}},
      // Regression (fuzz): the null became an int64 literal, then the int64 → double
      // conversion of '/' read its value as an int64.
      {"n / null", FeatureType::kDouble, {N, N, N, N}},
      {"amount + (null + 1)", FeatureType::kDouble, {N, N, N, N}},
      {"coalesce(null, null)", FeatureType::kDouble, {N, N, N, N}},
      {"log1p(amount) * 2 + if(amount > 10, 1, 0)", FeatureType::kDouble,
       {std::log1p(20.0) * 2 + 1, N, N, 0.0}},
  });
}

TEST(Expression, Casts) {
  RunCases({
      {"int64(s)", FeatureType::kInt64, {I{12}, N, N, N}},
      {"double(s)", FeatureType::kDouble, {12.0, N, N, 1.5}},
      {"bool(s)", FeatureType::kBool, {N, N, N, N}},
      {"bool(' TRUE ')", FeatureType::kBool, {true, true, true, true}},
      {"bool(amount)", FeatureType::kBool, {true, true, N, false}},
      {"int64(b) + double(b)", FeatureType::kDouble, {2.0, 0.0, N, 2.0}},
      {"string(amount)", FeatureType::kString, {S("20"), S("-1"), N, S("0")}},
      {"string(n / 2)", FeatureType::kString, {S("1.5"), S("-3.5"), N, S("0")}},
      {"string(0.1)", FeatureType::kString, {S("0.1"), S("0.1"), S("0.1"), S("0.1")}},
      {"string(n) + string(b)", FeatureType::kString, {S("3true"), S("-7false"), N, S("0true")}},
      {"string(ts)", FeatureType::kString,
       {S("2024-05-01T12:34:56.789Z"), S("1969-12-31T23:59:59.999Z"), N, S("2024-12-30T00:00:00.000Z")}},
      {"int64(-2.7)", FeatureType::kInt64, {I{-2}, I{-2}, I{-2}, I{-2}}},
      {"int64(1e300)", FeatureType::kInt64, {N, N, N, N}},
      {"int64(ts)", FeatureType::kInt64, {I{1714566896789}, I{-1}, N, I{1735516800000}}},
      {"timestamp(s)", FeatureType::kTimestamp, {I{12}, N, N, N}},
      {"timestamp('2024-05-01T00:00:00+02:00')", FeatureType::kTimestamp,
       {I{1714514400000}, I{1714514400000}, I{1714514400000}, I{1714514400000}}},
      {"timestamp(n)", FeatureType::kTimestamp, {I{3}, I{-7}, N, I{0}}},
  });
}

TEST(Expression, DatePartsAndDateArithmetic) {
  RunCases({
      {"year(ts)", FeatureType::kInt64, {I{2024}, I{1969}, N, I{2024}}},
      {"month(ts)", FeatureType::kInt64, {I{5}, I{12}, N, I{12}}},
      {"day(ts)", FeatureType::kInt64, {I{1}, I{31}, N, I{30}}},
      {"hour(ts)", FeatureType::kInt64, {I{12}, I{23}, N, I{0}}},
      {"minute(ts)", FeatureType::kInt64, {I{34}, I{59}, N, I{0}}},
      {"second(ts)", FeatureType::kInt64, {I{56}, I{59}, N, I{0}}},
      {"day_of_week(ts)", FeatureType::kInt64, {I{3}, I{3}, N, I{1}}},
      {"day_of_week(ts + 86400000 * 6)", FeatureType::kInt64, {I{2}, I{2}, N, I{7}}},
      {"day_of_year(ts)", FeatureType::kInt64, {I{122}, I{365}, N, I{365}}},
      {"ts - timestamp('2024-05-01')", FeatureType::kInt64, {I{45296789}, I{-1714521600001}, N, I{20995200000}}},
      {"ts + 211", FeatureType::kTimestamp, {I{1714566897000}, I{210}, N, I{1735516800211}}},
      {"1000 + ts - 1000", FeatureType::kTimestamp, {I{1714566896789}, I{-1}, N, I{1735516800000}}},
      {"ts + null", FeatureType::kTimestamp, {N, N, N, N}},
  });
}

TEST(Expression, ReportsTypeAndReferencedColumns) {
  auto e = Expression::Compile("log1p(amount) * n + amount + `weird name`", Inputs());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->result_type(), FeatureType::kDouble);
  EXPECT_EQ(e->referenced_columns(), (std::vector<std::string>{"amount", "n", "weird name"}));
  EXPECT_EQ(e->text(), "log1p(amount) * n + amount + `weird name`");
}

TEST(Expression, CompileErrorsNamePositionAndReason) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"log1p(amout)",
       "expr 'log1p(amout)': position 7: unknown column 'amout' (did you mean 'amount'?)"},
      {"Amount + 1", "expr 'Amount + 1': position 1: unknown column 'Amount' (did you mean 'amount'?)"},
      {"zzz", "expr 'zzz': position 1: unknown column 'zzz' (columns: amount, n, s, b, ts, weird name)"},
      {"lg(amount)", "expr 'lg(amount)': position 1: unknown function 'lg' (did you mean 'log'?)"},
      {"amount(1)", "expr 'amount(1)': position 1: unknown function 'amount' ('amount' is a column; a column is not called)"},
      {"clip(n, 1)", "expr 'clip(n, 1)': position 1: function 'clip' takes 3 arguments (clip(x, lo, hi)), got 2"},
      {"round()", "expr 'round()': position 1: function 'round' takes 1 to 2 arguments (round(x[, digits])), got 0"},
      {"coalesce()", "expr 'coalesce()': position 1: function 'coalesce' takes at least 1 argument (coalesce(a, b, ...)), got 0"},
      {"s + amount", "expr 's + amount': position 3: '+' cannot add string and double"},
      {"n * 'x'", "expr 'n * 'x'': position 3: '*' cannot multiply int64 and string"},
      {"b < 1", "expr 'b < 1': position 3: '<' cannot compare bool and int64"},
      {"ts + ts", "expr 'ts + ts': position 4: '+' cannot add timestamp and timestamp"},
      {"n and b", "expr 'n and b': position 3: 'and' needs bool operands, got int64 and bool"},
      {"not s", "expr 'not s': position 1: 'not' needs a bool operand, got string"},
      {"-s", "expr '-s': position 1: '-' cannot negate string"},
      {"log(s)", "expr 'log(s)': position 5: function 'log' needs a number for argument 1, got string"},
      {"if(n, 1, 2)", "expr 'if(n, 1, 2)': position 4: function 'if' needs a bool condition for argument 1, got int64"},
      {"coalesce(n, 'x')", "expr 'coalesce(n, 'x')': position 13: function 'coalesce' cannot mix int64 (argument 1) and string (argument 2)"},
      {"year(n)", "expr 'year(n)': position 6: function 'year' needs a timestamp (convert epoch milliseconds with timestamp(x)) for argument 1, got int64"},
      {"bool(ts)", "expr 'bool(ts)': position 1: function 'bool' cannot convert timestamp to bool"},
      {"round(amount, 1.5)", "expr 'round(amount, 1.5)': position 15: function 'round' needs an int64 number of digits for argument 2, got double"},
      {"amount + 'abc", "expr 'amount + 'abc': position 10: unterminated string (missing closing ')"},
      {"amount +", "expr 'amount +': position 9: unexpected end of expression"},
      {"amount )", "expr 'amount )': position 8: unexpected ')' after a complete expression"},
      {"", "expr '': position 1: empty expression"},
  };
  for (const auto& [text, message] : cases) {
    auto e = Expression::Compile(text, Inputs());
    ASSERT_FALSE(e.ok()) << text;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(std::string(e.status().message()), message);
  }
}

TEST(Expression, EvaluateChecksTheInputColumns) {
  auto e = Expression::Compile("amount + n", Inputs());
  ASSERT_TRUE(e.ok());
  Table missing;
  missing.AddColumn("amount", FeatureType::kDouble);
  auto out = e->Evaluate(missing);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(out.status().message()),
            "expr 'amount + n': the input has no column 'n'");

  Table wrong_type;
  wrong_type.AddColumn("n", FeatureType::kString);
  wrong_type.AddColumn("amount", FeatureType::kDouble);
  out = e->Evaluate(wrong_type);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(out.status().message()),
            "expr 'amount + n': column 'n' is string in the input but int64 in the schema the "
            "expression was compiled against");
}

TEST(Expression, ExtraColumnsAreIgnoredAndEmptyInputsWork) {
  auto e = Expression::Compile("n * 2", Inputs());
  ASSERT_TRUE(e.ok());
  Table t;
  t.AddColumn("other", FeatureType::kString);
  t.AddColumn("n", FeatureType::kInt64);
  auto out = e->Evaluate(t);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->size(), 0u);
  t.columns[0].AppendString("x");
  t.columns[1].AppendInt(21);
  out = e->Evaluate(t);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(std::get<int64_t>(out->Get(0)), 42);

  // A constant expression has as many rows as the input.
  auto constant = Expression::Compile("1 + 1", Inputs());
  ASSERT_TRUE(constant.ok());
  EXPECT_TRUE(constant->referenced_columns().empty());
  out = constant->Evaluate(Rows());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->size(), 4u);
  EXPECT_EQ(std::get<int64_t>(out->Get(3)), 2);
}

// Evaluate must not modify its input even though kernels reuse temporaries in place.
TEST(Expression, InputColumnsAreNotOverwritten) {
  const Table before = Rows();
  Table t = Rows();
  auto e = Expression::Compile("if(amount > 1, amount * 2, -amount) + abs(amount)", Inputs());
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(e->Evaluate(t).ok());
  EXPECT_EQ(t.columns[0].doubles, before.columns[0].doubles);
  EXPECT_EQ(t.columns[0].valid, before.columns[0].valid);
}

}  // namespace
}  // namespace cairn::features
