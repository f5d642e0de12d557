// ScheduleStateTable on SQLite (always) and PostgreSQL (when CAIRN_TEST_POSTGRES_URL names a
// server): the table is created once, states round-trip, a save replaces, forget deletes,
// two tables on one database keep apart, and the rows are those the schedule services
// wrote before the table was shared (same columns, same migration record).

#include "pipelines/schedule_state_table.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "gtest/gtest.h"
#include "storage/database.h"
#include "storage/testing/test_databases.h"

namespace cairn::pipelines {
namespace {

class ScheduleStateTableTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string url;
    if (GetParam() == "sqlite") {
      static std::atomic<int> counter{0};
      dir_ = std::filesystem::temp_directory_path() /
             ("cairn-schedule-state-test-" + std::to_string(::getpid()) + "-" +
              std::to_string(counter++));
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
      url = (dir_ / "test.db").string();
    } else {
      CAIRN_REQUIRE_POSTGRES();
      url = storage::test_support::PrivatePostgresUrl();
    }
    auto db = storage::OpenDatabase(url);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS test_schedules; DROP TABLE IF EXISTS "
                         "other_schedules;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT "
                         "NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at "
                         "BIGINT NOT NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component IN ('test_schedules', "
                         "'other_schedules')");
                   }).ok());
  }
  void TearDown() override {
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Database> db_;
};

TEST_P(ScheduleStateTableTest, SavesLoadsReplacesAndForgets) {
  auto table = ScheduleStateTable::Open(*db_, "test_schedules", "pipeline", "schedule state");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE(table->Load()->empty());
  const StoredScheduleState nightly{"0 3 * * *", 1000, 900, "run-1", ""};
  const StoredScheduleState hourly{"0 * * * *", 2000, 0, "", "pipeline not found"};
  ASSERT_TRUE(table->Save("nightly", nightly, 5).ok());
  ASSERT_TRUE(table->Save("hourly", hourly, 6).ok());
  auto loaded = table->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, (std::map<std::string, StoredScheduleState>{{"hourly", hourly},
                                                                 {"nightly", nightly}}));
  const StoredScheduleState later{"0 3 * * *", 3000, 3000, "run-2", ""};
  ASSERT_TRUE(table->Save("nightly", later, 7).ok());
  EXPECT_EQ(table->Load()->at("nightly"), later);
  ASSERT_TRUE(table->Forget("hourly").ok());
  ASSERT_TRUE(table->Forget("never-saved").ok());
  EXPECT_EQ(*table->Load(), (std::map<std::string, StoredScheduleState>{{"nightly", later}}));

  // The row's columns, as the schedule services wrote them before the table was shared.
  auto rows = db_->Read([](storage::SqlSession& s) -> absl::Status {
    auto result = s.Query(
        "SELECT pipeline, cron, handled_until_ms, last_fire_ms, last_run_id, last_error, "
        "updated_ms FROM test_schedules",
        {});
    if (!result.ok()) return result.status();
    if (result->rows.size() != 1) return absl::InternalError("expected one row");
    if (std::get<int64_t>(result->rows[0][6]) != 7) return absl::InternalError("updated_ms");
    return absl::OkStatus();
  });
  EXPECT_TRUE(rows.ok()) << rows;
}

TEST_P(ScheduleStateTableTest, TablesOnOneDatabaseKeepApartAndSurviveReopening) {
  auto first = ScheduleStateTable::Open(*db_, "test_schedules", "pipeline", "per pipeline");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = ScheduleStateTable::Open(*db_, "other_schedules", "monitor", "per monitor");
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(first->Save("a", {"* * * * *", 1, 1, "r", ""}, 1).ok());
  ASSERT_TRUE(second->Save("b", {"0 * * * *", 2, 2, "s", ""}, 2).ok());
  auto reopened = ScheduleStateTable::Open(*db_, "test_schedules", "pipeline", "per pipeline");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ASSERT_EQ(reopened->Load()->size(), 1u);
  EXPECT_EQ(reopened->Load()->count("a"), 1u);
  ASSERT_EQ(second->Load()->size(), 1u);
  EXPECT_EQ(second->Load()->at("b").last_run_id, "s");
  // The migration is recorded under the table's name, with the caller's description.
  auto recorded = db_->Read([](storage::SqlSession& s) -> absl::Status {
    auto result = s.Query(
        "SELECT name FROM schema_migrations WHERE component = 'other_schedules' AND "
        "version = 1",
        {});
    if (!result.ok()) return result.status();
    if (result->rows.size() != 1 || std::get<std::string>(result->rows[0][0]) != "per monitor") {
      return absl::InternalError("migration not recorded as 'per monitor'");
    }
    return absl::OkStatus();
  });
  EXPECT_TRUE(recorded.ok()) << recorded;
}

INSTANTIATE_TEST_SUITE_P(Backends, ScheduleStateTableTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::pipelines
