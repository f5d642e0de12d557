#pragma once
// Request counters and latency histograms for the HTTP server, rendered in Prometheus text
// format (exposition format 0.0.4) at GET /metrics.
//
// One series per (route pattern, method): the server adds a series for every route, its
// built-in routes and the unmatched requests, before it serves. Per series:
//   cairn_http_requests_total{route="…",method="…",code="…"}            counter
//   cairn_http_request_duration_seconds_bucket{route="…",method="…",le="…"} histogram
//   (+ _sum and _count)
// Recording is lock-free (relaxed atomics, one cache-line-aligned block per series), so the
// hot path never takes a mutex. Adding series is not thread-safe; Record and Render are,
// once the series are set up.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace cairn::api {

class HttpMetrics {
 public:
  // Upper bounds of the latency histogram, seconds (the +Inf bucket is implicit).
  static constexpr double kBucketBounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  static constexpr int kNumBuckets = sizeof(kBucketBounds) / sizeof(kBucketBounds[0]);

  HttpMetrics() = default;
  HttpMetrics(const HttpMetrics&) = delete;
  HttpMetrics& operator=(const HttpMetrics&) = delete;

  // Adds a series and returns its id (0, 1, 2, … in call order). Not thread-safe: call
  // before any Record/Render.
  int AddSeries(std::string route, std::string method);
  int num_series() const { return static_cast<int>(series_.size()); }

  // Counts one request of series `series_id` answered with HTTP `status` after `duration`.
  // Thread-safe, lock-free.
  void Record(int series_id, int status, std::chrono::nanoseconds duration);

  // Requests counted so far for a series (all codes). Thread-safe.
  uint64_t RequestCount(int series_id) const;

  // Appends the exposition text of every series that has counted a request, then the
  // process gauges (resident/virtual memory, CPU seconds, open connections given by the
  // caller). Thread-safe.
  void AppendPrometheus(std::string* out) const;

  // Connections currently open (a gauge the server maintains).
  void AddConnections(int delta) { connections_.fetch_add(delta, std::memory_order_relaxed); }

 private:
  // Status codes seen by a series: a few slots claimed with CAS, then an overflow counter.
  static constexpr int kCodeSlots = 10;
  struct alignas(64) Series {
    std::string route;
    std::string method;
    std::atomic<int> codes[kCodeSlots] = {};
    std::atomic<uint64_t> code_counts[kCodeSlots] = {};
    std::atomic<uint64_t> other_code_count{0};
    std::atomic<uint64_t> buckets[kNumBuckets + 1] = {};  // not cumulative; last is +Inf
    std::atomic<uint64_t> sum_nanos{0};
    std::atomic<uint64_t> count{0};
  };

  // std::deque: stable addresses, and Series is neither copyable nor movable.
  std::deque<Series> series_;
  std::atomic<int64_t> connections_{0};
};

// Escapes a Prometheus label value (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view value);

}  // namespace cairn::api
