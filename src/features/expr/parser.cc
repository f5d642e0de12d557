#include "features/expr/parser.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "features/expr/lexer.h"

namespace cairn::features::expr {
namespace {

// Precedence, loosest first:  or;  and;  not;  comparisons (non-associative);  + -;
// * / %;  unary -;  primary.
class Parser {
 public:
  Parser(std::string_view source, std::vector<Token> tokens)
      : source_(source), tokens_(std::move(tokens)) {}

  absl::StatusOr<NodePtr> ParseAll() {
    if (Peek().kind == TokenKind::kEnd) return Error(Peek(), "empty expression");
    auto node = ParseOr();
    if (!node.ok()) return node;
    if (Peek().kind != TokenKind::kEnd) {
      return Error(Peek(), absl::StrCat("unexpected ", Describe(Peek()),
                                        " after a complete expression"));
    }
    return node;
  }

 private:
  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Take() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }

  absl::Status Error(const Token& at, std::string_view reason) const {
    return absl::InvalidArgumentError(
        absl::StrCat("position ", CharPosition(source_, at.offset), ": ", ToAbsl(reason)));
  }

  // Guards recursion: every nesting level of ParseUnaryish/ParsePrimary passes here.
  struct DepthGuard {
    explicit DepthGuard(int* d) : depth(d) { ++*depth; }
    ~DepthGuard() { --*depth; }
    int* depth;
  };

  absl::StatusOr<NodePtr> MakeOp(NodeKind kind, const Token& op_token, std::string op,
                                 NodePtr a, NodePtr b = nullptr) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->offset = op_token.offset;
    n->op = std::move(op);
    n->args.push_back(std::move(a));
    if (b) n->args.push_back(std::move(b));
    return CheckHeight(std::move(n));
  }

  absl::StatusOr<NodePtr> CheckHeight(NodePtr n) {
    for (const NodePtr& arg : n->args) n->height = std::max(n->height, arg->height + 1);
    if (n->height > kMaxHeight) {
      return Error(tokens_[pos_ > 0 ? pos_ - 1 : 0],
                   absl::StrCat("expression too large (more than ", kMaxHeight,
                                " nested operators or calls); split it into several features"));
    }
    return n;
  }

  absl::StatusOr<NodePtr> ParseOr() {
    auto left = ParseAnd();
    if (!left.ok()) return left;
    NodePtr node = std::move(*left);
    while (Peek().kind == TokenKind::kOr) {
      const Token op = Take();
      auto right = ParseAnd();
      if (!right.ok()) return right;
      auto made = MakeOp(NodeKind::kBinary, op, "or", std::move(node), std::move(*right));
      if (!made.ok()) return made;
      node = std::move(*made);
    }
    return node;
  }

  absl::StatusOr<NodePtr> ParseAnd() {
    auto left = ParseNot();
    if (!left.ok()) return left;
    NodePtr node = std::move(*left);
    while (Peek().kind == TokenKind::kAnd) {
      const Token op = Take();
      auto right = ParseNot();
      if (!right.ok()) return right;
      auto made = MakeOp(NodeKind::kBinary, op, "and", std::move(node), std::move(*right));
      if (!made.ok()) return made;
      node = std::move(*made);
    }
    return node;
  }

  absl::StatusOr<NodePtr> ParseNot() {
    if (Peek().kind != TokenKind::kNot) return ParseComparison();
    DepthGuard guard(&depth_);
    if (depth_ > kMaxDepth) return Error(Peek(), "expression nested too deeply");
    const Token op = Take();
    auto operand = ParseNot();
    if (!operand.ok()) return operand;
    return MakeOp(NodeKind::kUnary, op, "not", std::move(*operand));
  }

  static const char* ComparisonOp(TokenKind kind) {
    switch (kind) {
      case TokenKind::kEq: return "=";
      case TokenKind::kNe: return "!=";
      case TokenKind::kLt: return "<";
      case TokenKind::kLe: return "<=";
      case TokenKind::kGt: return ">";
      case TokenKind::kGe: return ">=";
      default: return nullptr;
    }
  }

  absl::StatusOr<NodePtr> ParseComparison() {
    auto left = ParseAdditive();
    if (!left.ok()) return left;
    const char* op = ComparisonOp(Peek().kind);
    if (op == nullptr) return left;
    const Token op_token = Take();
    auto right = ParseAdditive();
    if (!right.ok()) return right;
    if (ComparisonOp(Peek().kind) != nullptr) {
      return Error(Peek(), absl::StrCat("comparisons do not chain: '", ToAbsl(Peek().text),
                                        "' follows a comparison; combine them with 'and'"));
    }
    return MakeOp(NodeKind::kBinary, op_token, op, std::move(*left), std::move(*right));
  }

  absl::StatusOr<NodePtr> ParseAdditive() {
    auto left = ParseMultiplicative();
    if (!left.ok()) return left;
    NodePtr node = std::move(*left);
    while (Peek().kind == TokenKind::kPlus || Peek().kind == TokenKind::kMinus) {
      const Token op = Take();
      auto right = ParseMultiplicative();
      if (!right.ok()) return right;
      auto made = MakeOp(NodeKind::kBinary, op, op.text, std::move(node), std::move(*right));
      if (!made.ok()) return made;
      node = std::move(*made);
    }
    return node;
  }

