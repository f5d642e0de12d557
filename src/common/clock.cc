#include "common/clock.h"

#include <chrono>

namespace cairn {

int64_t SystemClock::NowMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Clock& RealClock() {
  static SystemClock clock;
  return clock;
}

}  // namespace cairn
