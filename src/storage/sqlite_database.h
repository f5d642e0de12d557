#pragma once
// SQLite implementation of Database: WAL mode, one writer connection, a pool of reader
// connections that run in parallel with it. synchronous=NORMAL in WAL mode keeps every
// committed transaction across a crash of this process (kill -9); only an OS crash or
// power loss can lose the last commits.
//
// Writes use group commit: concurrent Write calls are gathered (up to 256) into one
// transaction, each call inside its own SAVEPOINT, so one call's failure rolls back only
// that call; Write returns after the shared COMMIT. A lone writer is not delayed.
// Foreign keys are enforced (as in PostgreSQL). A NaN double is stored as the text 'NaN'
// (SQLite turns a NaN REAL into NULL); Double() and Get() on a REAL column read it back
// as NaN. A Write body may run on another caller's thread (the group leader's), so it
// must not rely on thread-local state, and must not call Write on the same Database (nor
// Read, for ":memory:"): that would deadlock.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/database.h"

namespace cairn::storage {

struct SqliteOptions {
  // File path, or ":memory:" for a private in-memory database (one shared connection).
  std::string path;
  int busy_timeout_ms = 10'000;
  // Memory-mapped I/O per connection (PRAGMA mmap_size); 0 turns it off. Off by default:
  // every reader connection maps the file separately and the touched pages count towards
  // the server's resident memory once per connection.
  int64_t mmap_size_bytes = 0;
};

absl::StatusOr<std::unique_ptr<Database>> OpenSqlite(const SqliteOptions& options);

}  // namespace cairn::storage
