#pragma once
// The command line: `cairn <noun> <verb>` (DESIGN.md §2). One file per noun.
//
//   cairn server [--host H] [--port P] [--data DIR] [--metadata URL] [--io-threads N]
//                [--workers N] [--no-access-log]
//   cairn demo [--data DIR] [--rows N] [--threads N]
//   cairn experiments list|create NAME
//   cairn runs list|get|search …
//   cairn models list|versions NAME|alias set|get|history …
//
// Client verbs talk HTTP to a server: --url, else $CAIRN_URL, else http://127.0.0.1:5000.
// `--json` prints the server's JSON (pretty); otherwise aligned tables. Exit codes: 0 on
// success, 1 when the request failed (message on stderr), 2 for usage errors.

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::cli {

class HttpTransport;

inline constexpr char kDefaultUrl[] = "http://127.0.0.1:5000";

// Where a CLI invocation reads and writes; tests replace each part.
struct CliEnvironment {
  std::ostream* out = nullptr;  // required
  std::ostream* err = nullptr;  // required
  // The HTTP transport for client verbs; null: libcurl.
  HttpTransport* transport = nullptr;
  // Environment variables (CAIRN_URL, USER); null: the process environment.
  std::function<std::optional<std::string>(std::string_view)> getenv;
};

// Runs `args` (without the program name) and returns the exit code.
int RunCli(const std::vector<std::string>& args, const CliEnvironment& env);

// Parses argv and runs the command on the process's stdout/stderr; returns the exit code.
int Main(int argc, char** argv);

}  // namespace cairn::cli
