#include "api/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/strings.h"

namespace cairn::api {
namespace {

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

// Reads (size, resident) pages from /proc/self/statm; false if unavailable.
bool ReadStatm(uint64_t* size_pages, uint64_t* resident_pages) {
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return false;
  unsigned long long size = 0, resident = 0;
  bool ok = std::fscanf(file, "%llu %llu", &size, &resident) == 2;
  std::fclose(file);
  *size_pages = size;
  *resident_pages = resident;
  return ok;
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

int HttpMetrics::AddSeries(std::string route, std::string method) {
  Series& series = series_.emplace_back();
  series.route = EscapeLabelValue(route);
  series.method = EscapeLabelValue(method);
  return static_cast<int>(series_.size()) - 1;
}

void HttpMetrics::Record(int series_id, int status, std::chrono::nanoseconds duration) {
  Series& series = series_[static_cast<size_t>(series_id)];
  bool counted = false;
  for (int slot_idx = 0; slot_idx < kCodeSlots && !counted; ++slot_idx) {
    int code = series.codes[slot_idx].load(std::memory_order_acquire);
    if (code == 0) {
      int expected = 0;
      // Claim the free slot; if another thread claimed it first, `expected` holds its code.
      if (series.codes[slot_idx].compare_exchange_strong(expected, status,
                                                         std::memory_order_acq_rel)) {
        code = status;
      } else {
        code = expected;
      }
    }
    if (code == status) {
      series.code_counts[slot_idx].fetch_add(1, kRelaxed);
      counted = true;
    }
  }
  if (!counted) series.other_code_count.fetch_add(1, kRelaxed);

  const int64_t nanos = duration.count() < 0 ? 0 : duration.count();
  const double seconds = static_cast<double>(nanos) * 1e-9;
  int bucket_idx = 0;
  while (bucket_idx < kNumBuckets && seconds > kBucketBounds[bucket_idx]) ++bucket_idx;
  series.buckets[bucket_idx].fetch_add(1, kRelaxed);
  series.sum_nanos.fetch_add(static_cast<uint64_t>(nanos), kRelaxed);
  series.count.fetch_add(1, kRelaxed);
}

uint64_t HttpMetrics::RequestCount(int series_id) const {
  return series_[static_cast<size_t>(series_id)].count.load(kRelaxed);
}

void HttpMetrics::AppendPrometheus(std::string* out) const {
  absl::StrAppend(out,
                  "# HELP cairn_http_requests_total HTTP requests by route pattern, method "
                  "and status code.\n"
                  "# TYPE cairn_http_requests_total counter\n");
  for (const Series& series : series_) {
    if (series.count.load(kRelaxed) == 0) continue;
    for (int slot_idx = 0; slot_idx < kCodeSlots; ++slot_idx) {
      int code = series.codes[slot_idx].load(std::memory_order_acquire);
      if (code == 0) break;
      absl::StrAppend(out, "cairn_http_requests_total{route=\"", series.route, "\",method=\"",
                      series.method, "\",code=\"", code, "\"} ",
                      series.code_counts[slot_idx].load(kRelaxed), "\n");
    }
    uint64_t other = series.other_code_count.load(kRelaxed);
    if (other > 0) {
      absl::StrAppend(out, "cairn_http_requests_total{route=\"", series.route, "\",method=\"",
                      series.method, "\",code=\"other\"} ", other, "\n");
    }
  }

  absl::StrAppend(out,
                  "# HELP cairn_http_request_duration_seconds Time from a request's header "
                  "to the end of its response.\n"
                  "# TYPE cairn_http_request_duration_seconds histogram\n");
  for (const Series& series : series_) {
    if (series.count.load(kRelaxed) == 0) continue;
    // Read the buckets once and derive _count from them so the histogram is consistent
    // even while other threads record.
    uint64_t cumulative = 0;
    std::string labels = absl::StrCat("route=\"", series.route, "\",method=\"", series.method);
    for (int bucket_idx = 0; bucket_idx <= kNumBuckets; ++bucket_idx) {
      cumulative += series.buckets[bucket_idx].load(kRelaxed);
      absl::StrAppend(out, "cairn_http_request_duration_seconds_bucket{", labels, "\",le=\"");
      if (bucket_idx < kNumBuckets) {
        absl::StrAppend(out, kBucketBounds[bucket_idx]);
      } else {
        absl::StrAppend(out, "+Inf");
      }
      absl::StrAppend(out, "\"} ", cumulative, "\n");
    }
    absl::StrAppend(
        out, "cairn_http_request_duration_seconds_sum{", labels, "\"} ",
        absl::StrFormat("%.9f", static_cast<double>(series.sum_nanos.load(kRelaxed)) * 1e-9),
        "\n");
    absl::StrAppend(out, "cairn_http_request_duration_seconds_count{", labels, "\"} ", cumulative,
                    "\n");
  }

  absl::StrAppend(out,
                  "# HELP cairn_http_connections_open HTTP connections currently open.\n"
                  "# TYPE cairn_http_connections_open gauge\n"
                  "cairn_http_connections_open ",
                  connections_.load(kRelaxed), "\n");

  uint64_t size_pages = 0, resident_pages = 0;
  if (ReadStatm(&size_pages, &resident_pages)) {
    const uint64_t page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    absl::StrAppend(out,
                    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                    "# TYPE process_resident_memory_bytes gauge\n"
                    "process_resident_memory_bytes ",
                    resident_pages * page_size,
                    "\n"
                    "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                    "# TYPE process_virtual_memory_bytes gauge\n"
                    "process_virtual_memory_bytes ",
                    size_pages * page_size, "\n");
  }
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    double cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) *
                             1e-6;
    absl::StrAppend(out,
                    "# HELP process_cpu_seconds_total User and system CPU time in seconds.\n"
                    "# TYPE process_cpu_seconds_total counter\n"
                    "process_cpu_seconds_total ",
                    absl::StrFormat("%.6f", cpu_seconds), "\n");
  }
}

}  // namespace cairn::api
