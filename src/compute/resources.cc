#include "compute/resources.h"

#include <cctype>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/duration.h"
#include "common/strings.h"

namespace cairn::compute {
namespace {

constexpr std::string_view kMemoryForms =
    "a number of bytes with an optional suffix Ki, Mi, Gi, Ti (powers of 1024) or K, M, G, "
    "T (powers of 1000), e.g. 512Mi or 4Gi";

struct Unit {
  std::string_view suffix;
  int64_t factor;
};
constexpr Unit kUnits[] = {
    {"Ki", int64_t{1} << 10},
    {"Mi", int64_t{1} << 20},
    {"Gi", int64_t{1} << 30},
    {"Ti", int64_t{1} << 40},
    {"K", 1000},
    {"M", 1000'000},
    {"G", 1000'000'000},
    {"T", 1000'000'000'000},
};

std::string FormatCpus(double cpus) { return absl::StrCat(cpus); }  // 1, 0.5, 2.25

}  // namespace

absl::StatusOr<int64_t> ParseMemory(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("memory '", ToAbsl(text), "': ", ToAbsl(why),
                                                   "; write ", ToAbsl(kMemoryForms)));
  };
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  if (digits == 0) return invalid("must start with a whole number of bytes or units");
  std::string_view suffix = text.substr(digits);
  int64_t factor = 1;
  if (!suffix.empty()) {
    bool found = false;
    for (const Unit& unit : kUnits) {
      if (suffix == unit.suffix) {
        factor = unit.factor;
        found = true;
        break;
      }
    }
    if (!found) return invalid(absl::StrCat("unknown unit '", ToAbsl(suffix), "'"));
  }
  int64_t value = 0;
  for (size_t i = 0; i < digits; ++i) {
    int digit = text[i] - '0';
    if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) return invalid("too large");
    value = value * 10 + digit;
  }
  if (value > std::numeric_limits<int64_t>::max() / factor) return invalid("too large");
  return value * factor;
}

std::string FormatMemory(int64_t bytes) {
  if (bytes > 0) {
    static constexpr Unit kBinary[] = {{"Ti", int64_t{1} << 40},
                                       {"Gi", int64_t{1} << 30},
                                       {"Mi", int64_t{1} << 20},
                                       {"Ki", int64_t{1} << 10}};
    for (const Unit& unit : kBinary) {
      if (bytes % unit.factor == 0) return absl::StrCat(bytes / unit.factor, ToAbsl(unit.suffix));
    }
  }
  return absl::StrCat(bytes);
}

std::string FormatResources(const Resources& resources) {
  std::vector<std::string> parts;
  if (resources.cpus != 1) parts.push_back(absl::StrCat("cpus=", FormatCpus(resources.cpus)));
  if (resources.memory_bytes != 0) {
    parts.push_back(absl::StrCat("memory=", FormatMemory(resources.memory_bytes)));
  }
  if (resources.gpus != 0) parts.push_back(absl::StrCat("gpus=", resources.gpus));
  if (resources.timeout_ms != 0) {
    parts.push_back(absl::StrCat("timeout=", FormatDuration(resources.timeout_ms)));
  }
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) out += ' ';
    out += part;
  }
  return out;
}

}  // namespace cairn::compute
