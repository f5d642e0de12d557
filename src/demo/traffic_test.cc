#include "demo/traffic.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/ids.h"
#include "demo/retrain_step.h"
#include "demo/step_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::demo {
namespace {

using ::testing::HasSubstr;

// A base data set with every feature the shift moves, plus one it leaves alone.
Dataset Base() {
  Dataset data;
  data.feature_names = {"monthly_price", "effective_price", "discount_pct",
                        "logins_7d", "logins_30d", "session_minutes_30d",
                        "last_login_mobile", "tickets_30d", "tickets_90d",
                        "billing_tickets_30d", "age"};
  for (int row = 0; row < 200; ++row) {
    const float values[] = {40.0f + row % 3 * 10, 40.0f, 10.0f, 4.0f, 20.0f, 300.0f,
                            1.0f, 0.0f, 1.0f, 0.0f, 30.0f + row % 40};
    data.features.insert(data.features.end(), std::begin(values), std::end(values));
    data.labels.push_back(row % 4 == 0 ? 1.0f : 0.0f);
  }
  return data;
}

double Mean(const Dataset& data, const std::string& feature) {
  size_t col = 0;
  while (data.feature_names[col] != feature) ++col;
  double sum = 0;
  for (size_t row = 0; row < data.rows(); ++row) sum += data.features[row * data.cols() + col];
  return sum / static_cast<double>(data.rows());
}

class TrafficTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / ("cairn-traffic-" + NewUuidHex())).string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(TrafficTest, UnshiftedDayDrawsFromTheBaseAndWritesThreeFiles) {
  absl::StatusOr<TrafficDay> day = WriteTrafficDay(Base(), 1, false, 500, 42, dir_);
  ASSERT_TRUE(day.ok()) << day.status();
  EXPECT_EQ(day->rows, 500);
  absl::StatusOr<Dataset> labeled = ReadDatasetCsv(day->labeled_path);
  ASSERT_TRUE(labeled.ok()) << labeled.status();
  ASSERT_EQ(labeled->rows(), 500u);
  EXPECT_NEAR(Mean(*labeled, "effective_price"), 40.0, 1e-9);
  EXPECT_NEAR(labeled->PositiveRate(), 0.25, 0.06);
  // The features file is the labeled one without its label column, and current.csv a copy.
  std::ifstream features(day->features_path);
  std::string header;
  std::getline(features, header);
  EXPECT_EQ(header.rfind("monthly_price,effective_price,", 0), 0u) << header;
  std::stringstream a, b;
  a << std::ifstream(day->features_path).rdbuf();
  b << std::ifstream(day->current_path).rdbuf();
  EXPECT_EQ(a.str(), b.str());
}

TEST_F(TrafficTest, ShiftedDayMovesPricesLoginsTicketsAndChurn) {
  absl::StatusOr<TrafficDay> day = WriteTrafficDay(Base(), 2, true, 2000, 42, dir_);
  ASSERT_TRUE(day.ok()) << day.status();
  absl::StatusOr<Dataset> labeled = ReadDatasetCsv(day->labeled_path);
  ASSERT_TRUE(labeled.ok()) << labeled.status();
  EXPECT_NEAR(Mean(*labeled, "effective_price"), 52.0, 1e-3);
  EXPECT_NEAR(Mean(*labeled, "logins_30d"), 10.0, 1e-9);
  EXPECT_NEAR(Mean(*labeled, "tickets_30d"), 0.6, 0.05);
  EXPECT_NEAR(Mean(*labeled, "age"), Mean(Base(), "age"), 1.5);  // untouched
  EXPECT_GT(labeled->PositiveRate(), 0.35);  // 0.25 + 0.75 × 0.2
}

TEST_F(TrafficTest, ShiftNeedsTheFeaturesItMoves) {
  Dataset base;
  base.feature_names = {"age"};
  base.features = {30.0f};
  base.labels = {0.0f};
  absl::StatusOr<TrafficDay> day = WriteTrafficDay(base, 2, true, 10, 1, dir_);
  ASSERT_FALSE(day.ok());
  EXPECT_THAT(day.status().message(), HasSubstr("no feature 'monthly_price'"));
}

TEST_F(TrafficTest, RetrainSetReadsTheNewestLabeledDays) {
  ASSERT_TRUE(WriteTrafficDay(Base(), 1, false, 100, 1, dir_).ok());
  ASSERT_TRUE(WriteTrafficDay(Base(), 2, true, 300, 1, dir_).ok());
  ASSERT_TRUE(WriteTrafficDay(Base(), 10, true, 200, 1, dir_).ok());  // 10 sorts after 2
  RetrainSetRequest request{.traffic_dir = dir_, .days = 2,
                            .train_path = dir_ + "/out/train.csv",
                            .validation_path = dir_ + "/out/validation.csv",
                            .snapshot_path = dir_ + "/out/snapshot.json"};
  std::vector<std::string> files;
  absl::StatusOr<TrainingSetStepResult> result = RunRetrainSetStep(request, &files);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_THAT(files[0], HasSubstr("day-2.labeled.csv"));
  EXPECT_THAT(files[1], HasSubstr("day-10.labeled.csv"));
  EXPECT_EQ(result->rows, 500);
  EXPECT_EQ(result->train_rows + result->validation_rows, 500);
  EXPECT_EQ(result->validation_rows, 100);
  absl::StatusOr<Json> snapshot = ReadJsonFile(request.snapshot_path);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ((*snapshot)["dataset"]["name"], "churn-production-traffic");
  absl::StatusOr<TrainingSetStepResult> parsed = TrainingSetStepResultFromJson(*snapshot);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->content_hash, result->content_hash);
}

TEST_F(TrafficTest, RetrainSetWithoutLabeledTrafficSaysWhere) {
  RetrainSetRequest request{.traffic_dir = dir_, .days = 1, .train_path = dir_ + "/t.csv",
                            .validation_path = dir_ + "/v.csv",
                            .snapshot_path = dir_ + "/s.json"};
  absl::StatusOr<TrainingSetStepResult> result = RunRetrainSetStep(request, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr(dir_));
}

}  // namespace
}  // namespace cairn::demo
