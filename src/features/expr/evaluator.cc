#include "features/expr/evaluator.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "features/expr/checker.h"

namespace cairn::features::expr {
namespace {

// A node's value: a column owned here, or an input column borrowed as is. A scalar (from a
// literal, or computed only from literals) has one row that stands for every row, so
// constants are never broadcast into full columns on the hot paths.
struct Vec {
  Column own;
  const Column* ref = nullptr;
  bool scalar = false;
  const Column& get() const { return ref != nullptr ? *ref : own; }
  Column Take() && { return ref != nullptr ? *ref : std::move(own); }
  // An owned full-length temporary whose buffers a kernel may overwrite with its result.
  bool Reusable(bool double_data) const {
    return ref == nullptr && !scalar && own.type != FeatureType::kString &&
           (own.type == FeatureType::kDouble) == double_data;
  }
};

// Calls body(sa, sb) with std::true_type / std::false_type for "operand is a scalar", so
// each combination compiles to its own loop (the all-column one vectorizes).
template <class Body>
void Dispatch2(bool a_scalar, bool b_scalar, Body body) {
  if (a_scalar && b_scalar) body(std::true_type{}, std::true_type{});
  else if (a_scalar) body(std::true_type{}, std::false_type{});
  else if (b_scalar) body(std::false_type{}, std::true_type{});
  else body(std::false_type{}, std::false_type{});
}

// An n-row column of `type`; data zeroed, every row null until a kernel fills it.
Column Make(Type type, size_t n) {
  Column c(ToFeatureType(type));
  switch (c.type) {
    case FeatureType::kDouble: c.doubles.resize(n); break;
    case FeatureType::kString: c.strings.resize(n); break;
    default: c.ints.resize(n); break;
  }
  c.valid.resize(n);
  return c;
}

Vec Own(Column c, bool scalar = false) {
  Vec v;
  v.own = std::move(c);
  v.scalar = scalar;
  return v;
}

constexpr int64_t kMsPerDay = 86400000;
constexpr int64_t kMaxFormattableMs = 8640000000000000;  // ECMAScript's Date range

// The double → int64 conversions that are exact in range: [-2^63, 2^63).
bool DoubleToInt(double d, int64_t* out) {
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;  // NaN too
  *out = static_cast<int64_t>(d);
  return true;
}

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  return std::string(buf, end);
}

class Evaluator {
 public:
  Evaluator(const std::vector<const Column*>& inputs, size_t n) : inputs_(inputs), n_(n) {}

  Vec Eval(const Node& node) {
    switch (node.kind) {
      case NodeKind::kLiteral: return Own(Literal(node), /*scalar=*/true);
      case NodeKind::kColumn: {
        Vec v;
        v.ref = inputs_[node.column];
        return v;
      }
      case NodeKind::kCast: return IntToDouble(Eval(*node.args[0]));
      case NodeKind::kUnary: return Unary(node);
      case NodeKind::kBinary: return Binary(node);
      case NodeKind::kCall: return Call(node);
    }
    return Own(Make(node.type, n_));
  }

  // Turns a scalar into a full column (for kernels without a scalar path).
  void Expand(Vec& v) {
    if (!v.scalar) return;
    const Column& one = v.own;
    Column c = Make(FromFeatureType(one.type), n_);
    switch (c.type) {
      case FeatureType::kDouble: std::fill(c.doubles.begin(), c.doubles.end(), one.doubles[0]); break;
      case FeatureType::kString: std::fill(c.strings.begin(), c.strings.end(), one.strings[0]); break;
      default: std::fill(c.ints.begin(), c.ints.end(), one.ints[0]); break;
    }
    std::fill(c.valid.begin(), c.valid.end(), one.valid[0]);
    v.own = std::move(c);
    v.scalar = false;
  }

 private:
  size_t Rows(bool scalar) const { return scalar ? 1 : n_; }

  // The column a kernel writes `rows` rows of `type` into: the buffers of an owned
  // full-length temporary operand of the same data kind when there is one (callers take
  // their read pointers first; moving a vector keeps its buffer), else a new column.
  Column Output(Type type, std::initializer_list<Vec*> operands, size_t rows) {
    const FeatureType ft = ToFeatureType(type);
    if (ft != FeatureType::kString && rows == n_) {
      for (Vec* v : operands) {
        if (v->Reusable(ft == FeatureType::kDouble)) {
          Column c = std::move(v->own);
          c.type = ft;
          return c;
        }
      }
    }
    return Make(type, rows);
  }

