#pragma once
// `cairn demo`: the main job on the embedded defaults (DESIGN.md §9).

#include <string>

namespace cairn::demo {

struct DemoOptions {
  std::string data_dir = "demo-data";
  int rows = 100'000;
  int threads = 0;  // xgboost threads; 0: all cores
};

// Runs the demo end to end, printing each chapter; returns the process exit code.
int RunDemo(const DemoOptions& options);

}  // namespace cairn::demo
