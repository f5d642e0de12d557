#include "compute/resources.h"

#include <gtest/gtest.h>

#include "compute/executor.h"

namespace cairn::compute {
namespace {

TEST(ParseMemoryTest, BinaryAndDecimalUnits) {
  EXPECT_EQ(*ParseMemory("512Mi"), 536870912);
  EXPECT_EQ(*ParseMemory("4Gi"), int64_t{4} << 30);
  EXPECT_EQ(*ParseMemory("1Ki"), 1024);
  EXPECT_EQ(*ParseMemory("2Ti"), int64_t{2} << 40);
  EXPECT_EQ(*ParseMemory("1G"), 1'000'000'000);
  EXPECT_EQ(*ParseMemory("1500M"), 1'500'000'000);
  EXPECT_EQ(*ParseMemory("3K"), 3000);
  EXPECT_EQ(*ParseMemory("1048576"), 1048576);
  EXPECT_EQ(*ParseMemory("0"), 0);
}

TEST(ParseMemoryTest, RefusesOtherFormsNamingTheValue) {
  for (const char* text : {"", "Mi", "-1Gi", "1.5Gi", "12 Mi", "4GB", "4gi", "1Pi"}) {
    absl::StatusOr<int64_t> parsed = ParseMemory(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(parsed.status().message()).find(absl::StrCat("memory '", text, "'")),
              std::string::npos)
        << parsed.status();
    EXPECT_NE(std::string(parsed.status().message()).find("512Mi"), std::string::npos);
  }
  EXPECT_EQ(std::string(ParseMemory("4GB").status().message()).substr(0, 32),
            "memory '4GB': unknown unit 'GB';");
}

TEST(ParseMemoryTest, RefusesOverflow) {
  EXPECT_EQ(ParseMemory("9223372036854775808").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseMemory("9000000Ti").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseMemory("9223372036854775807"), INT64_MAX);
}

TEST(FormatMemoryTest, ExactBinaryUnitsElseBytes) {
  EXPECT_EQ(FormatMemory(536870912), "512Mi");
  EXPECT_EQ(FormatMemory(int64_t{4} << 30), "4Gi");
  EXPECT_EQ(FormatMemory(int64_t{3} << 40), "3Ti");
  EXPECT_EQ(FormatMemory(1536), "1536");  // 1.5Ki: no whole binary unit
  EXPECT_EQ(FormatMemory(2048), "2Ki");
  EXPECT_EQ(FormatMemory(1'000'000'000), "1000000000");
  EXPECT_EQ(FormatMemory(0), "0");
  EXPECT_EQ(FormatMemory(1500 * (int64_t{1} << 20)), "1500Mi");
  for (int64_t bytes : {int64_t{1} << 20, int64_t{12345}, int64_t{7} << 30}) {
    EXPECT_EQ(*ParseMemory(FormatMemory(bytes)), bytes);
  }
}

TEST(FormatResourcesTest, LeavesDefaultsOut) {
  EXPECT_EQ(FormatResources(Resources{}), "");
  EXPECT_EQ(
      FormatResources(Resources{
          .cpus = 2, .memory_bytes = int64_t{4} << 30, .gpus = 1, .timeout_ms = 30 * 60 * 1000}),
      "cpus=2 memory=4Gi gpus=1 timeout=30m");
  EXPECT_EQ(FormatResources(Resources{.cpus = 0.5}), "cpus=0.5");
  EXPECT_EQ(FormatResources(Resources{.timeout_ms = 30'000}), "timeout=30s");
}

TEST(ExecutorNamesTest, StatesAndReasons) {
  EXPECT_EQ(JobStateName(JobState::kQueued), "queued");
  EXPECT_EQ(JobStateName(JobState::kRunning), "running");
  EXPECT_EQ(JobStateName(JobState::kSucceeded), "succeeded");
  EXPECT_EQ(JobStateName(JobState::kFailed), "failed");
  EXPECT_EQ(JobStateName(JobState::kCancelled), "cancelled");
  EXPECT_FALSE(IsTerminal(JobState::kQueued));
  EXPECT_FALSE(IsTerminal(JobState::kRunning));
  EXPECT_TRUE(IsTerminal(JobState::kSucceeded));
  EXPECT_TRUE(IsTerminal(JobState::kFailed));
  EXPECT_TRUE(IsTerminal(JobState::kCancelled));
  EXPECT_EQ(FailureReasonName(FailureReason::kNone), "none");
  EXPECT_EQ(FailureReasonName(FailureReason::kExitCode), "exit_code");
  EXPECT_EQ(FailureReasonName(FailureReason::kSignal), "signal");
  EXPECT_EQ(FailureReasonName(FailureReason::kTimeout), "timeout");
  EXPECT_EQ(FailureReasonName(FailureReason::kOutOfMemory), "out_of_memory");
  EXPECT_EQ(FailureReasonName(FailureReason::kLostNode), "lost_node");
  EXPECT_EQ(FailureReasonName(FailureReason::kCancelled), "cancelled");
  EXPECT_EQ(FailureReasonName(FailureReason::kLaunchError), "launch_error");
  EXPECT_EQ(ParseJobState("cancelled"), JobState::kCancelled);
  EXPECT_EQ(ParseJobState("done"), std::nullopt);
  EXPECT_EQ(ParseFailureReason("out_of_memory"), FailureReason::kOutOfMemory);
  EXPECT_EQ(ParseFailureReason("oom"), std::nullopt);
}

}  // namespace
}  // namespace cairn::compute
