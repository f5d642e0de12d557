#pragma once
// PostgreSQL implementation of Database over libpq: a pool of connections; Write runs a
// READ COMMITTED transaction, Read a REPEATABLE READ READ ONLY one.
//
// Statements are prepared once per connection (cached by SQL text) and run with text
// parameters; results are read as text and converted by the row view. A Write whose
// transaction hits a serialization failure (40001) or deadlock (40P01) is rolled back and
// its body runs again (up to 5 times, with a short jittered backoff). A connection that
// breaks is dropped from the pool; a lost idle connection is replaced transparently at
// the next BEGIN, one lost inside a transaction fails that call with Unavailable.
// Thread-safe; at most `pool_size` connections are open, further callers wait for one.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/database.h"

namespace cairn::storage {

struct PostgresOptions {
  // A postgresql:// URL or a libpq keyword string. connect_timeout defaults to 10 s and
  // application_name to "cairn" unless the string sets them.
  std::string conninfo;
  int pool_size = 8;  // connections opened on demand, up to this many
};

// Connects once to check the server; Unavailable (naming host, port and database, never
// the password) when it cannot be reached.
absl::StatusOr<std::unique_ptr<Database>> OpenPostgres(const PostgresOptions& options);

}  // namespace cairn::storage
