#pragma once
// The `cairn demo` command line: `cairn demo [--data DIR] [--rows N] [--threads N]
// [--rounds N] [--no-cache]` runs the demo (demo.h); `cairn demo step <name> …` runs one
// stage of its pipeline (step_command.h). src/cli/cli.cc registers it on the app.

namespace CLI {
class App;
}

namespace cairn::demo {

// Adds `demo` (and its `step` subcommand) to `app`; the callbacks set `exit_code`.
void AddDemoCommand(CLI::App& app, int& exit_code);

}  // namespace cairn::demo
