#include "monitoring/data_frame.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::monitoring {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(DataFrameFromJsonTest, NumbersStringsBooleansAndNulls) {
  Json columns = Json::parse(R"({"x": [1, 2.5, null, 4], "city": ["a", "b", "a", null],
                                 "flag": [true, false, true, true], "mixed": [1, "one", 1.5, 1]})");
  absl::StatusOr<DataFrame> frame = DataFrameFromJson(columns, {}, "reference");
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(frame->rows, 4);
  EXPECT_THAT(frame->Names(), ElementsAre("city", "flag", "mixed", "x"));  // sorted keys
  const FrameColumn* x = frame->Find("x");
  ASSERT_NE(x, nullptr);
  EXPECT_FALSE(x->categorical);
  ASSERT_EQ(x->numbers.size(), 4u);
  EXPECT_EQ(x->numbers[1], 2.5);
  EXPECT_TRUE(std::isnan(x->numbers[2]));
  const FrameColumn* city = frame->Find("city");
  EXPECT_TRUE(city->categorical);
  EXPECT_THAT(city->categories, ElementsAre("a", "b"));
  EXPECT_THAT(city->codes, ElementsAre(0, 1, 0, -1));
  EXPECT_THAT(frame->Find("flag")->categories, ElementsAre("true", "false"));
  EXPECT_THAT(frame->Find("mixed")->categories, ElementsAre("1", "one", "1.5"));
  EXPECT_THAT(frame->Find("mixed")->codes, ElementsAre(0, 1, 2, 0));
}

TEST(DataFrameFromJsonTest, NumbersInACategoricalColumnAreLabelledByValue) {
  // 2 and 2.0 are one category, as in a CSV file or a feature view (category_label.h).
  absl::StatusOr<DataFrame> frame = DataFrameFromJson(
      Json::parse(R"({"score": [2, 2.0, 1.5, 1e-5, 1e16]})"), {"score"}, "current");
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_THAT(frame->columns[0].categories, ElementsAre("2", "1.5", "1e-05", "1e+16"));
  EXPECT_THAT(frame->columns[0].codes, ElementsAre(0, 0, 1, 2, 3));
}

TEST(DataFrameFromJsonTest, IntegerColumnsAreJsonIntegersWithNothingNull) {
  absl::StatusOr<DataFrame> frame = DataFrameFromJson(
      Json::parse(R"({"a": [1, 2, -3], "b": [1, 2.0, 3], "c": [1, null, 3]})"), {}, "current");
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_TRUE(frame->Find("a")->integer);
  EXPECT_FALSE(frame->Find("b")->integer);
  EXPECT_FALSE(frame->Find("c")->integer);
}

TEST(DataFrameFromJsonTest, ForcedCategorical) {
  absl::StatusOr<DataFrame> frame =
      DataFrameFromJson(Json::parse(R"({"zip": [75001, 75002, 75001]})"), {"zip"}, "current");
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_TRUE(frame->columns[0].categorical);
  EXPECT_THAT(frame->columns[0].categories, ElementsAre("75001", "75002"));
}

TEST(DataFrameFromJsonTest, ErrorsNameTheField) {
  auto error = [](const char* text, std::vector<std::string> categorical = {}) {
    return std::string(DataFrameFromJson(Json::parse(text), categorical, "reference")
                           .status()
                           .message());
  };
  EXPECT_THAT(error("[1, 2]"), HasSubstr("reference: must be an object of columns"));
  EXPECT_THAT(error("{}"), HasSubstr("reference: has no columns"));
  EXPECT_THAT(error(R"({"a": 3})"), HasSubstr("reference.a: must be an array of values"));
  EXPECT_EQ(error(R"({"a": [1, 2], "b": [1]})"),
            "reference.b: has 1 values but reference.a has 2: every column needs one value per "
            "row (null for a missing one)");
  EXPECT_THAT(error(R"({"a": [1, [2]]})"),
              HasSubstr("reference.a[1]: must be a number, a string, a boolean or null, got [2]"));
  EXPECT_EQ(error(R"({"color": [1]})", {"colour"}),
            "categorical: 'colour' is not a column of reference (did you mean 'color'?); its "
            "columns: color");
}

TEST(NearestColumnNameTest, OnlyCloseNames) {
  EXPECT_EQ(NearestColumnName("prise", {"price", "quantity"}), "price");
  EXPECT_EQ(NearestColumnName("zzzzzz", {"price", "quantity"}), "");
}

}  // namespace
}  // namespace cairn::monitoring
