// Monitors against a stored profile (reference: {profile: NAME}) through the server's
// MonitorIo: drift on the rows kept with the profile equals drift on the CSV file they
// came from, byte for byte; a version stored without rows checks constraints only.

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/clock.h"
#include "common/json.h"
#include "monitoring/csv_frame.h"
#include "monitoring/monitors/monitor_io.h"
#include "monitoring/monitors/monitor_runner.h"
#include "monitoring/monitors/monitor_yaml.h"
#include "monitoring/profile.h"
#include "monitoring/profile_store.h"
#include "monitoring/reference_rows.h"
#include "storage/database.h"

namespace cairn::monitoring {
namespace {

using ::testing::HasSubstr;

// rows of x (normal, with gaps), k (small integers), plan (labels, some missing).
std::string Csv(int rows, double shift, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(50 + shift, 12);
  const char* plans[] = {"basic", "pro", "team", "enterprise"};
  std::string text = "x,k,plan\n";
  for (int i = 0; i < rows; ++i) {
    const std::string x = i % 23 == 0 ? "" : absl::StrFormat("%.3f", normal(rng));
    const std::string plan = i % 31 == 0 ? "" : plans[(rng() + (shift > 0 ? i % 2 : 0)) % 4];
    absl::StrAppend(&text, x, ",", static_cast<int>(rng() % 7), ",", plan, "\n");
  }
  return text;
}

class ProfileReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("cairn-profile-reference-test-", ::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Write("ref.csv", Csv(3000, 0, 1));
    Write("small_ref.csv", Csv(400, 0, 2));
    Write("cur.csv", Csv(900, 4, 3));
    auto db = storage::OpenDatabase((dir_ / "test.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto store = ProfileStore::Open(*db_, clock_, (dir_ / "profiles").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    MonitorIo io = StandardMonitorIo({.profile_store = store_.get(), .csv_threads = 1});
    io.render_html = nullptr;
    auto runner = MonitorRunner::Open(*db_, clock_, std::move(io));
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string Path(const std::string& name) { return (dir_ / name).string(); }

  // Stores profile `name` made from the CSV file, with its rows unless `rows` is false.
  void StoreProfile(const std::string& name, const std::string& csv, bool rows = true) {
    auto frame = ReadCsvFrame(Path(csv), CsvFrameOptions{.threads = 1});
    ASSERT_TRUE(frame.ok()) << frame.status();
    auto profile = ProfileFrame(*frame);
    ASSERT_TRUE(profile.ok()) << profile.status();
    std::string encoded;
    if (rows) {
      auto bytes = EncodeReferenceRows(*frame);
      ASSERT_TRUE(bytes.ok()) << bytes.status();
      encoded = *bytes;
    }
    ASSERT_TRUE(store_->Put(name, *profile, InferConstraints(*profile), csv, encoded).ok());
  }

  MonitorRun Run(const std::string& reference, const std::string& extra = "") {
    auto parsed = ParseMonitorsYaml(absl::StrCat("kind: Monitor\nname: m\ntarget: {path: ",
                                                 Path("cur.csv"), "}\nreference: ", reference,
                                                 "\n", extra),
                                    "m.yaml");
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    MonitorVersion version;
    version.name = "m";
    version.version = 1;
    if (parsed.ok()) version.spec = (*parsed)[0];
    auto run = runner_->Run(version, "manual");
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : MonitorRun();
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<ProfileStore> store_;
  std::unique_ptr<MonitorRunner> runner_;
};

TEST_F(ProfileReferenceTest, DriftAgainstTheProfileEqualsDriftAgainstItsCsvByteForByte) {
  StoreProfile("train", "ref.csv");
  StoreProfile("small", "small_ref.csv");
  // Default tests on a large reference (Wasserstein, Jensen–Shannon) and a small one
  // (KS, chi-squared), and every column forced through the order-sensitive tests.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train", "ref.csv"}, {"small", "small_ref.csv"}};
  const std::vector<std::string> extras = {
      "", "tests: {default: tvd}\n", "tests: {default: t_test}\n",
      "tests: {default: anderson, per_column: {plan: {test: psi, threshold: 0.05}}}\n",
      "categorical: [k]\n"};
  for (const auto& [profile, csv] : cases) {
    for (const std::string& extra : extras) {
      MonitorRun against_profile = Run(absl::StrCat("{profile: ", profile, "}"), extra);
      MonitorRun against_csv = Run(absl::StrCat("{path: ", Path(csv), "}"), extra);
      ASSERT_EQ(against_profile.state, "succeeded") << against_profile.message;
      ASSERT_EQ(against_csv.state, "succeeded") << against_csv.message;
      ASSERT_TRUE(against_profile.result["drift"].is_object()) << extra;
      EXPECT_EQ(DumpJson(against_profile.result["drift"]), DumpJson(against_csv.result["drift"]))
          << profile << " " << extra;
      EXPECT_EQ(against_profile.drift_found, against_csv.drift_found);
      EXPECT_EQ(against_profile.reference_rows, against_csv.reference_rows);
      EXPECT_EQ(against_profile.result["reference"]["profile_version"], 1);
      EXPECT_EQ(against_profile.result["reference"]["rows_stored"], true);
      // The profile's constraints are checked too (the default for a profile reference).
      EXPECT_TRUE(against_profile.result["constraints"].is_object());
    }
  }
}

TEST_F(ProfileReferenceTest, AVersionWithoutRowsChecksConstraintsOnlyAndSaysSo) {
  StoreProfile("train", "ref.csv");
  StoreProfile("train", "ref.csv", /*rows=*/false);  // version 2: a profile alone
  MonitorRun run = Run("{profile: train}");
  ASSERT_EQ(run.state, "succeeded") << run.message;
  EXPECT_TRUE(run.result["drift"].is_null());
  EXPECT_TRUE(run.result["constraints"].is_object());
  EXPECT_FALSE(run.drift_found);
  EXPECT_THAT(run.message,
              HasSubstr("drift not checked: reference.profile 'train' version 2 was stored "
                        "without its rows"));
  EXPECT_THAT(run.result["drift_skipped"].get<std::string>(), HasSubstr("constraints only"));
  EXPECT_EQ(run.result["reference"]["rows_stored"], false);

  // drift: false asks for constraints only, and then nothing is said about drift.
  MonitorRun quiet = Run("{profile: train}", "drift: false\n");
  EXPECT_EQ(quiet.state, "succeeded");
  EXPECT_THAT(quiet.message, ::testing::Not(HasSubstr("drift")));
}

TEST_F(ProfileReferenceTest, RowsFileGoneFailsTheRunNamingIt) {
  StoreProfile("train", "ref.csv");
  int removed = 0;  // the version's rows file (a unique name under the profile's folder)
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / "profiles" / "train")) {
    removed += std::filesystem::remove(entry.path()) ? 1 : 0;
  }
  ASSERT_EQ(removed, 1);
  MonitorRun run = Run("{profile: train}");
  EXPECT_EQ(run.state, "failed");
  EXPECT_THAT(run.message, HasSubstr("reference.profile 'train': profile 'train' version 1 was "
                                     "stored with its reference rows, but"));
  EXPECT_THAT(run.message, HasSubstr("is gone"));
}

}  // namespace
}  // namespace cairn::monitoring
