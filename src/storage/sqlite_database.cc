#include "storage/sqlite_database.h"

#include <sqlite3.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::storage {
namespace {

absl::Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string msg = absl::StrCat(ToAbsl(what), ": ", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int primary = rc & 0xff;
  if (primary == SQLITE_CONSTRAINT) return absl::AlreadyExistsError(msg);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return absl::UnavailableError(msg);
  if (primary == SQLITE_FULL || primary == SQLITE_IOERR) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

// Rewrites $N placeholders as ?N (SQLite numbers ?N parameters by N), leaving string
// literals and quoted identifiers alone.
std::string TranslatePlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (size_t pos = 0; pos < sql.size(); ++pos) {
    char c = sql[pos];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '$' && pos + 1 < sql.size() && sql[pos + 1] >= '0' && sql[pos + 1] <= '9') {
      c = '?';
    }
    out.push_back(c);
  }
  return out;
}

class SqliteRow final : public SqlRowView {
 public:
  explicit SqliteRow(sqlite3_stmt* stmt) : stmt_(stmt) {}
  int columns() const override { return sqlite3_column_count(stmt_); }
  bool IsNull(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const override { return sqlite3_column_double(stmt_, col); }
  std::string_view Text(int col) const override {
    const unsigned char* text = sqlite3_column_text(stmt_, col);
    if (!text) return {};
    return {reinterpret_cast<const char*>(text),
            static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
  }
  SqlValue Get(int col) const override {
    switch (sqlite3_column_type(stmt_, col)) {
      case SQLITE_NULL:
        return std::monostate{};
      case SQLITE_INTEGER:
        return Int(col);
      case SQLITE_FLOAT:
        return Double(col);
      default:
        return std::string(Text(col));
    }
  }

 private:
  sqlite3_stmt* stmt_;
};

// One connection with its prepared-statement cache.
class SqliteConnection final : public SqlSession {
 public:
  ~SqliteConnection() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  static absl::StatusOr<std::unique_ptr<SqliteConnection>> Open(const SqliteOptions& options,
                                                                bool read_only) {
    auto conn = std::unique_ptr<SqliteConnection>(new SqliteConnection());
    int flags = SQLITE_OPEN_NOMUTEX |
                (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(options.path.c_str(), &conn->db_, flags, nullptr);
    if (rc != SQLITE_OK)
      return absl::UnavailableError(
          absl::StrCat("cannot open SQLite database '", options.path, "': ",
                       conn->db_ ? sqlite3_errmsg(conn->db_) : sqlite3_errstr(rc)));
    sqlite3_busy_timeout(conn->db_, options.busy_timeout_ms);
    std::string pragmas = "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;";
    if (!read_only && options.path != ":memory:")
      pragmas += "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
    CAIRN_RETURN_IF_ERROR(conn->ExecuteScript(pragmas));
    return conn;
  }

  absl::Status QueryEach(std::string_view sql, std::span<const SqlValue> params,
                         absl::FunctionRef<absl::Status(const SqlRowView&)> row_fn) override {
    CAIRN_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql, params));
    SqliteRow row(stmt);
    while (true) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        absl::Status status = SqliteError(db_, rc, sql);
        sqlite3_reset(stmt);
        return status;
      }
      absl::Status status = row_fn(row);
      if (!status.ok()) {
        sqlite3_reset(stmt);
        return status;
      }
    }
    sqlite3_reset(stmt);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> Execute(std::string_view sql,
                                  std::span<const SqlValue> params) override {
    CAIRN_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql, params));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, sql);
    return static_cast<int64_t>(sqlite3_changes64(db_));
  }

  absl::Status ExecuteScript(std::string_view sql) override {
    char* err = nullptr;
    std::string text(sql);
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      return SqliteError(nullptr, rc, msg);
    }
    return absl::OkStatus();
  }

 private:
  SqliteConnection() = default;

  absl::StatusOr<sqlite3_stmt*> Prepare(std::string_view sql, std::span<const SqlValue> params) {
    auto it = statements_.find(std::string(sql));
    sqlite3_stmt* stmt;
    if (it != statements_.end()) {
      stmt = it->second;
    } else {
      std::string translated = TranslatePlaceholders(sql);
      int rc = sqlite3_prepare_v3(db_, translated.c_str(), static_cast<int>(translated.size()),
                                  SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) return SqliteError(db_, rc, absl::StrCat("prepare ", ToAbsl(sql)));
      statements_.emplace(std::string(sql), stmt);
    }
    sqlite3_clear_bindings(stmt);
    for (size_t param_idx = 0; param_idx < params.size(); ++param_idx) {
      int slot = static_cast<int>(param_idx) + 1;
      const SqlValue& value = params[param_idx];
      int rc = SQLITE_OK;
      if (std::holds_alternative<std::monostate>(value)) {
        rc = sqlite3_bind_null(stmt, slot);
      } else if (const int64_t* v = std::get_if<int64_t>(&value)) {
        rc = sqlite3_bind_int64(stmt, slot, *v);
      } else if (const double* d = std::get_if<double>(&value)) {
        rc = sqlite3_bind_double(stmt, slot, *d);
      } else {
        const std::string& s = std::get<std::string>(value);
        rc = sqlite3_bind_text(stmt, slot, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
      }
      if (rc != SQLITE_OK) return SqliteError(db_, rc, absl::StrCat("bind $", slot));
    }
    return stmt;
  }

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(SqliteOptions options, std::unique_ptr<SqliteConnection> writer)
      : options_(std::move(options)), writer_(std::move(writer)) {}

  Dialect dialect() const override { return Dialect::kSqlite; }

  absl::Status Write(const std::function<absl::Status(SqlSession&)>& fn) override {
    absl::MutexLock lock(&write_mu_);
    return RunTransaction(*writer_, "BEGIN IMMEDIATE", fn);
  }

  absl::Status Read(const std::function<absl::Status(SqlSession&)>& fn) override {
    if (options_.path == ":memory:") {
      absl::MutexLock lock(&write_mu_);
      return RunTransaction(*writer_, "BEGIN", fn);
    }
    std::unique_ptr<SqliteConnection> conn;
    {
      absl::MutexLock lock(&readers_mu_);
      if (!readers_.empty()) {
        conn = std::move(readers_.back());
        readers_.pop_back();
      }
    }
    if (!conn) {
      CAIRN_ASSIGN_OR_RETURN(conn, SqliteConnection::Open(options_, /*read_only=*/true));
    }
    absl::Status status = RunTransaction(*conn, "BEGIN", fn);
    absl::MutexLock lock(&readers_mu_);
    if (readers_.size() < 16) readers_.push_back(std::move(conn));
    return status;
  }

 private:
  static absl::Status RunTransaction(SqliteConnection& conn, std::string_view begin,
                                     const std::function<absl::Status(SqlSession&)>& fn) {
    CAIRN_RETURN_IF_ERROR(conn.ExecuteScript(begin));
    absl::Status status = fn(conn);
    if (!status.ok()) {
      conn.ExecuteScript("ROLLBACK").IgnoreError();
      return status;
    }
    status = conn.ExecuteScript("COMMIT");
    if (!status.ok()) conn.ExecuteScript("ROLLBACK").IgnoreError();
    return status;
  }

  const SqliteOptions options_;
  absl::Mutex write_mu_;
  std::unique_ptr<SqliteConnection> writer_ ABSL_GUARDED_BY(write_mu_);
  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<SqliteConnection>> readers_ ABSL_GUARDED_BY(readers_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> OpenSqlite(const SqliteOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(auto writer, SqliteConnection::Open(options, /*read_only=*/false));
  return std::make_unique<SqliteDatabase>(options, std::move(writer));
}

}  // namespace cairn::storage
