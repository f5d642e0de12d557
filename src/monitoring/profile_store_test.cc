#include "monitoring/profile_store.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/reference_rows.h"
#include "storage/database.h"
#include "storage/testing/test_databases.h"

namespace cairn::monitoring {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-profile-store-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

DataProfile Profile(std::vector<double> values) {
  FrameColumn x;
  x.name = "x";
  x.numbers = std::move(values);
  FrameColumn c;
  c.name = "c";
  c.categorical = true;
  c.categories = {"a", "b"};
  c.codes.assign(x.numbers.size(), 0);
  DataFrame frame;
  frame.rows = static_cast<int64_t>(x.numbers.size());
  frame.columns = {x, c};
  auto profile = ProfileFrame(frame);
  EXPECT_TRUE(profile.ok());
  return *profile;
}

class ProfileStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = storage::OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS monitoring_profiles;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                         " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                         "NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'monitoring_profiles'");
                   }).ok());
    static std::atomic<int> dirs{0};
    rows_dir_ = (std::filesystem::temp_directory_path() /
                 ("cairn-profile-rows-test-" + std::to_string(::getpid()) + "-" +
                  std::to_string(dirs++)))
                    .string();
    std::filesystem::remove_all(rows_dir_);
    auto store = ProfileStore::Open(*db_, clock_, rows_dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override { std::filesystem::remove_all(rows_dir_); }

  std::string rows_dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<ProfileStore> store_;
};

TEST_P(ProfileStoreTest, PutVersionsAndGetRoundTrips) {
  DataProfile p1 = Profile({1, 2, 3});
  auto s1 = store_->Put("train", p1, InferConstraints(p1), "train.csv");
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_EQ(s1->version, 1);
  EXPECT_EQ(s1->rows, 3);
  EXPECT_EQ(s1->columns, 2);
  clock_.Advance(1000);
  DataProfile p2 = Profile({1, 2, 3, 4, 5.5});
  auto s2 = store_->Put("train", p2, InferConstraints(p2), "api");
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->version, 2);
  EXPECT_EQ(s2->created_ms, 1'700'000'001'000);

  auto latest = store_->Get("train");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->summary.version, 2);
  EXPECT_EQ(latest->summary.source, "api");
  EXPECT_EQ(ProfileToJson(latest->profile), ProfileToJson(p2));
  EXPECT_EQ(ConstraintsToJson(latest->constraints), ConstraintsToJson(InferConstraints(p2)));
  auto first = store_->Get("train", 1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->profile.rows(), 3);
  EXPECT_EQ(store_->GetConstraints("train")->features[0].inferred_type,
            InferredType::kFractional);

  auto versions = store_->Versions("train");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].source, "train.csv");
}

TEST_P(ProfileStoreTest, ListShowsLatestOfEachByName) {
  DataProfile p = Profile({1});
  ASSERT_TRUE(store_->Put("b", p, InferConstraints(p), "x").ok());
  ASSERT_TRUE(store_->Put("a", p, InferConstraints(p), "x").ok());
  ASSERT_TRUE(store_->Put("b", p, InferConstraints(p), "y").ok());
  auto list = store_->List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_EQ((*list)[1].name, "b");
  EXPECT_EQ((*list)[1].version, 2);
  EXPECT_EQ((*list)[1].source, "y");
}

TEST_P(ProfileStoreTest, NotFoundAndBadNamesSayWhat) {
  EXPECT_EQ(store_->Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("nope").status().message(),
            "profile 'nope' does not exist; list them with `cairn profiles list`");
  DataProfile p = Profile({1});
  ASSERT_TRUE(store_->Put("a", p, InferConstraints(p), "x").ok());
  EXPECT_EQ(store_->Get("a", 7).status().message(),
            "profile 'a' version 7 does not exist; list them with `cairn profiles list`");
  auto bad = store_->Put("bad name!", p, InferConstraints(p), "x");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("name: 'bad name!' is not a valid profile name"));
}

