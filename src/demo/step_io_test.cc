#include "demo/step_io.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::demo {
namespace {

using ::testing::HasSubstr;

class StepIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cairn-step-io-" + NewUuidHex());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Write(const std::string& name, const std::string& text) {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / name) << text;
  }

  std::filesystem::path dir_;
};

TEST_F(StepIoTest, DatasetRoundTripsExactlyWithMissingValues) {
  Dataset data;
  data.feature_names = {"spend_30d", "days_since_last_login_at"};
  data.features = {1.5f, NAN, 0.1f, 1e-7f, -3.25f, 123456.789f};
  data.labels = {1, 0, 1};
  const std::string path = Path("nested/train.csv");
  ASSERT_TRUE(WriteDatasetCsv(data, path).ok());
  absl::StatusOr<Dataset> read = ReadDatasetCsv(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->feature_names, data.feature_names);
  EXPECT_EQ(read->labels, data.labels);
  ASSERT_EQ(read->features.size(), data.features.size());
  for (size_t idx = 0; idx < data.features.size(); ++idx) {
    if (std::isnan(data.features[idx])) {
      EXPECT_TRUE(std::isnan(read->features[idx])) << idx;
    } else {
      EXPECT_EQ(read->features[idx], data.features[idx]) << idx;  // bit-exact
    }
  }
}

TEST_F(StepIoTest, BadDatasetFilesNameThePathLineAndColumn) {
  EXPECT_THAT(std::string(ReadDatasetCsv(Path("missing.csv")).status().message()),
              HasSubstr("missing.csv: cannot read the file"));
  Write("header.csv", "spend,label\n1,0\n");
  EXPECT_THAT(std::string(ReadDatasetCsv(Path("header.csv")).status().message()),
              HasSubstr("header.csv:1: the header must start with 'label'"));
  Write("width.csv", "label,a,b\n1,2,3\n0,1\n");
  EXPECT_THAT(std::string(ReadDatasetCsv(Path("width.csv")).status().message()),
              HasSubstr("width.csv:3: 2 fields, the header has 3"));
  Write("value.csv", "label,a\n1,x7\n");
  absl::Status bad_value = ReadDatasetCsv(Path("value.csv")).status();
  EXPECT_EQ(bad_value.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_value.message()),
              HasSubstr("value.csv:2: column 'a': 'x7' is not a number"));
}

TEST_F(StepIoTest, JsonFilesRoundTripAndNameTheFileOfAnError) {
  ASSERT_TRUE(WriteJsonFile(Json{{"best", {{"val_auc", 0.85}}}}, Path("out/best.json")).ok());
  absl::StatusOr<Json> read = ReadJsonFile(Path("out/best.json"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_DOUBLE_EQ((*read)["best"]["val_auc"].get<double>(), 0.85);
  Write("bad.json", "{\"best\": ");
  absl::Status bad = ReadJsonFile(Path("bad.json")).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("bad.json: "));
}

}  // namespace
}  // namespace cairn::demo
