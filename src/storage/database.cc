#include "storage/database.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "storage/postgres_database.h"
#include "storage/sqlite_database.h"

namespace cairn::storage {
namespace {

// Copies a row view into owned values.
std::vector<SqlValue> CopyRow(const SqlRowView& row) {
  std::vector<SqlValue> values;
  values.reserve(row.columns());
  for (int col = 0; col < row.columns(); ++col) values.push_back(row.Get(col));
  return values;
}

}  // namespace

absl::StatusOr<SqlResult> SqlSession::Query(std::string_view sql,
                                            std::span<const SqlValue> params) {
  SqlResult result;
  CAIRN_RETURN_IF_ERROR(QueryEach(sql, params, [&](const SqlRowView& row) {
    result.rows.push_back(CopyRow(row));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<std::unique_ptr<Database>> OpenDatabase(std::string_view url) {
  if (absl::StartsWith(ToAbsl(url), "postgresql://") || absl::StartsWith(ToAbsl(url), "postgres://")) {
    return OpenPostgres(PostgresOptions{.conninfo = std::string(url)});
  }
  if (url == "sqlite::memory:") return OpenSqlite(SqliteOptions{.path = ":memory:"});
  if (absl::StartsWith(ToAbsl(url), "sqlite://")) {
    return OpenSqlite(SqliteOptions{.path = std::string(url.substr(9))});
  }
  if (url.find("://") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "database url '", ToAbsl(url), "': unknown scheme; use sqlite:///path or postgresql://…"));
  }
  return OpenSqlite(SqliteOptions{.path = std::string(url)});
}

}  // namespace cairn::storage
