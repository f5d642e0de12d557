#include "pipelines/run_types.h"

#include <array>

namespace cairn::pipelines {
namespace {

constexpr std::array<std::string_view, 5> kRunStateNames = {"queued", "running", "succeeded",
                                                            "failed", "cancelled"};
constexpr std::array<std::string_view, 7> kStepStateNames = {
    "queued", "running", "succeeded", "failed", "cancelled", "skipped", "cached"};

}  // namespace

std::string_view RunStateName(RunState state) {
  return kRunStateNames[static_cast<size_t>(state)];
}

std::string_view StepStateName(StepState state) {
  return kStepStateNames[static_cast<size_t>(state)];
}

bool ParseRunState(std::string_view text, RunState* state) {
  for (size_t i = 0; i < kRunStateNames.size(); ++i) {
    if (kRunStateNames[i] == text) {
      *state = static_cast<RunState>(i);
      return true;
    }
  }
  return false;
}

bool ParseStepState(std::string_view text, StepState* state) {
  for (size_t i = 0; i < kStepStateNames.size(); ++i) {
    if (kStepStateNames[i] == text) {
      *state = static_cast<StepState>(i);
      return true;
    }
  }
  return false;
}

bool IsTerminal(RunState state) {
  return state != RunState::kQueued && state != RunState::kRunning;
}

bool IsTerminal(StepState state) {
  return state != StepState::kQueued && state != StepState::kRunning;
}

}  // namespace cairn::pipelines
