#include "features/expr/parser.h"

#include <string>

#include "features/expr/lexer.h"
#include "gtest/gtest.h"

namespace cairn::features::expr {
namespace {

// Prints a tree in prefix form, to assert precedence and associativity.
std::string Show(const Node& n) {
  switch (n.kind) {
    case NodeKind::kLiteral:
      switch (n.value.index()) {
        case 0: return "null";
        case 1: return std::to_string(std::get<int64_t>(n.value));
        case 2: return std::to_string(std::get<double>(n.value));
        case 3: return "'" + std::get<std::string>(n.value) + "'";
        default: return std::get<bool>(n.value) ? "true" : "false";
      }
    case NodeKind::kColumn: return n.name;
    default: {
      std::string out = "(" + (n.kind == NodeKind::kCall ? n.name : n.op);
      for (const NodePtr& a : n.args) out += " " + Show(*a);
      return out + ")";
    }
  }
}

std::string ShowParse(std::string_view text) {
  auto node = Parse(text);
  if (!node.ok()) return "error: " + std::string((*&node).status().message());
  return Show(**node);
}

TEST(Parser, Precedence) {
  EXPECT_EQ(ShowParse("a + b * c"), "(+ a (* b c))");
  EXPECT_EQ(ShowParse("a - b - c"), "(- (- a b) c)");
  EXPECT_EQ(ShowParse("-a * b"), "(* (- a) b)");
  EXPECT_EQ(ShowParse("a < b + 1 and not c or d"), "(or (and (< a (+ b 1)) (not c)) d)");
  EXPECT_EQ(ShowParse("not a = b"), "(not (= a b))");
  EXPECT_EQ(ShowParse("a == b"), "(= a b)");
  EXPECT_EQ(ShowParse("a <> b"), "(!= a b)");
  EXPECT_EQ(ShowParse("(a + b) % 3"), "(% (+ a b) 3)");
  EXPECT_EQ(ShowParse("IF(x > 1, 'y', \"z\")"), "(if (> x 1) 'y' 'z')");
  EXPECT_EQ(ShowParse("`weird name` + 1"), "(+ weird name 1)");
  EXPECT_EQ(ShowParse("f()"), "(f)");
}

TEST(Parser, Literals) {
  EXPECT_EQ(ShowParse("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(ShowParse("1.5e3"), std::to_string(1500.0));
  EXPECT_EQ(ShowParse(".5"), std::to_string(0.5));
  EXPECT_EQ(ShowParse("'it''s'"), "'it's'");
  EXPECT_EQ(ShowParse("'a\\'b'"), "'a'b'");
  EXPECT_EQ(ShowParse("TRUE and False or NULL"), "(or (and true false) null)");
}

TEST(Parser, ErrorsCarryPositionAndReason) {
  EXPECT_EQ(ShowParse("a + 'abc"), "error: position 5: unterminated string (missing closing ')");
  EXPECT_EQ(ShowParse("a + "), "error: position 5: unexpected end of expression");
  EXPECT_EQ(ShowParse("a b"), "error: position 3: unexpected name 'b' after a complete expression");
  EXPECT_EQ(ShowParse("(a + 1"), "error: position 7: expected ')' to close the '(' at position 1, found end of expression");
  EXPECT_EQ(ShowParse("f(a b)"), "error: position 5: expected ',' or ')' in the arguments of f(, found name 'b'");
  EXPECT_EQ(ShowParse("a $ b"), "error: position 3: unexpected character '$'");
  EXPECT_EQ(ShowParse("  "), "error: position 3: empty expression");
  EXPECT_EQ(ShowParse("a < b < c"), "error: position 7: comparisons do not chain: '<' follows a comparison; combine them with 'and'");
  EXPECT_EQ(ShowParse("99999999999999999999"), "error: position 1: integer 99999999999999999999 is out of the int64 range; write it as a double (99999999999999999999.0)");
  EXPECT_EQ(ShowParse("1x"), "error: position 2: unexpected character 'x' in number '1x'");
  EXPECT_EQ(ShowParse("`abc"), "error: position 1: unterminated backquoted name (missing closing `)");
  // Positions count characters, not bytes.
  EXPECT_EQ(ShowParse("'é' + )"), "error: position 7: unexpected ')'");
}

TEST(Parser, DeepNestingIsRejectedNotACrash) {
  EXPECT_NE(ShowParse(std::string(100000, '(')).find("nested too deeply"), std::string::npos);
  EXPECT_NE(ShowParse(std::string(100000, '-') + "1").find("nested too deeply"), std::string::npos);
  std::string chain = "1";
  for (int i = 0; i < 100000; ++i) chain += "+1";
  EXPECT_NE(ShowParse(chain).find("expression too large"), std::string::npos);
  std::string ok = "1";
  for (int i = 0; i < 200; ++i) ok += "+1";
  EXPECT_EQ(ShowParse(ok).find("error"), std::string::npos);
}

}  // namespace
}  // namespace cairn::features::expr
