#include "features/expr/checker.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/did_you_mean.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/expr/lexer.h"

namespace cairn::features::expr {

const char* TypeName(Type type) {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kInt64: return "int64";
    case Type::kDouble: return "double";
    case Type::kString: return "string";
    case Type::kBool: return "bool";
    case Type::kTimestamp: return "timestamp";
  }
  return "?";
}

FeatureType ToFeatureType(Type type) {
  switch (type) {
    case Type::kInt64: return FeatureType::kInt64;
    case Type::kString: return FeatureType::kString;
    case Type::kBool: return FeatureType::kBool;
    case Type::kTimestamp: return FeatureType::kTimestamp;
    default: return FeatureType::kDouble;
  }
}

Type FromFeatureType(FeatureType type) {
  switch (type) {
    case FeatureType::kInt64: return Type::kInt64;
    case FeatureType::kString: return Type::kString;
    case FeatureType::kBool: return Type::kBool;
    case FeatureType::kTimestamp: return Type::kTimestamp;
    case FeatureType::kDouble: return Type::kDouble;
  }
  return Type::kDouble;
}

const std::vector<FunctionInfo>& Functions() {
  static const std::vector<FunctionInfo> kFunctions = {
      {"log", Fn::kLog, 1, 1, "log(x)"},
      {"log1p", Fn::kLog1p, 1, 1, "log1p(x)"},
      {"exp", Fn::kExp, 1, 1, "exp(x)"},
      {"sqrt", Fn::kSqrt, 1, 1, "sqrt(x)"},
      {"abs", Fn::kAbs, 1, 1, "abs(x)"},
      {"floor", Fn::kFloor, 1, 1, "floor(x)"},
      {"ceil", Fn::kCeil, 1, 1, "ceil(x)"},
      {"round", Fn::kRound, 1, 2, "round(x[, digits])"},
      {"pow", Fn::kPow, 2, 2, "pow(x, y)"},
      {"clip", Fn::kClip, 3, 3, "clip(x, lo, hi)"},
      {"least", Fn::kLeast, 1, -1, "least(a, b, ...)"},
      {"greatest", Fn::kGreatest, 1, -1, "greatest(a, b, ...)"},
      {"coalesce", Fn::kCoalesce, 1, -1, "coalesce(a, b, ...)"},
      {"if", Fn::kIf, 3, 3, "if(condition, then, else)"},
      {"is_null", Fn::kIsNull, 1, 1, "is_null(x)"},
      {"int64", Fn::kToInt64, 1, 1, "int64(x)"},
      {"double", Fn::kToDouble, 1, 1, "double(x)"},
      {"string", Fn::kToString, 1, 1, "string(x)"},
      {"bool", Fn::kToBool, 1, 1, "bool(x)"},
      {"timestamp", Fn::kToTimestamp, 1, 1, "timestamp(x)"},
      {"year", Fn::kYear, 1, 1, "year(ts)"},
      {"month", Fn::kMonth, 1, 1, "month(ts)"},
      {"day", Fn::kDay, 1, 1, "day(ts)"},
      {"hour", Fn::kHour, 1, 1, "hour(ts)"},
      {"minute", Fn::kMinute, 1, 1, "minute(ts)"},
      {"second", Fn::kSecond, 1, 1, "second(ts)"},
      {"day_of_week", Fn::kDayOfWeek, 1, 1, "day_of_week(ts)"},
      {"day_of_year", Fn::kDayOfYear, 1, 1, "day_of_year(ts)"},
  };
  return kFunctions;
}

