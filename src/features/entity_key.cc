#include "features/entity_key.h"

#include <cstring>

namespace cairn::features {
namespace {

void PutOrderedU64(uint64_t u, std::string* out) {
  char buf[8];
  for (int b = 7; b >= 0; --b) {
    buf[b] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  out->append(buf, 8);
}

void PutInt(int64_t v, std::string* out) {
  out->push_back('\x01');
  PutOrderedU64(static_cast<uint64_t>(v) ^ (uint64_t{1} << 63), out);
}

void PutDouble(double d, std::string* out) {
  out->push_back('\x03');
  uint64_t u;
  std::memcpy(&u, &d, 8);
  // Negative numbers: flip every bit; positive: flip the sign bit. memcmp then orders
  // them as numbers.
  u = (u & (uint64_t{1} << 63)) ? ~u : (u | (uint64_t{1} << 63));
  PutOrderedU64(u, out);
}

void PutString(std::string_view s, std::string* out) {
  out->push_back('\x02');
  for (char c : s) {
    out->push_back(c);
    if (c == '\0') out->push_back('\xff');
  }
  out->push_back('\0');
  out->push_back('\x01');
}

}  // namespace

int CompareCells(const Column& a, size_t i, const Column& b, size_t j) {
  bool an = a.valid[i] == 0, bn = b.valid[j] == 0;
  if (an || bn) return static_cast<int>(bn) - static_cast<int>(an) == 0 ? 0 : (an ? -1 : 1);
  switch (a.type) {
    case FeatureType::kDouble: {
      double x = a.doubles[i], y = b.doubles[j];
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    case FeatureType::kString: {
      int c = a.strings[i].compare(b.strings[j]);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    default: {
      int64_t x = a.ints[i], y = b.ints[j];
      return x < y ? -1 : (x > y ? 1 : 0);
    }
  }
}

int CompareKeys(const Table& a, std::span<const int> a_cols, size_t i, const Table& b,
                std::span<const int> b_cols, size_t j) {
  for (size_t k = 0; k < a_cols.size(); ++k) {
    int c = CompareCells(a.columns[a_cols[k]], i, b.columns[b_cols[k]], j);
    if (c != 0) return c;
  }
  return 0;
}

void EncodeKey(const Table& table, std::span<const int> cols, size_t row, std::string* out) {
  for (int c : cols) {
    const Column& col = table.columns[c];
    if (col.valid[row] == 0) {
      out->push_back('\0');
      continue;
    }
    switch (col.type) {
      case FeatureType::kDouble: PutDouble(col.doubles[row], out); break;
      case FeatureType::kString: PutString(col.strings[row], out); break;
      default: PutInt(col.ints[row], out); break;
    }
  }
}

void EncodeKeyValue(const Value& value, FeatureType type, std::string* out) {
  if (IsNull(value)) {
    out->push_back('\0');
    return;
  }
  if (auto* p = std::get_if<int64_t>(&value)) return PutInt(*p, out);
  if (auto* p = std::get_if<bool>(&value)) return PutInt(*p ? 1 : 0, out);
  if (auto* p = std::get_if<double>(&value)) return PutDouble(*p, out);
  if (auto* p = std::get_if<std::string>(&value)) return PutString(*p, out);
}

}  // namespace cairn::features