  Column Literal(const Node& node) {
    Column c = Make(node.type, 1);
    const Value& v = node.value;
    if (IsNull(v)) return c;
    switch (c.type) {
      case FeatureType::kDouble: std::fill(c.doubles.begin(), c.doubles.end(), std::get<double>(v)); break;
      case FeatureType::kString: std::fill(c.strings.begin(), c.strings.end(), std::get<std::string>(v)); break;
      case FeatureType::kBool: std::fill(c.ints.begin(), c.ints.end(), std::get<bool>(v) ? 1 : 0); break;
      default: std::fill(c.ints.begin(), c.ints.end(), std::get<int64_t>(v)); break;
    }
    std::fill(c.valid.begin(), c.valid.end(), 1);
    return c;
  }

  Vec IntToDouble(Vec arg) {
    const Column& x = arg.get();
    const size_t rows = Rows(arg.scalar);
    Column out = Make(Type::kDouble, rows);
    const int64_t* xi = x.ints.data();
    double* o = out.doubles.data();
    for (size_t i = 0; i < rows; ++i) o[i] = static_cast<double>(xi[i]);
    std::copy(x.valid.begin(), x.valid.begin() + rows, out.valid.begin());
    return Own(std::move(out), arg.scalar);
  }

  // out[i] = f(x[i]) where x is valid and ok(x[i]); null otherwise.
  // out[i] = f(x[i]) where x is valid and ok(x[i]); null otherwise.
  template <class F, class Ok>
  Vec MapDouble(Vec& arg, F f, Ok ok) {
    const Column& x = arg.get();
    const size_t rows = Rows(arg.scalar);
    const double* xd = x.doubles.data();
    const uint8_t* xv = x.valid.data();
    Column out = Output(Type::kDouble, {&arg}, rows);
    double* o = out.doubles.data();
    uint8_t* ov = out.valid.data();
    for (size_t i = 0; i < rows; ++i) {
      const double v = xd[i];
      const bool valid = xv[i] && ok(v);
      o[i] = valid ? f(v) : 0.0;
      ov[i] = valid;
    }
    return Own(std::move(out), arg.scalar);
  }

  // Two-operand double kernel; null when either side is null.
  template <class F>
  Vec ZipDouble(Vec& va, Vec& vb, F f) {
    const Column& a = va.get();
    const Column& b = vb.get();
    const double* x = a.doubles.data();
    const double* y = b.doubles.data();
    const uint8_t* xv = a.valid.data();
    const uint8_t* yv = b.valid.data();
    const bool scalar = va.scalar && vb.scalar;
    const size_t rows = Rows(scalar);
    Column out = Output(Type::kDouble, {&va, &vb}, rows);
    double* o = out.doubles.data();
    uint8_t* ov = out.valid.data();
    Dispatch2(va.scalar, vb.scalar, [&](auto sa, auto sb) {
      for (size_t i = 0; i < rows; ++i) {
        const size_t ia = decltype(sa)::value ? 0 : i, ib = decltype(sb)::value ? 0 : i;
        const uint8_t valid = xv[ia] & yv[ib];
        const double r = f(x[ia], y[ib]);
        o[i] = valid ? r : 0.0;
        ov[i] = valid;
      }
    });
    return Own(std::move(out), scalar);
  }

  // Two-operand int64 kernel: f(x, y, &r) returns false for null (overflow, % 0).
  template <class F>
  Vec ZipInt(Type type, Vec& va, Vec& vb, F f) {
    const Column& a = va.get();
    const Column& b = vb.get();
    const int64_t* x = a.ints.data();
    const int64_t* y = b.ints.data();
    const uint8_t* xv = a.valid.data();
    const uint8_t* yv = b.valid.data();
    const bool scalar = va.scalar && vb.scalar;
    const size_t rows = Rows(scalar);
    Column out = Output(type, {&va, &vb}, rows);
    int64_t* o = out.ints.data();
    uint8_t* ov = out.valid.data();
    Dispatch2(va.scalar, vb.scalar, [&](auto sa, auto sb) {
      for (size_t i = 0; i < rows; ++i) {
        const size_t ia = decltype(sa)::value ? 0 : i, ib = decltype(sb)::value ? 0 : i;
        int64_t r = 0;
        const bool ok = f(x[ia], y[ib], &r);
        const uint8_t valid = xv[ia] & yv[ib] & static_cast<uint8_t>(ok);
        o[i] = valid ? r : 0;
        ov[i] = valid;
      }
    });
    return Own(std::move(out), scalar);
  }

