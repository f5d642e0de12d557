#include "monitoring/stats/sort_sample.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>

namespace cairn::monitoring::stats {
namespace {

// Below this size std::sort is as fast (the first pass touches 64 Ki counters).
constexpr size_t kRadixMinSize = 4096;
// The first pass groups values by the top 16 bits of their key (sign, exponent and 4
// mantissa bits) into buckets of about kBucketTarget values (one prefix may hold more).
constexpr int kPrefixBits = 16;
constexpr size_t kBucketTarget = 1024;
// Later passes split a bucket by up to 2^kMaxLevelBits digits of its own key range;
// buckets of at most kInsertionMax values are finished by insertion sort.
constexpr int kMaxLevelBits = 10;
constexpr size_t kInsertionMax = 16;
// Buckets of at most this many values are sorted in a per-thread buffer (128 KiB).
constexpr size_t kLocalMax = 16384;
constexpr uint64_t kSignBit = uint64_t{1} << 63;

// Maps a double's bits to an unsigned key with the same order: negative numbers have all
// bits flipped (larger magnitude sorts first), non-negative ones get the sign bit set.
inline uint64_t OrderedKey(uint64_t bits) { return (bits & kSignBit) ? ~bits : bits | kSignBit; }

inline uint64_t FromOrderedKey(uint64_t key) { return (key & kSignBit) ? key & ~kSignBit : ~key; }

// The scratch buffer of this thread: sorting the columns of a drift run one after the
// other reuses it instead of allocating (and page-faulting in) 8 bytes per value per sort.
// It keeps the size of the largest sample sorted on the thread.
double* Scratch(size_t n) {
  thread_local std::unique_ptr<double[]> buffer;
  thread_local size_t capacity = 0;
  if (capacity < n) {
    buffer.reset();  // free first: the old and the new buffer need not coexist
    buffer.reset(new double[n]);  // uninitialised: every slot is written before it is read
    capacity = n;
  }
  return buffer.get();
}

// While sorted, the keys are kept in double arrays (the sample's own and the scratch
// buffer) bit for bit; these read and write them.
inline uint64_t Key(const double* slots, size_t i) { return std::bit_cast<uint64_t>(slots[i]); }
inline void Put(double* slots, size_t i, uint64_t key) { slots[i] = std::bit_cast<double>(key); }

void InsertionSort(double* slots, size_t n) {
  for (size_t i = 1; i < n; ++i) {
    const uint64_t key = Key(slots, i);
    size_t j = i;
    for (; j > 0 && Key(slots, j - 1) > key; --j) slots[j] = slots[j - 1];
    Put(slots, j, key);
  }
}

// Sorts the n keys at `from` by most significant digits first. kInto: the sorted keys
// end in `other` (`from` is scratch); otherwise in `from` (`other` is scratch). Each
// level splits the keys' own range [min, max] into up to 2^kMaxLevelBits equal parts, so
// it adapts to how spread the bucket is; the range shrinks by at least one bit a level.
template <bool kInto>
void SortLevel(double* from, double* other, size_t n) {
  if (n <= kInsertionMax) {
    if constexpr (kInto) {
      std::memcpy(other, from, n * sizeof(double));
      InsertionSort(other, n);
    } else {
      InsertionSort(from, n);
    }
    return;
  }
  uint64_t low = Key(from, 0);
  uint64_t high = low;
  for (size_t i = 1; i < n; ++i) {
    low = std::min(low, Key(from, i));
    high = std::max(high, Key(from, i));
  }
  if (low == high) {  // all equal: already sorted
    if constexpr (kInto) std::memcpy(other, from, n * sizeof(double));
    return;
  }
  const int width = std::bit_width(high - low);
  const int bits = std::min(width, std::clamp(static_cast<int>(std::bit_width(n)), 2, kMaxLevelBits));
  const int shift = width - bits;
  const size_t digits = size_t{1} << bits;
  uint32_t end[size_t{1} << kMaxLevelBits];
  uint32_t next[size_t{1} << kMaxLevelBits];
  std::fill(end, end + digits, 0);
  for (size_t i = 0; i < n; ++i) ++end[(Key(from, i) - low) >> shift];
  uint32_t sum = 0;
  for (size_t d = 0; d < digits; ++d) {
    next[d] = sum;
    sum += end[d];
    end[d] = sum;
  }
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = Key(from, i);
    Put(other, next[(key - low) >> shift]++, key);
  }
  // The keys are in `other` now, bucket by bucket.
  uint32_t begin = 0;
  for (size_t d = 0; d < digits; ++d) {
    const uint32_t size = end[d] - begin;
    if constexpr (kInto) {
      if (size > 1) SortLevel<false>(other + begin, from + begin, size);
    } else if (size == 1) {
      from[begin] = other[begin];
    } else if (size > 1) {
      SortLevel<true>(other + begin, from + begin, size);
    }
    begin = end[d];
  }
}

}  // namespace

