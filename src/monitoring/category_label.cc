#include "monitoring/category_label.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace cairn::monitoring {

std::string NumberCategoryLabel(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return "0";  // -0.0 too: the same category
  char buf[64];
  if (std::trunc(value) == value && std::fabs(value) < 1e16) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(value));
    return std::string(buf, end);
  }
  // The shortest round-trip digits, laid out as Python's repr: fixed notation for decimal
  // exponents -4 … 15, otherwise d.ddde±XX.
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const std::string_view text(buf, static_cast<size_t>(end - buf));
  const size_t e = text.find('e');
  const int exponent = std::atoi(std::string(text.substr(e + 1)).c_str());
  std::string digits;
  for (char c : text.substr(0, e)) {
    if (c >= '0' && c <= '9') digits.push_back(c);
  }
  std::string out = value < 0 ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out.append("0.").append(static_cast<size_t>(-exponent - 1), '0').append(digits);
    } else {
      const size_t whole = static_cast<size_t>(exponent) + 1;
      if (digits.size() <= whole) {  // not reached for finite non-integral values
        out.append(digits).append(whole - digits.size(), '0').append(".0");
      } else {
        out.append(digits, 0, whole).append(".").append(digits, whole);
      }
    }
    return out;
  }
  out.push_back(digits[0]);
  if (digits.size() > 1) out.append(".").append(digits, 1);
  out.append(exponent < 0 ? "e-" : "e+");
  const int magnitude = std::abs(exponent);
  if (magnitude < 10) out.push_back('0');
  out.append(std::to_string(magnitude));
  return out;
}

std::string NumberCategoryLabel(int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, end);
}

}  // namespace cairn::monitoring
