#include <set>

#include "common/clock.h"
#include "common/duration.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/plural.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "gtest/gtest.h"

namespace cairn {
namespace {

TEST(Ids, UuidHexIsThirtyTwoLowercaseHexDigitsAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewUuidHex();
    ASSERT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Json, MalformedInputIsInvalidArgumentNamingTheOffset) {
  auto parsed = ParseJson("{\"a\": ");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("byte"), std::string_view::npos);
}

TEST(Json, DeepNestingIsRejectedNotACrash) {
  std::string deep = "{\"run_id\": " + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  auto parsed = ParseJson(deep);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  std::string ok_depth = std::string(50, '[') + std::string(50, ']');
  EXPECT_TRUE(ParseJson(ok_depth).ok());
  // Brackets inside strings do not count.
  EXPECT_TRUE(ParseJson("{\"a\": \"" + std::string(500, '[') + "\"}").ok());
}

TEST(Json, EmptyBodyIsEmptyObject) {
  auto parsed = ParseJson("  ");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->is_object());
  EXPECT_TRUE(parsed->empty());
}

TEST(Plural, AddsAnSExceptForOne) {
  EXPECT_EQ(Plural(1, "step"), "1 step");
  EXPECT_EQ(Plural(0, "step"), "0 steps");
  EXPECT_EQ(Plural(1000, "job"), "1000 jobs");
}

TEST(FakeClock, MovesOnlyWhenAdvanced) {
  FakeClock clock(1000);
  EXPECT_EQ(clock.NowMillis(), 1000);
  clock.Advance(250);
  EXPECT_EQ(clock.NowMillis(), 1250);
}

absl::StatusOr<int> Half(int v) {
  if (v % 2) return absl::InvalidArgumentError("v: must be even");
  return v / 2;
}
absl::Status UseHalf(int v, int* out) {
  CAIRN_ASSIGN_OR_RETURN(*out, Half(v));
  return absl::OkStatus();
}

TEST(StatusMacros, AssignOrReturnPropagatesTheError) {
  int out = 0;
  EXPECT_TRUE(UseHalf(4, &out).ok());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(UseHalf(3, &out).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn

TEST(Duration, ParsesEveryUnitAndRejectsTheRestNamingTheText) {
  EXPECT_EQ(*cairn::ParseDuration("500ms"), 500);
  EXPECT_EQ(*cairn::ParseDuration("30s"), 30'000);
  EXPECT_EQ(*cairn::ParseDuration("5m"), 300'000);
  EXPECT_EQ(*cairn::ParseDuration("1h"), 3'600'000);
  EXPECT_EQ(*cairn::ParseDuration("7d"), 604'800'000);
  EXPECT_EQ(*cairn::ParseDuration("0"), 0);
  auto bad = cairn::ParseDuration("7x");
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find("'7x'"), std::string::npos);
  EXPECT_FALSE(cairn::ParseDuration("-1s").ok());
  EXPECT_FALSE(cairn::ParseDuration("s").ok());
  EXPECT_EQ(cairn::FormatDuration(604'800'000), "7d");
  EXPECT_EQ(cairn::FormatDuration(90'000), "90s");
  EXPECT_EQ(cairn::FormatDuration(1500), "1500ms");
}

TEST(Timestamp, ParsesRfc3339OffsetsFractionsAndEpochMillis) {
  EXPECT_EQ(*cairn::ParseTimestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*cairn::ParseTimestamp("2024-02-29T12:30:15.25Z"), 1709209815250);
  EXPECT_EQ(*cairn::ParseTimestamp("2024-02-29 12:30:15.250123"), 1709209815250);
  EXPECT_EQ(*cairn::ParseTimestamp("2024-02-29T14:30:15.25+02:00"), 1709209815250);
  EXPECT_EQ(*cairn::ParseTimestamp("2024-02-29"), 1709164800000);
  EXPECT_EQ(*cairn::ParseTimestamp("1709209815250"), 1709209815250);
  EXPECT_EQ(*cairn::ParseTimestamp("1969-12-31T23:59:59.999Z"), -1);
  EXPECT_FALSE(cairn::ParseTimestamp("2023-02-29").has_value());
  EXPECT_FALSE(cairn::ParseTimestamp("2024-13-01").has_value());
  EXPECT_FALSE(cairn::ParseTimestamp("yesterday").has_value());
  EXPECT_FALSE(cairn::ParseTimestamp("").has_value());
  EXPECT_EQ(cairn::FormatTimestamp(1709209815250), "2024-02-29T12:30:15.250Z");
  EXPECT_EQ(cairn::FormatTimestamp(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_FALSE(cairn::FormatTimestamp(INT64_MIN).empty());  // no overflow (UBSan)
  for (int64_t t : {int64_t{0}, int64_t{-86'400'001}, int64_t{4'102'444'800'123}}) {
    EXPECT_EQ(*cairn::ParseTimestamp(cairn::FormatTimestamp(t)), t);
  }
}
