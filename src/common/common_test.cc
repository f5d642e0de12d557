#include <set>

#include "common/clock.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/status.h"
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
