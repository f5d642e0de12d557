#include "storage/sqlite_database.h"

#include <sqlite3.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::storage {
namespace {

// At most this many Write calls share one transaction (one fsync-free WAL commit).
constexpr size_t kMaxGroupSize = 256;
// How long a group leader waits for the previous group's members to queue again.
constexpr absl::Duration kGatherTimeout = absl::Microseconds(200);
// Idle read-only connections kept for reuse.
constexpr size_t kMaxIdleReaders = 16;
// WAL pages written before SQLite checkpoints them into the database file (4 KiB pages).
constexpr int kWalAutocheckpointPages = 4000;

absl::Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string msg =
      absl::StrCat(ToAbsl(what), ": ", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (db != nullptr) rc = sqlite3_extended_errcode(db);
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
      return absl::AlreadyExistsError(msg);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return absl::FailedPreconditionError(msg);
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return absl::InvalidArgumentError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
      return absl::UnavailableError(msg);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// Rewrites $N placeholders as ?N (SQLite numbers ?N parameters by N, so $2 before $1 and
// reused placeholders work), leaving string literals and quoted identifiers alone.
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

// SQLite cannot store a NaN REAL (it binds as NULL), so NaN travels as the text 'NaN',
// which PostgreSQL spells the same way; reads of a REAL-declared column turn it back.
constexpr std::string_view kNanText = "NaN";

bool IsRealDeclType(const char* decl) {
  if (decl == nullptr) return false;
  std::string upper(decl);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper.find("REAL") != std::string::npos || upper.find("DOUB") != std::string::npos ||
         upper.find("FLOA") != std::string::npos;
}

class SqliteRow final : public SqlRowView {
 public:
  explicit SqliteRow(sqlite3_stmt* stmt) : stmt_(stmt) {}
  int columns() const override { return sqlite3_column_count(stmt_); }
  bool IsNull(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const override {
    if (sqlite3_column_type(stmt_, col) == SQLITE_TEXT && Text(col) == kNanText)
      return std::numeric_limits<double>::quiet_NaN();
    return sqlite3_column_double(stmt_, col);
  }
  std::string_view Text(int col) const override {
    const unsigned char* text = sqlite3_column_text(stmt_, col);
    if (!text) return {};
    return {reinterpret_cast<const char*>(text),
            static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
  }
  std::string_view Blob(int col, std::string* /*scratch*/) const override {
    const void* bytes = sqlite3_column_blob(stmt_, col);
    if (!bytes) return {};
    return {static_cast<const char*>(bytes),
            static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
  }
  SqlValue Get(int col) const override {
    switch (sqlite3_column_type(stmt_, col)) {
      case SQLITE_NULL:
        return std::monostate{};
      case SQLITE_INTEGER:
        return Int(col);
      case SQLITE_FLOAT:
        return sqlite3_column_double(stmt_, col);
      default: {
        std::string_view text = Text(col);
        if (text == kNanText && IsRealDeclType(sqlite3_column_decltype(stmt_, col)))
          return std::numeric_limits<double>::quiet_NaN();
        return std::string(text);
      }
    }
  }

 private:
  sqlite3_stmt* stmt_;
};

// Hash for heterogeneous lookup: finding a cached statement by std::string_view must not
// allocate (the hot path of batch inserts).
struct SqlTextHash {
  using is_transparent = void;
  size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
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
    sqlite3_extended_result_codes(conn->db_, 1);
    sqlite3_busy_timeout(conn->db_, options.busy_timeout_ms);
    bool file = options.path != ":memory:";
    // Foreign keys on, as PostgreSQL always enforces them: both backends behave alike.
    std::string pragmas = absl::StrCat("PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
                                       "PRAGMA cache_size=", read_only ? -16384 : -65536, ";");
    if (file) absl::StrAppend(&pragmas, "PRAGMA mmap_size=", options.mmap_size_bytes, ";");
    CAIRN_RETURN_IF_ERROR(conn->ExecuteScript(pragmas));
    if (!read_only && file) {
      std::string mode;
      CAIRN_RETURN_IF_ERROR(conn->QueryEach("PRAGMA journal_mode=WAL", {},
                                            [&](const SqlRowView& row) {
                                              mode = std::string(row.Text(0));
                                              return absl::OkStatus();
                                            }));
      if (mode != "wal")
        return absl::FailedPreconditionError(absl::StrCat(
            "SQLite database '", options.path, "': journal_mode is '", mode,
            "', WAL is required (is the file on a network file system?)"));
      // In WAL mode NORMAL syncs at checkpoints only: a commit survives kill -9 of this
      // process (the WAL is in the OS page cache), not a power loss.
      CAIRN_RETURN_IF_ERROR(conn->ExecuteScript(
          absl::StrCat("PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=",
                       kWalAutocheckpointPages, "; PRAGMA journal_size_limit=67108864;")));
    }
    return conn;
  }

  sqlite3* handle() const { return db_; }

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
    if (rc != SQLITE_DONE) {
      absl::Status status = SqliteError(db_, rc, sql);
      sqlite3_reset(stmt);
      return status;
    }
    sqlite3_reset(stmt);
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

  // True while a transaction is open (SQLite may roll one back on its own after some
  // errors, e.g. SQLITE_FULL or SQLITE_NOMEM).
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

 private:
  SqliteConnection() = default;

  absl::StatusOr<sqlite3_stmt*> Prepare(std::string_view sql, std::span<const SqlValue> params) {
    auto it = statements_.find(sql);
    sqlite3_stmt* stmt;
    if (it != statements_.end()) {
      stmt = it->second;
    } else {
      std::string translated = TranslatePlaceholders(sql);
      int rc = sqlite3_prepare_v3(db_, translated.c_str(), static_cast<int>(translated.size()),
                                  SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) return SqliteError(db_, rc, absl::StrCat("prepare ", ToAbsl(sql)));
      if (stmt == nullptr)
        return absl::InvalidArgumentError(absl::StrCat("empty statement: '", ToAbsl(sql), "'"));
      statements_.emplace(std::string(sql), stmt);
    }
    if (static_cast<int>(params.size()) > sqlite3_bind_parameter_count(stmt))
      return absl::InvalidArgumentError(
          absl::StrCat(params.size(), " parameters for a statement with ",
                       sqlite3_bind_parameter_count(stmt), " placeholders: ", ToAbsl(sql)));
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
        rc = std::isnan(*d) ? sqlite3_bind_text(stmt, slot, kNanText.data(),
                                                static_cast<int>(kNanText.size()), SQLITE_STATIC)
                            : sqlite3_bind_double(stmt, slot, *d);
      } else if (const SqlBlob* blob = std::get_if<SqlBlob>(&value)) {
        rc = sqlite3_bind_blob(stmt, slot, blob->bytes.data(),
                               static_cast<int>(blob->bytes.size()), SQLITE_STATIC);
      } else {
        const std::string& s = std::get<std::string>(value);
        rc = sqlite3_bind_text(stmt, slot, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
      }
      if (rc != SQLITE_OK) return SqliteError(db_, rc, absl::StrCat("bind $", slot));
    }
    return stmt;
  }

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*, SqlTextHash, std::equal_to<>> statements_;
};

// Runs a caller's transaction body; exceptions become Internal so that one throwing
// callback cannot strand the other members of its commit group.
absl::Status CallBody(const std::function<absl::Status(SqlSession&)>& fn, SqlSession& session) {
  try {
    return fn(session);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("exception in transaction: ", e.what()));
  } catch (...) {
    return absl::InternalError("unknown exception in transaction");
  }
}

// A Write call waiting for its group to commit.
struct PendingWrite {
  const std::function<absl::Status(SqlSession&)>* fn = nullptr;
  absl::Status status;  // set by the leader before `wake`
  bool done = false;    // set by the leader before `wake`; false means "lead next"
  absl::Notification wake;
};

// Group commit, leader/follower style: a Write call queues itself; whichever caller finds
// no group in flight becomes the leader, takes up to kMaxGroupSize queued calls and runs
// them in ONE transaction, each inside its own SAVEPOINT (a failing call is rolled back to
// its savepoint and does not affect the others), then commits once and completes every
// member with its own status. Calls that arrive while a group runs form the next group,
// whose first call the finishing leader wakes to lead it; so a lone writer pays no extra
// latency, many writers share one commit, and every waiter is woken exactly once (no herd
// on a shared mutex).
class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(SqliteOptions options, std::unique_ptr<SqliteConnection> writer)
      : options_(std::move(options)), writer_(std::move(writer)) {}

  Dialect dialect() const override { return Dialect::kSqlite; }

  absl::Status Write(const std::function<absl::Status(SqlSession&)>& fn) override {
    PendingWrite me;
    me.fn = &fn;
    bool lead = false;
    {
      absl::MutexLock lock(&mu_);
      queue_.push_back(&me);
      // Invariant: while no leader is active the queue is empty, so a new leader is
      // always at the front of the queue.
      if (!leader_active_) lead = leader_active_ = true;
    }
    if (!lead) {
      // Woken exactly once: either completed by a leader, or promoted to lead.
      me.wake.WaitForNotification();
      if (me.done) return me.status;
    }
    std::vector<PendingWrite*> group;
    {
      absl::MutexLock lock(&mu_);
      // The members of the previous group were just woken and usually write again at
      // once; give them a moment to queue so that they share this commit. A lone writer
      // (previous group of one) never waits.
      if (queue_.size() < last_group_size_) {
        struct Gathered {
          const std::deque<PendingWrite*>* queue;
          size_t target;
          bool operator()() const { return queue->size() >= target; }
        } gathered{&queue_, last_group_size_};
        mu_.AwaitWithTimeout(absl::Condition(&gathered), kGatherTimeout);
      }
      while (!queue_.empty() && group.size() < kMaxGroupSize) {
        group.push_back(queue_.front());
        queue_.pop_front();
      }
      last_group_size_ = group.size();
    }
    {
      absl::MutexLock writer_lock(&writer_mu_);
      RunGroup(group);
    }
    PendingWrite* next = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) {
        leader_active_ = false;
      } else {
        next = queue_.front();  // stays queued; it collects its group when it wakes
      }
    }
    // A woken member returns and destroys its PendingWrite: touch none after Notify.
    for (PendingWrite* write : group) {
      if (write == &me) continue;
      write->done = true;
      write->wake.Notify();
    }
    if (next != nullptr) next->wake.Notify();
    return me.status;
  }

  absl::Status Read(const std::function<absl::Status(SqlSession&)>& fn) override {
    if (options_.path == ":memory:") {
      absl::MutexLock lock(&writer_mu_);
      return RunReadTransaction(*writer_, fn);
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
    absl::Status status = RunReadTransaction(*conn, fn);
    if (conn->InTransaction()) return status;  // drop a connection in an unknown state
    absl::MutexLock lock(&readers_mu_);
    if (readers_.size() < kMaxIdleReaders) readers_.push_back(std::move(conn));
    return status;
  }

 private:
  static absl::Status RunReadTransaction(SqliteConnection& conn,
                                         const std::function<absl::Status(SqlSession&)>& fn) {
    CAIRN_RETURN_IF_ERROR(conn.Execute("BEGIN", {}).status());
    absl::Status status = CallBody(fn, conn);
    absl::Status end = conn.Execute(status.ok() ? "COMMIT" : "ROLLBACK", {}).status();
    if (conn.InTransaction()) conn.ExecuteScript("ROLLBACK").IgnoreError();
    return status.ok() ? end : status;
  }

  // Runs `group` on the writer connection and sets every member's status.
  void RunGroup(const std::vector<PendingWrite*>& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_) {
    SqliteConnection& conn = *writer_;
    std::vector<PendingWrite*> pending = group;
    // Each round either commits or removes at least one member (the one whose failure
    // made SQLite abandon the transaction), so this terminates.
    while (!pending.empty()) {
      absl::Status begin = conn.Execute("BEGIN IMMEDIATE", {}).status();
      if (!begin.ok()) {
        for (PendingWrite* write : pending) write->status = begin;
        return;
      }
      const bool single = pending.size() == 1;
      std::vector<PendingWrite*> succeeded;
      std::vector<PendingWrite*> rerun;
      for (size_t write_idx = 0; write_idx < pending.size(); ++write_idx) {
        PendingWrite* write = pending[write_idx];
        if (!single) {
          absl::Status savepoint = conn.Execute("SAVEPOINT cairn_write", {}).status();
          if (!savepoint.ok()) {
            write->status = savepoint;
            continue;
          }
        }
        absl::Status status = CallBody(*write->fn, conn);
        bool lost = !conn.InTransaction();
        if (!lost && !single) {
          absl::Status end = status.ok()
                                 ? conn.Execute("RELEASE cairn_write", {}).status()
                                 : conn.ExecuteScript("ROLLBACK TO cairn_write; RELEASE cairn_write");
          if (!end.ok()) {
            if (status.ok()) status = end;
            lost = true;  // cannot tell what is left of this call: abandon the round
          }
        }
        if (lost) {
          write->status = status.ok() ? absl::InternalError("transaction was rolled back")
                                      : status;
          if (conn.InTransaction()) conn.ExecuteScript("ROLLBACK").IgnoreError();
          // The others did nothing durable yet; run them again in a new transaction (the
          // Database contract allows a body to run more than once).
          rerun = succeeded;
          rerun.insert(rerun.end(), pending.begin() + write_idx + 1, pending.end());
          succeeded.clear();
          break;
        }
        if (status.ok()) {
          succeeded.push_back(write);
        } else {
          write->status = status;
        }
      }
      if (!rerun.empty() || !conn.InTransaction()) {
        pending = std::move(rerun);
        continue;
      }
      if (succeeded.empty()) {
        // Single failed call or every call failed: nothing to keep.
        conn.ExecuteScript("ROLLBACK").IgnoreError();
        return;
      }
      absl::Status commit = conn.Execute("COMMIT", {}).status();
      if (!commit.ok() && conn.InTransaction()) conn.ExecuteScript("ROLLBACK").IgnoreError();
      for (PendingWrite* write : succeeded) write->status = commit;
      return;
    }
  }

  const SqliteOptions options_;

  absl::Mutex mu_;
  std::deque<PendingWrite*> queue_ ABSL_GUARDED_BY(mu_);
  bool leader_active_ ABSL_GUARDED_BY(mu_) = false;
  size_t last_group_size_ ABSL_GUARDED_BY(mu_) = 1;

  // Held by the group leader while it uses the writer connection (and by readers of an
  // in-memory database, which share that connection).
  absl::Mutex writer_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::unique_ptr<SqliteConnection> writer_ ABSL_GUARDED_BY(writer_mu_);

  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<SqliteConnection>> readers_ ABSL_GUARDED_BY(readers_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> OpenSqlite(const SqliteOptions& options) {
  // Memory statistics take a process-wide mutex on every SQLite allocation; nothing reads
  // them. Only possible before SQLite initializes (a later call is a harmless no-op).
  static const bool kConfigured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)kConfigured;
  CAIRN_ASSIGN_OR_RETURN(auto writer, SqliteConnection::Open(options, /*read_only=*/false));
  return std::make_unique<SqliteDatabase>(options, std::move(writer));
}

}  // namespace cairn::storage
