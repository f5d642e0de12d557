#include "common/ids.h"

#include <random>

namespace cairn {

std::string NewUuidHex() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  uint64_t hi = rng(), lo = rng();
  for (int digit_idx = 0; digit_idx < 16; ++digit_idx) {
    out[digit_idx] = kHex[(hi >> (60 - 4 * digit_idx)) & 0xf];
    out[16 + digit_idx] = kHex[(lo >> (60 - 4 * digit_idx)) & 0xf];
  }
  return out;
}

}  // namespace cairn