  template <class T, class F>
  Vec Compare(const std::vector<T>& x, const std::vector<T>& y, Vec& va, Vec& vb, F f) {
    const T* xd = x.data();
    const T* yd = y.data();
    const uint8_t* xv = va.get().valid.data();
    const uint8_t* yv = vb.get().valid.data();
    const bool scalar = va.scalar && vb.scalar;
    const size_t rows = Rows(scalar);
    Column out = Output(Type::kBool, {&va, &vb}, rows);
    int64_t* o = out.ints.data();
    uint8_t* ov = out.valid.data();
    Dispatch2(va.scalar, vb.scalar, [&](auto sa, auto sb) {
      for (size_t i = 0; i < rows; ++i) {
        const size_t ia = decltype(sa)::value ? 0 : i, ib = decltype(sb)::value ? 0 : i;
        const uint8_t valid = xv[ia] & yv[ib];
        o[i] = valid & static_cast<uint8_t>(f(xd[ia], yd[ib]));
        ov[i] = valid;
      }
    });
    return Own(std::move(out), scalar);
  }

  template <class T>
  Vec CompareOp(const std::string& op, const std::vector<T>& x, const std::vector<T>& y,
                Vec& a, Vec& b) {
    if (op == "=") return Compare(x, y, a, b, [](const T& p, const T& q) { return p == q; });
    if (op == "!=") return Compare(x, y, a, b, [](const T& p, const T& q) { return p != q; });
    if (op == "<") return Compare(x, y, a, b, [](const T& p, const T& q) { return p < q; });
    if (op == "<=") return Compare(x, y, a, b, [](const T& p, const T& q) { return p <= q; });
    if (op == ">") return Compare(x, y, a, b, [](const T& p, const T& q) { return p > q; });
    return Compare(x, y, a, b, [](const T& p, const T& q) { return p >= q; });
  }

  Vec Unary(const Node& node) {
    Vec arg = Eval(*node.args[0]);
    Expand(arg);
    const Column& x = arg.get();
    Column out = Make(node.type, n_);
    if (node.op == "not") {
      for (size_t i = 0; i < n_; ++i) out.ints[i] = x.valid[i] & static_cast<uint8_t>(x.ints[i] == 0);
      out.valid = x.valid;
    } else if (node.type == Type::kDouble) {
      for (size_t i = 0; i < n_; ++i) out.doubles[i] = x.valid[i] ? -x.doubles[i] : 0.0;
      out.valid = x.valid;
    } else {  // int64: -INT64_MIN overflows → null
      for (size_t i = 0; i < n_; ++i) {
        const bool ok = x.valid[i] && x.ints[i] != std::numeric_limits<int64_t>::min();
        out.ints[i] = ok ? -x.ints[i] : 0;
        out.valid[i] = ok;
      }
    }
    return Own(std::move(out));
  }

