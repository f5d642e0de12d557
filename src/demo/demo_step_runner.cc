// A stand-in for the `cairn` binary in the demo's tests: runs `<this> demo step <name> …`
// exactly as `cairn demo step <name> …` does (step_command.h), without linking the whole
// command line and server.
#include <iostream>
#include <string>
#include <vector>

#include "demo/step_command.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() < 2 || args[0] != "demo" || args[1] != "step") {
    std::cerr << "usage: " << argv[0] << " demo step <name> …\n";
    return 2;
  }
  args.erase(args.begin(), args.begin() + 2);
  return cairn::demo::RunDemoStepCommand(args, std::cout, std::cerr);
}
