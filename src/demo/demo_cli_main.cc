// `cairn demo` alone: the demo's command line (demo_command.h) without the rest of the
// binary. The demo's tests run the pipeline's steps with it (`<this> demo step …`), and
// `<this> demo --data DIR` runs the whole demo as `cairn demo` does.
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "demo/demo_command.h"

int main(int argc, char** argv) {
  CLI::App app("cairn demo, alone", "demo_cli");
  app.require_subcommand(1);
  int exit_code = 0;
  cairn::demo::AddDemoCommand(app, exit_code);
  std::vector<std::string> reversed;  // CLI11 parses from the back
  for (int idx = argc - 1; idx >= 1; --idx) reversed.emplace_back(argv[idx]);
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  return exit_code;
}
