#include "monitoring/stats/sort_sample.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>

namespace cairn::monitoring::stats {
namespace {

// Below this size std::sort wins (the radix passes touch 6 × 2048 counters).
constexpr size_t kRadixMinSize = 4096;
constexpr int kDigitBits = 11;
constexpr int kPasses = 6;  // 6 × 11 >= 64
constexpr uint64_t kDigitMask = (uint64_t{1} << kDigitBits) - 1;
constexpr uint64_t kSignBit = uint64_t{1} << 63;

// Maps a double's bits to an unsigned key with the same order: negative numbers have all
// bits flipped (larger magnitude sorts first), non-negative ones get the sign bit set.
inline uint64_t OrderedKey(uint64_t bits) { return (bits & kSignBit) ? ~bits : bits | kSignBit; }

inline uint64_t FromOrderedKey(uint64_t key) { return (key & kSignBit) ? key & ~kSignBit : ~key; }

// The scratch buffer of this thread: sorting the columns of a drift run one after the
// other reuses it instead of allocating (and page-faulting in) 8 bytes per value per sort.
// It keeps the size of the largest sample sorted on the thread.
uint64_t* Scratch(size_t n) {
  thread_local std::unique_ptr<uint64_t[]> buffer;
  thread_local size_t capacity = 0;
  if (capacity < n) {
    buffer.reset();  // free first: the old and the new buffer need not coexist
    buffer.reset(new uint64_t[n]);  // uninitialised: every slot is written before it is read
    capacity = n;
  }
  return buffer.get();
}

// One scatter pass by the digit at `shift`. The sample lives either in `values` (as
// doubles, or as keys stored bit for bit) or in `scratch` (keys); `kFromValues` says
// which is the source. `kConvertIn`: the source holds doubles, not keys yet (first pass);
// `kConvertOut`: store doubles, not keys (last pass into `values`).
template <bool kFromValues, bool kConvertIn, bool kConvertOut>
void Scatter(double* values, uint64_t* scratch, size_t n, int shift, uint32_t* offsets) {
  for (size_t i = 0; i < n; ++i) {
    uint64_t key;
    if constexpr (kFromValues) {
      key = std::bit_cast<uint64_t>(values[i]);
      if constexpr (kConvertIn) key = OrderedKey(key);
    } else {
      key = scratch[i];
    }
    const uint32_t at = offsets[(key >> shift) & kDigitMask]++;
    if constexpr (kFromValues) {
      scratch[at] = key;
    } else if constexpr (kConvertOut) {
      values[at] = std::bit_cast<double>(FromOrderedKey(key));
    } else {
      values[at] = std::bit_cast<double>(key);
    }
  }
}

}  // namespace

void SortSample(std::vector<double>& values) {
  const size_t n = values.size();
  if (n < kRadixMinSize || n > UINT32_MAX) {
    std::sort(values.begin(), values.end());
    return;
  }
  double* const data = values.data();
  // Every digit's histogram in one read.
  std::array<std::array<uint32_t, size_t{1} << kDigitBits>, kPasses> counts{};
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = OrderedKey(std::bit_cast<uint64_t>(data[i]));
    for (int pass = 0; pass < kPasses; ++pass) {
      ++counts[pass][(key >> (pass * kDigitBits)) & kDigitMask];
    }
  }
  // A digit every key shares (high exponent bits of similar values, low mantissa bits of
  // integers) needs no pass.
  const uint64_t first = OrderedKey(std::bit_cast<uint64_t>(data[0]));
  std::array<int, kPasses> passes{};
  int active = 0;
  for (int pass = 0; pass < kPasses; ++pass) {
    if (counts[pass][(first >> (pass * kDigitBits)) & kDigitMask] != n) passes[active++] = pass;
  }
  if (active == 0) return;  // every value has the same bits
  uint64_t* const scratch = Scratch(n);
  // The sample alternates between `values` and the scratch buffer: it starts in `values`
  // as doubles, is a key in between, and ends in `values` as doubles again.
  for (int step = 0; step < active; ++step) {
    const int pass = passes[step];
    uint32_t* const offsets = counts[pass].data();
    uint32_t offset = 0;
    for (size_t d = 0; d < counts[pass].size(); ++d) {
      const uint32_t here = offsets[d];
      offsets[d] = offset;
      offset += here;
    }
    const int shift = pass * kDigitBits;
    const bool from_values = step % 2 == 0;
    const bool first_step = step == 0;
    const bool last_step = step == active - 1;
    if (from_values) {
      if (first_step) {
        Scatter<true, true, false>(data, scratch, n, shift, offsets);
      } else {
        Scatter<true, false, false>(data, scratch, n, shift, offsets);
      }
    } else if (last_step) {
      Scatter<false, false, true>(data, scratch, n, shift, offsets);
    } else {
      Scatter<false, false, false>(data, scratch, n, shift, offsets);
    }
  }
  if (active % 2 == 1) {  // the last pass wrote the keys into the scratch buffer
    for (size_t i = 0; i < n; ++i) data[i] = std::bit_cast<double>(FromOrderedKey(scratch[i]));
  }
}

}  // namespace cairn::monitoring::stats
