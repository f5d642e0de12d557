#include "monitoring/csv_profile.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::monitoring {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class CsvProfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / absl::StrCat("cairn-csv-profile-test-", ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  fs::path dir_;
};

// x (normal, gaps), k (integers), plan (labels, quoted ones with commas and line ends).
std::string Csv(int rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(50, 12);
  const char* plans[] = {"basic", "\"pro, annual\"", "\"team\nplan\"", "enterprise"};
  std::string text = "\xEF\xBB\xBFx,k,plan\r\n";
  for (int i = 0; i < rows; ++i) {
    const std::string x = i % 23 == 0 ? "" : absl::StrFormat("%.3f", normal(rng));
    absl::StrAppend(&text, x, ",", static_cast<int>(rng() % 7), ",", plans[rng() % 4], "\r\n");
    if (i % 97 == 0) text += "\n";  // a blank line now and then
  }
  return text;
}

void ExpectSameProfile(const DataProfile& a, const DataProfile& b) {
  ASSERT_EQ(a.rows(), b.rows());
  ASSERT_EQ(a.columns().size(), b.columns().size());
  for (const ColumnProfile& x : a.columns()) {
    const ColumnProfile* y = b.Find(x.name());
    ASSERT_NE(y, nullptr) << x.name();
    EXPECT_EQ(x.categorical(), y->categorical()) << x.name();
    EXPECT_EQ(x.count(), y->count()) << x.name();
    EXPECT_EQ(x.nulls(), y->nulls()) << x.name();
    if (x.categorical()) {
      EXPECT_EQ(x.categories().Sorted().size(), y->categories().Sorted().size()) << x.name();
      for (const LabelCount& label : x.categories().Sorted()) {
        bool found = false;
        for (const LabelCount& other : y->categories().Sorted()) {
          if (other.label == label.label) {
            found = true;
            EXPECT_EQ(other.count, label.count) << x.name() << " " << label.label;
          }
        }
        EXPECT_TRUE(found) << x.name() << " " << label.label;
      }
    } else {
      EXPECT_NEAR(x.mean(), y->mean(), 1e-12 * std::abs(y->mean())) << x.name();
      EXPECT_NEAR(x.stddev(), y->stddev(), 1e-10 * y->stddev()) << x.name();
      EXPECT_EQ(x.min(), y->min()) << x.name();
      EXPECT_EQ(x.max(), y->max()) << x.name();
      EXPECT_EQ(x.non_integral(), y->non_integral()) << x.name();
    }
  }
}

TEST_F(CsvProfileTest, PiecesGiveTheProfileOfTheWholeFile) {
  const std::string path = Write("data.csv", Csv(5000, 1));
  auto frame = ReadCsvFrame(path, {});
  ASSERT_TRUE(frame.ok()) << frame.status();
  auto whole = ProfileFrame(*frame);
  ASSERT_TRUE(whole.ok()) << whole.status();
  for (size_t chunk : {size_t{1}, size_t{300}, size_t{4096}, size_t{1} << 30}) {
    auto streamed = ProfileCsvFile(path, {.chunk_bytes = chunk});
    ASSERT_TRUE(streamed.ok()) << streamed.status();
    ExpectSameProfile(*streamed, *whole);
  }
  // One piece: exactly ProfileFrame's JSON.
  auto one = ProfileCsvFile(path);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(ProfileToJson(*one), ProfileToJson(*whole));
}

TEST_F(CsvProfileTest, TextInALaterPieceMakesTheColumnCategorical) {
  std::string text = "v,w\n";
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&text, i % 5, ",", i, "\n");
  text += "five,7\n";
  for (int i = 0; i < 10; ++i) absl::StrAppend(&text, i % 5, ",", i, "\n");
  const std::string path = Write("late.csv", text);
  auto streamed = ProfileCsvFile(path, {.chunk_bytes = 1000});
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  auto whole = ProfileFrame(*ReadCsvFrame(path, {}));
  ExpectSameProfile(*streamed, *whole);
  EXPECT_TRUE(streamed->Find("v")->categorical());
  EXPECT_FALSE(streamed->Find("w")->categorical());
}

TEST_F(CsvProfileTest, ATextColumnKeepsItsLabelsAsWrittenInPiecesOfNumbersOnly) {
  // "007" and "7" are two labels of a text column, as a whole-file read keeps them, even in
  // the pieces before the first word (which hold numbers only).
  std::string text = "id\n";
  for (int i = 0; i < 2000; ++i) text += i % 2 == 0 ? "007\n" : "7\n";
  text += "seven\n";
  const std::string path = Write("ids.csv", text);
  auto streamed = ProfileCsvFile(path, {.chunk_bytes = 1000});
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  auto whole = ProfileFrame(*ReadCsvFrame(path, {}));
  ASSERT_TRUE(whole.ok());
  ExpectSameProfile(*streamed, *whole);
  std::vector<std::string> labels;
  for (const LabelCount& label : streamed->Find("id")->categories().Sorted()) {
    labels.push_back(label.label);
  }
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(labels, (std::vector<std::string>{"007", "7", "seven"}));
}

TEST_F(CsvProfileTest, ErrorsNameTheLineOfTheWholeFile) {
  std::string text = "a,b\n";
  for (int i = 0; i < 500; ++i) absl::StrAppend(&text, i, ",", i, "\n");
  text += "1,2,3\n";  // line 502
  const std::string path = Write("bad.csv", text);
  auto whole = ReadCsvFrame(path, {});
  ASSERT_FALSE(whole.ok());
  EXPECT_THAT(whole.status().message(), HasSubstr(":502:"));
  auto streamed = ProfileCsvFile(path, {.chunk_bytes = 700});
  ASSERT_FALSE(streamed.ok());
  EXPECT_EQ(streamed.status().message(), whole.status().message());
  EXPECT_EQ(ProfileCsvFile((dir_ / "absent.csv").string()).status().code(),
            absl::StatusCode::kNotFound);
  auto header_only = ProfileCsvFile(Write("header.csv", "a,b\n"));
  ASSERT_TRUE(header_only.ok()) << header_only.status();
  EXPECT_EQ(header_only->rows(), 0);
}

TEST_F(CsvProfileTest, CheckOfALargeFileFindsWhatTheRowCheckFinds) {
  auto reference = ProfileCsvFile(Write("ref.csv", Csv(3000, 2)));
  ASSERT_TRUE(reference.ok()) << reference.status();
  const Constraints constraints = InferConstraints(*reference);
  std::string bad = Csv(3000, 3);
  bad += "-500,3,basic\n,,\n,,\n9,9,unknown\n";  // below range, incomplete, new label
  const std::string path = Write("bad.csv", bad);
  auto rows = CheckCsvFile(path, constraints);  // one piece: row by row
  auto pieces = CheckCsvFile(path, constraints, {.chunk_bytes = 5000});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_TRUE(pieces.ok()) << pieces.status();
  EXPECT_EQ(rows->rows, pieces->rows);
  ASSERT_FALSE(rows->violations.empty());
  ASSERT_EQ(rows->violations.size(), pieces->violations.size());
  for (size_t i = 0; i < rows->violations.size(); ++i) {
    EXPECT_EQ(rows->violations[i].feature_name, pieces->violations[i].feature_name);
    EXPECT_EQ(rows->violations[i].constraint_check_type,
              pieces->violations[i].constraint_check_type);
  }
}

}  // namespace
}  // namespace cairn::monitoring
