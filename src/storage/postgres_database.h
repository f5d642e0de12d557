#pragma once
// PostgreSQL implementation of Database over libpq: a pool of connections; Write runs a
// READ COMMITTED transaction, Read a REPEATABLE READ READ ONLY one.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/database.h"

namespace cairn::storage {

struct PostgresOptions {
  std::string conninfo;  // a postgresql:// URL or a libpq keyword string
  int pool_size = 8;
};

// Unavailable when the server cannot be reached.
absl::StatusOr<std::unique_ptr<Database>> OpenPostgres(const PostgresOptions& options);

}  // namespace cairn::storage
