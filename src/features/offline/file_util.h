#pragma once
// POSIX file helpers for the offline store: whole writes and reads that retry on EINTR
// and short counts, directory fsync, and atomic replacement of small files. Errors name
// the path and the operation.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn::features::offline {

// A status for a failed system call `op` on `path` with errno `err`: NotFound for
// ENOENT, ResourceExhausted for ENOSPC/EDQUOT, Internal otherwise.
absl::Status IoError(std::string_view op, std::string_view path, int err);

absl::Status WriteAll(int fd, const void* data, size_t n, std::string_view path);
// Reads exactly n bytes at `offset`; DataLoss when the file is shorter.
absl::Status PreadAll(int fd, void* data, size_t n, uint64_t offset, std::string_view path);
absl::Status FsyncDir(const std::string& dir);
// Writes `contents` to `path` so that a crash leaves either the old or the new file:
// `path`.tmp, fsync, rename over `path`, fsync of the directory.
absl::Status WriteFileAtomic(const std::string& path, std::string_view contents);
// The whole file.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace cairn::features::offline
