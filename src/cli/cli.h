#pragma once
// The command line: `cairn <noun> <verb>` (DESIGN.md §2). One file per noun.

namespace cairn::cli {

// Parses argv and runs the command; returns the process exit code. Errors go to stderr
// with a non-zero exit.
int Main(int argc, char** argv);

}  // namespace cairn::cli
