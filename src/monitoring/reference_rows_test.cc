#include "monitoring/reference_rows.h"

#include <cmath>
#include <algorithm>
#include <limits>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/drift.h"

namespace cairn::monitoring {
namespace {

using ::testing::HasSubstr;

DataFrame Sample(int rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(10, 3);
  FrameColumn x{.name = "x"};
  FrameColumn k{.name = "k"};
  k.integer = true;  // 0–3, as pandas types an integer column
  FrameColumn c{.name = "c", .categorical = true};
  c.categories = {"red", "green", "blue", "never"};  // "never": a label with no rows
  for (int i = 0; i < rows; ++i) {
    x.numbers.push_back(i % 17 == 0 ? std::nan("") : normal(rng));
    k.numbers.push_back(static_cast<double>(i % 4));
    c.codes.push_back(i % 11 == 0 ? -1 : static_cast<int32_t>(rng() % 3));
  }
  x.numbers[1] = std::numeric_limits<double>::infinity();
  DataFrame frame;
  frame.rows = rows;
  frame.columns = {x, k, c};
  return frame;
}

TEST(ReferenceRowsTest, NumbersComeBackBitForBitInRowOrder) {
  const DataFrame frame = Sample(5000, 1);
  auto bytes = EncodeReferenceRows(frame);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto back = DecodeReferenceRows(*bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->rows, 5000);
  ASSERT_EQ(back->columns.size(), 3u);
  for (int c = 0; c < 2; ++c) {
    const auto& in = frame.columns[c].numbers;
    const auto& out = back->columns[c].numbers;
    ASSERT_EQ(out.size(), in.size());
    EXPECT_EQ(std::memcmp(out.data(), in.data(), in.size() * sizeof(double)), 0);
  }
  EXPECT_FALSE(back->columns[0].integer);
  EXPECT_TRUE(back->columns[1].integer);  // kept: the bins of integer columns depend on it
  const FrameColumn& cat = back->columns[2];
  EXPECT_TRUE(cat.categorical);
  EXPECT_EQ(cat.categories, frame.columns[2].categories);
  EXPECT_EQ(cat.codes, frame.columns[2].codes);
  // Smaller than the raw doubles (the small-integer column compresses to almost nothing).
  EXPECT_LT(bytes->size(), 5000u * 8 * 2);
}

TEST(ReferenceRowsTest, DriftIsIdenticalOnTheDecodedRows) {
  const DataFrame reference = Sample(3000, 2);
  const DataFrame current = Sample(800, 3);
  auto back = DecodeReferenceRows(*EncodeReferenceRows(reference));
  ASSERT_TRUE(back.ok());
  for (const char* test : {"ks", "wasserstein", "psi", "jensenshannon", "anderson", "t_test",
                           "energy_dist", "mannw", "cramer_von_mises", "kl_div", "hellinger"}) {
    DriftOptions options;
    options.columns = {"x"};
    options.test = test;
    options.threads = 1;
    auto a = ComputeDrift(reference, current, options);
    auto b = ComputeDrift(*back, current, options);
    ASSERT_TRUE(a.ok()) << test << ": " << a.status();
    ASSERT_TRUE(b.ok()) << test;
    EXPECT_EQ(DumpJson(DriftReportToJson(*a)), DumpJson(DriftReportToJson(*b))) << test;
  }
  for (const char* test : {"chisquare", "jensenshannon", "psi", "tvd", "hellinger"}) {
    DriftOptions options;
    options.columns = {"c"};
    options.test = test;
    options.threads = 1;
    auto a = ComputeDrift(reference, current, options);
    auto b = ComputeDrift(*back, current, options);
    ASSERT_TRUE(a.ok()) << test << ": " << a.status();
    ASSERT_TRUE(b.ok()) << test;
    EXPECT_EQ(DumpJson(DriftReportToJson(*a)), DumpJson(DriftReportToJson(*b))) << test;
  }
}

TEST(ReferenceRowsTest, DamagedBytesAreRejectedSayingWhy) {
  auto bytes = EncodeReferenceRows(Sample(100, 4));
  ASSERT_TRUE(bytes.ok());
  EXPECT_THAT(DecodeReferenceRows("nonsense").status().message(), HasSubstr("bad magic"));
  EXPECT_THAT(DecodeReferenceRows(bytes->substr(0, bytes->size() - 5)).status().message(),
              HasSubstr("stored reference rows are unreadable"));
  std::string future = *bytes;
  future[8] = 9;
  EXPECT_THAT(DecodeReferenceRows(future).status().message(), HasSubstr("format version 9"));
  // A header that claims more than the decoder reads is refused before any allocation.
  std::string huge = *bytes;
  const uint64_t claimed = uint64_t{1} << 34;
  for (int i = 0; i < 8; ++i) {  // little endian, after magic (8) and version (4)
    huge[12 + i] = static_cast<char>((claimed >> (8 * i)) & 0xff);
  }
  EXPECT_THAT(DecodeReferenceRows(huge).status().message(), HasSubstr("at most"));
  // Every prefix fails cleanly (no crash, no huge allocation).
  for (size_t n = 0; n < bytes->size(); n += 7) {
    EXPECT_FALSE(DecodeReferenceRows(bytes->substr(0, n)).ok()) << n;
  }
}

TEST(ReferenceRowsTest, ForceCategoricalLabelsNumbersByValue) {
  // category_label.h, as a CSV file's or a feature view's numbers.
  DataFrame frame;
  frame.rows = 5;
  frame.columns = {FrameColumn{.name = "n", .numbers = {1, 2.5, std::nan(""), 1, 1e15}},
                   FrameColumn{.name = "m", .numbers = {0, 0, 0, 0, 0}}};
  ForceCategorical(frame, {"n", "absent"});
  const FrameColumn& n = frame.columns[0];
  EXPECT_TRUE(n.categorical);
  EXPECT_EQ(n.categories, (std::vector<std::string>{"1", "2.5", "1000000000000000"}));
  EXPECT_EQ(n.codes, (std::vector<int32_t>{0, 1, -1, 0, 2}));
  EXPECT_TRUE(n.numbers.empty());
  EXPECT_FALSE(frame.columns[1].categorical);
}

}  // namespace
}  // namespace cairn::monitoring
