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

// A node's value: either a column owned here or an input column borrowed as is.
struct Vec {
  Column own;
  const Column* ref = nullptr;
  const Column& get() const { return ref != nullptr ? *ref : own; }
  Column Take() && { return ref != nullptr ? *ref : std::move(own); }
};

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

Vec Own(Column c) {
  Vec v;
  v.own = std::move(c);
  return v;
}

constexpr int64_t kMsPerDay = 86400000;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

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
      case NodeKind::kLiteral: return Own(Literal(node));
      case NodeKind::kColumn: {
        Vec v;
        v.ref = inputs_[node.column];
        return v;
      }
      case NodeKind::kCast: return Own(IntToDouble(Eval(*node.args[0]).get()));
      case NodeKind::kUnary: return Unary(node);
      case NodeKind::kBinary: return Binary(node);
      case NodeKind::kCall: return Call(node);
    }
    return Own(Make(node.type, n_));
  }

 private:
  Column Literal(const Node& node) {
    Column c = Make(node.type, n_);
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

  Column IntToDouble(const Column& x) {
    Column out = Make(Type::kDouble, n_);
    const int64_t* xi = x.ints.data();
    double* o = out.doubles.data();
    for (size_t i = 0; i < n_; ++i) o[i] = static_cast<double>(xi[i]);
    out.valid = x.valid;
    return out;
  }

  // out[i] = f(x[i]) where x is valid and ok(x[i]); null otherwise.
  template <class F, class Ok>
  Column MapDouble(const Column& x, F f, Ok ok) {
    Column out = Make(Type::kDouble, n_);
    const double* xd = x.doubles.data();
    const uint8_t* xv = x.valid.data();
    double* o = out.doubles.data();
    uint8_t* ov = out.valid.data();
    for (size_t i = 0; i < n_; ++i) {
      const bool valid = xv[i] && ok(xd[i]);
      o[i] = valid ? f(xd[i]) : 0.0;
      ov[i] = valid;
    }
    return out;
  }

  // Two-operand double kernel; null when either side is null.
  template <class F>
  Column ZipDouble(const Column& a, const Column& b, F f) {
    Column out = Make(Type::kDouble, n_);
    const double* x = a.doubles.data();
    const double* y = b.doubles.data();
    const uint8_t* xv = a.valid.data();
    const uint8_t* yv = b.valid.data();
    double* o = out.doubles.data();
    uint8_t* ov = out.valid.data();
    for (size_t i = 0; i < n_; ++i) {
      const uint8_t valid = xv[i] & yv[i];
      const double r = f(x[i], y[i]);
      o[i] = valid ? r : 0.0;
      ov[i] = valid;
    }
    return out;
  }

  // Two-operand int64 kernel: f(x, y, &r) returns false for null (overflow, % 0).
  template <class F>
  Column ZipInt(Type type, const Column& a, const Column& b, F f) {
    Column out = Make(type, n_);
    const int64_t* x = a.ints.data();
    const int64_t* y = b.ints.data();
    const uint8_t* xv = a.valid.data();
    const uint8_t* yv = b.valid.data();
    int64_t* o = out.ints.data();
    uint8_t* ov = out.valid.data();
    for (size_t i = 0; i < n_; ++i) {
      int64_t r = 0;
      const bool ok = f(x[i], y[i], &r);
      const uint8_t valid = xv[i] & yv[i] & static_cast<uint8_t>(ok);
      o[i] = valid ? r : 0;
      ov[i] = valid;
    }
    return out;
  }

  template <class T, class F>
  Column Compare(const std::vector<T>& x, const std::vector<T>& y, const Column& a,
                 const Column& b, F f) {
    Column out = Make(Type::kBool, n_);
    const uint8_t* xv = a.valid.data();
    const uint8_t* yv = b.valid.data();
    int64_t* o = out.ints.data();
    uint8_t* ov = out.valid.data();
    for (size_t i = 0; i < n_; ++i) {
      const uint8_t valid = xv[i] & yv[i];
      o[i] = valid & static_cast<uint8_t>(f(x[i], y[i]));
      ov[i] = valid;
    }
    return out;
  }

  template <class T>
  Column CompareOp(const std::string& op, const std::vector<T>& x, const std::vector<T>& y,
                   const Column& a, const Column& b) {
    if (op == "=") return Compare(x, y, a, b, [](const T& p, const T& q) { return p == q; });
    if (op == "!=") return Compare(x, y, a, b, [](const T& p, const T& q) { return p != q; });
    if (op == "<") return Compare(x, y, a, b, [](const T& p, const T& q) { return p < q; });
    if (op == "<=") return Compare(x, y, a, b, [](const T& p, const T& q) { return p <= q; });
    if (op == ">") return Compare(x, y, a, b, [](const T& p, const T& q) { return p > q; });
    return Compare(x, y, a, b, [](const T& p, const T& q) { return p >= q; });
  }

  Vec Unary(const Node& node) {
    Vec arg = Eval(*node.args[0]);
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
    const Column& a = va.get();
    const Column& b = vb.get();
    const std::string& op = node.op;
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
    const Type at = node.args[0]->type;
    if (node.type == Type::kBool && op != "+") {  // comparison (operands share a type)
      switch (a.type) {
        case FeatureType::kDouble: return Own(CompareOp(op, a.doubles, b.doubles, a, b));
        case FeatureType::kString: return Own(CompareOp(op, a.strings, b.strings, a, b));
        default: return Own(CompareOp(op, a.ints, b.ints, a, b));
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
        case '+': return Own(ZipDouble(a, b, [](double x, double y) { return x + y; }));
        case '-': return Own(ZipDouble(a, b, [](double x, double y) { return x - y; }));
        case '*': return Own(ZipDouble(a, b, [](double x, double y) { return x * y; }));
        case '/': return Own(ZipDouble(a, b, [](double x, double y) { return x / y; }));
        default: return Own(ZipDouble(a, b, [](double x, double y) { return std::fmod(x, y); }));
      }
    }
    (void)at;
    // int64, timestamp ± int64, timestamp - timestamp: checked arithmetic, overflow → null.
    switch (op[0]) {
      case '+':
        return Own(ZipInt(node.type, a, b, [](int64_t x, int64_t y, int64_t* r) {
          return !__builtin_add_overflow(x, y, r);
        }));
      case '-':
        return Own(ZipInt(node.type, a, b, [](int64_t x, int64_t y, int64_t* r) {
          return !__builtin_sub_overflow(x, y, r);
        }));
      case '*':
        return Own(ZipInt(node.type, a, b, [](int64_t x, int64_t y, int64_t* r) {
          return !__builtin_mul_overflow(x, y, r);
        }));
      default:  // '%': sign of the dividend (C++), % 0 → null, INT64_MIN % -1 = 0
        return Own(ZipInt(node.type, a, b, [](int64_t x, int64_t y, int64_t* r) {
          if (y == 0) return false;
          *r = y == -1 ? 0 : x % y;
          return true;
        }));
    }
  }

  Vec Call(const Node& node) {
    const Fn fn = Functions()[node.function].fn;
    std::vector<Vec> args;
    args.reserve(node.args.size());
    for (const NodePtr& arg : node.args) args.push_back(Eval(*arg));
    const Column& x = args[0].get();
    switch (fn) {
      case Fn::kLog:
        return Own(MapDouble(x, [](double v) { return std::log(v); }, [](double v) { return !(v <= 0); }));
      case Fn::kLog1p:
        return Own(MapDouble(x, [](double v) { return std::log1p(v); }, [](double v) { return !(v <= -1); }));
      case Fn::kExp:
        return Own(MapDouble(x, [](double v) { return std::exp(v); }, [](double) { return true; }));
      case Fn::kSqrt:
        return Own(MapDouble(x, [](double v) { return std::sqrt(v); }, [](double v) { return !(v < 0); }));
      case Fn::kAbs:
        if (node.type == Type::kDouble) {
          return Own(MapDouble(x, [](double v) { return std::fabs(v); }, [](double) { return true; }));
        } else {
          Column out = Make(Type::kInt64, n_);
          for (size_t i = 0; i < n_; ++i) {
            const int64_t v = x.ints[i];
            const bool ok = x.valid[i] && v != std::numeric_limits<int64_t>::min();
            out.ints[i] = ok ? (v < 0 ? -v : v) : 0;
            out.valid[i] = ok;
          }
          return Own(std::move(out));
        }
      case Fn::kFloor: case Fn::kCeil: case Fn::kRound: {
        if (node.type == Type::kInt64) return std::move(args[0]);  // already whole
        if (node.args.size() == 2) return Own(RoundDigits(x, args[1].get()));
        if (fn == Fn::kFloor) return Own(MapDouble(x, [](double v) { return std::floor(v); }, [](double) { return true; }));
        if (fn == Fn::kCeil) return Own(MapDouble(x, [](double v) { return std::ceil(v); }, [](double) { return true; }));
        return Own(MapDouble(x, [](double v) { return std::round(v); }, [](double) { return true; }));
      }
      case Fn::kPow:
        return Own(ZipDouble(x, args[1].get(), [](double p, double q) { return std::pow(p, q); }));
      case Fn::kClip: return Own(Clip(node.type, x, args[1].get(), args[2].get()));
      case Fn::kLeast: case Fn::kGreatest: return Own(Extreme(node.type, args, fn == Fn::kLeast));
      case Fn::kCoalesce: return Own(Coalesce(node.type, args));
      case Fn::kIf: return Own(If(node.type, x, args[1].get(), args[2].get()));
      case Fn::kIsNull: {
        Column out = Make(Type::kBool, n_);
        for (size_t i = 0; i < n_; ++i) out.ints[i] = x.valid[i] ^ 1;
        std::fill(out.valid.begin(), out.valid.end(), 1);
        return Own(std::move(out));
      }
      case Fn::kToInt64: case Fn::kToDouble: case Fn::kToString: case Fn::kToBool:
      case Fn::kToTimestamp:
        return Cast(node.args[0]->type, node.type, std::move(args[0]));
      default: return Own(DatePart(fn, x));
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

  // Null condition → the else branch.
  Column If(Type type, const Column& c, const Column& a, const Column& b) {
    Column out = Make(type, n_);
    const uint8_t* cv = c.valid.data();
    const int64_t* ci = c.ints.data();
    switch (out.type) {
      case FeatureType::kDouble: {
        const double* x = a.doubles.data();
        const double* y = b.doubles.data();
        for (size_t i = 0; i < n_; ++i) {
          const bool t = cv[i] & (ci[i] != 0);
          out.doubles[i] = t ? x[i] : y[i];
          out.valid[i] = t ? a.valid[i] : b.valid[i];
        }
        break;
      }
      case FeatureType::kString:
        for (size_t i = 0; i < n_; ++i) {
          const bool t = cv[i] & (ci[i] != 0);
          out.strings[i] = t ? a.strings[i] : b.strings[i];
          out.valid[i] = t ? a.valid[i] : b.valid[i];
        }
        break;
      default: {
        const int64_t* x = a.ints.data();
        const int64_t* y = b.ints.data();
        for (size_t i = 0; i < n_; ++i) {
          const bool t = cv[i] & (ci[i] != 0);
          out.ints[i] = t ? x[i] : y[i];
          out.valid[i] = t ? a.valid[i] : b.valid[i];
        }
      }
    }
    return out;
  }

  Vec Cast(Type from, Type to, Vec arg) {
    if (from == to) return arg;
    const Column& x = arg.get();
    Column out = Make(to, n_);
    for (size_t i = 0; i < n_; ++i) {
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
            case Type::kTimestamp: out.strings[i] = FormatTimestamp(x.ints[i]); break;
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
    return Own(std::move(out));
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

  Column DatePart(Fn fn, const Column& x) {
    Column out = Make(Type::kInt64, n_);
    for (size_t i = 0; i < n_; ++i) {
      if (!x.valid[i]) continue;
      out.valid[i] = 1;
      const int64_t ms = x.ints[i];
      const int64_t days = FloorDiv(ms, kMsPerDay);
      const int64_t ms_of_day = ms - days * kMsPerDay;
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
  Column out = evaluator.Eval(root).Take();
  out.type = ToFeatureType(root.type);
  return out;
}

}  // namespace cairn::features::expr
