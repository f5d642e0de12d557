#pragma once
// "Did you mean …?" hints for user-facing errors: the nearest valid name to a misspelt
// one, by edit distance. Pure functions; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace cairn {

// The Levenshtein distance between `a` and `b` (insertions, deletions, substitutions).
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` by edit distance (ties: the first), or "" when none is
// within max(2, |word| / 2) edits.
std::string NearestName(std::string_view word, const std::vector<std::string_view>& candidates);

// "; did you mean 'NAME'?" for the nearest candidate, or "" when none is near.
std::string DidYouMean(std::string_view word, const std::vector<std::string_view>& candidates);

// The names joined with ", " (for "valid fields: a, b, c").
std::string JoinNames(const std::vector<std::string_view>& names);

}  // namespace cairn