std::string Suggest(std::string_view name, const std::vector<std::string>& candidates) {
  if (name.size() > 64) return "";  // keeps hostile input from costing O(n^2) per candidate
  const std::string lower = absl::AsciiStrToLower(ToAbsl(name));
  std::string best;
  size_t best_distance = std::max<size_t>(1, name.size() / 3) + 1;
  for (const std::string& c : candidates) {
    if (c.size() > 64) continue;
    const size_t d = EditDistance(lower, absl::AsciiStrToLower(c));
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

namespace {

bool IsNumeric(Type t) { return t == Type::kInt64 || t == Type::kDouble; }

class Checker {
 public:
  Checker(std::string_view source, const Schema& inputs, CheckResult* result)
      : source_(source), inputs_(inputs), result_(result) {}

  absl::Status Run(NodePtr& root) {
    absl::Status s = Visit(root);
    if (!s.ok()) return s;
    if (root->type == Type::kNull) Coerce(root, Type::kDouble);
    return absl::OkStatus();
  }

 private:
  absl::Status Error(const Node& at, std::string_view reason) const {
    return absl::InvalidArgumentError(
        absl::StrCat("position ", CharPosition(source_, at.offset), ": ", ToAbsl(reason)));
  }

  static NodePtr TypedNull(const Node& at, Type type) {
    auto n = std::make_unique<Node>();
    n->kind = NodeKind::kLiteral;
    n->offset = at.offset;
    n->type = type;
    return n;
  }

  // Gives `n` the type `target` if that needs no more than an implicit conversion (null →
  // anything, int64 → double). False otherwise; `n` is left unchanged then.
  static bool Coerce(NodePtr& n, Type target) {
    if (n->type == target) return true;
    if (n->type == Type::kNull) {
      n = TypedNull(*n, target);
      return true;
    }
    if (n->type == Type::kInt64 && target == Type::kDouble) {
      // if(c, 1, 0) as a double: convert the branches (constants fold), not the result.
      if (n->kind == NodeKind::kCall && Functions()[n->function].fn == Fn::kIf) {
        Coerce(n->args[1], Type::kDouble);
        Coerce(n->args[2], Type::kDouble);
        n->type = Type::kDouble;
        return true;
      }
      if (n->kind == NodeKind::kLiteral) {  // may be a typed null (`i / null`)
        if (!IsNull(n->value)) n->value = static_cast<double>(std::get<int64_t>(n->value));
        n->type = Type::kDouble;
        return true;
      }
      auto cast = std::make_unique<Node>();
      cast->kind = NodeKind::kCast;
      cast->offset = n->offset;
      cast->type = Type::kDouble;
      cast->height = n->height + 1;
      cast->args.push_back(std::move(n));
      n = std::move(cast);
      return true;
    }
    return false;
  }

  absl::Status Visit(NodePtr& n) {
    for (NodePtr& arg : n->args) {
      absl::Status s = Visit(arg);
      if (!s.ok()) return s;
    }
    switch (n->kind) {
      case NodeKind::kLiteral: return VisitLiteral(*n);
      case NodeKind::kColumn: return VisitColumn(*n);
      case NodeKind::kUnary: return VisitUnary(n);
      case NodeKind::kBinary: return VisitBinary(n);
      case NodeKind::kCall: return VisitCall(n);
      case NodeKind::kCast: return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  absl::Status VisitLiteral(Node& n) {
    switch (n.value.index()) {
      case 0: n.type = Type::kNull; break;
      case 1: n.type = Type::kInt64; break;
      case 2: n.type = Type::kDouble; break;
      case 3: n.type = Type::kString; break;
      case 4: n.type = Type::kBool; break;
    }
    return absl::OkStatus();
  }

  absl::Status VisitColumn(Node& n) {
    const int field = FindField(inputs_, n.name);
    if (field < 0) {
      std::vector<std::string> names;
      for (const Field& f : inputs_) names.push_back(f.name);
      const std::string guess = Suggest(n.name, names);
      std::string hint;
      if (!guess.empty()) {
        hint = absl::StrCat(" (did you mean '", guess, "'?)");
      } else if (names.empty()) {
        hint = " (the input has no columns)";
      } else if (names.size() <= 12) {
        hint = absl::StrCat(" (columns: ", absl::StrJoin(names, ", "), ")");
      }
      return Error(n, absl::StrCat("unknown column '", ToAbsl(n.name), "'", hint));
    }
    n.type = FromFeatureType(inputs_[field].type);
    auto it = std::find(result_->columns.begin(), result_->columns.end(), n.name);
    n.column = static_cast<int>(it - result_->columns.begin());
    if (it == result_->columns.end()) {
      result_->columns.push_back(n.name);
      result_->column_types.push_back(inputs_[field].type);
    }
    return absl::OkStatus();
  }

  absl::Status VisitUnary(NodePtr& n) {
    NodePtr& x = n->args[0];
    if (n->op == "not") {
      if (!Coerce(x, Type::kBool)) {
        return Error(*n, absl::StrCat("'not' needs a bool operand, got ", TypeName(x->type)));
      }
      n->type = Type::kBool;
      return absl::OkStatus();
    }
    if (x->type == Type::kNull) {
      n = TypedNull(*n, Type::kNull);
      return absl::OkStatus();
    }
    if (!IsNumeric(x->type)) {
      return Error(*n, absl::StrCat("'-' cannot negate ", TypeName(x->type)));
    }
    n->type = x->type;
    return absl::OkStatus();
  }

  static const char* Verb(std::string_view op) {
    if (op == "+") return "add";
    if (op == "-") return "subtract";
    if (op == "*") return "multiply";
    if (op == "/") return "divide";
    if (op == "%") return "take the remainder of";
    return "compare";
  }

  absl::Status Mismatch(const Node& n, Type a, Type b) const {
    return Error(n, absl::StrCat("'", ToAbsl(n.op), "' cannot ", Verb(n.op), " ", TypeName(a),
                                 " and ", TypeName(b)));
  }

  absl::Status VisitBinary(NodePtr& n) {
    NodePtr& a = n->args[0];
    NodePtr& b = n->args[1];
    const std::string& op = n->op;
    if (op == "and" || op == "or") {
      const Type at = a->type, bt = b->type;
      if (!Coerce(a, Type::kBool) || !Coerce(b, Type::kBool)) {
        return Error(*n, absl::StrCat("'", ToAbsl(op), "' needs bool operands, got ",
                                      TypeName(at), " and ", TypeName(bt)));
      }
      n->type = Type::kBool;
      return absl::OkStatus();
    }
    const bool comparison = op == "=" || op == "!=" || op == "<" || op == "<=" || op == ">" ||
                            op == ">=";
    if (a->type == Type::kNull && b->type == Type::kNull) {
      n = TypedNull(*n, comparison ? Type::kBool : Type::kNull);
      return absl::OkStatus();
    }
    // A null beside a timestamp in + or -: ts ± null is an int64 offset, null - ts a time.
    const bool plus_minus = op == "+" || op == "-";
    if (a->type == Type::kNull) {
      Coerce(a, plus_minus && b->type == Type::kTimestamp && op == "+" ? Type::kInt64 : b->type);
    }
    if (b->type == Type::kNull) {
      Coerce(b, plus_minus && a->type == Type::kTimestamp ? Type::kInt64 : a->type);
    }
    const Type at = a->type, bt = b->type;
    if (comparison) {
      if (IsNumeric(at) && IsNumeric(bt)) {
        if (at != bt) {
          Coerce(a, Type::kDouble);
          Coerce(b, Type::kDouble);
        }
      } else if (at != bt) {
        return Mismatch(*n, at, bt);
      }
      n->type = Type::kBool;
      return absl::OkStatus();
    }
    // Arithmetic.
    if (at == Type::kTimestamp || bt == Type::kTimestamp) {
      if (op == "+" && ((at == Type::kTimestamp && bt == Type::kInt64) ||
                        (at == Type::kInt64 && bt == Type::kTimestamp))) {
        n->type = Type::kTimestamp;
      } else if (op == "-" && at == Type::kTimestamp && bt == Type::kInt64) {
        n->type = Type::kTimestamp;
      } else if (op == "-" && at == Type::kTimestamp && bt == Type::kTimestamp) {
        n->type = Type::kInt64;
      } else {
        return Mismatch(*n, at, bt);
      }
      return absl::OkStatus();
    }
    if (op == "+" && at == Type::kString && bt == Type::kString) {
      n->type = Type::kString;
      return absl::OkStatus();
    }
    if (!IsNumeric(at) || !IsNumeric(bt)) return Mismatch(*n, at, bt);
    if (op == "/" || at == Type::kDouble || bt == Type::kDouble) {
      Coerce(a, Type::kDouble);
      Coerce(b, Type::kDouble);
      n->type = Type::kDouble;
    } else {
      n->type = Type::kInt64;
    }
    return absl::OkStatus();
  }

  absl::Status ArgError(const Node& call, size_t index, std::string_view want) const {
    return Error(*call.args[index],
                 absl::StrCat("function '", ToAbsl(call.name), "' needs ", ToAbsl(want),
                              " for argument ", index + 1, ", got ",
                              TypeName(call.args[index]->type)));
  }

  // Coerces argument `index` to `target`, or fails naming what was expected.
  absl::Status Want(Node& call, size_t index, Type target, std::string_view want) {
    if (Coerce(call.args[index], target)) return absl::OkStatus();
    return ArgError(call, index, want);
  }

  // One type for several arguments: all the same, or int64/double mixed (→ double). Nulls
  // take that type. kNull when every argument is null.
  absl::Status Unify(Node& call, size_t first, Type* out) {
    Type common = Type::kNull;
    size_t common_at = first;
    for (size_t i = first; i < call.args.size(); ++i) {
      const Type t = call.args[i]->type;
      if (t == Type::kNull || t == common) continue;
      if (common == Type::kNull) {
        common = t;
        common_at = i;
      } else if (IsNumeric(common) && IsNumeric(t)) {
        common = Type::kDouble;
      } else {
        return Error(*call.args[i],
                     absl::StrCat("function '", ToAbsl(call.name), "' cannot mix ",
                                  TypeName(common), " (argument ", common_at + 1, ") and ",
                                  TypeName(t), " (argument ", i + 1, ")"));
      }
    }
    if (common != Type::kNull) {
      for (size_t i = first; i < call.args.size(); ++i) Coerce(call.args[i], common);
    }
    *out = common;
    return absl::OkStatus();
  }

  absl::Status VisitCall(NodePtr& node) {
    Node& n = *node;
    const auto& functions = Functions();
    for (size_t i = 0; i < functions.size(); ++i) {
      if (n.name == functions[i].name) n.function = static_cast<int>(i);
    }
    if (n.function < 0) {
      std::vector<std::string> names;
      for (const FunctionInfo& f : functions) names.push_back(f.name);
      const std::string guess = Suggest(n.name, names);
      std::string hint = guess.empty() ? absl::StrCat(" (functions: ", absl::StrJoin(names, ", "), ")")
                                       : absl::StrCat(" (did you mean '", guess, "'?)");
      if (FindField(inputs_, n.op) >= 0) {
        hint = absl::StrCat(" ('", ToAbsl(n.op), "' is a column; a column is not called)");
      }
      return Error(n, absl::StrCat("unknown function '", ToAbsl(n.op), "'", hint));
    }
    const FunctionInfo& info = functions[n.function];
    const int argc = static_cast<int>(n.args.size());
    if (argc < info.min_args || (info.max_args >= 0 && argc > info.max_args)) {
      std::string takes;
      if (info.max_args < 0) takes = absl::StrCat("at least ", info.min_args, " argument",
                                                  info.min_args == 1 ? "" : "s");
      else if (info.min_args == info.max_args) takes = absl::StrCat(info.min_args, " argument",
                                                                    info.min_args == 1 ? "" : "s");
      else takes = absl::StrCat(info.min_args, " to ", info.max_args, " arguments");
      return Error(n, absl::StrCat("function '", ToAbsl(n.name), "' takes ", takes, " (",
                                   info.signature, "), got ", argc));
    }
    const Type x = n.args[0]->type;
    switch (info.fn) {
      case Fn::kLog: case Fn::kLog1p: case Fn::kExp: case Fn::kSqrt:
        if (x != Type::kNull && !IsNumeric(x)) return ArgError(n, 0, "a number");
        Coerce(n.args[0], Type::kDouble);
        n.type = Type::kDouble;
        return absl::OkStatus();
      case Fn::kPow:
        for (size_t i = 0; i < 2; ++i) {
          const Type t = n.args[i]->type;
          if (t != Type::kNull && !IsNumeric(t)) return ArgError(n, i, "a number");
          Coerce(n.args[i], Type::kDouble);
        }
        n.type = Type::kDouble;
        return absl::OkStatus();
      case Fn::kAbs: case Fn::kFloor: case Fn::kCeil: case Fn::kRound:
        if (x != Type::kNull && !IsNumeric(x)) return ArgError(n, 0, "a number");
        if (argc == 2) {
          const Type d = n.args[1]->type;
          if (!Coerce(n.args[1], Type::kInt64)) {
            (void)d;
            return ArgError(n, 1, "an int64 number of digits");
          }
          Coerce(n.args[0], Type::kDouble);
        } else if (x == Type::kNull) {
          Coerce(n.args[0], Type::kDouble);
        }
        n.type = n.args[0]->type;
        return absl::OkStatus();
      case Fn::kClip: {
        for (size_t i = 0; i < 3; ++i) {
          const Type t = n.args[i]->type;
          if (t != Type::kNull && !IsNumeric(t)) return ArgError(n, i, "a number");
        }
        Type t;
        CAIRN_RETURN_IF_ERROR(Unify(n, 0, &t));
        if (t == Type::kNull) {
          for (NodePtr& a : n.args) Coerce(a, Type::kDouble);
          t = Type::kDouble;
        }
        n.type = t;
        return absl::OkStatus();
      }
      case Fn::kLeast: case Fn::kGreatest: case Fn::kCoalesce: {
        Type t;
        CAIRN_RETURN_IF_ERROR(Unify(n, 0, &t));
        if (t == Type::kNull) {
          node = TypedNull(n, Type::kNull);
          return absl::OkStatus();
        }
        n.type = t;
        return absl::OkStatus();
      }
      case Fn::kIf: {
        CAIRN_RETURN_IF_ERROR(Want(n, 0, Type::kBool, "a bool condition"));
        Type t;
        CAIRN_RETURN_IF_ERROR(Unify(n, 1, &t));
        if (t == Type::kNull) {
          node = TypedNull(n, Type::kNull);
          return absl::OkStatus();
        }
        n.type = t;
        return absl::OkStatus();
      }
      case Fn::kIsNull:
        if (x == Type::kNull) Coerce(n.args[0], Type::kDouble);
        n.type = Type::kBool;
        return absl::OkStatus();
      case Fn::kToInt64: return Convert(n, Type::kInt64, true, true, true, true);
      case Fn::kToDouble: return Convert(n, Type::kDouble, true, true, true, true);
      case Fn::kToString: return Convert(n, Type::kString, true, true, true, true);
      case Fn::kToBool: return Convert(n, Type::kBool, true, true, true, false);
      case Fn::kToTimestamp: return Convert(n, Type::kTimestamp, true, true, false, true);
      default:  // date parts
        if (!Coerce(n.args[0], Type::kTimestamp)) {
          return ArgError(n, 0, x == Type::kInt64 ? "a timestamp (convert epoch milliseconds "
                                                    "with timestamp(x))"
                                                  : "a timestamp");
        }
        n.type = Type::kInt64;
        return absl::OkStatus();
    }
  }

  // A cast to `to`: from int64/double/string always; from bool and timestamp as allowed.
  absl::Status Convert(Node& n, Type to, bool from_numeric, bool from_string, bool from_bool,
                       bool from_timestamp) {
    const Type x = n.args[0]->type;
    const bool ok = x == to || x == Type::kNull || (IsNumeric(x) && from_numeric) ||
                    (x == Type::kString && from_string) || (x == Type::kBool && from_bool) ||
                    (x == Type::kTimestamp && from_timestamp);
    if (!ok) {
      return Error(n, absl::StrCat("function '", ToAbsl(n.name), "' cannot convert ",
                                   TypeName(x), " to ", TypeName(to)));
    }
    if (x == Type::kNull) Coerce(n.args[0], to);
    n.type = to;
    return absl::OkStatus();
  }

  std::string_view source_;
  const Schema& inputs_;
  CheckResult* result_;
};

}  // namespace

absl::Status Check(std::string_view source, const Schema& inputs, NodePtr& root,
                   CheckResult* result) {
  Checker checker(source, inputs, result);
  return checker.Run(root);
}

}  // namespace cairn::features::expr
