#pragma once
// SQLite implementation of Database: WAL mode, one writer connection, a pool of reader
// connections that run in parallel with it. synchronous=NORMAL in WAL mode keeps every
// committed transaction across a crash of this process (kill -9); only an OS crash or
// power loss can lose the last commits.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/database.h"

namespace cairn::storage {

struct SqliteOptions {
  // File path, or ":memory:" for a private in-memory database (one shared connection).
  std::string path;
  int busy_timeout_ms = 10'000;
};

absl::StatusOr<std::unique_ptr<Database>> OpenSqlite(const SqliteOptions& options);

}  // namespace cairn::storage
