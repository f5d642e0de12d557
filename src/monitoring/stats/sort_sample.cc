#include "monitoring/stats/sort_sample.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

namespace cairn::monitoring::stats {
namespace {

// Below this size std::sort wins (the radix passes touch 6 × 2048 counters).
constexpr size_t kRadixMinSize = 4096;
constexpr int kDigitBits = 11;
constexpr int kPasses = 6;  // 6 × 11 >= 64
constexpr uint64_t kDigitMask = (uint64_t{1} << kDigitBits) - 1;

// Maps a double's bits to an unsigned key with the same order: negative numbers have all
// bits flipped (larger magnitude sorts first), non-negative ones get the sign bit set.
inline uint64_t OrderedKey(double value) {
  const uint64_t bits = std::bit_cast<uint64_t>(value);
  return (bits & (uint64_t{1} << 63)) ? ~bits : bits | (uint64_t{1} << 63);
}

inline double FromOrderedKey(uint64_t key) {
  const uint64_t bits = (key & (uint64_t{1} << 63)) ? key & ~(uint64_t{1} << 63) : ~key;
  return std::bit_cast<double>(bits);
}

}  // namespace

void SortSample(std::vector<double>& values) {
  const size_t n = values.size();
  if (n < kRadixMinSize || n > UINT32_MAX) {
    std::sort(values.begin(), values.end());
    return;
  }
  std::vector<uint64_t> keys(n);
  std::vector<uint64_t> scratch(n);
  std::array<std::array<uint32_t, size_t{1} << kDigitBits>, kPasses> counts{};
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = OrderedKey(values[i]);
    keys[i] = key;
    for (int pass = 0; pass < kPasses; ++pass) ++counts[pass][(key >> (pass * kDigitBits)) & kDigitMask];
  }
  uint64_t* from = keys.data();
  uint64_t* to = scratch.data();
  for (int pass = 0; pass < kPasses; ++pass) {
    auto& count = counts[pass];
    const int shift = pass * kDigitBits;
    // A digit every key shares (high exponent bits of similar values, low mantissa bits
    // of integers) needs no pass.
    if (count[(from[0] >> shift) & kDigitMask] == n) continue;
    uint32_t offset = 0;
    for (auto& c : count) {
      const uint32_t here = c;
      c = offset;
      offset += here;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint64_t key = from[i];
      to[count[(key >> shift) & kDigitMask]++] = key;
    }
    std::swap(from, to);
  }
  for (size_t i = 0; i < n; ++i) values[i] = FromOrderedKey(from[i]);
}

}  // namespace cairn::monitoring::stats
