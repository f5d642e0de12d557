#include "serving/rollout_guard.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::serving {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kStart = 1'700'000'000'000;

GuardSpec Spec() {
  GuardSpec spec;
  spec.window_ms = 60'000;
  spec.min_requests = 100;
  spec.max_error_rate_increase = 0.01;
  spec.max_p99_latency_ratio = 1.5;
  return spec;
}

// `n` requests of a variant: latency 100..199 µs cycling, predictions i/n scaled by `scale`
// and shifted by `shift`, every `error_every`-th failing (0: none).
void Feed(RolloutGuard& guard, bool challenger, int n, int64_t latency_base = 100,
          double shift = 0, int error_every = 0) {
  for (int i = 0; i < n; ++i) {
    const bool error = error_every > 0 && i % error_every == 0;
    guard.Record(challenger, latency_base + i % 100, error,
                 shift + static_cast<double>(i % 200) / 200.0);
  }
}

TEST(RolloutGuardTest, NoVerdictBeforeTheWindowAndMinRequests) {
  RolloutGuard guard(Spec(), kStart);
  Feed(guard, false, 1000);
  Feed(guard, true, 99);
  EXPECT_FALSE(guard.Judge(kStart + 30'000).has_value());  // window not passed
  EXPECT_FALSE(guard.Judge(kStart + 60'000).has_value());  // 99 < min_requests
  Feed(guard, true, 1);
  EXPECT_FALSE(guard.Judge(kStart + 59'999).has_value());
  auto verdict = guard.Judge(kStart + 60'000);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_TRUE(verdict->passed) << verdict->reason;
  EXPECT_EQ(guard.requests(true), 100);
  EXPECT_EQ(guard.requests(false), 1000);
}

TEST(RolloutGuardTest, AFailureIsAVerdictBeforeTheWindowEndsAPassIsNot) {
  RolloutGuard guard(Spec(), kStart);
  Feed(guard, false, 1000);
  Feed(guard, true, 99, 100, 0, /*error_every=*/10);
  EXPECT_FALSE(guard.Judge(kStart + 20'000).has_value());  // 99 < min_requests
  Feed(guard, true, 101, 100, 0, /*error_every=*/10);       // 200 requests, 21 errors
  auto verdict = guard.Judge(kStart + 20'500);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_FALSE(verdict->passed);
  EXPECT_EQ(verdict->reason,
            "failed: error rate 0.105 vs the champion's 0.000 (+0.105, max +0.010) — after "
            "20s of its 1m window");
  EXPECT_EQ(verdict->details["early"], true);

  // A challenger that passes so far waits for the whole window.
  RolloutGuard good(Spec(), kStart);
  Feed(good, false, 1000);
  Feed(good, true, 400);
  EXPECT_FALSE(good.Judge(kStart + 59'999).has_value());
  auto passed = good.Judge(kStart + 60'000);
  ASSERT_TRUE(passed.has_value());
  EXPECT_TRUE(passed->passed) << passed->reason;
  EXPECT_FALSE(passed->details.contains("early"));
}

TEST(RolloutGuardTest, PassesWhenTheChallengerMatchesTheChampion) {
  GuardSpec spec = Spec();
  spec.max_prediction_drift = 0.2;
  RolloutGuard guard(spec, kStart);
  Feed(guard, false, 2000);
  Feed(guard, true, 400);
  auto verdict = guard.Judge(kStart + 61'000);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_TRUE(verdict->passed);
  EXPECT_THAT(verdict->reason,
              StartsWith("passed: 400 challenger requests over 61s; error rate +0.000 (max "
                         "+0.010), p99 "));
  EXPECT_THAT(verdict->reason, HasSubstr("psi "));
  const Json& d = verdict->details;
  EXPECT_EQ(d["champion"]["requests"], 2000);
  EXPECT_EQ(d["challenger"]["requests"], 400);
  EXPECT_EQ(d["challenger"]["errors"], 0);
  EXPECT_EQ(d["error_rate_increase"], 0.0);
  EXPECT_NEAR(d["p99_latency_ratio"].get<double>(), 1.0, 0.05);
  EXPECT_EQ(d["drift"]["test"], "psi");
  EXPECT_LT(d["drift"]["statistic"].get<double>(), 0.2);
  EXPECT_EQ(d["drift"]["challenger_samples"], 400);
  ASSERT_EQ(d["checks"].size(), 3u);
  for (const Json& check : d["checks"]) EXPECT_EQ(check["passed"], true) << check;
}

TEST(RolloutGuardTest, FailsOnErrorRate) {
  RolloutGuard guard(Spec(), kStart);
  Feed(guard, false, 1000);
  Feed(guard, true, 200, 100, 0, /*error_every=*/10);  // 10% errors
  auto verdict = guard.Judge(kStart + 60'000);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_FALSE(verdict->passed);
  EXPECT_EQ(verdict->reason,
            "failed: error rate 0.100 vs the champion's 0.000 (+0.100, max +0.010)");
  EXPECT_EQ(verdict->details["challenger"]["errors"], 20);
  EXPECT_DOUBLE_EQ(verdict->details["challenger"]["error_rate"].get<double>(), 0.1);
}

TEST(RolloutGuardTest, FailsOnP99Latency) {
  RolloutGuard guard(Spec(), kStart);
  Feed(guard, false, 1000, /*latency_base=*/100);
  Feed(guard, true, 1000, /*latency_base=*/1000);
  auto verdict = guard.Judge(kStart + 60'000);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_FALSE(verdict->passed);
  EXPECT_THAT(verdict->reason, StartsWith("failed: p99 latency "));
  EXPECT_THAT(verdict->reason, HasSubstr("x the champion's ("));
  EXPECT_THAT(verdict->reason, HasSubstr("max 1.50x)"));
  // Within the histogram's resolution (≤ 3.2%): 1098 µs vs 198 µs.
  EXPECT_NEAR(verdict->details["challenger"]["p99_latency_us"].get<double>(), 1098, 1098 * 0.032);
  EXPECT_NEAR(verdict->details["champion"]["p99_latency_us"].get<double>(), 198, 198 * 0.032);
  EXPECT_NEAR(verdict->details["p99_latency_ratio"].get<double>(), 1098.0 / 198, 0.4);
}

TEST(RolloutGuardTest, FailsOnPredictionDrift) {
  GuardSpec spec = Spec();
  spec.max_prediction_drift = 0.1;
  spec.drift_test = "wasserstein";
  RolloutGuard guard(spec, kStart);
  Feed(guard, false, 1000);
  Feed(guard, true, 1000, 100, /*shift=*/0.5);
  auto verdict = guard.Judge(kStart + 60'000);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_FALSE(verdict->passed);
  EXPECT_THAT(verdict->reason, StartsWith("failed: prediction drift wasserstein "));
  EXPECT_THAT(verdict->reason, HasSubstr("(max 0.100)"));
  EXPECT_GT(verdict->details["drift"]["statistic"].get<double>(), 0.1);
}

TEST(RolloutGuardTest, ChecksThatCannotBeComputedPassWithANote) {
  GuardSpec spec = Spec();
  spec.max_prediction_drift = 0.1;
  RolloutGuard guard(spec, kStart);
  Feed(guard, true, 100);  // the champion answered nothing (a 100% canary)
  auto verdict = guard.Judge(kStart + 60'000);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_TRUE(verdict->passed) << verdict->reason;
  const Json& checks = verdict->details["checks"];
  ASSERT_EQ(checks.size(), 3u);
  EXPECT_EQ(checks[1]["name"], "p99_latency");
  EXPECT_EQ(checks[1]["note"], "the champion answered no request: not compared");
  EXPECT_EQ(checks[2]["name"], "prediction_drift");
  EXPECT_THAT(checks[2]["note"].get<std::string>(),
              HasSubstr("too few predictions to compare (champion 0, challenger 100"));
  EXPECT_EQ(verdict->details["p99_latency_ratio"], nullptr);
}

TEST(RolloutGuardTest, SnapshotReportsProgress) {
  RolloutGuard guard(Spec(), kStart);
  Feed(guard, false, 10);
  Feed(guard, true, 5, 100, 0, 5);
  Json snapshot = guard.Snapshot(kStart + 1000);
  EXPECT_EQ(snapshot["ready"], false);
  EXPECT_EQ(snapshot["elapsed_ms"], 1000);
  EXPECT_EQ(snapshot["challenger"]["requests"], 5);
  EXPECT_EQ(snapshot["challenger"]["errors"], 1);
  EXPECT_EQ(snapshot["passing"], false);
  EXPECT_THAT(snapshot["reason"].get<std::string>(), StartsWith("failed: error rate 0.200"));
}

TEST(RolloutGuardTest, ReservoirKeepsABoundedSample) {
  GuardSpec spec = Spec();
  spec.max_prediction_drift = 0.2;
  RolloutGuard guard(spec, kStart, /*max_samples=*/64);
  Feed(guard, false, 5000);
  Feed(guard, true, 5000);
  Json snapshot = guard.Snapshot(kStart + 60'000);
  EXPECT_EQ(snapshot["champion"]["predictions_sampled"], 64);
  EXPECT_EQ(snapshot["challenger"]["predictions_sampled"], 64);
  EXPECT_EQ(snapshot["champion"]["requests"], 5000);
}

TEST(RolloutGuardTest, RecordIsThreadSafe) {
  RolloutGuard guard(Spec(), kStart);
  constexpr int kThreads = 4, kPerThread = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        guard.Record(/*challenger=*/(i + t) % 2 == 0, 50 + i % 7, i % 100 == 0, i * 0.001);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(guard.requests(true) + guard.requests(false), kThreads * kPerThread);
  Json snapshot = guard.Snapshot(kStart + 60'000);
  EXPECT_EQ(snapshot["champion"]["errors"].get<int64_t>() +
                snapshot["challenger"]["errors"].get<int64_t>(),
            kThreads * kPerThread / 100);
}

}  // namespace
}  // namespace cairn::serving