TEST_P(ProfileStoreTest, DeleteRemovesEveryVersion) {
  DataProfile p = Profile({1});
  ASSERT_TRUE(store_->Put("a", p, InferConstraints(p), "x").ok());
  ASSERT_TRUE(store_->Put("a", p, InferConstraints(p), "x").ok());
  ASSERT_TRUE(store_->Delete("a").ok());
  EXPECT_EQ(store_->Get("a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("a").code(), absl::StatusCode::kNotFound);
}

TEST_P(ProfileStoreTest, ConcurrentPutsGetDistinctVersions) {
  DataProfile p = Profile({1, 2});
  Constraints c = InferConstraints(p);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        if (!store_->Put("shared", p, c, "t").ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto versions = store_->Versions("shared");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 20u);
  EXPECT_EQ(versions->back().version, 20);
}

TEST_P(ProfileStoreTest, SurvivesReopen) {
  DataProfile p = Profile({1, 2});
  ASSERT_TRUE(store_->Put("a", p, InferConstraints(p), "x").ok());
  auto again = ProfileStore::Open(*db_, clock_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->Get("a")->summary.rows, 2);
}

DataFrame RowsFrame() {
  FrameColumn x;
  x.name = "x";
  x.numbers = {1.5, std::nan(""), -2.25};
  FrameColumn c;
  c.name = "c";
  c.categorical = true;
  c.categories = {"a", "b"};
  c.codes = {1, -1, 0};
  DataFrame frame;
  frame.rows = 3;
  frame.columns = {x, c};
  return frame;
}

TEST_P(ProfileStoreTest, KeepsReferenceRowsWithTheVersionAndDeletesThem) {
  const DataFrame frame = RowsFrame();
  auto profile = ProfileFrame(frame);
  ASSERT_TRUE(profile.ok());
  auto rows = EncodeReferenceRows(frame);
  ASSERT_TRUE(rows.ok()) << rows.status();
  auto v1 = store_->Put("ref", *profile, InferConstraints(*profile), "x", *rows);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_TRUE(v1->has_rows);
  // Written under a unique name before the version was committed; nothing else is there.
  std::vector<std::filesystem::path> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(rows_dir_) / "ref")) {
    files.push_back(entry.path());
  }
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].extension(), ".cref");
  auto v2 = store_->Put("ref", *profile, InferConstraints(*profile), "profile only");
  ASSERT_TRUE(v2.ok());
  EXPECT_FALSE(v2->has_rows);

  auto latest = store_->GetRows("ref");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->summary.version, 2);
  EXPECT_FALSE(latest->frame.has_value());
  auto first = store_->GetRows("ref", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->frame.has_value());
  EXPECT_EQ(first->frame->rows, 3);
  EXPECT_EQ(first->frame->columns[0].numbers[0], 1.5);
  EXPECT_TRUE(std::isnan(first->frame->columns[0].numbers[1]));
  EXPECT_EQ(first->frame->columns[1].categories, (std::vector<std::string>{"a", "b"}));
  auto versions = store_->Versions("ref");
  ASSERT_TRUE(versions.ok());
  EXPECT_TRUE((*versions)[0].has_rows);
  EXPECT_FALSE((*versions)[1].has_rows);

  // A rows file that went away is an error naming it, not a silent constraints-only run.
  std::filesystem::remove(files[0]);
  auto gone = store_->GetRows("ref", 1);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(gone.status().message(),
              HasSubstr(absl::StrCat(files[0].filename().string(), " is gone")));

  ASSERT_TRUE(store_->Put("ref", *profile, InferConstraints(*profile), "x", *rows).ok());
  ASSERT_TRUE(store_->Delete("ref").ok());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(rows_dir_) / "ref"));
  EXPECT_EQ(store_->GetRows("ref").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(ProfileStoreTest, RejectsRowsThatDoNotMatchOrCannotBeKept) {
  const DataFrame frame = RowsFrame();
  auto profile = ProfileFrame(frame);
  ASSERT_TRUE(profile.ok());
  auto garbage = store_->Put("ref", *profile, InferConstraints(*profile), "x", "not rows");
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(), HasSubstr("rows: stored reference rows are unreadable"));
  DataProfile other = Profile({1});
  auto rows = EncodeReferenceRows(frame);
  ASSERT_TRUE(rows.ok());
  auto mismatch = store_->Put("ref", other, InferConstraints(other), "x", *rows);
  EXPECT_THAT(mismatch.status().message(), HasSubstr("rows: 3 reference rows for a profile of 1"));
  EXPECT_EQ(store_->Versions("ref").status().code(), absl::StatusCode::kNotFound);

  auto no_dir = ProfileStore::Open(*db_, clock_);
  ASSERT_TRUE(no_dir.ok());
  auto refused = (*no_dir)->Put("ref", *profile, InferConstraints(*profile), "x", *rows);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(ProfileStoreTest, RejectsRowsWhoseColumnsDoNotMatchTheProfile) {
  const DataFrame frame = RowsFrame();  // x numeric, c categorical, 3 rows
  auto profile = ProfileFrame(frame);
  ASSERT_TRUE(profile.ok());
  auto put = [&](const DataFrame& rows_frame) {
    auto rows = EncodeReferenceRows(rows_frame);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return store_->Put("ref", *profile, InferConstraints(*profile), "x", *rows).status();
  };
  // c numeric in the rows, categorical in the profile.
  DataFrame kind = frame;
  kind.columns[1] = FrameColumn{.name = "c", .numbers = {1, 2, 3}};
  absl::Status status = put(kind);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "rows: column 'c' is numeric in the reference rows but categorical in the profile; "
            "send the rows the profile was made from");
  // A column the profile does not have.
  DataFrame extra = frame;
  extra.columns[0].name = "y";
  status = put(extra);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "rows: column 'y' is in the reference rows but not in the profile; send the rows "
            "the profile was made from");
  // A profile column the rows lack.
  DataFrame missing = frame;
  missing.columns.pop_back();
  status = put(missing);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "rows: the profile's column 'c' is missing from the reference rows; send the rows "
            "the profile was made from");
  // Nothing was stored, and no rows file was left behind.
  EXPECT_EQ(store_->Versions("ref").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(rows_dir_) / "ref"));
  // The same columns in another order match (columns are matched by name).
  DataFrame reordered = frame;
  std::swap(reordered.columns[0], reordered.columns[1]);
  EXPECT_TRUE(put(reordered).ok());
}

