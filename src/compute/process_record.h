#pragma once
// The job record: "<log_path>.status", written by cairn-job-shim (process_shim.cc): one
// line when a local job starts, and one more line appended when it ends (appending frees
// no disk blocks, unlike replacing the file); the last complete line is the record. It is
// how a restarted server recognises a job's process and learns its exit status:
//
//   cairn-job 1 token=9f2c… pid=4242 starttime=123456 start_ms=1700000000000 state=running
//     gpus=0,1       (one line; the last field is the job's CUDA_VISIBLE_DEVICES)
//   cairn-job 1 token=9f2c… pid=4242 starttime=123456 start_ms=… state=exited code=3 end_ms=…
//   … state=signaled signal=9 end_ms=…
//   … state=launch_error errno=2 end_ms=…
//
// `starttime` was field 22 of /proc/<pid>/stat (with the pid it names one process for the
// life of the machine); the shim now writes 0 and saves reading /proc per job: a restarted
// server recognises the shim by the token in its command line (JobShimAlive). Records with
// a start time (older shims) are still checked by it.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::compute {

struct JobRecord {
  enum class State { kRunning, kExited, kSignaled, kLaunchError };
  std::string token;
  pid_t pid = 0;
  uint64_t starttime = 0;
  int64_t start_ms = 0;
  State state = State::kRunning;
  int exit_code = 0;      // kExited
  int signal = 0;         // kSignaled
  int error = 0;          // kLaunchError: errno of execv
  int64_t end_ms = 0;     // not kRunning
  std::vector<int> gpus;  // kRunning: the job's CUDA_VISIBLE_DEVICES
};

// "<log_path>.status".
std::string JobRecordPath(std::string_view log_path);

// The kill note "<log_path>.kill": written by the executor when it starts killing a job
// for a reason (timeout, out of memory, cancel), so that a restarted server reports that
// reason rather than the bare signal:
//
//   cairn-kill 1 token=9f2c… reason=timeout
//   exceeded its time limit of 30s
struct KillNote {
  std::string reason;   // FailureReasonName(): "timeout", "out_of_memory", "cancelled"
  std::string message;  // JobStatus.message
};
std::string KillNotePath(std::string_view log_path);
// Best effort (a job is killed whether or not the note could be written).
void WriteKillNote(const std::string& path, std::string_view token, const KillNote& note);
// nullopt when there is no note for `token`.
std::optional<KillNote> ReadKillNote(const std::string& path, std::string_view token);

// InvalidArgument for text that is not a record.
absl::StatusOr<JobRecord> ParseJobRecord(std::string_view text);

// The last complete (newline-terminated) line of the file. NotFound when the file does
// not exist or has no complete line yet; InvalidArgument when that line is not a record.
absl::StatusOr<JobRecord> ReadJobRecord(const std::string& path);

}  // namespace cairn::compute
