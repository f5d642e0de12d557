#include "storage/postgres_database.h"

#include <libpq-fe.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::storage {
namespace {

// Type OIDs from pg_type.h (stable across PostgreSQL versions).
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kNumericOid = 1700;

// How often Write runs `fn` again after a serialization failure or deadlock.
constexpr int kMaxWriteAttempts = 5;
// Prepared statements kept per connection before the cache is reset (dynamic SQL such as
// search filters would otherwise grow it without bound).
constexpr size_t kMaxPreparedPerConnection = 512;

// Owns a PGresult.
struct ResultDeleter {
  void operator()(PGresult* res) const { PQclear(res); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// Maps a failed result (or a failed connection) to a canonical status. SQLSTATE classes:
// 23 integrity constraint, 22 data exception, 40 transaction rollback, 08 connection,
// 53 insufficient resources, 57 operator intervention.
absl::Status PgError(PGconn* conn, const PGresult* res, std::string_view what) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string detail = res ? PQresultErrorMessage(res) : "";
  if (detail.empty()) detail = PQerrorMessage(conn);
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  std::string msg = absl::StrCat(ToAbsl(what), ": ", detail);
  if (PQstatus(conn) != CONNECTION_OK) return absl::UnavailableError(msg);
  std::string_view code = state ? state : "";
  if (code == "23505") return absl::AlreadyExistsError(msg);
  if (code == "23503") return absl::FailedPreconditionError(msg);  // foreign key
  if (code.starts_with("23")) return absl::InvalidArgumentError(msg);
  if (code.starts_with("22")) return absl::InvalidArgumentError(msg);
  if (code == "40001" || code == "40P01") return absl::AbortedError(msg);
  if (code.starts_with("08") || code == "57P01" || code == "57P02" || code == "57P03")
    return absl::UnavailableError(msg);
  if (code == "57014") return absl::DeadlineExceededError(msg);
  if (code.starts_with("53")) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

bool IsRetryableState(const PGresult* res) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  return state && (std::strcmp(state, "40001") == 0 || std::strcmp(state, "40P01") == 0);
}

// Text form of a double that PostgreSQL parses back to the same value.
std::string DoubleText(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  return buf;
}

// Hash for heterogeneous lookup: finding a prepared statement by std::string_view must not
// allocate.
struct SqlTextHash {
  using is_transparent = void;
  size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
};

class PgRow final : public SqlRowView {
 public:
  PgRow(const PGresult* res, int row) : res_(res), row_(row) {}
  int columns() const override { return PQnfields(res_); }
  bool IsNull(int col) const override { return PQgetisnull(res_, row_, col); }
  int64_t Int(int col) const override {
    if (IsNull(col)) return 0;
    std::string_view text = Text(col);
    int64_t value = 0;
    if (absl::SimpleAtoi(ToAbsl(text), &value)) return value;
    if (text == "t") return 1;
    if (text == "f") return 0;
    // A real or numeric cell: truncate toward zero like SQLite's CAST.
    double real = Double(col);
    if (std::isnan(real)) return 0;
    if (real >= 9.2233720368547758e18) return INT64_MAX;
    if (real <= -9.2233720368547758e18) return INT64_MIN;
    return static_cast<int64_t>(real);
  }
  double Double(int col) const override {
    if (IsNull(col)) return 0;
    // strtod accepts PostgreSQL's NaN / Infinity / -Infinity spellings.
    return std::strtod(PQgetvalue(res_, row_, col), nullptr);
  }
  std::string_view Text(int col) const override {
    if (IsNull(col)) return {};
    return {PQgetvalue(res_, row_, col), static_cast<size_t>(PQgetlength(res_, row_, col))};
  }
  // Results come in text format, where bytea is "\\x" followed by two hex digits a byte.
  std::string_view Blob(int col, std::string* scratch) const override {
    std::string_view text = Text(col);
    if (text.size() < 2 || text[0] != '\\' || text[1] != 'x') return text;
    static constexpr auto kNibble = [] {
      std::array<uint8_t, 256> table{};
      for (int c = '0'; c <= '9'; ++c) table[c] = static_cast<uint8_t>(c - '0');
      for (int c = 'a'; c <= 'f'; ++c) table[c] = static_cast<uint8_t>(c - 'a' + 10);
      for (int c = 'A'; c <= 'F'; ++c) table[c] = static_cast<uint8_t>(c - 'A' + 10);
      return table;
    }();
    size_t size = (text.size() - 2) / 2;
    scratch->resize(size);
    const unsigned char* in = reinterpret_cast<const unsigned char*>(text.data()) + 2;
    for (size_t byte_idx = 0; byte_idx < size; ++byte_idx)
      (*scratch)[byte_idx] =
          static_cast<char>((kNibble[in[2 * byte_idx]] << 4) | kNibble[in[2 * byte_idx + 1]]);
    return *scratch;
  }
  SqlValue Get(int col) const override {
    if (IsNull(col)) return std::monostate{};
    switch (PQftype(res_, col)) {
      case kInt2Oid:
      case kInt4Oid:
      case kInt8Oid:
      case kOidOid:
      case kBoolOid:
        return Int(col);
      case kFloat4Oid:
      case kFloat8Oid:
      case kNumericOid:
        return Double(col);
      default:
        return std::string(Text(col));
    }
  }

