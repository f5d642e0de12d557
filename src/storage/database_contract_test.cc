// Contract tests every Database implementation passes. SQLite always runs; PostgreSQL runs
// when CAIRN_TEST_POSTGRES_URL names a server (make test starts one on loopback).

#include <cstdlib>
#include <filesystem>

#include "gtest/gtest.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::storage {
namespace {

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-storage-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(std::rand()));
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = std::getenv("CAIRN_TEST_POSTGRES_URL");
  return url ? url : "";
}

class DatabaseContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string url = BackendUrl(GetParam());
    if (url.empty()) GTEST_SKIP() << "CAIRN_TEST_POSTGRES_URL is not set";
    auto db = OpenDatabase(url);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Write([](SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS kv; DROP TABLE IF EXISTS schema_migrations;"
                         "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT, d DOUBLE PRECISION)");
                   }).ok());
  }
  std::unique_ptr<Database> db_;
};

TEST_P(DatabaseContract, CommittedWriteIsVisibleToReaders) {
  ASSERT_TRUE(db_->Write([](SqlSession& s) {
                   const SqlValue p[] = {std::string("a"), int64_t{7}, 1.5};
                   return s.Execute("INSERT INTO kv (k, v, d) VALUES ($1, $2, $3)", p).status();
                 }).ok());
  int64_t v = 0;
  double d = 0;
  ASSERT_TRUE(db_->Read([&](SqlSession& s) {
                   const SqlValue p[] = {std::string("a")};
                   return s.QueryEach("SELECT v, d FROM kv WHERE k = $1", p,
                                      [&](const SqlRowView& row) {
                                        v = row.Int(0);
                                        d = row.Double(1);
                                        return absl::OkStatus();
                                      });
                 }).ok());
  EXPECT_EQ(v, 7);
  EXPECT_EQ(d, 1.5);
}

TEST_P(DatabaseContract, FailedWriteRollsBackAndReturnsItsStatus) {
  absl::Status status = db_->Write([](SqlSession& s) -> absl::Status {
    const SqlValue p[] = {std::string("gone"), int64_t{1}};
    auto r = s.Execute("INSERT INTO kv (k, v) VALUES ($1, $2)", p);
    if (!r.ok()) return r.status();
    return absl::InvalidArgumentError("x: rejected");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  auto result = std::make_unique<SqlResult>();
  ASSERT_TRUE(db_->Read([&](SqlSession& s) -> absl::Status {
                   auto r = s.Query("SELECT k FROM kv");
                   if (!r.ok()) return r.status();
                   *result = std::move(*r);
                   return absl::OkStatus();
                 }).ok());
  EXPECT_TRUE(result->rows.empty());
}

TEST_P(DatabaseContract, UniqueViolationIsAlreadyExists) {
  auto insert = [](SqlSession& s) {
    const SqlValue p[] = {std::string("dup"), int64_t{1}};
    return s.Execute("INSERT INTO kv (k, v) VALUES ($1, $2)", p).status();
  };
  ASSERT_TRUE(db_->Write(insert).ok());
  EXPECT_EQ(db_->Write(insert).code(), absl::StatusCode::kAlreadyExists);
}

TEST_P(DatabaseContract, MigrationsApplyOnce) {
  static constexpr Migration kMigrations[] = {
      {1, "create t1", "CREATE TABLE t1 (a INTEGER)"},
      {2, "create t2", "CREATE TABLE t2 (b INTEGER)"},
  };
  ASSERT_TRUE(db_->Write([](SqlSession& s) {
                   return s.ExecuteScript("DROP TABLE IF EXISTS t1; DROP TABLE IF EXISTS t2");
                 }).ok());
  ASSERT_TRUE(ApplyMigrations(*db_, "test", kMigrations).ok());
  // A second run must not try to create the tables again.
  EXPECT_TRUE(ApplyMigrations(*db_, "test", kMigrations).ok());
  EXPECT_EQ(ApplyMigrations(*db_, "test", std::span(kMigrations, 1)).code(),
            absl::StatusCode::kFailedPrecondition);
}

INSTANTIATE_TEST_SUITE_P(Backends, DatabaseContract, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::storage
