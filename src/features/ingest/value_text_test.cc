#include "features/ingest/value_text.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace cairn::features::ingest_internal {
namespace {

TEST(ValueTextTest, Int64) {
  int64_t v = 0;
  EXPECT_EQ(ParseInt64Text("42", &v), nullptr);
  EXPECT_EQ(v, 42);
  EXPECT_EQ(ParseInt64Text("-7", &v), nullptr);
  EXPECT_EQ(v, -7);
  EXPECT_EQ(ParseInt64Text("+7", &v), nullptr);
  EXPECT_EQ(v, 7);
  EXPECT_EQ(ParseInt64Text("9223372036854775807", &v), nullptr);
  EXPECT_EQ(v, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ParseInt64Text("-9223372036854775808", &v), nullptr);
  EXPECT_EQ(v, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(ParseInt64Text("3.0", &v), nullptr);
  EXPECT_EQ(v, 3);
  EXPECT_EQ(ParseInt64Text("1e3", &v), nullptr);
  EXPECT_EQ(v, 1000);
  EXPECT_STREQ(ParseInt64Text("9223372036854775808", &v), "is out of range for int64");
  EXPECT_STREQ(ParseInt64Text("1e30", &v), "is out of range for int64");
  EXPECT_STREQ(ParseInt64Text("1.5", &v), "is not an int64 (it has a fraction)");
  EXPECT_STREQ(ParseInt64Text("abc", &v), "is not an int64");
  EXPECT_STREQ(ParseInt64Text("12abc", &v), "is not an int64");
  EXPECT_STREQ(ParseInt64Text("", &v), "is not an int64");
  EXPECT_STREQ(ParseInt64Text("+", &v), "is not an int64");
  EXPECT_STREQ(ParseInt64Text("nan", &v), "is not an int64");
  EXPECT_STREQ(ParseInt64Text("inf", &v), "is not an int64");
}

TEST(ValueTextTest, Double) {
  double v = 0;
  EXPECT_EQ(ParseDoubleText("1.5", &v), nullptr);
  EXPECT_EQ(v, 1.5);
  EXPECT_EQ(ParseDoubleText("-2.5e-3", &v), nullptr);
  EXPECT_EQ(v, -2.5e-3);
  EXPECT_EQ(ParseDoubleText("+4", &v), nullptr);
  EXPECT_EQ(v, 4.0);
  EXPECT_EQ(ParseDoubleText(".5", &v), nullptr);
  EXPECT_EQ(v, 0.5);
  EXPECT_EQ(ParseDoubleText("NaN", &v), nullptr);
  EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(ParseDoubleText("-inf", &v), nullptr);
  EXPECT_EQ(v, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(ParseDoubleText("Infinity", &v), nullptr);
  EXPECT_EQ(v, std::numeric_limits<double>::infinity());
  EXPECT_STREQ(ParseDoubleText("abc", &v), "is not a double");
  EXPECT_STREQ(ParseDoubleText("1.5x", &v), "is not a double");
  EXPECT_STREQ(ParseDoubleText("+-1", &v), "is not a double");
  EXPECT_STREQ(ParseDoubleText("", &v), "is not a double");
  EXPECT_STREQ(ParseDoubleText("0x10", &v), "is not a double");
  EXPECT_STREQ(ParseDoubleText("1e999", &v), "is out of range for a double");
}

TEST(ValueTextTest, Bool) {
  bool v = false;
  for (const char* text : {"true", "TRUE", "True", "1"}) {
    EXPECT_EQ(ParseBoolText(text, &v), nullptr) << text;
    EXPECT_TRUE(v) << text;
  }
  for (const char* text : {"false", "FALSE", "fAlSe", "0"}) {
    EXPECT_EQ(ParseBoolText(text, &v), nullptr) << text;
    EXPECT_FALSE(v) << text;
  }
  for (const char* text : {"yes", "2", "t", "", "truee"}) {
    EXPECT_STREQ(ParseBoolText(text, &v), "is not a bool (expected true, false, 1 or 0)")
        << text;
  }
}

TEST(ValueTextTest, Timestamp) {
  int64_t v = 0;
  EXPECT_EQ(ParseTimestampText("2024-05-01T12:00:00Z", &v), nullptr);
  EXPECT_EQ(v, 1714564800000);
  EXPECT_EQ(ParseTimestampText("1714564800250", &v), nullptr);
  EXPECT_EQ(v, 1714564800250);
  EXPECT_NE(ParseTimestampText("2024-13-01", &v), nullptr);
  EXPECT_NE(ParseTimestampText("yesterday", &v), nullptr);
}

TEST(ValueTextTest, AppendTextTrimsAllButStrings) {
  Column ints(FeatureType::kInt64);
  EXPECT_EQ(AppendText(&ints, " 5\t"), nullptr);
  EXPECT_EQ(ints.ints.at(0), 5);
  Column strings(FeatureType::kString);
  EXPECT_EQ(AppendText(&strings, " a "), nullptr);
  EXPECT_EQ(strings.strings.at(0), " a ");
  Column doubles(FeatureType::kDouble);
  EXPECT_STREQ(AppendText(&doubles, "x"), "is not a double");
  EXPECT_EQ(doubles.size(), 0u);
}

}  // namespace
}  // namespace cairn::features::ingest_internal