  Vec Binary(const Node& node) {
    Vec va = Eval(*node.args[0]);
    Vec vb = Eval(*node.args[1]);
    const std::string& op = node.op;
    const bool comparison = node.type == Type::kBool && op != "and" && op != "or";
    if (!comparison && node.type != Type::kDouble && node.type != Type::kInt64 &&
        node.type != Type::kTimestamp) {
      Expand(va);  // and / or / string concatenation have no scalar path
      Expand(vb);
    }
    const Column& a = va.get();
    const Column& b = vb.get();
    if (op == "and" || op == "or") {
      // SQL three-valued logic: false and null = false, true or null = true.
      Column out = Make(Type::kBool, n_);
      const bool is_and = op == "and";
      for (size_t i = 0; i < n_; ++i) {
        const uint8_t x = static_cast<uint8_t>(a.ints[i] != 0), y = static_cast<uint8_t>(b.ints[i] != 0);
        const uint8_t xv = a.valid[i], yv = b.valid[i];
        if (is_and) {
          const uint8_t known_false = (xv & (x ^ 1)) | (yv & (y ^ 1));
          out.valid[i] = known_false | (xv & yv);
          out.ints[i] = xv & yv & x & y;
        } else {
          const uint8_t known_true = (xv & x) | (yv & y);
          out.valid[i] = known_true | (xv & yv);
          out.ints[i] = known_true;
        }
      }
      return Own(std::move(out));
    }
    if (comparison) {  // operands share a type
      switch (a.type) {
        case FeatureType::kDouble: return CompareOp(op, a.doubles, b.doubles, va, vb);
        case FeatureType::kString: return CompareOp(op, a.strings, b.strings, va, vb);
        default: return CompareOp(op, a.ints, b.ints, va, vb);
      }
    }
    if (node.type == Type::kString) {  // concatenation
      Column out = Make(Type::kString, n_);
      for (size_t i = 0; i < n_; ++i) {
        out.valid[i] = a.valid[i] & b.valid[i];
        if (out.valid[i]) {
          out.strings[i].reserve(a.strings[i].size() + b.strings[i].size());
          out.strings[i].append(a.strings[i]).append(b.strings[i]);
        }
      }
      return Own(std::move(out));
    }
    if (node.type == Type::kDouble) {
      switch (op[0]) {
        case '+': return ZipDouble(va, vb, [](double x, double y) { return x + y; });
        case '-': return ZipDouble(va, vb, [](double x, double y) { return x - y; });
        case '*': return ZipDouble(va, vb, [](double x, double y) { return x * y; });
        case '/': return ZipDouble(va, vb, [](double x, double y) { return x / y; });
        default: return ZipDouble(va, vb, [](double x, double y) { return std::fmod(x, y); });
      }
    }
    // int64, timestamp ± int64, timestamp - timestamp: checked arithmetic, overflow → null.
    switch (op[0]) {
      case '+':
        return ZipInt(node.type, va, vb, [](int64_t x, int64_t y, int64_t* r) {
          return !__builtin_add_overflow(x, y, r);
        });
      case '-':
        return ZipInt(node.type, va, vb, [](int64_t x, int64_t y, int64_t* r) {
          return !__builtin_sub_overflow(x, y, r);
        });
      case '*':
        return ZipInt(node.type, va, vb, [](int64_t x, int64_t y, int64_t* r) {
          return !__builtin_mul_overflow(x, y, r);
        });
      default:  // '%': sign of the dividend (C++), % 0 → null, INT64_MIN % -1 = 0
        return ZipInt(node.type, va, vb, [](int64_t x, int64_t y, int64_t* r) {
          if (y == 0) return false;
          *r = y == -1 ? 0 : x % y;
          return true;
        });
    }
  }