void SortSample(std::vector<double>& values) {
  const size_t n = values.size();
  if (n < kRadixMinSize || n > UINT32_MAX) {
    std::sort(values.begin(), values.end());
    return;
  }
  // The keys replace the values in place.
  double* const keys = values.data();
  thread_local std::unique_ptr<uint32_t[]> prefix_counts(new uint32_t[size_t{1} << kPrefixBits]);
  thread_local std::unique_ptr<uint16_t[]> bucket_of(new uint16_t[size_t{1} << kPrefixBits]);
  uint32_t* const counts = prefix_counts.get();
  std::fill(counts, counts + (size_t{1} << kPrefixBits), 0);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = OrderedKey(Key(keys, i));
    Put(keys, i, key);
    ++counts[key >> (64 - kPrefixBits)];
  }
  // Consecutive prefixes make one bucket until it holds about `target` keys.
  const size_t target = std::max(kBucketTarget, n / 1024);
  std::vector<uint32_t> starts;  // bucket → its first slot
  starts.reserve(4096);
  starts.push_back(0);
  uint32_t placed = 0;
  uint32_t in_bucket = 0;
  for (size_t prefix = 0; prefix < (size_t{1} << kPrefixBits); ++prefix) {
    const uint32_t count = counts[prefix];
    if (count != 0 && in_bucket != 0 && in_bucket + count > target) {
      starts.push_back(placed);
      in_bucket = 0;
    }
    bucket_of[prefix] = static_cast<uint16_t>(starts.size() - 1);
    in_bucket += count;
    placed += count;
  }
  const size_t buckets = starts.size();
  starts.push_back(placed);  // the end of the last bucket
  std::vector<uint32_t> next(starts.begin(), starts.end() - 1);
  double* const scratch = Scratch(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = Key(keys, i);
    Put(scratch, next[bucket_of[key >> (64 - kPrefixBits)]]++, key);
  }
  // A bucket that fits is sorted into a small buffer of this thread that stays in cache
  // (the sample's own slots are cold by now: scattering into them would miss on every
  // write), then written back in order as doubles.
  thread_local std::unique_ptr<double[]> local(new double[kLocalMax]);
  for (size_t b = 0; b < buckets; ++b) {
    const uint32_t begin = starts[b];
    const uint32_t size = starts[b + 1] - begin;
    if (size <= kLocalMax) {
      SortLevel<true>(scratch + begin, local.get(), size);
      for (uint32_t i = 0; i < size; ++i) Put(keys, begin + i, FromOrderedKey(Key(local.get(), i)));
    } else {
      SortLevel<true>(scratch + begin, keys + begin, size);
      for (uint32_t i = begin; i < begin + size; ++i) Put(keys, i, FromOrderedKey(Key(keys, i)));
    }
  }
}

}  // namespace cairn::monitoring::stats
