#pragma once
// The SQL database seam. Every metadata store (tracking, registry, later features and
// pipelines) is written once against this interface; SQLite (the embedded default) and
// PostgreSQL (scale-out) implement it. The choice is made at run time by URL.
//
// SQL text uses PostgreSQL-style placeholders $1..$N and a portable subset of SQL:
// INTEGER/BIGINT, DOUBLE PRECISION, TEXT, INSERT ... ON CONFLICT ... DO UPDATE/NOTHING,
// RETURNING. Implementations translate placeholders as their engine needs. Placeholders
// may appear in any order and more than once; params[i] binds $(i+1).
//
// Errors from the engine map to canonical codes the same way on every backend:
//   unique / primary-key violation            → AlreadyExists
//   foreign-key violation                     → FailedPrecondition
//   NOT NULL / CHECK violation, bad value     → InvalidArgument
//   server unreachable, connection lost, busy → Unavailable
//   anything else (syntax, missing table)     → Internal
// On PostgreSQL a failed statement aborts the whole transaction, so a Write body must
// return the error (not carry on after it); use ON CONFLICT instead of "insert, and on
// AlreadyExists update". A body that ignores a failed statement and returns OK gets
// Aborted from Write (PostgreSQL rolled the transaction back).
//
// Values: int64 and double round-trip exactly (NaN and ±infinity included), "" is not
// NULL, TEXT is UTF-8. Get() returns int64 for integer columns, double for
// DOUBLE PRECISION/REAL (and PostgreSQL NUMERIC), std::string otherwise.
// Binary data: bind an SqlBlob into a column declared BLOB (SQLite) / BYTEA (PostgreSQL);
// the schema picks the type per dialect. Read it back with SqlRowView::Blob, which
// returns the exact bytes (any value, NUL included).

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn::storage {

// Arbitrary bytes bound as a binary parameter (BLOB / BYTEA).
struct SqlBlob {
  std::string bytes;
  bool operator==(const SqlBlob&) const = default;
};

// A bound parameter or a result cell. monostate is SQL NULL. Get() never returns an
// SqlBlob (blob cells come back through SqlRowView::Blob).
using SqlValue = std::variant<std::monostate, int64_t, double, std::string, SqlBlob>;

// One result row, valid only inside the QueryEach callback that received it.
class SqlRowView {
 public:
  virtual ~SqlRowView() = default;
  virtual int columns() const = 0;
  virtual bool IsNull(int col) const = 0;
  // Conversions follow the engine's rules for the column's stored value.
  virtual int64_t Int(int col) const = 0;
  virtual double Double(int col) const = 0;
  virtual std::string_view Text(int col) const = 0;
  // The bytes of a BLOB / BYTEA cell (empty for NULL). The view is valid until the next
  // Blob call on this row or the end of the callback; an implementation that must decode
  // the cell does so into `*scratch` and returns a view of it.
  virtual std::string_view Blob(int col, std::string* scratch) const { return Text(col); }
  // The cell with the engine's own type (integer, real, text or NULL).
  virtual SqlValue Get(int col) const = 0;
};

// A materialized result.
struct SqlResult {
  std::vector<std::vector<SqlValue>> rows;
};

// A connection inside an open transaction. Not thread-safe; owned by the Database and
// lent to the callback of Write/Read for the duration of the call only.
class SqlSession {
 public:
  virtual ~SqlSession() = default;

  // Runs one statement and calls `row_fn` for each result row, stopping at the first
  // non-OK status it returns (which is then returned).
  virtual absl::Status QueryEach(std::string_view sql, std::span<const SqlValue> params,
                                 absl::FunctionRef<absl::Status(const SqlRowView&)> row_fn) = 0;

  // Runs one statement; returns the number of rows it changed.
  virtual absl::StatusOr<int64_t> Execute(std::string_view sql,
                                          std::span<const SqlValue> params = {}) = 0;

  // Runs several `;`-separated statements without parameters (schema migrations).
  virtual absl::Status ExecuteScript(std::string_view sql) = 0;

  // Convenience: all rows of QueryEach, materialized.
  absl::StatusOr<SqlResult> Query(std::string_view sql, std::span<const SqlValue> params = {});
};

enum class Dialect { kSqlite, kPostgres };

class Database {
 public:
  virtual ~Database() = default;

  virtual Dialect dialect() const = 0;

  // Runs `fn` in a read-write transaction. When `fn` returns OK the transaction commits,
  // and the commit survives kill -9 of this process before Write returns. When `fn`
  // fails, its changes are rolled back and its status is returned. Implementations may
  // group concurrent writers into one commit (group commit) but each call's changes are
  // applied or rolled back as a unit. `fn` may run more than once if the engine reports a
  // serialization conflict, so it must not have side effects outside the session.
  // Thread-safe.
  virtual absl::Status Write(const std::function<absl::Status(SqlSession&)>& fn) = 0;

  // Runs `fn` on a consistent read-only snapshot. Readers run in parallel with each other
  // and with the writer. Thread-safe.
  virtual absl::Status Read(const std::function<absl::Status(SqlSession&)>& fn) = 0;
};

// Opens a database by URL:
//   "sqlite:///abs/path.db", "sqlite://relative.db", or a plain file path → SQLite (WAL);
//   "sqlite::memory:" → a private in-memory SQLite database (tests);
//   "postgresql://user@host:port/db" or "postgres://…" → PostgreSQL via libpq.
// InvalidArgument for an unknown scheme; Unavailable when the server cannot be reached.
absl::StatusOr<std::unique_ptr<Database>> OpenDatabase(std::string_view url);

}  // namespace cairn::storage