  Vec Call(const Node& node) {
    const Fn fn = Functions()[node.function].fn;
    std::vector<Vec> args;
    args.reserve(node.args.size());
    for (const NodePtr& arg : node.args) args.push_back(Eval(*arg));
    auto always = [](double) { return true; };
    switch (fn) {
      case Fn::kLog:
        return MapDouble(args[0], [](double v) { return std::log(v); }, [](double v) { return !(v <= 0); });
      case Fn::kLog1p:
        return MapDouble(args[0], [](double v) { return std::log1p(v); }, [](double v) { return !(v <= -1); });
      case Fn::kExp: return MapDouble(args[0], [](double v) { return std::exp(v); }, always);
      case Fn::kSqrt:
        return MapDouble(args[0], [](double v) { return std::sqrt(v); }, [](double v) { return !(v < 0); });
      case Fn::kFloor: case Fn::kCeil: case Fn::kRound: case Fn::kAbs:
        if (node.type == Type::kDouble && node.args.size() == 1) {
          if (fn == Fn::kAbs) return MapDouble(args[0], [](double v) { return std::fabs(v); }, always);
          if (fn == Fn::kFloor) return MapDouble(args[0], [](double v) { return std::floor(v); }, always);
          if (fn == Fn::kCeil) return MapDouble(args[0], [](double v) { return std::ceil(v); }, always);
          return MapDouble(args[0], [](double v) { return std::round(v); }, always);
        }
        if (fn != Fn::kAbs && node.type == Type::kInt64) return std::move(args[0]);  // whole
        break;
      case Fn::kPow:
        return ZipDouble(args[0], args[1], [](double p, double q) { return std::pow(p, q); });
      case Fn::kIf: return If(node.type, args[0], args[1], args[2]);
      case Fn::kToInt64: case Fn::kToDouble: case Fn::kToString: case Fn::kToBool:
      case Fn::kToTimestamp:
        return Cast(node.args[0]->type, node.type, std::move(args[0]));
      default: break;
    }
    if (fn >= Fn::kYear) {
      const bool scalar = args[0].scalar;
      return Own(DatePart(fn, args[0].get(), Rows(scalar)), scalar);
    }
    // The rest have no scalar path.
    for (Vec& arg : args) Expand(arg);
    const Column& x = args[0].get();
    switch (fn) {
      case Fn::kAbs: {  // int64
        Column out = Make(Type::kInt64, n_);
        for (size_t i = 0; i < n_; ++i) {
          const int64_t v = x.ints[i];
          const bool ok = x.valid[i] && v != std::numeric_limits<int64_t>::min();
          out.ints[i] = ok ? (v < 0 ? -v : v) : 0;
          out.valid[i] = ok;
        }
        return Own(std::move(out));
      }
      case Fn::kRound: return Own(RoundDigits(x, args[1].get()));
      case Fn::kClip: return Own(Clip(node.type, x, args[1].get(), args[2].get()));
      case Fn::kLeast: case Fn::kGreatest: return Own(Extreme(node.type, args, fn == Fn::kLeast));
      case Fn::kCoalesce: return Own(Coalesce(node.type, args));
      default: {  // is_null
        Column out = Make(Type::kBool, n_);
        for (size_t i = 0; i < n_; ++i) out.ints[i] = x.valid[i] ^ 1;
        std::fill(out.valid.begin(), out.valid.end(), 1);
        return Own(std::move(out));
      }
    }
  }

  Column RoundDigits(const Column& x, const Column& digits) {
    Column out = Make(Type::kDouble, n_);
    int64_t cached_digits = 0;
    double scale = 1.0;
    for (size_t i = 0; i < n_; ++i) {
      if (!(x.valid[i] && digits.valid[i])) continue;
      const double v = x.doubles[i];
      const int64_t d = digits.ints[i];
      out.valid[i] = 1;
      if (d != cached_digits) {
        cached_digits = d;
        scale = std::pow(10.0, static_cast<double>(d < -400 ? -400 : d > 400 ? 400 : d));
      }
      if (!std::isfinite(v)) {
        out.doubles[i] = v;
      } else if (d >= 0) {
        const double s = v * scale;
        out.doubles[i] = std::isfinite(s) ? std::round(s) / scale : v;  // beyond precision
      } else {
        out.doubles[i] = scale == 0 ? 0.0 : std::round(v / (1.0 / scale)) * (1.0 / scale);
      }
    }
    return out;
  }

  Column Clip(Type type, const Column& x, const Column& lo, const Column& hi) {
    Column out = Make(type, n_);
    for (size_t i = 0; i < n_; ++i) {
      const uint8_t valid = x.valid[i] & lo.valid[i] & hi.valid[i];
      out.valid[i] = valid;
      if (!valid) continue;
      if (type == Type::kDouble) {
        double v = x.doubles[i];
        v = v < lo.doubles[i] ? lo.doubles[i] : v;
        out.doubles[i] = v > hi.doubles[i] ? hi.doubles[i] : v;
      } else {
        int64_t v = x.ints[i];
        v = v < lo.ints[i] ? lo.ints[i] : v;
        out.ints[i] = v > hi.ints[i] ? hi.ints[i] : v;
      }
    }
    return out;
  }

