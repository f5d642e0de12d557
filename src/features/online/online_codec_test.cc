#include "features/online/online_codec.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace cairn::features {
namespace {

TEST(OnlineCodecTest, RoundTripsEveryKindOfValue) {
  OnlineRow row{-1, std::numeric_limits<int64_t>::max(),
                {Value(std::numeric_limits<int64_t>::min()), Value(int64_t{0}),
                 Value(int64_t{-1}), Value(-0.0), Value(1e308), Value(std::string(300, 'x')),
                 Value(true), Value(false), Value()}};
  std::string bytes;
  EncodeOnlineRow(row, &bytes);
  OnlineRow back{5, 5, {Value(1.0)}};
  ASSERT_TRUE(DecodeOnlineRow(bytes, &back).ok());
  EXPECT_EQ(back, row);
}

TEST(OnlineCodecTest, NanSurvives) {
  OnlineRow row{1, 2, {Value(std::nan(""))}};
  std::string bytes;
  EncodeOnlineRow(row, &bytes);
  OnlineRow back;
  ASSERT_TRUE(DecodeOnlineRow(bytes, &back).ok());
  EXPECT_TRUE(std::isnan(std::get<double>(back.values[0])));
}

TEST(OnlineCodecTest, IsCompact) {
  // 10 doubles: 16-byte version + count + 10 × 9 bytes.
  OnlineRow row{1, 2, std::vector<Value>(10, Value(0.5))};
  std::string bytes;
  EncodeOnlineRow(row, &bytes);
  EXPECT_EQ(bytes.size(), 16u + 1u + 90u);
}

TEST(OnlineCodecTest, TruncatedOrCorruptEncodingsAreDataLoss) {
  OnlineRow row{1, 2, {Value(std::string("hello")), Value(int64_t{300})}};
  std::string bytes;
  EncodeOnlineRow(row, &bytes);
  OnlineRow out;
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeOnlineRow(bytes.substr(0, n), &out).code(), absl::StatusCode::kDataLoss) << n;
  }
  std::string bad_tag = bytes;
  bad_tag[17] = 9;
  EXPECT_EQ(DecodeOnlineRow(bad_tag, &out).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeOnlineRow(bytes + "x", &out).code(), absl::StatusCode::kDataLoss);
}

TEST(OnlineCodecTest, VersionPrefixOrdersByEventThenCreatedTime) {
  auto enc = [](int64_t ev, int64_t cr) {
    std::string out;
    EncodeOnlineRow(OnlineRow{ev, cr, {}}, &out);
    return out;
  };
  EXPECT_TRUE(RowVersionNewerOrEqual(enc(5, 1), enc(5, 1)));
  EXPECT_TRUE(RowVersionNewerOrEqual(enc(5, 2), enc(5, 1)));
  EXPECT_FALSE(RowVersionNewerOrEqual(enc(5, 0), enc(5, 1)));
  EXPECT_TRUE(RowVersionNewerOrEqual(enc(6, -100), enc(5, 100)));
  EXPECT_FALSE(RowVersionNewerOrEqual(enc(-6, 0), enc(-5, 0)));
  EXPECT_TRUE(RowVersionNewerOrEqual(enc(0, 0), enc(-1, 0)));
}

TEST(OnlineCodecTest, CheckTypesNamesThePosition) {
  std::vector<FeatureType> types = {FeatureType::kInt64, FeatureType::kTimestamp,
                                    FeatureType::kDouble, FeatureType::kString,
                                    FeatureType::kBool};
  OnlineRow ok{0, 0, {Value(int64_t{1}), Value(int64_t{2}), Value(), Value("s"), Value(true)}};
  EXPECT_TRUE(CheckOnlineRowTypes(types, ok).ok());
  OnlineRow wrong = ok;
  wrong.values[2] = Value("not a double");
  absl::Status st = CheckOnlineRowTypes(types, wrong);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(st.message()), "online row value 2: expected double, got string");
  OnlineRow short_row{0, 0, {Value(int64_t{1})}};
  EXPECT_EQ(CheckOnlineRowTypes(types, short_row).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::features
