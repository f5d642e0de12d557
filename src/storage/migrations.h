#pragma once
// Versioned schema migrations. Each component (tracking, registry, …) owns an ordered
// list; ApplyMigrations runs, in one write transaction per migration, those whose version
// is above the one recorded in table schema_migrations for that component. Applied once
// at server start; re-running is a no-op.

#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "storage/database.h"

namespace cairn::storage {

struct Migration {
  int version;               // 1, 2, 3 … strictly increasing within a component
  std::string_view name;     // short description, recorded with the version
  std::string_view sql;      // portable SQL, `;`-separated statements
  std::string_view sqlite_sql = {};    // overrides `sql` on SQLite when not empty
  std::string_view postgres_sql = {};  // overrides `sql` on PostgreSQL when not empty
};

// FailedPrecondition when the database holds a newer version than `migrations` knows
// (a newer Cairn wrote it); this is checked before anything is applied.
// InvalidArgument when the versions in `migrations` do not increase strictly.
// A failing migration is rolled back and not recorded; the earlier ones stay applied.
// Safe to run from several servers at once (PostgreSQL: a table lock serializes them).
absl::Status ApplyMigrations(Database& db, std::string_view component,
                             std::span<const Migration> migrations);

}  // namespace cairn::storage