  Column Extreme(Type type, std::vector<Vec>& args, bool least) {
    Column out = std::move(args[0]).Take();
    for (size_t k = 1; k < args.size(); ++k) {
      const Column& y = args[k].get();
      for (size_t i = 0; i < n_; ++i) {
        out.valid[i] &= y.valid[i];
        if (!out.valid[i]) continue;
        switch (out.type) {
          case FeatureType::kDouble: {
            const double v = y.doubles[i];
            if (least ? v < out.doubles[i] : v > out.doubles[i]) out.doubles[i] = v;
            break;
          }
          case FeatureType::kString:
            if (least ? y.strings[i] < out.strings[i] : y.strings[i] > out.strings[i]) {
              out.strings[i] = y.strings[i];
            }
            break;
          default: {
            const int64_t v = y.ints[i];
            if (least ? v < out.ints[i] : v > out.ints[i]) out.ints[i] = v;
          }
        }
      }
    }
    ZeroNulls(&out);
    return out;
  }

  Column Coalesce(Type type, std::vector<Vec>& args) {
    Column out = std::move(args[0]).Take();
    for (size_t k = 1; k < args.size(); ++k) {
      const Column& y = args[k].get();
      for (size_t i = 0; i < n_; ++i) {
        if (out.valid[i] || !y.valid[i]) continue;
        out.valid[i] = 1;
        switch (out.type) {
          case FeatureType::kDouble: out.doubles[i] = y.doubles[i]; break;
          case FeatureType::kString: out.strings[i] = y.strings[i]; break;
          default: out.ints[i] = y.ints[i];
        }
      }
    }
    return out;
  }

  // Null condition → the else branch. Scalar operands (constants) are read with stride 0.
  Vec If(Type type, Vec& vc, Vec& va, Vec& vb) {
    if (ToFeatureType(type) == FeatureType::kString) {
      Expand(vc);
      Expand(va);
      Expand(vb);
    }
    const Column& c = vc.get();
    const Column& a = va.get();
    const Column& b = vb.get();
    const size_t sc = vc.scalar ? 0 : 1, sa = va.scalar ? 0 : 1, sb = vb.scalar ? 0 : 1;
    const bool scalar = vc.scalar && va.scalar && vb.scalar;
    const size_t rows = Rows(scalar);
    const uint8_t* cv = c.valid.data();
    const int64_t* ci = c.ints.data();
    const uint8_t* av = a.valid.data();
    const uint8_t* bv = b.valid.data();
    if (ToFeatureType(type) == FeatureType::kString) {
      Column out = Make(type, rows);
      for (size_t i = 0; i < rows; ++i) {
        const bool t = cv[i] & (ci[i] != 0);
        out.strings[i] = t ? a.strings[i] : b.strings[i];
        out.valid[i] = t ? av[i] : bv[i];
      }
      return Own(std::move(out), scalar);
    }
    auto select = [&](const auto* x, const auto* y, auto* o, uint8_t* ov) {
      for (size_t i = 0; i < rows; ++i) {
        const bool t = cv[i * sc] & (ci[i * sc] != 0);
        o[i] = t ? x[i * sa] : y[i * sb];
        ov[i] = t ? av[i * sa] : bv[i * sb];
      }
    };
    if (ToFeatureType(type) == FeatureType::kDouble) {
      const double* x = a.doubles.data();
      const double* y = b.doubles.data();
      Column out = Output(type, {&va, &vb}, rows);
      select(x, y, out.doubles.data(), out.valid.data());
      return Own(std::move(out), scalar);
    }
    const int64_t* x = a.ints.data();
    const int64_t* y = b.ints.data();
    Column out = Output(type, {&vc, &va, &vb}, rows);
    select(x, y, out.ints.data(), out.valid.data());
    return Own(std::move(out), scalar);
  }