 private:
  const PGresult* res_;
  int row_;
};

// One libpq connection with its prepared-statement cache. Not thread-safe: the pool lends
// it to one caller at a time.
class PgConnection final : public SqlSession {
 public:
  ~PgConnection() override { PQfinish(conn_); }

  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo) {
    // Defaults first; the caller's URL / keyword string (expanded from "dbname") overrides.
    const char* keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname",
                          nullptr};
    const char* values[] = {"10", "cairn", "UTF8", conninfo.c_str(), nullptr};
    PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (conn == nullptr) return absl::ResourceExhaustedError("libpq: out of memory");
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string error = PQerrorMessage(conn);
      while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
      // Name the target without the password (PQhost/PQport/PQdb never include it).
      std::string target = absl::StrCat(PQhost(conn) ? PQhost(conn) : "?", ":",
                                        PQport(conn) ? PQport(conn) : "?", "/",
                                        PQdb(conn) ? PQdb(conn) : "?");
      PQfinish(conn);
      return absl::UnavailableError(
          absl::StrCat("cannot connect to PostgreSQL at ", target, ": ", error,
                       "; check that the server runs and the metadata URL is right"));
    }
    return std::unique_ptr<PgConnection>(new PgConnection(conn));
  }

  bool healthy() const {
    return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
  }
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  // True once a statement of the current transaction hit a serialization failure or a
  // deadlock; the caller rolls back and runs the transaction again.
  bool conflict() const { return conflict_; }
  void ResetTransactionState() { conflict_ = false; }

  // Runs a statement without parameters or results (BEGIN / COMMIT / ROLLBACK).
  // Returns the command tag on success.
  absl::StatusOr<std::string> Command(const char* sql) {
    ResultPtr res(PQexec(conn_, sql));
    ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Fail(res.get(), sql);
    return std::string(PQcmdStatus(res.get()));
  }

  absl::Status QueryEach(std::string_view sql, std::span<const SqlValue> params,
                         absl::FunctionRef<absl::Status(const SqlRowView&)> row_fn) override {
    CAIRN_ASSIGN_OR_RETURN(ResultPtr res, Run(sql, params));
    int rows = PQntuples(res.get());
    for (int row_idx = 0; row_idx < rows; ++row_idx) {
      CAIRN_RETURN_IF_ERROR(row_fn(PgRow(res.get(), row_idx)));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> Execute(std::string_view sql,
                                  std::span<const SqlValue> params) override {
    CAIRN_ASSIGN_OR_RETURN(ResultPtr res, Run(sql, params));
    const char* tuples = PQcmdTuples(res.get());
    int64_t changed = 0;
    if (tuples && *tuples) (void)absl::SimpleAtoi(tuples, &changed);
    return changed;
  }

  absl::Status ExecuteScript(std::string_view sql) override {
    std::string text(sql);
    // PQexec runs every `;`-separated statement and returns the last result; an error
    // stops the script there.
    ResultPtr res(PQexec(conn_, text.c_str()));
    ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
      return Fail(res.get(), "script");
    return absl::OkStatus();
  }

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {
    // Notices (e.g. "table does not exist, skipping") are noise for a server.
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  }

  absl::Status Fail(const PGresult* res, std::string_view what) {
    if (IsRetryableState(res)) conflict_ = true;
    return PgError(conn_, res, what);
  }

  // Prepares `sql` once per connection and runs it with text parameters.
  absl::StatusOr<ResultPtr> Run(std::string_view sql, std::span<const SqlValue> params) {
    CAIRN_ASSIGN_OR_RETURN(const std::string* name, Prepared(sql));
    std::vector<std::string> storage(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    std::vector<int> lengths(params.size(), 0);
    std::vector<int> formats(params.size(), 0);  // text, except blobs (binary)
    bool any_binary = false;
    for (size_t param_idx = 0; param_idx < params.size(); ++param_idx) {
      const SqlValue& value = params[param_idx];
      if (std::holds_alternative<std::monostate>(value)) continue;  // NULL
      if (const int64_t* integer = std::get_if<int64_t>(&value)) {
        storage[param_idx] = absl::StrCat(*integer);
        values[param_idx] = storage[param_idx].c_str();
        lengths[param_idx] = static_cast<int>(storage[param_idx].size());
      } else if (const double* real = std::get_if<double>(&value)) {
        storage[param_idx] = DoubleText(*real);
        values[param_idx] = storage[param_idx].c_str();
        lengths[param_idx] = static_cast<int>(storage[param_idx].size());
      } else if (const SqlBlob* blob = std::get_if<SqlBlob>(&value)) {
        values[param_idx] = blob->bytes.data();
        lengths[param_idx] = static_cast<int>(blob->bytes.size());
        formats[param_idx] = 1;
        any_binary = true;
      } else {
        const std::string& text = std::get<std::string>(value);
        // libpq reads text parameters up to the terminating NUL of c_str().
        values[param_idx] = text.c_str();
        lengths[param_idx] = static_cast<int>(text.size());
      }
    }
    ResultPtr res(PQexecPrepared(conn_, name->c_str(), static_cast<int>(params.size()),
                                 values.data(), lengths.data(),
                                 any_binary ? formats.data() : nullptr,
                                 /*resultFormat=*/0));
    ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Fail(res.get(), sql);
    return res;
  }

  absl::StatusOr<const std::string*> Prepared(std::string_view sql) {
    auto it = prepared_.find(sql);
    if (it != prepared_.end()) return &it->second;
    if (prepared_.size() >= kMaxPreparedPerConnection) {
      // DEALLOCATE is not transactional, so it is safe inside the caller's transaction.
      CAIRN_RETURN_IF_ERROR(Command("DEALLOCATE ALL").status());
      prepared_.clear();
    }
    std::string name = absl::StrCat("cairn_", next_statement_id_++);
    std::string text(sql);
    ResultPtr res(PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr));
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) return Fail(res.get(), sql);
    return &prepared_.emplace(std::move(text), std::move(name)).first->second;
  }

  PGconn* conn_;
  // SQL text → statement name.
  std::unordered_map<std::string, std::string, SqlTextHash, std::equal_to<>> prepared_;
  int64_t next_statement_id_ = 0;
  bool conflict_ = false;
};

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(PostgresOptions options, std::unique_ptr<PgConnection> first)
      : options_(std::move(options)) {
    if (options_.pool_size < 1) options_.pool_size = 1;
    idle_.push_back(std::move(first));
    open_ = 1;
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  absl::Status Write(const std::function<absl::Status(SqlSession&)>& fn) override {
    absl::Status status;
    for (int attempt = 1; attempt <= kMaxWriteAttempts; ++attempt) {
      bool retry = false;
      status = RunTransaction("BEGIN ISOLATION LEVEL READ COMMITTED", fn, &retry);
      if (!retry) return status;
      // Back off a little, with jitter, so that the conflicting transactions spread out.
      thread_local std::minstd_rand rng(std::random_device{}());
      int max_us = 1000 << attempt;
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % max_us));
    }
    return status;
  }

  absl::Status Read(const std::function<absl::Status(SqlSession&)>& fn) override {
    bool retry = false;
    return RunTransaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", fn, &retry);
  }

 private:
  // Runs one transaction on a pooled connection. Sets *retry when the engine reported a
  // serialization failure or deadlock (the transaction was rolled back).
  absl::Status RunTransaction(const char* begin,
                              const std::function<absl::Status(SqlSession&)>& fn, bool* retry) {
    std::unique_ptr<PgConnection> conn;
    // A pooled connection may have died while idle (server restart); BEGIN is the first
    // thing that notices, and nothing has happened yet, so try a fresh one.
    for (int connect_attempt = 0;; ++connect_attempt) {
      CAIRN_ASSIGN_OR_RETURN(conn, Acquire());
      absl::Status began = conn->Command(begin).status();
      if (began.ok()) break;
      bool broken = conn->broken();
      Release(std::move(conn));
      if (!broken || connect_attempt >= options_.pool_size) return began;
    }
    conn->ResetTransactionState();
    absl::Status status;
    try {
      status = fn(*conn);
    } catch (const std::exception& e) {
      status = absl::InternalError(absl::StrCat("exception in transaction: ", e.what()));
    }
    if (conn->conflict()) {
      conn->Command("ROLLBACK").status().IgnoreError();
      *retry = true;
      Release(std::move(conn));
      return status.ok() ? absl::AbortedError("serialization conflict") : status;
    }
    if (!status.ok()) {
      if (!conn->broken()) conn->Command("ROLLBACK").status().IgnoreError();
      Release(std::move(conn));
      return status;
    }
    absl::StatusOr<std::string> tag = conn->Command("COMMIT");
    if (!tag.ok()) {
      *retry = conn->conflict();
      if (!conn->broken()) conn->Command("ROLLBACK").status().IgnoreError();
      Release(std::move(conn));
      return tag.status();
    }
    Release(std::move(conn));
    // COMMIT of a transaction that an error aborted (and `fn` ignored) rolls back.
    if (*tag == "ROLLBACK")
      return absl::AbortedError(
          "transaction was rolled back at COMMIT because a statement in it failed");
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<PgConnection>> Acquire() {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](PostgresDatabase* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return !self->idle_.empty() || self->open_ < self->options_.pool_size;
          },
          this));
      if (!idle_.empty()) {
        std::unique_ptr<PgConnection> conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
      }
      ++open_;  // reserve a slot, connect outside the lock
    }
    absl::StatusOr<std::unique_ptr<PgConnection>> conn = PgConnection::Connect(options_.conninfo);
    if (!conn.ok()) {
      absl::MutexLock lock(&mu_);
      --open_;
    }
    return conn;
  }

  // Returns a connection to the pool, or closes it when it is broken or still inside a
  // transaction (which only a failed ROLLBACK leaves behind).
  void Release(std::unique_ptr<PgConnection> conn) {
    bool keep = conn->healthy();
    if (!keep) conn.reset();
    absl::MutexLock lock(&mu_);
    if (keep) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }

  PostgresOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // connections idle or lent out
};

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> OpenPostgres(const PostgresOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> first,
                         PgConnection::Connect(options.conninfo));
  return std::make_unique<PostgresDatabase>(options, std::move(first));
}

}  // namespace cairn::storage
