#include "features/ingest/value_text.h"

#include <charconv>
#include <cmath>
#include <system_error>

#include "common/timestamp.h"

namespace cairn::features::ingest_internal {
namespace {

constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool EqualsLower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    if (Lower(text[pos]) != lower[pos]) return false;
  }
  return true;
}

}  // namespace

std::string_view TrimSpaces(std::string_view text) {
  size_t first = 0;
  while (first < text.size() && (text[first] == ' ' || text[first] == '\t')) ++first;
  size_t last = text.size();
  while (last > first && (text[last - 1] == ' ' || text[last - 1] == '\t')) --last;
  return text.substr(first, last - first);
}

const char* ParseInt64Text(std::string_view text, int64_t* out) {
  const char* first = text.data();
  const char* last = first + text.size();
  if (first != last && *first == '+') ++first;
  if (first == last) return "is not an int64";
  auto [ptr, ec] = std::from_chars(first, last, *out);
  if (ec == std::errc() && ptr == last) return nullptr;
  if (ec == std::errc::result_out_of_range) return "is out of range for int64";
  // "3.0" and "1e3" are integral numbers written as decimals; accept them where exact.
  double d;
  if (ParseDoubleText(text, &d) == nullptr && std::isfinite(d)) {
    if (d != std::trunc(d)) return "is not an int64 (it has a fraction)";
    if (std::fabs(d) > kMaxExactInteger) return "is out of range for int64";
    *out = static_cast<int64_t>(d);
    return nullptr;
  }
  return "is not an int64";
}

const char* ParseDoubleText(std::string_view text, double* out) {
  const char* first = text.data();
  const char* last = first + text.size();
  if (first != last && *first == '+') {
    ++first;
    if (first != last && *first == '-') return "is not a double";
  }
  if (first == last) return "is not a double";
  auto [ptr, ec] = std::from_chars(first, last, *out);
  if (ptr != last) return "is not a double";
  if (ec == std::errc::result_out_of_range) {
    // Overflow gives ±inf semantics in strtod; from_chars leaves *out untouched. Tiny
    // values (underflow) become 0 rather than an error.
    return "is out of range for a double";
  }
  if (ec != std::errc()) return "is not a double";
  return nullptr;
}

const char* ParseBoolText(std::string_view text, bool* out) {
  if (text.size() == 1) {
    if (text[0] == '1') return *out = true, nullptr;
    if (text[0] == '0') return *out = false, nullptr;
  } else if (EqualsLower(text, "true")) {
    return *out = true, nullptr;
  } else if (EqualsLower(text, "false")) {
    return *out = false, nullptr;
  }
  return "is not a bool (expected true, false, 1 or 0)";
}

const char* ParseTimestampText(std::string_view text, int64_t* out) {
  std::optional<int64_t> ts = cairn::ParseTimestamp(text);
  if (!ts) {
    return "is not a timestamp (expected RFC 3339 like 2024-05-01T12:00:00Z, or epoch "
           "milliseconds)";
  }
  *out = *ts;
  return nullptr;
}

const char* AppendText(Column* column, std::string_view text) {
  const char* reason = nullptr;
  switch (column->type) {
    case FeatureType::kString:
      column->AppendString(text);
      return nullptr;
    case FeatureType::kInt64: {
      int64_t v;
      reason = ParseInt64Text(TrimSpaces(text), &v);
      if (!reason) column->AppendInt(v);
      return reason;
    }
    case FeatureType::kDouble: {
      double v;
      reason = ParseDoubleText(TrimSpaces(text), &v);
      if (!reason) column->AppendDouble(v);
      return reason;
    }
    case FeatureType::kBool: {
      bool v;
      reason = ParseBoolText(TrimSpaces(text), &v);
      if (!reason) column->AppendBool(v);
      return reason;
    }
    case FeatureType::kTimestamp: {
      int64_t v;
      reason = ParseTimestampText(TrimSpaces(text), &v);
      if (!reason) column->AppendInt(v);
      return reason;
    }
  }
  return "has an unknown type";
}

}  // namespace cairn::features::ingest_internal