  Vec Cast(Type from, Type to, Vec arg) {
    if (from == to) return arg;
    const Column& x = arg.get();
    const size_t rows = Rows(arg.scalar);
    Column out = Make(to, rows);
    for (size_t i = 0; i < rows; ++i) {
      if (!x.valid[i]) continue;
      uint8_t ok = 1;
      switch (to) {
        case Type::kInt64:
        case Type::kTimestamp:
          if (from == Type::kDouble) ok = DoubleToInt(x.doubles[i], &out.ints[i]);
          else if (from == Type::kString) ok = ParseInt(x.strings[i], to, &out.ints[i]);
          else out.ints[i] = x.ints[i];  // int64, bool, timestamp
          break;
        case Type::kDouble:
          if (from == Type::kString) {
            ok = absl::SimpleAtod(ToAbsl(x.strings[i]), &out.doubles[i]);
          } else {
            out.doubles[i] = static_cast<double>(x.ints[i]);
          }
          break;
        case Type::kBool:
          if (from == Type::kDouble) {
            ok = !std::isnan(x.doubles[i]);
            out.ints[i] = ok && x.doubles[i] != 0;
          } else if (from == Type::kString) {
            ok = ParseBool(x.strings[i], &out.ints[i]);
          } else {
            out.ints[i] = x.ints[i] != 0;
          }
          break;
        case Type::kString:
          switch (from) {
            case Type::kDouble: out.strings[i] = FormatDouble(x.doubles[i]); break;
            case Type::kBool: out.strings[i] = x.ints[i] ? "true" : "false"; break;
            case Type::kTimestamp:
              // FormatTimestamp's range; beyond it (±275,760 years) there is no RFC 3339 text.
              ok = x.ints[i] >= -kMaxFormattableMs && x.ints[i] <= kMaxFormattableMs;
              if (ok) out.strings[i] = FormatTimestamp(x.ints[i]);
              break;
            default: out.strings[i] = absl::StrCat(x.ints[i]);
          }
          break;
        case Type::kNull: break;
      }
      out.valid[i] = ok;
      if (!ok) {
        if (!out.ints.empty()) out.ints[i] = 0;
        if (!out.doubles.empty()) out.doubles[i] = 0;
      }
    }
    return Own(std::move(out), arg.scalar);
  }

  static bool ParseInt(const std::string& s, Type to, int64_t* out) {
    if (to == Type::kTimestamp) {
      auto ts = ParseTimestamp(s);
      if (!ts) return false;
      *out = *ts;
      return true;
    }
    return absl::SimpleAtoi(ToAbsl(s), out);
  }

  static bool ParseBool(const std::string& s, int64_t* out) {
    const std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(ToAbsl(s)));
    if (t == "true" || t == "1") *out = 1;
    else if (t == "false" || t == "0") *out = 0;
    else return false;
    return true;
  }

  Column DatePart(Fn fn, const Column& x, size_t rows) {
    Column out = Make(Type::kInt64, rows);
    for (size_t i = 0; i < rows; ++i) {
      if (!x.valid[i]) continue;
      out.valid[i] = 1;
      const int64_t ms = x.ints[i];
      // Floor division without overflow at the int64 extremes.
      int64_t days = ms / kMsPerDay;
      int64_t ms_of_day = ms % kMsPerDay;
      if (ms_of_day < 0) {
        ms_of_day += kMsPerDay;
        --days;
      }
      int64_t v = 0;
      switch (fn) {
        case Fn::kHour: v = ms_of_day / 3600000; break;
        case Fn::kMinute: v = ms_of_day / 60000 % 60; break;
        case Fn::kSecond: v = ms_of_day / 1000 % 60; break;
        case Fn::kDayOfWeek: v = ((days % 7) + 10) % 7 + 1; break;  // 1970-01-01: Thursday
        default: {
          int64_t y;
          unsigned m, d;
          CivilFromDays(days, &y, &m, &d);
          if (fn == Fn::kYear) v = y;
          else if (fn == Fn::kMonth) v = m;
          else if (fn == Fn::kDay) v = d;
          else v = days - DaysFromCivil(y, 1, 1) + 1;  // day_of_year
        }
      }
      out.ints[i] = v;
    }
    return out;
  }

  static void ZeroNulls(Column* c) {
    for (size_t i = 0; i < c->valid.size(); ++i) {
      if (c->valid[i]) continue;
      switch (c->type) {
        case FeatureType::kDouble: c->doubles[i] = 0; break;
        case FeatureType::kString: c->strings[i].clear(); break;
        default: c->ints[i] = 0;
      }
    }
  }

  const std::vector<const Column*>& inputs_;
  size_t n_;
};

}  // namespace

Column EvaluateTree(const Node& root, const std::vector<const Column*>& inputs, size_t rows) {
  Evaluator evaluator(inputs, rows);
  Vec result = evaluator.Eval(root);
  evaluator.Expand(result);
  Column out = std::move(result).Take();
  out.type = ToFeatureType(root.type);
  return out;
}

}  // namespace cairn::features::expr
