#pragma once
// What a step asks of a machine (DESIGN.md §5 "compute"): CPUs, memory, GPUs and a time
// limit, and the text forms users write in YAML and on the command line.
//
//   cpus:    1, 2, 0.5          (a positive number; default 1)
//   memory:  512Mi, 4Gi, 1G, 1500M, 1048576 (bytes)   (default 0 = not declared)
//   gpus:    0, 1, 2            (default 0; GPUs only where a step asks for them)
//   timeout: 30s, 5m, 2h        (default 0 = no limit)
//
// Binary suffixes Ki/Mi/Gi/Ti are powers of 1024, decimal K/M/G/T powers of 1000 (as
// Kubernetes). Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cairn::compute {

struct Resources {
  double cpus = 1;           // > 0
  int64_t memory_bytes = 0;  // 0: not declared (the executor counts it as 0)
  int gpus = 0;              // >= 0
  int64_t timeout_ms = 0;    // 0: no limit

  bool operator==(const Resources&) const = default;
};

// "512Mi" → 536870912. InvalidArgument naming the value and the accepted forms.
absl::StatusOr<int64_t> ParseMemory(std::string_view text);
// 536870912 → "512Mi"; exact binary units when they divide, else bytes.
std::string FormatMemory(int64_t bytes);

// "cpus=2 memory=4Gi gpus=1 timeout=30m" (fields at their default are left out).
std::string FormatResources(const Resources& resources);

}  // namespace cairn::compute
