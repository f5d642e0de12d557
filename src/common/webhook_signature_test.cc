#include "common/webhook_signature.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn {
namespace {

using ::testing::HasSubstr;

TEST(HmacSha256Hex, MatchesRfc4231TestCase2) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(WebhookSignature, SignsTheTimestampDotBody) {
  const std::string body = R"({"event":"opened"})";
  EXPECT_EQ(WebhookSignature("whsec", 1700000000, body),
            "t=1700000000,v1=" + HmacSha256Hex("whsec", "1700000000." + body));
}

TEST(VerifyWebhookSignature, AcceptsAFreshSignatureWithinTheTolerance) {
  const std::string body = R"({"event":"opened"})";
  const std::string header = WebhookSignature("whsec", 1700000000, body);
  EXPECT_TRUE(VerifyWebhookSignature(header, "whsec", body, 1700000000).ok());
  EXPECT_TRUE(VerifyWebhookSignature(header, "whsec", body, 1700000300).ok());  // 5 min
  EXPECT_TRUE(VerifyWebhookSignature(header, "whsec", body, 1699999700).ok());  // skew
  // Spaces after commas and several v1 (a sender rotating its secret) are accepted.
  const std::string rotated = "t=1700000000, v1=" + std::string(64, '0') + ", v1=" +
                              HmacSha256Hex("whsec", "1700000000." + body);
  EXPECT_TRUE(VerifyWebhookSignature(rotated, "whsec", body, 1700000000).ok());
}

TEST(VerifyWebhookSignature, RefusesAReplayedDeliveryOutsideTheTolerance) {
  const std::string body = R"({"event":"opened"})";
  const std::string header = WebhookSignature("whsec", 1700000000, body);
  absl::Status old = VerifyWebhookSignature(header, "whsec", body, 1700000301);
  EXPECT_EQ(old.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(old.message(), HasSubstr("t=1700000000 is 301 s old"));
  EXPECT_THAT(old.message(), HasSubstr("tolerance of 300 s"));
  absl::Status future = VerifyWebhookSignature(header, "whsec", body, 1699999000, 60);
  EXPECT_EQ(future.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(future.message(), HasSubstr("1000 s in the future"));
}

TEST(VerifyWebhookSignature, RefusesAnotherBodyTimestampOrSecret) {
  const std::string body = R"({"event":"opened"})";
  const std::string header = WebhookSignature("whsec", 1700000000, body);
  EXPECT_EQ(VerifyWebhookSignature(header, "whsec", body + " ", 1700000000).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyWebhookSignature(header, "other", body, 1700000000).code(),
            absl::StatusCode::kUnauthenticated);
  // The timestamp is signed: moving it forward (to replay later) breaks the signature.
  std::string moved = header;
  moved.replace(0, 12, "t=1700000999");
  absl::Status status = VerifyWebhookSignature(moved, "whsec", body, 1700000999);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("no v1 signature matches"));
  // The old body-only scheme is not accepted.
  EXPECT_EQ(VerifyWebhookSignature("sha256=" + HmacSha256Hex("whsec", body), "whsec", body,
                                   1700000000)
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VerifyWebhookSignature, MalformedHeadersSayWhatIsMissing) {
  absl::Status no_t = VerifyWebhookSignature("v1=abc", "k", "", 0);
  EXPECT_EQ(no_t.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_t.message(), HasSubstr("t= is missing"));
  absl::Status no_v1 = VerifyWebhookSignature("t=5", "k", "", 5);
  EXPECT_THAT(no_v1.message(), HasSubstr("v1= is missing"));
  absl::Status bad_t = VerifyWebhookSignature("t=5x,v1=ab", "k", "", 5);
  EXPECT_EQ(bad_t.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_t.message(), HasSubstr("t=5x is not a number of seconds"));
}

}  // namespace
}  // namespace cairn
