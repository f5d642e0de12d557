#include "compute/executor.h"

namespace cairn::compute {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
  }
  return "unknown";
}

bool IsTerminal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed ||
         state == JobState::kCancelled;
}

std::string_view FailureReasonName(FailureReason reason) {
  switch (reason) {
    case FailureReason::kNone: return "none";
    case FailureReason::kExitCode: return "exit_code";
    case FailureReason::kSignal: return "signal";
    case FailureReason::kTimeout: return "timeout";
    case FailureReason::kOutOfMemory: return "out_of_memory";
    case FailureReason::kLostNode: return "lost_node";
    case FailureReason::kCancelled: return "cancelled";
    case FailureReason::kLaunchError: return "launch_error";
  }
  return "unknown";
}

}  // namespace cairn::compute
