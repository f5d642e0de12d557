#include "monitoring/profile_store.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
    auto store = ProfileStore::Open(*db_, clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

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

INSTANTIATE_TEST_SUITE_P(Backends, ProfileStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::monitoring
