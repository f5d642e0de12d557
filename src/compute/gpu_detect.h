#pragma once
// Which GPUs this machine offers to jobs (the local executor's GPU capacity).
//
// Order of precedence: a configured list (executor config `gpus:`), else this process's
// CUDA_VISIBLE_DEVICES when it is set (an empty value means "no GPUs"), else the GPUs
// `nvidia-smi -L` lists when nvidia-smi is on PATH, else none. Indices are the physical
// device numbers a job receives in its own CUDA_VISIBLE_DEVICES.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::compute {

struct GpuInventory {
  std::vector<int> indices;  // ascending, distinct
  // Where the list came from, for `cairn compute status` and error messages:
  // "configured", "CUDA_VISIBLE_DEVICES", "nvidia-smi", "none".
  std::string source;
};

// "0,1,3" → {0, 1, 3}; "" → {}; spaces around entries are allowed. InvalidArgument for
// anything that is not a comma-separated list of distinct non-negative integers (GPU UUIDs
// such as "GPU-5f3c…" are refused: jobs are given device numbers).
absl::StatusOr<std::vector<int>> ParseGpuList(std::string_view text);

// The indices in `nvidia-smi -L` output ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-…)").
std::vector<int> ParseNvidiaSmiList(std::string_view output);

// CUDA_VISIBLE_DEVICES if set and valid, else nvidia-smi, else none. Runs nvidia-smi (at
// most ~10 s) when it is consulted; call once at startup. Thread-safe.
GpuInventory DetectGpus();

// "0,1" (the form CUDA_VISIBLE_DEVICES takes).
std::string FormatGpuList(const std::vector<int>& indices);

}  // namespace cairn::compute
