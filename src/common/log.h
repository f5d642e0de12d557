#pragma once
// Minimal leveled logging to stderr, one line per call, safe from any thread.

#include <string_view>

namespace cairn {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

void SetLogLevel(LogLevel level);
// Writes "<ISO time> <LEVEL> <message>\n" to stderr when `level` is enabled.
void Log(LogLevel level, std::string_view message);

}  // namespace cairn