  absl::StatusOr<NodePtr> ParseMultiplicative() {
    auto left = ParseUnary();
    if (!left.ok()) return left;
    NodePtr node = std::move(*left);
    while (Peek().kind == TokenKind::kStar || Peek().kind == TokenKind::kSlash ||
           Peek().kind == TokenKind::kPercent) {
      const Token op = Take();
      auto right = ParseUnary();
      if (!right.ok()) return right;
      auto made = MakeOp(NodeKind::kBinary, op, op.text, std::move(node), std::move(*right));
      if (!made.ok()) return made;
      node = std::move(*made);
    }
    return node;
  }

  absl::StatusOr<NodePtr> ParseUnary() {
    DepthGuard guard(&depth_);
    if (depth_ > kMaxDepth) return Error(Peek(), "expression nested too deeply");
    if (Peek().kind == TokenKind::kPlus) {
      Take();
      return ParseUnary();
    }
    if (Peek().kind != TokenKind::kMinus) return ParsePrimary();
    const Token op = Take();
    // -9223372036854775808 is a literal, not the negation of an out-of-range one.
    if (Peek().kind == TokenKind::kInt) {
      const Token lit = Take();
      auto n = IntLiteral(lit, /*negative=*/true, op.offset);
      if (!n.ok()) return n;
      return n;
    }
    auto operand = ParseUnary();
    if (!operand.ok()) return operand;
    return MakeOp(NodeKind::kUnary, op, "-", std::move(*operand));
  }

  absl::StatusOr<NodePtr> IntLiteral(const Token& tok, bool negative, size_t offset) {
    const std::string text = negative ? "-" + tok.text : tok.text;
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return Error(tok, absl::StrCat("integer ", text,
                                     " is out of the int64 range; write it as a double (",
                                     text, ".0)"));
    }
    auto n = std::make_unique<Node>();
    n->kind = NodeKind::kLiteral;
    n->offset = offset;
    n->value = v;
    return n;
  }

  absl::StatusOr<NodePtr> ParsePrimary() {
    const Token& tok = Peek();
    auto literal = [&](Value v) {
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::kLiteral;
      n->offset = tok.offset;
      n->value = std::move(v);
      Take();
      return n;
    };
    switch (tok.kind) {
      case TokenKind::kInt: {
        const Token t = Take();
        return IntLiteral(t, false, t.offset);
      }
      case TokenKind::kDouble: return literal(std::strtod(tok.text.c_str(), nullptr));
      case TokenKind::kString: return literal(tok.text);
      case TokenKind::kTrue: return literal(true);
      case TokenKind::kFalse: return literal(false);
      case TokenKind::kNull: return literal(std::monostate{});
      case TokenKind::kQuotedIdent: {
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kColumn;
        n->offset = tok.offset;
        n->name = Take().text;
        return n;
      }
      case TokenKind::kIdent: {
        const Token name = Take();
        auto n = std::make_unique<Node>();
        n->offset = name.offset;
        if (Peek().kind != TokenKind::kLParen) {
          n->kind = NodeKind::kColumn;
          n->name = name.text;
          return n;
        }
        n->kind = NodeKind::kCall;
        n->name = absl::AsciiStrToLower(ToAbsl(name.text));
        n->op = name.text;  // as written, for messages
        Take();  // (
        if (Peek().kind == TokenKind::kRParen) {
          Take();
          return n;
        }
        while (true) {
          auto arg = ParseOr();
          if (!arg.ok()) return arg;
          n->args.push_back(std::move(*arg));
          if (Peek().kind == TokenKind::kComma) {
            Take();
            continue;
          }
          if (Peek().kind == TokenKind::kRParen) {
            Take();
            return CheckHeight(std::move(n));
          }
          return Error(Peek(), absl::StrCat("expected ',' or ')' in the arguments of ",
                                            ToAbsl(name.text), "(, found ", Describe(Peek())));
        }
      }
      case TokenKind::kLParen: {
        const Token open = Take();
        auto inner = ParseOr();
        if (!inner.ok()) return inner;
        if (Peek().kind != TokenKind::kRParen) {
          return Error(Peek(), absl::StrCat("expected ')' to close the '(' at position ",
                                            CharPosition(source_, open.offset), ", found ",
                                            Describe(Peek())));
        }
        Take();
        return inner;
      }
      case TokenKind::kEnd: return Error(tok, "unexpected end of expression");
      default: return Error(tok, absl::StrCat("unexpected ", Describe(tok)));
    }
  }

  std::string_view source_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<NodePtr> Parse(std::string_view source) {
  auto tokens = Tokenize(source);
  if (!tokens.ok()) return tokens.status();
  Parser parser(source, std::move(*tokens));
  return parser.ParseAll();
}

}  // namespace cairn::features::expr
