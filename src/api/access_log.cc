#include "api/access_log.h"

#include <time.h>

#include <cstdint>

#include "absl/time/time.h"

namespace cairn::api {
namespace {

constexpr size_t kFlushBytes = 32 * 1024;
constexpr absl::Duration kFlushInterval = absl::Milliseconds(100);

}  // namespace

void AppendLogTimestamp(std::chrono::system_clock::time_point time, std::string* out) {
  // Floors, as absl::FormatTime: times before 1970 name the millisecond they fall in.
  const int64_t millis =
      std::chrono::floor<std::chrono::milliseconds>(time.time_since_epoch()).count();
  int64_t seconds = millis / 1000;
  int64_t millis_part = millis % 1000;
  if (millis_part < 0) {
    millis_part += 1000;
    --seconds;
  }
  // "YYYY-MM-DDTHH:MM:SS" of the last second formatted on this thread.
  thread_local int64_t cached_second = INT64_MIN;
  thread_local char cached[32];
  thread_local size_t cached_size = 0;
  if (seconds != cached_second) {
    const time_t t = static_cast<time_t>(seconds);
    struct tm parts;
    gmtime_r(&t, &parts);
    cached_size = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &parts);
    cached_second = seconds;
  }
  out->append(cached, cached_size);
  const char fraction[] = {'.', static_cast<char>('0' + millis_part / 100),
                           static_cast<char>('0' + millis_part / 10 % 10),
                           static_cast<char>('0' + millis_part % 10), 'Z'};
  out->append(fraction, sizeof(fraction));
}

AccessLog::AccessLog(std::FILE* out) : out_(out) {
  flusher_ = std::thread([this] { RunFlusher(); });
}

AccessLog::~AccessLog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  flusher_.join();
  Flush();
}

void AccessLog::Write(std::string_view message) {
  bool full;
  {
    absl::MutexLock lock(&mu_);
    AppendLogTimestamp(std::chrono::system_clock::now(), &buffer_);
    buffer_.append(" INFO ");
    buffer_.append(message);
    buffer_.push_back('\n');
    full = buffer_.size() >= kFlushBytes;
  }
  if (full) Flush();
}

void AccessLog::Flush() {
  absl::MutexLock write_lock(&write_mu_);
  {
    absl::MutexLock lock(&mu_);
    writing_.swap(buffer_);
  }
  if (writing_.empty()) return;
  std::fwrite(writing_.data(), 1, writing_.size(), out_);
  std::fflush(out_);
  writing_.clear();
}

void AccessLog::RunFlusher() {
  for (;;) {
    bool stop;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(this, &AccessLog::Stopping), kFlushInterval);
      stop = stop_;
    }
    Flush();
    if (stop) return;
  }
}

}  // namespace cairn::api
