#include "storage/migrations.h"

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::storage {
namespace {

constexpr std::string_view kCreateTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
    " applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))";

absl::StatusOr<int64_t> CurrentVersion(SqlSession& session, std::string_view component) {
  int64_t current = 0;
  const SqlValue key[] = {std::string(component)};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1", key,
      [&](const SqlRowView& row) {
        current = row.Int(0);
        return absl::OkStatus();
      }));
  return current;
}

absl::Status RefuseNewer(std::string_view component, int64_t current, int64_t known) {
  if (current <= known) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "schema of '", ToAbsl(component), "' is at version ", current,
      ", newer than this binary knows (", known, "); upgrade Cairn"));
}

}  // namespace

absl::Status ApplyMigrations(Database& db, std::string_view component,
                             std::span<const Migration> migrations) {
  int64_t previous = 0;
  for (const Migration& migration : migrations) {
    if (migration.version <= previous)
      return absl::InvalidArgumentError(absl::StrCat(
          "migrations of '", ToAbsl(component), "': version ", migration.version,
          " follows version ", previous, "; versions must increase strictly from 1"));
    previous = migration.version;
  }
  const int64_t known = migrations.empty() ? 0 : migrations.back().version;
  const bool postgres = db.dialect() == Dialect::kPostgres;

  absl::Status created = db.Write([](SqlSession& s) { return s.ExecuteScript(kCreateTable); });
  // Two PostgreSQL servers starting at once can race on CREATE TABLE IF NOT EXISTS (the
  // loser gets a unique violation in the catalog); the table exists then.
  if (created.code() == absl::StatusCode::kAlreadyExists) {
    created = db.Write([](SqlSession& s) { return s.ExecuteScript(kCreateTable); });
  }
  CAIRN_RETURN_IF_ERROR(created);

  CAIRN_RETURN_IF_ERROR(db.Read([&](SqlSession& s) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(int64_t current, CurrentVersion(s, component));
    return RefuseNewer(component, current, known);
  }));

  for (const Migration& migration : migrations) {
    CAIRN_RETURN_IF_ERROR(db.Write([&](SqlSession& s) -> absl::Status {
      // Serializes concurrent migrators on PostgreSQL (SQLite has one writer anyway): the
      // second one waits here, then sees the version the first one recorded.
      if (postgres)
        CAIRN_RETURN_IF_ERROR(
            s.ExecuteScript("LOCK TABLE schema_migrations IN SHARE ROW EXCLUSIVE MODE"));
      CAIRN_ASSIGN_OR_RETURN(int64_t current, CurrentVersion(s, component));
      CAIRN_RETURN_IF_ERROR(RefuseNewer(component, current, known));
      if (current >= migration.version) return absl::OkStatus();
      std::string_view sql = migration.sql;
      if (!postgres && !migration.sqlite_sql.empty()) sql = migration.sqlite_sql;
      if (postgres && !migration.postgres_sql.empty()) sql = migration.postgres_sql;
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
