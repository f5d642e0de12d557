#include "compute/executor.h"

#include <initializer_list>

namespace cairn::compute {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

bool IsTerminal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed ||
         state == JobState::kCancelled;
}

std::string_view FailureReasonName(FailureReason reason) {
  switch (reason) {
    case FailureReason::kNone:
      return "none";
    case FailureReason::kExitCode:
      return "exit_code";
    case FailureReason::kSignal:
      return "signal";
    case FailureReason::kTimeout:
      return "timeout";
    case FailureReason::kOutOfMemory:
      return "out_of_memory";
    case FailureReason::kLostNode:
      return "lost_node";
    case FailureReason::kCancelled:
      return "cancelled";
    case FailureReason::kLaunchError:
      return "launch_error";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(std::string_view name) {
  for (JobState state : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                         JobState::kFailed, JobState::kCancelled}) {
    if (JobStateName(state) == name) return state;
  }
  return std::nullopt;
}

std::optional<FailureReason> ParseFailureReason(std::string_view name) {
  for (FailureReason reason :
       {FailureReason::kNone, FailureReason::kExitCode, FailureReason::kSignal,
        FailureReason::kTimeout, FailureReason::kOutOfMemory, FailureReason::kLostNode,
        FailureReason::kCancelled, FailureReason::kLaunchError}) {
    if (FailureReasonName(reason) == name) return reason;
  }
  return std::nullopt;
}

}  // namespace cairn::compute
