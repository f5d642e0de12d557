#include "common/did_you_mean.h"

#include <algorithm>

namespace cairn {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string NearestName(std::string_view word, const std::vector<std::string_view>& candidates) {
  size_t best = std::max<size_t>(2, word.size() / 2) + 1;
  std::string_view found;
  for (std::string_view candidate : candidates) {
    size_t d = EditDistance(word, candidate);
    if (d < best) {
      best = d;
      found = candidate;
    }
  }
  return std::string(found);
}

std::string DidYouMean(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string hint = NearestName(word, candidates);
  return hint.empty() ? std::string() : "; did you mean '" + hint + "'?";
}

std::string JoinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace cairn
