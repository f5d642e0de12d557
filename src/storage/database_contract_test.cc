// Contract tests every Database implementation passes, run against "sqlite" and "postgres".
// PostgreSQL uses CAIRN_TEST_POSTGRES_URL (scripts/run_tests starts a throw-away server
// and exports it). Without it the postgres cases fail under CI (CI=true) and are skipped
// with a message elsewhere. Every table the tests touch starts with "storage_ct_" and is
// dropped at SetUp, so the tests can share a PostgreSQL database with other suites.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "storage/testing/test_databases.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::storage {
namespace {

using ::testing::TestWithParam;

constexpr char kDropTables[] =
    "DROP TABLE IF EXISTS storage_ct_child; DROP TABLE IF EXISTS storage_ct_kv;"
    "DROP TABLE IF EXISTS storage_ct_types; DROP TABLE IF EXISTS storage_ct_m1;"
    "DROP TABLE IF EXISTS storage_ct_m2; DROP TABLE IF EXISTS storage_ct_pairs;"
    "DROP TABLE IF EXISTS storage_ct_blobs";

std::filesystem::path FreshTempDir() {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             absl::StrCat("cairn-storage-test-", ::getpid(), "-", counter.fetch_add(1), "-",
                          std::random_device{}());
  std::filesystem::create_directories(dir);
  return dir;
}

std::string PostgresUrl() {
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

// Runs `sql` in its own write transaction.
absl::Status Script(Database& db, const std::string& sql) {
  return db.Write([&](SqlSession& s) { return s.ExecuteScript(sql); });
}

// All rows of `sql`, read in a read transaction.
absl::StatusOr<SqlResult> ReadAll(Database& db, const std::string& sql,
                                  std::vector<SqlValue> params = {}) {
  SqlResult result;
  absl::Status status = db.Read([&](SqlSession& s) -> absl::Status {
    auto rows = s.Query(sql, params);
    if (!rows.ok()) return rows.status();
    result = std::move(*rows);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<int64_t> Count(Database& db, const std::string& table) {
  auto rows = ReadAll(db, "SELECT COUNT(*) FROM " + table);
  if (!rows.ok()) return rows.status();
  return std::get<int64_t>(rows->rows.at(0).at(0));
}

absl::Status InsertKv(SqlSession& s, const std::string& k, int64_t v) {
  const SqlValue p[] = {k, v};
  return s.Execute("INSERT INTO storage_ct_kv (k, v) VALUES ($1, $2)", p).status();
}

class DatabaseContract : public TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      dir_ = FreshTempDir();
      url_ = (dir_ / "test.db").string();
    } else {
      CAIRN_REQUIRE_POSTGRES();
      url_ = PostgresUrl();
    }
    auto db = OpenDatabase(url_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(Script(*db_, std::string(kDropTables) +
                                 ";CREATE TABLE storage_ct_kv (k TEXT PRIMARY KEY, v BIGINT, "
                                 "d DOUBLE PRECISION)")
                    .ok());
  }

  void TearDown() override {
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::string url_;
  std::unique_ptr<Database> db_;
};

TEST_P(DatabaseContract, CommittedWriteIsVisibleToReaders) {
  ASSERT_TRUE(db_->Write([](SqlSession& s) {
                   const SqlValue p[] = {std::string("a"), int64_t{7}, 1.5};
                   return s.Execute("INSERT INTO storage_ct_kv (k, v, d) VALUES ($1, $2, $3)", p)
                       .status();
                 }).ok());
  int64_t v = 0;
  double d = 0;
  ASSERT_TRUE(db_->Read([&](SqlSession& s) {
                   const SqlValue p[] = {std::string("a")};
                   return s.QueryEach("SELECT v, d FROM storage_ct_kv WHERE k = $1", p,
                                      [&](const SqlRowView& row) {
                                        v = row.Int(0);
                                        d = row.Double(1);
                                        return absl::OkStatus();
                                      });
                 }).ok());
  EXPECT_EQ(v, 7);
  EXPECT_EQ(d, 1.5);
}

TEST_P(DatabaseContract, FailedWriteLeavesNoPartialRowsAndReturnsItsStatus) {
  absl::Status status = db_->Write([](SqlSession& s) -> absl::Status {
    for (const char* key : {"gone-1", "gone-2", "gone-3"}) {
      absl::Status inserted = InsertKv(s, key, 1);
      if (!inserted.ok()) return inserted;
    }
    return absl::InvalidArgumentError("x: rejected");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "x: rejected");
  EXPECT_EQ(Count(*db_, "storage_ct_kv").value_or(-1), 0);
  // The database is still usable after the rollback.
  EXPECT_TRUE(db_->Write([](SqlSession& s) { return InsertKv(s, "kept", 1); }).ok());
  EXPECT_EQ(Count(*db_, "storage_ct_kv").value_or(-1), 1);
}

TEST_P(DatabaseContract, UniqueViolationIsAlreadyExists) {
  auto insert = [](SqlSession& s) { return InsertKv(s, "dup", 1); };
  ASSERT_TRUE(db_->Write(insert).ok());
  EXPECT_EQ(db_->Write(insert).code(), absl::StatusCode::kAlreadyExists);
}

TEST_P(DatabaseContract, OtherConstraintViolationsMapToTheirCodes) {
  ASSERT_TRUE(Script(*db_,
                     "CREATE TABLE storage_ct_child (id BIGINT PRIMARY KEY, "
                     "k TEXT NOT NULL REFERENCES storage_ct_kv (k), n BIGINT CHECK (n > 0))")
                  .ok());
  ASSERT_TRUE(db_->Write([](SqlSession& s) { return InsertKv(s, "parent", 1); }).ok());
  auto insert_child = [&](SqlValue k, int64_t n) {
    return db_->Write([&](SqlSession& s) {
      const SqlValue p[] = {int64_t{1}, k, n};
      return s.Execute("INSERT INTO storage_ct_child (id, k, n) VALUES ($1, $2, $3)", p)
          .status();
    });
  };
  EXPECT_EQ(insert_child(std::monostate{}, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(insert_child(std::string("no-such-parent"), 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(insert_child(std::string("parent"), -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(insert_child(std::string("parent"), 1).ok());
  EXPECT_EQ(insert_child(std::string("parent"), 1).code(), absl::StatusCode::kAlreadyExists);
}

TEST_P(DatabaseContract, TypedValuesRoundTrip) {
  ASSERT_TRUE(Script(*db_,
                     "CREATE TABLE storage_ct_types (id BIGINT PRIMARY KEY, i BIGINT, "
                     "d DOUBLE PRECISION, t TEXT)")
                  .ok());
  const double kInf = std::numeric_limits<double>::infinity();
  const std::string kLong(100'000, 'x');
  struct Case {
    SqlValue i;
    SqlValue d;
    SqlValue t;
  };
  const std::vector<Case> cases = {
      {std::numeric_limits<int64_t>::max(), 0.1, std::string("")},
      {std::numeric_limits<int64_t>::min(), -2.5e-300, std::monostate{}},
      {int64_t{0}, std::numeric_limits<double>::quiet_NaN(), std::string("héllo ✓ 日本語 🚀")},
      {int64_t{-1}, kInf, std::string("it's a \\ \"quote\" $1 ?1")},
      {std::monostate{}, -kInf, kLong},
      {int64_t{42}, std::numeric_limits<double>::max(), std::string("NaN")},
      {int64_t{43}, std::numeric_limits<double>::denorm_min(), std::string("0")},
      {int64_t{44}, 2.0, std::string("1.5")},
      {int64_t{45}, std::monostate{}, std::string("line\nbreak\ttab")},
  };
  ASSERT_TRUE(db_->Write([&](SqlSession& s) -> absl::Status {
                   for (size_t case_idx = 0; case_idx < cases.size(); ++case_idx) {
                     const SqlValue p[] = {static_cast<int64_t>(case_idx), cases[case_idx].i,
                                           cases[case_idx].d, cases[case_idx].t};
                     auto r = s.Execute(
                         "INSERT INTO storage_ct_types (id, i, d, t) VALUES ($1, $2, $3, $4)", p);
                     if (!r.ok()) return r.status();
                     if (*r != 1) return absl::InternalError("expected one changed row");
                   }
                   return absl::OkStatus();
                 }).ok());

  size_t seen = 0;
  ASSERT_TRUE(db_->Read([&](SqlSession& s) {
    return s.QueryEach(
        "SELECT id, i, d, t FROM storage_ct_types ORDER BY id", {},
        [&](const SqlRowView& row) -> absl::Status {
          const Case& want = cases.at(static_cast<size_t>(row.Int(0)));
          ++seen;
          SCOPED_TRACE(absl::StrCat("row ", row.Int(0)));
          EXPECT_EQ(row.columns(), 4);
          EXPECT_EQ(std::get<int64_t>(row.Get(0)), row.Int(0));
          // BIGINT column.
          if (std::holds_alternative<std::monostate>(want.i)) {
            EXPECT_TRUE(row.IsNull(1));
            EXPECT_TRUE(std::holds_alternative<std::monostate>(row.Get(1)));
          } else {
            EXPECT_FALSE(row.IsNull(1));
            EXPECT_EQ(row.Int(1), std::get<int64_t>(want.i));
            EXPECT_EQ(row.Get(1), want.i);
          }
          // DOUBLE PRECISION column.
          if (std::holds_alternative<std::monostate>(want.d)) {
            EXPECT_TRUE(row.IsNull(2));
          } else {
            double expected = std::get<double>(want.d);
            EXPECT_FALSE(row.IsNull(2));
            SqlValue got = row.Get(2);
            EXPECT_TRUE(std::holds_alternative<double>(got));
            if (std::isnan(expected)) {
              EXPECT_TRUE(std::isnan(row.Double(2)));
              EXPECT_TRUE(std::holds_alternative<double>(got) && std::isnan(std::get<double>(got)));
            } else {
              EXPECT_EQ(row.Double(2), expected);
              EXPECT_EQ(got, SqlValue(expected));
            }
          }
          // TEXT column: the empty string is not NULL.
          if (std::holds_alternative<std::monostate>(want.t)) {
            EXPECT_TRUE(row.IsNull(3));
            EXPECT_TRUE(std::holds_alternative<std::monostate>(row.Get(3)));
          } else {
            EXPECT_FALSE(row.IsNull(3));
            EXPECT_EQ(row.Text(3), std::get<std::string>(want.t));
            EXPECT_EQ(row.Get(3), want.t);
          }
          return absl::OkStatus();
        });
  }).ok());
  EXPECT_EQ(seen, cases.size());

  // Parameters compare against stored values exactly, extremes and UTF-8 included.
  auto by_int = ReadAll(*db_, "SELECT id FROM storage_ct_types WHERE i = $1",
                        {std::numeric_limits<int64_t>::min()});
  ASSERT_TRUE(by_int.ok()) << by_int.status();
  ASSERT_EQ(by_int->rows.size(), 1u);
  EXPECT_EQ(by_int->rows[0][0], SqlValue(int64_t{1}));
  auto by_text = ReadAll(*db_, "SELECT id FROM storage_ct_types WHERE t = $1",
                         {std::string("héllo ✓ 日本語 🚀")});
  ASSERT_TRUE(by_text.ok()) << by_text.status();
  ASSERT_EQ(by_text->rows.size(), 1u);
  EXPECT_EQ(by_text->rows[0][0], SqlValue(int64_t{2}));
  auto empty_vs_null = ReadAll(
      *db_, "SELECT COUNT(*) FROM storage_ct_types WHERE t = $1", {std::string("")});
  ASSERT_TRUE(empty_vs_null.ok()) << empty_vs_null.status();
  EXPECT_EQ(empty_vs_null->rows[0][0], SqlValue(int64_t{1}));
  auto nulls = ReadAll(*db_, "SELECT COUNT(*) FROM storage_ct_types WHERE t IS NULL");
  ASSERT_TRUE(nulls.ok()) << nulls.status();
  EXPECT_EQ(nulls->rows[0][0], SqlValue(int64_t{1}));
}

TEST_P(DatabaseContract, BlobsRoundTripEveryByte) {
  const char* type = db_->dialect() == Dialect::kPostgres ? "BYTEA" : "BLOB";
  ASSERT_TRUE(Script(*db_, absl::StrCat("CREATE TABLE storage_ct_blobs (id BIGINT PRIMARY KEY, "
                                        "b ", type, ")"))
                  .ok());
  std::string every_byte;
  for (int byte = 0; byte < 256; ++byte) every_byte.push_back(static_cast<char>(byte));
  std::string large;
  std::mt19937_64 rng(7);
  for (int byte_idx = 0; byte_idx < 300'000; ++byte_idx) large.push_back(static_cast<char>(rng()));
  const std::vector<std::string> blobs = {std::string(), std::string(1, '\0'), every_byte, large};
  ASSERT_TRUE(db_->Write([&](SqlSession& session) -> absl::Status {
                   for (size_t blob_idx = 0; blob_idx < blobs.size(); ++blob_idx) {
                     const SqlValue params[] = {static_cast<int64_t>(blob_idx),
                                                SqlBlob{blobs[blob_idx]}};
                     CAIRN_RETURN_IF_ERROR(
                         session.Execute("INSERT INTO storage_ct_blobs (id, b) VALUES ($1, $2)",
                                         params)
                             .status());
                   }
                   const SqlValue null_row[] = {int64_t{99}, SqlValue()};
                   return session
                       .Execute("INSERT INTO storage_ct_blobs (id, b) VALUES ($1, $2)", null_row)
                       .status();
                 })
                  .ok());
  std::vector<std::string> read;
  bool null_seen = false;
  ASSERT_TRUE(db_->Read([&](SqlSession& session) {
                   return session.QueryEach(
                       "SELECT id, b FROM storage_ct_blobs ORDER BY id", {},
                       [&](const SqlRowView& row) {
                         std::string scratch;
                         if (row.Int(0) == 99) {
                           null_seen = row.IsNull(1) && row.Blob(1, &scratch).empty();
                         } else {
                           read.emplace_back(row.Blob(1, &scratch));
                         }
                         return absl::OkStatus();
                       });
                 })
                  .ok());
  EXPECT_TRUE(null_seen);
  ASSERT_EQ(read.size(), blobs.size());
  for (size_t blob_idx = 0; blob_idx < blobs.size(); ++blob_idx)
    EXPECT_TRUE(read[blob_idx] == blobs[blob_idx]) << "blob " << blob_idx;
  // A blob parameter compares with the stored bytes.
  auto found = ReadAll(*db_, "SELECT id FROM storage_ct_blobs WHERE b = $1",
                       {SqlValue(SqlBlob{every_byte})});
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->rows.size(), 1u);
  EXPECT_EQ(found->rows[0][0], SqlValue(int64_t{2}));
}

TEST_P(DatabaseContract, UpsertAndReturningBehaveAlike) {
  constexpr char kUpsert[] =
      "INSERT INTO storage_ct_kv (k, v) VALUES ($1, $2) "
      "ON CONFLICT (k) DO UPDATE SET v = storage_ct_kv.v + excluded.v RETURNING v";
  constexpr char kInsertOrSkip[] =
      "INSERT INTO storage_ct_kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING RETURNING k";
  std::vector<int64_t> returned;
  std::vector<int64_t> changed;
  int skipped_rows = 0;
  ASSERT_TRUE(db_->Write([&](SqlSession& s) -> absl::Status {
                   for (int64_t add : {5, 7}) {
                     const SqlValue p[] = {std::string("counter"), add};
                     auto rows = s.Query(kUpsert, p);
                     if (!rows.ok()) return rows.status();
                     for (auto& row : rows->rows) returned.push_back(std::get<int64_t>(row[0]));
                   }
                   for (int attempt = 0; attempt < 2; ++attempt) {
                     const SqlValue p[] = {std::string("once"), int64_t{1}};
                     auto count = s.Execute(kInsertOrSkip, p);
                     if (!count.ok()) return count.status();
                     changed.push_back(*count);
                   }
                   const SqlValue p[] = {std::string("counter"), int64_t{1}};
                   return s.QueryEach(kInsertOrSkip, p, [&](const SqlRowView&) {
                     ++skipped_rows;
                     return absl::OkStatus();
                   });
                 }).ok());
  EXPECT_EQ(returned, (std::vector<int64_t>{5, 12}));
  EXPECT_EQ(changed, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(skipped_rows, 0);

  // RETURNING of generated values after an UPDATE.
  auto updated = SqlResult();
  ASSERT_TRUE(db_->Write([&](SqlSession& s) -> absl::Status {
                   const SqlValue p[] = {int64_t{100}, std::string("counter")};
                   auto rows =
                       s.Query("UPDATE storage_ct_kv SET v = v * $1 WHERE k = $2 RETURNING k, v", p);
                   if (!rows.ok()) return rows.status();
                   updated = std::move(*rows);
                   return absl::OkStatus();
                 }).ok());
  ASSERT_EQ(updated.rows.size(), 1u);
  EXPECT_EQ(updated.rows[0][0], SqlValue(std::string("counter")));
  EXPECT_EQ(updated.rows[0][1], SqlValue(int64_t{1200}));
}

TEST_P(DatabaseContract, PlaceholdersMayComeOutOfOrderAndRepeat) {
  ASSERT_TRUE(db_->Write([](SqlSession& s) -> absl::Status {
                   // $3 first, $1 last; $2 used twice.
                   const SqlValue p[] = {1.25, int64_t{9}, std::string("p")};
                   auto r = s.Execute(
                       "INSERT INTO storage_ct_kv (k, v, d) VALUES ($3, $2, $1) "
                       "ON CONFLICT (k) DO UPDATE SET v = $2",
                       p);
                   return r.status();
                 }).ok());
  auto rows = ReadAll(*db_,
                      "SELECT k, v, d FROM storage_ct_kv WHERE v = $2 AND k = $1 AND v >= $2 "
                      "AND k <> '$2'",
                      {std::string("p"), int64_t{9}});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->rows.size(), 1u);
  EXPECT_EQ(rows->rows[0][1], SqlValue(int64_t{9}));
  EXPECT_EQ(rows->rows[0][2], SqlValue(1.25));

  // Two-digit placeholders are not confused with $1.
  std::vector<SqlValue> params;
  for (int64_t value = 1; value <= 12; ++value) params.push_back(value);
  auto many = ReadAll(*db_,
                      "SELECT COUNT(*) FROM storage_ct_kv WHERE v IN ($12, $11, $10, $9, $8, $7, "
                      "$6, $5, $4, $3, $2, $1)",
                      params);
  ASSERT_TRUE(many.ok()) << many.status();
  EXPECT_EQ(many->rows[0][0], SqlValue(int64_t{1}));
}

TEST_P(DatabaseContract, QueryEachStopsAtTheFirstError) {
  ASSERT_TRUE(db_->Write([](SqlSession& s) -> absl::Status {
                   for (int64_t n = 0; n < 10; ++n) {
                     absl::Status st = InsertKv(s, absl::StrCat("row-", n), n);
                     if (!st.ok()) return st;
                   }
                   return absl::OkStatus();
                 }).ok());
  int calls = 0;
  int64_t after = -1;
  absl::Status status = db_->Read([&](SqlSession& s) -> absl::Status {
    absl::Status stopped =
        s.QueryEach("SELECT v FROM storage_ct_kv ORDER BY v", {}, [&](const SqlRowView& row) {
          ++calls;
          if (row.Int(0) == 2) return absl::CancelledError("enough");
          return absl::OkStatus();
        });
    if (stopped.code() != absl::StatusCode::kCancelled) return absl::InternalError("not stopped");
    // The session stays usable after an early stop.
    auto count = s.Query("SELECT COUNT(*) FROM storage_ct_kv");
    if (!count.ok()) return count.status();
    after = std::get<int64_t>(count->rows[0][0]);
    return stopped;
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(after, 10);
}

TEST_P(DatabaseContract, ConcurrentWritersCommitExactlyTheSuccessfulCalls) {
  constexpr int kThreads = 32;
  constexpr int kWritesPerThread = 200;
  std::vector<std::thread> threads;
  std::atomic<int> ok_count{0};
  std::atomic<int> wrong_code{0};
  std::atomic<int> locked{0};
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      for (int write_idx = 0; write_idx < kWritesPerThread; ++write_idx) {
        const std::string key = absl::StrCat("t", thread_idx, "-", write_idx);
        absl::Status status = db_->Write([&](SqlSession& s) -> absl::Status {
          CAIRN_RETURN_IF_ERROR(InsertKv(s, key, write_idx));
          // Every 10th call fails after writing; every 10th+5 collides with a key of its own.
          if (write_idx % 10 == 3) return absl::InvalidArgumentError("deliberate");
          if (write_idx % 10 == 5) return InsertKv(s, key, -1);
          return absl::OkStatus();
        });
        absl::StatusCode want = write_idx % 10 == 3   ? absl::StatusCode::kInvalidArgument
                                : write_idx % 10 == 5 ? absl::StatusCode::kAlreadyExists
                                                      : absl::StatusCode::kOk;
        if (status.ok()) ok_count.fetch_add(1);
        if (status.code() != want) wrong_code.fetch_add(1);
        if (absl::StrContains(status.message(), "locked")) locked.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong_code.load(), 0);
  EXPECT_EQ(locked.load(), 0);
  EXPECT_EQ(ok_count.load(), kThreads * kWritesPerThread * 8 / 10);

  auto rows = ReadAll(*db_, "SELECT k, v FROM storage_ct_kv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::set<std::string> keys;
  for (const auto& row : rows->rows) {
    keys.insert(std::get<std::string>(row[0]));
    EXPECT_GE(std::get<int64_t>(row[1]), 0);  // no half-applied collision
  }
  EXPECT_EQ(keys.size(), rows->rows.size());
  std::set<std::string> expected;
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx)
    for (int write_idx = 0; write_idx < kWritesPerThread; ++write_idx)
      if (write_idx % 10 != 3 && write_idx % 10 != 5)
        expected.insert(absl::StrCat("t", thread_idx, "-", write_idx));
  EXPECT_EQ(keys, expected);
}

TEST_P(DatabaseContract, ReadersSeeOnlyCommittedData) {
  ASSERT_TRUE(Script(*db_, "CREATE TABLE storage_ct_pairs (id BIGINT PRIMARY KEY, v BIGINT)").ok());
  constexpr int kWriters = 8;
  constexpr int kWritesPerWriter = 60;
  std::atomic<bool> writing{true};
  std::atomic<int> next_id{0};
  std::vector<std::thread> writers;
  for (int writer_idx = 0; writer_idx < kWriters; ++writer_idx) {
    writers.emplace_back([&, writer_idx] {
      for (int write_idx = 0; write_idx < kWritesPerWriter; ++write_idx) {
        int64_t id = next_id.fetch_add(2);
        db_->Write([&](SqlSession& s) -> absl::Status {
             // Every committed transaction adds a pair summing to zero; failing ones write
             // half a pair before they fail.
             const SqlValue first[] = {id, int64_t{id + 1}};
             CAIRN_RETURN_IF_ERROR(
                 s.Execute("INSERT INTO storage_ct_pairs (id, v) VALUES ($1, $2)", first).status());
             if (write_idx % 4 == writer_idx % 4) return absl::AbortedError("deliberate");
             const SqlValue second[] = {int64_t{id + 1}, int64_t{-(id + 1)}};
             return s.Execute("INSERT INTO storage_ct_pairs (id, v) VALUES ($1, $2)", second)
                 .status();
           })
            .IgnoreError();
      }
    });
  }
  std::atomic<int> bad_snapshots{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int reader_idx = 0; reader_idx < 4; ++reader_idx) {
    readers.emplace_back([&] {
      // Read at least a few times even if the writers finish first.
      for (int round = 0; writing.load() || round < 5; ++round) {
        absl::Status status = db_->Read([&](SqlSession& s) -> absl::Status {
          auto rows = s.Query("SELECT COUNT(*), COALESCE(SUM(v), 0) FROM storage_ct_pairs");
          if (!rows.ok()) return rows.status();
          int64_t count = std::get<int64_t>(rows->rows[0][0]);
          SqlValue sum = rows->rows[0][1];
          bool zero = sum == SqlValue(int64_t{0}) || sum == SqlValue(0.0);
          if (count % 2 != 0 || !zero) bad_snapshots.fetch_add(1);
          return absl::OkStatus();
        });
        if (!status.ok()) bad_snapshots.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  }
  for (auto& thread : writers) thread.join();
  writing = false;
  for (auto& thread : readers) thread.join();
  EXPECT_EQ(bad_snapshots.load(), 0);
  EXPECT_GE(reads.load(), 20);
  EXPECT_EQ(Count(*db_, "storage_ct_pairs").value_or(-1), kWriters * kWritesPerWriter * 2 * 3 / 4);
}

TEST_P(DatabaseContract, ReadSnapshotIgnoresLaterCommits) {
  ASSERT_TRUE(db_->Write([](SqlSession& s) { return InsertKv(s, "before", 1); }).ok());
  int64_t first = -1;
  int64_t second = -1;
  absl::Status during;
  ASSERT_TRUE(db_->Read([&](SqlSession& s) -> absl::Status {
                   auto count = s.Query("SELECT COUNT(*) FROM storage_ct_kv");
                   if (!count.ok()) return count.status();
                   first = std::get<int64_t>(count->rows[0][0]);
                   // A write commits while this snapshot is open (on another thread, as a
                   // server would); the reader must not see it.
                   std::thread writer(
                       [&] { during = db_->Write([](SqlSession& w) { return InsertKv(w, "after", 2); }); });
                   writer.join();
                   count = s.Query("SELECT COUNT(*) FROM storage_ct_kv");
                   if (!count.ok()) return count.status();
                   second = std::get<int64_t>(count->rows[0][0]);
                   return absl::OkStatus();
                 }).ok());
  EXPECT_TRUE(during.ok()) << during;
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  EXPECT_EQ(Count(*db_, "storage_ct_kv").value_or(-1), 2);
}

TEST_P(DatabaseContract, MigrationsApplyOnceAndRefuseANewerSchema) {
  static constexpr Migration kMigrations[] = {
      {1, "create m1", "CREATE TABLE storage_ct_m1 (a INTEGER)"},
      {2, "create m2", "CREATE TABLE storage_ct_m2 (b INTEGER); INSERT INTO storage_ct_m2 VALUES (1)",
       /*sqlite_sql=*/{}, /*postgres_sql=*/{}},
  };
  const std::string component = absl::StrCat("storage_ct_", ::getpid());
  // Start from nothing recorded for this component (the PostgreSQL database is shared).
  ASSERT_TRUE(ApplyMigrations(*db_, component, {}).ok());
  ASSERT_TRUE(db_->Write([&](SqlSession& s) {
                   const SqlValue p[] = {component};
                   return s.Execute("DELETE FROM schema_migrations WHERE component = $1", p)
                       .status();
                 }).ok());

  ASSERT_TRUE(ApplyMigrations(*db_, component, kMigrations).ok());
  // A second run must not create the tables again nor insert again.
  EXPECT_TRUE(ApplyMigrations(*db_, component, kMigrations).ok());
  EXPECT_EQ(Count(*db_, "storage_ct_m2").value_or(-1), 1);
  auto recorded = ReadAll(*db_,
                          "SELECT version, name FROM schema_migrations WHERE component = $1 "
                          "ORDER BY version",
                          {component});
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_EQ(recorded->rows.size(), 2u);
  EXPECT_EQ(recorded->rows[1][1], SqlValue(std::string("create m2")));

  // An older binary (knowing only version 1) refuses the newer schema.
  absl::Status older = ApplyMigrations(*db_, component, std::span(kMigrations, 1));
  EXPECT_EQ(older.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(older.message(), "version 2")) << older;
  EXPECT_EQ(ApplyMigrations(*db_, component, {}).code(), absl::StatusCode::kFailedPrecondition);

  // Versions must increase.
  static constexpr Migration kBackwards[] = {{2, "b", "SELECT 1"}, {1, "a", "SELECT 1"}};
  EXPECT_EQ(ApplyMigrations(*db_, component, kBackwards).code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(db_->Write([&](SqlSession& s) {
                   const SqlValue p[] = {component};
                   return s.Execute("DELETE FROM schema_migrations WHERE component = $1", p)
                       .status();
                 }).ok());
}

TEST_P(DatabaseContract, FailedMigrationIsNotRecorded) {
  static constexpr Migration kBroken[] = {
      {1, "create m1", "CREATE TABLE storage_ct_m1 (a INTEGER)"},
      {2, "broken", "CREATE TABLE storage_ct_m2 (b INTEGER); THIS IS NOT SQL"},
  };
  const std::string component = absl::StrCat("storage_ct_broken_", ::getpid());
  ASSERT_TRUE(ApplyMigrations(*db_, component, {}).ok());
  ASSERT_TRUE(db_->Write([&](SqlSession& s) {
                   const SqlValue p[] = {component};
                   return s.Execute("DELETE FROM schema_migrations WHERE component = $1", p)
                       .status();
                 }).ok());
  EXPECT_FALSE(ApplyMigrations(*db_, component, kBroken).ok());
  auto versions = ReadAll(*db_, "SELECT MAX(version) FROM schema_migrations WHERE component = $1",
                          {component});
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(versions->rows[0][0], SqlValue(int64_t{1}));
  // Migration 2's first statement was rolled back with it.
  EXPECT_FALSE(Count(*db_, "storage_ct_m2").ok());
  ASSERT_TRUE(db_->Write([&](SqlSession& s) {
                   const SqlValue p[] = {component};
                   return s.Execute("DELETE FROM schema_migrations WHERE component = $1", p)
                       .status();
                 }).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, DatabaseContract, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// PostgreSQL only: two writers that lock rows in opposite order deadlock; the engine aborts
// one and Write runs its body again, so both calls succeed.
// (SQLite has a single writer connection, so it cannot deadlock.)
class PostgresOnly : public DatabaseContract {};

TEST_P(PostgresOnly, DeadlockIsRetried) {
  ASSERT_TRUE(db_->Write([](SqlSession& s) -> absl::Status {
                   CAIRN_RETURN_IF_ERROR(InsertKv(s, "a", 0));
                   return InsertKv(s, "b", 0);
                 }).ok());
  std::atomic<int> locked_first{0};
  std::atomic<int> runs{0};
  auto cross = [&](const char* first, const char* second) {
    return db_->Write([&, first, second](SqlSession& s) -> absl::Status {
      int run = runs.fetch_add(1);
      const SqlValue p1[] = {std::string(first)};
      CAIRN_RETURN_IF_ERROR(
          s.Execute("UPDATE storage_ct_kv SET v = v + 1 WHERE k = $1", p1).status());
      locked_first.fetch_add(1);
      // Only the first two runs wait for each other (a retried run must not wait).
      if (run < 2) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (locked_first.load() < 2 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::yield();
      }
      const SqlValue p2[] = {std::string(second)};
      return s.Execute("UPDATE storage_ct_kv SET v = v + 1 WHERE k = $1", p2).status();
    });
  };
  absl::Status status_ab;
  absl::Status status_ba;
  std::thread ab([&] { status_ab = cross("a", "b"); });
  std::thread ba([&] { status_ba = cross("b", "a"); });
  ab.join();
  ba.join();
  EXPECT_TRUE(status_ab.ok()) << status_ab;
  EXPECT_TRUE(status_ba.ok()) << status_ba;
  // At least one body ran again; a retried body can lose the race for the lock it needs
  // and deadlock once more, so more runs are possible.
  EXPECT_GE(runs.load(), 3);
  auto rows = ReadAll(*db_, "SELECT v FROM storage_ct_kv ORDER BY k");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->rows[0][0], SqlValue(int64_t{2}));
  EXPECT_EQ(rows->rows[1][0], SqlValue(int64_t{2}));
}

// A pooled connection that the server closed (restart, idle timeout, admin) is replaced
// transparently when the loss shows at BEGIN; a loss inside a transaction is Unavailable.
TEST_P(PostgresOnly, BrokenConnectionIsDroppedAndReplaced) {
  auto backend_pid = [&](SqlSession& s) -> absl::StatusOr<int64_t> {
    auto rows = s.Query("SELECT pg_backend_pid()");
    if (!rows.ok()) return rows.status();
    return std::get<int64_t>(rows->rows.at(0).at(0));
  };
  auto terminate = [&](int64_t pid) {
    auto admin = OpenDatabase(url_);
    ASSERT_TRUE(admin.ok()) << admin.status();
    ASSERT_TRUE((*admin)->Write([&](SqlSession& s) {
                         const SqlValue p[] = {pid};
                         return s.Query("SELECT pg_terminate_backend($1::int)", p).status();
                       }).ok());
    // Wait (with a deadline) until the server has ended that backend.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      auto alive = ReadAll(**admin, "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1::int",
                           {pid});
      ASSERT_TRUE(alive.ok()) << alive.status();
      if (alive->rows[0][0] == SqlValue(int64_t{0})) return;
      std::this_thread::yield();
    }
    FAIL() << "backend " << pid << " still alive";
  };

  // Idle connection killed: the next Write reconnects and succeeds.
  int64_t pid = 0;
  ASSERT_TRUE(db_->Write([&](SqlSession& s) -> absl::Status {
                   CAIRN_ASSIGN_OR_RETURN(pid, backend_pid(s));
                   return InsertKv(s, "one", 1);
                 }).ok());
  terminate(pid);
  int64_t new_pid = 0;
  absl::Status again = db_->Write([&](SqlSession& s) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(new_pid, backend_pid(s));
    return InsertKv(s, "two", 2);
  });
  EXPECT_TRUE(again.ok()) << again;
  EXPECT_NE(new_pid, pid);

  // Connection killed inside a transaction: Unavailable, nothing committed, and the pool
  // recovers for the next call.
  absl::Status lost = db_->Write([&](SqlSession& s) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(int64_t mine, backend_pid(s));
    CAIRN_RETURN_IF_ERROR(InsertKv(s, "three", 3));
    terminate(mine);
    return InsertKv(s, "four", 4);
  });
  EXPECT_EQ(lost.code(), absl::StatusCode::kUnavailable) << lost;
  EXPECT_EQ(Count(*db_, "storage_ct_kv").value_or(-1), 2);
}

// PostgreSQL aborts the transaction at the first failed statement; a body that swallows
// the error and returns OK must not be told that its writes committed.
TEST_P(PostgresOnly, IgnoredStatementFailureIsAborted) {
  ASSERT_TRUE(db_->Write([](SqlSession& s) { return InsertKv(s, "dup", 1); }).ok());
  absl::Status status = db_->Write([](SqlSession& s) -> absl::Status {
    EXPECT_EQ(InsertKv(s, "dup", 2).code(), absl::StatusCode::kAlreadyExists);
    InsertKv(s, "other", 3).IgnoreError();
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_EQ(Count(*db_, "storage_ct_kv").value_or(-1), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, PostgresOnly, ::testing::Values("postgres"),
                         [](const auto& info) { return info.param; });

TEST(OpenDatabase, UnknownSchemeIsInvalidArgument) {
  EXPECT_EQ(OpenDatabase("mysql://localhost/x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OpenDatabase, UnreachablePostgresIsUnavailable) {
  auto db = OpenDatabase("postgresql://postgres@127.0.0.1:1/cairn?connect_timeout=2");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(db.status().message(), "127.0.0.1")) << db.status();
}

TEST(OpenDatabase, InMemorySqliteWorks) {
  auto db = OpenDatabase("sqlite::memory:");
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE(Script(**db, "CREATE TABLE storage_ct_kv (k TEXT PRIMARY KEY, v BIGINT)").ok());
  ASSERT_TRUE((*db)->Write([](SqlSession& s) { return InsertKv(s, "m", 3); }).ok());
  EXPECT_EQ(Count(**db, "storage_ct_kv").value_or(-1), 1);
}

// An acknowledged write survives kill -9 of the process that made it.
TEST(SqliteDurability, AcknowledgedWriteSurvivesKill9) {
  std::filesystem::path dir = FreshTempDir();
  std::string path = (dir / "crash.db").string();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto db = OpenDatabase(path);
    if (!db.ok()) _exit(2);
    if (!Script(**db, "CREATE TABLE storage_ct_kv (k TEXT PRIMARY KEY, v BIGINT)").ok()) _exit(3);
    for (int64_t n = 0; n < 100; ++n) {
      if (!(*db)->Write([&](SqlSession& s) { return InsertKv(s, absl::StrCat("k", n), n); }).ok())
        _exit(4);
    }
    raise(SIGKILL);
    _exit(5);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);
  EXPECT_EQ(WTERMSIG(wstatus), SIGKILL);
  auto db = OpenDatabase(path);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(Count(**db, "storage_ct_kv").value_or(-1), 100);
  db->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cairn::storage
