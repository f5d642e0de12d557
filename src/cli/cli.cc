#include "cli/cli.h"

#include <cstdio>

namespace cairn::cli {
int Main(int argc, char** argv) {
  std::fprintf(stderr, "cairn: no commands yet\n");
  return 2;
}
}  // namespace cairn::cli
