#pragma once
// Runs a short command without a shell and captures what it prints: how the Slurm executor
// calls sbatch, squeue, scontrol, scancel and sinfo. posix_spawn (no fork of a large
// server), pipes opened close-on-exec (nothing leaks into processes other threads start).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::compute {

struct CommandResult {
  int exit_code = -1;  // -1: ended by a signal
  std::string out, err;
};

// Runs argv (argv[0] looked up in PATH) with stdin from /dev/null and the server's
// environment plus `env` (which overrides), and waits for it. A non-zero exit is not an
// error (see exit_code). Unavailable when it cannot be started ("cannot run 'sbatch': No
// such file or directory"); DeadlineExceeded when it runs longer than timeout_ms (it is
// killed). Thread-safe.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::map<std::string, std::string>& env = {},
                                         int64_t timeout_ms = 30'000);

}  // namespace cairn::compute