TEST_P(ProfileStoreTest, VersionsFromBeforeRowsWereKeptHaveNone) {
  // A database written by a build without rows_file (schema version 1).
  DataProfile p = Profile({1, 2});
  const std::string profile_text = DumpJson(ProfileToJson(p));
  const std::string constraints_text = DumpJson(ConstraintsToJson(InferConstraints(p)));
  ASSERT_TRUE(db_->Write([&](storage::SqlSession& s) -> absl::Status {
                   CAIRN_RETURN_IF_ERROR(s.ExecuteScript(
                       "DROP TABLE monitoring_profiles;"
                       "DELETE FROM schema_migrations WHERE component = 'monitoring_profiles' "
                       "AND version = 2;"
                       "CREATE TABLE monitoring_profiles (name TEXT NOT NULL, version BIGINT NOT "
                       "NULL, n_rows BIGINT NOT NULL, n_columns BIGINT NOT NULL, source TEXT NOT "
                       "NULL, profile TEXT NOT NULL, constraints_json TEXT NOT NULL, created_ms "
                       "BIGINT NOT NULL, PRIMARY KEY (name, version))"));
                   std::vector<storage::SqlValue> params = {profile_text, constraints_text};
                   return s
                       .Execute("INSERT INTO monitoring_profiles VALUES ('old', 1, 2, 2, 'x', $1, "
                                "$2, 5)",
                                params)
                       .status();
                 }).ok());
  auto reopened = ProfileStore::Open(*db_, clock_, rows_dir_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto rows = (*reopened)->GetRows("old");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->summary.version, 1);
  EXPECT_FALSE(rows->summary.has_rows);
  EXPECT_FALSE(rows->frame.has_value());
  EXPECT_EQ((*reopened)->Get("old")->profile.rows(), 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, ProfileStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::monitoring
