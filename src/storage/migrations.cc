#include "storage/migrations.h"

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::storage {

absl::Status ApplyMigrations(Database& db, std::string_view component,
                             std::span<const Migration> migrations) {
  CAIRN_RETURN_IF_ERROR(db.Write([](SqlSession& s) {
    return s.ExecuteScript(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
        " applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))");
  }));
  for (const Migration& migration : migrations) {
    CAIRN_RETURN_IF_ERROR(db.Write([&](SqlSession& s) -> absl::Status {
      int64_t current = 0;
      const SqlValue key[] = {std::string(component)};
      CAIRN_RETURN_IF_ERROR(s.QueryEach(
          "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1", key,
          [&](const SqlRowView& row) {
            current = row.Int(0);
            return absl::OkStatus();
          }));
      if (current >= migration.version) {
        if (&migration == &migrations.back() && current > migration.version)
          return absl::FailedPreconditionError(absl::StrCat(
              "schema of '", ToAbsl(component), "' is at version ", current,
              ", newer than this binary knows (", migration.version, "); upgrade Cairn"));
        return absl::OkStatus();
      }
      std::string_view sql = migration.sql;
      if (db.dialect() == Dialect::kSqlite && !migration.sqlite_sql.empty())
        sql = migration.sqlite_sql;
      if (db.dialect() == Dialect::kPostgres && !migration.postgres_sql.empty())
        sql = migration.postgres_sql;
      CAIRN_RETURN_IF_ERROR(s.ExecuteScript(sql));
      const SqlValue row[] = {std::string(component), int64_t{migration.version},
                              std::string(migration.name), RealClock().NowMillis()};
      return s
          .Execute("INSERT INTO schema_migrations (component, version, name, applied_at) "
                   "VALUES ($1, $2, $3, $4)",
                   row)
          .status();
    }));
  }
  return absl::OkStatus();
}

}  // namespace cairn::storage
