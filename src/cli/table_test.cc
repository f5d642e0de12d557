#include "cli/table.h"

#include "gtest/gtest.h"

namespace cairn::cli {
namespace {

TEST(TableTest, AlignsColumnsAndRightAlignsNumbers) {
  Table table({"NAME", "AUC"});
  table.SetNumeric(1);
  table.AddRow({"xgb-depth3", "0.85"});
  table.AddRow({"a", "0.9123"});
  EXPECT_EQ(table.Render(),
            "NAME           AUC\n"
            "xgb-depth3    0.85\n"
            "a           0.9123\n");
}

TEST(TableTest, PadsShortRowsAndTrimsTrailingSpaces) {
  Table table({"A", "B", "C"});
  table.AddRow({"x"});
  table.AddRow({"long", "y", "", "extra cell is dropped"});
  EXPECT_EQ(table.Render(),
            "A     B  C\n"
            "x\n"
            "long  y\n");
}

TEST(TableTest, CountsUtf8CodePointsForWidth) {
  Table table({"K", "V"});
  table.AddRow({"é", "1"});
  table.AddRow({"ab", "2"});
  EXPECT_EQ(table.Render(),
            "K   V\n"
            "é   1\n"
            "ab  2\n");
}

TEST(FormatTest, TimestampsDurationsNumbers) {
  EXPECT_EQ(FormatTimestamp(0), "-");
  EXPECT_EQ(FormatTimestamp(1'700'000'000'000), "2023-11-14 22:13:20");
  EXPECT_EQ(FormatDuration(850), "850ms");
  EXPECT_EQ(FormatDuration(12'345), "12.3s");
  EXPECT_EQ(FormatDuration(245'000), "4m05s");
  EXPECT_EQ(FormatDuration(7'380'000), "2h03m");
  EXPECT_EQ(FormatDuration(-1), "-");
  EXPECT_EQ(FormatNumber(0.85123456), "0.851235");
  EXPECT_EQ(FormatNumber(120), "120");
  EXPECT_EQ(FormatNumber(std::nan("")), "nan");
}

TEST(FormatTest, JsonCellsAndMillis) {
  EXPECT_EQ(JsonCell(Json("x")), "x");
  EXPECT_EQ(JsonCell(Json(3)), "3");
  EXPECT_EQ(JsonCell(Json(0.5)), "0.5");
  EXPECT_EQ(JsonCell(Json()), "-");
  EXPECT_EQ(JsonCell(Json(true)), "true");
  EXPECT_EQ(JsonMillis(Json("1700000000000")), 1'700'000'000'000);
  EXPECT_EQ(JsonMillis(Json(42)), 42);
  EXPECT_EQ(JsonMillis(Json("x")), 0);
}

}  // namespace
}  // namespace cairn::cli
