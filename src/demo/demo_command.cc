#include "demo/demo_command.h"

#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "demo/demo.h"
#include "demo/step_command.h"

namespace cairn::demo {

void AddDemoCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* demo = app.add_subcommand(
      "demo", "Train an XGBoost churn model grid as a pipeline, track the runs, register the best");
  demo->add_option("--data", options->data_dir, "Data directory to write to")
      ->capture_default_str();
  demo->add_option("--rows", options->rows, "Customers to generate")
      ->check(CLI::Range(100, 100'000'000))
      ->capture_default_str();
  demo->add_option("--threads", options->threads,
                   "CPUs the pipeline's local executor may use (0: every core)")
      ->check(CLI::NonNegativeNumber);
  demo->add_option("--rounds", options->num_round, "Boosting rounds per model")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  demo->add_flag("--no-cache", options->no_cache,
                 "Run every pipeline step even when an earlier run has its outputs");

  CLI::App* step = demo->add_subcommand(
      "step", "Run one stage of the churn-train pipeline: training-set | train | evaluate | "
              "register (the pipeline's steps call this)");
  step->prefix_command();  // the rest goes to RunDemoStepCommand as it is
  step->callback([step, &exit_code] {
    exit_code = RunDemoStepCommand(step->remaining(), std::cout, std::cerr);
  });
  demo->callback([demo, options, &exit_code] {
    if (demo->got_subcommand("step")) return;
    exit_code = RunDemo(*options);
  });
}

}  // namespace cairn::demo
