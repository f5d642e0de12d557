#pragma once
// Time source. All times are int64 milliseconds since the Unix epoch, UTC (DESIGN.md §4).
// Components that wait or schedule take a Clock&, so tests can drive a FakeClock.

#include <atomic>
#include <cstdint>

namespace cairn {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch. Thread-safe.
  virtual int64_t NowMillis() const = 0;
};

// The wall clock. Thread-safe; a process-wide instance is returned by RealClock().
class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override;
};
Clock& RealClock();

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_millis = 1'700'000'000'000) : now_(start_millis) {}
  int64_t NowMillis() const override { return now_.load(); }
  void Advance(int64_t millis) { now_ += millis; }
  void Set(int64_t millis) { now_ = millis; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace cairn
