#pragma once
// Starting a local job's process (local_executor.h): cairn-job-shim as the leader of a new
// session and process group, in the job's working directory, with stdin from /dev/null,
// stdout and stderr appended to the job's log, every signal at its default disposition and
// none blocked (the shim unblocks them: it is started with all blocked), no file descriptors
// of the server but 0-2. vfork-style, so the cost does not grow with the server's memory.
// Thread-safe.

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compute/executor.h"

namespace cairn::compute {

// `base` ("K=V" entries) with `overrides` replacing or adding variables.
std::vector<std::string> MergeEnvironment(const std::vector<std::string>& base,
                                          const std::map<std::string, std::string>& overrides);

// The file argv[0] names as the job will run it: searched in `path` (the job's PATH) unless
// it contains a '/', relative to `workdir` when relative. NotFound / PermissionDenied with a
// message that names the command.
absl::StatusOr<std::string> ResolveCommand(const std::string& command, const std::string& path,
                                           const std::string& workdir);

bool IsExecutableFile(const std::string& path);

// For the launch's child (and tests): closes every descriptor from 3 up where close_range
// is missing (Linux < 5.9) or refused (seccomp profiles) — those listed in /proc/self/fd,
// read with raw getdents64 into a stack buffer (only system calls, as a vfork child may
// make), else 3..RLIMIT_NOFILE one by one (up to a million close calls under container
// limits, hence the listing first).
void CloseDescriptorsFrom3();

// Creates spec.workdir and the log's folder, resolves spec.argv[0] and spawns
//   shim RECORD TOKEN RESOLVED-PATH ARGV...
// with `environment`. Returns the shim's pid (= session id = process group id). Errors
// carry the message a kLaunchError reports ("cannot create working directory '/x': …",
// "command 'foo' not found in PATH (…)").
absl::StatusOr<pid_t> LaunchProcess(const std::string& shim_path, const std::string& record_path,
                                    const std::string& token, const JobSpec& spec,
                                    const std::vector<std::string>& environment);

}  // namespace cairn::compute
