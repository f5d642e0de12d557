#include "monitoring/alerts/sinks.h"

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/testing/http_receiver.h"
#include "common/webhook_signature.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::monitoring {
namespace {

// The local receiver every webhook test uses (common/testing/http_receiver.h), answering
// "ok".
class WebhookReceiver : public test_support::HttpReceiver {
 public:
  explicit WebhookReceiver(std::vector<int> statuses)
      : HttpReceiver(std::move(statuses), "ok") {}
};

// Collects delivery reports; waits for them without sleeping blindly.
class Reports {
 public:
  DeliveryReportFn fn() {
    return [this](const DeliveryReport& report) {
      absl::MutexLock lock(&mu_);
      reports_.push_back(report);
    };
  }
  bool WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return reports_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(20));
  }
  std::vector<DeliveryReport> get() {
    absl::MutexLock lock(&mu_);
    return reports_;
  }

 private:
  absl::Mutex mu_;
  std::vector<DeliveryReport> reports_;
};

TEST(ResolveSecret, ReadsNamedEnvironmentVariables) {
  setenv("CAIRN_ALERTS_TEST_SECRET", "s3cret", 1);
  EXPECT_EQ(*ResolveSecret("${CAIRN_ALERTS_TEST_SECRET}"), "s3cret");
  EXPECT_EQ(*ResolveSecret("plain"), "plain");
  EXPECT_EQ(*ResolveSecret(""), "");
  auto missing = ResolveSecret("${CAIRN_ALERTS_TEST_UNSET_VARIABLE}");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("CAIRN_ALERTS_TEST_UNSET_VARIABLE"),
            absl::string_view::npos);
}

TEST(MakeSink, RejectsUnknownKindsAndWebhooksWithoutUrl) {
  auto unknown = MakeSink(SinkSpec{"email", "", ""}, {});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("\"email\""), absl::string_view::npos);
  EXPECT_EQ(MakeSink(SinkSpec{"webhook", "", ""}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto log = MakeSink(SinkSpec{"log", "", ""}, {});
  ASSERT_TRUE(log.ok());
  int http_status = -1;
  EXPECT_TRUE((*log)->Deliver(R"({"event":"opened","message":"m","alert":{"id":"x"}})",
                              &http_status)
                  .ok());
  EXPECT_EQ((*log)->Describe(), "log");
}

TEST(WebhookSink, PostsSignedJson) {
  WebhookReceiver receiver({200});
  auto sink = MakeSink(SinkSpec{"webhook", receiver.url(), "topsecret"}, {});
  ASSERT_TRUE(sink.ok()) << sink.status();
  const std::string body = R"({"event":"opened","alert":{"id":"a1"}})";
  int http_status = 0;
  absl::Status status = (*sink)->Deliver(body, &http_status);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(http_status, 200);
  ASSERT_TRUE(receiver.WaitForRequests(1));
  WebhookReceiver::Request request = receiver.requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/hook");
  EXPECT_EQ(request.body, body);
  EXPECT_EQ(request.headers["content-type"], "application/json");
  // t=<now>,v1=HMAC("<t>.<body>"): verified with the receivers' verifier, and refused
  // under another secret or once it is older than the tolerance (a replay).
  EXPECT_TRUE(test_support::VerifyCairnSignature(request, "topsecret").ok())
      << request.headers["x-cairn-signature"];
  EXPECT_THAT(request.headers["x-cairn-signature"], ::testing::StartsWith("t="));
  EXPECT_EQ(test_support::VerifyCairnSignature(request, "other").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyWebhookSignature(request.headers["x-cairn-signature"], "topsecret", body,
                                   absl::ToUnixSeconds(absl::Now()) + 301)
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*sink)->Describe(), "webhook " + receiver.url());
}

TEST(WebhookSink, NoSignatureWithoutSecretAndErrorsNameTheStatus) {
  WebhookReceiver receiver({503});
  auto sink = MakeSink(SinkSpec{"webhook", receiver.url(), ""}, {});
  ASSERT_TRUE(sink.ok());
  int http_status = 0;
  absl::Status status = (*sink)->Deliver("{}", &http_status);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("HTTP 503"), absl::string_view::npos) << status;
  EXPECT_EQ(http_status, 503);
  ASSERT_TRUE(receiver.WaitForRequests(1));
  EXPECT_EQ(receiver.requests()[0].headers.count("x-cairn-signature"), 0u);
}

TEST(Notifier, RetriesWithExponentialBackoffUntilDelivered) {
  WebhookReceiver receiver({500, 500, 200});
  FakeClock clock(1'000'000);
  Reports reports;
  WebhookOptions options;
  options.attempts = 5;
  options.backoff_ms = 1'000;
  options.max_backoff_ms = 60'000;
  Notifier notifier(clock, options, reports.fn());
  auto sink = MakeSink(SinkSpec{"webhook", receiver.url(), "k"}, options);
  ASSERT_TRUE(sink.ok());
  const std::string body = R"({"event":"paged"})";
  notifier.Enqueue("a1", "paged", std::shared_ptr<Sink>(std::move(*sink)), body);

  // First try at once; it fails and is due again after 1 s of the (fake) clock.
  ASSERT_TRUE(reports.WaitFor(1));
  DeliveryReport first = reports.get()[0];
  EXPECT_EQ(first.attempt, 1);
  EXPECT_FALSE(first.delivered);
  EXPECT_FALSE(first.final);
  EXPECT_EQ(first.http_status, 500);
  EXPECT_EQ(first.next_try_ms, 1'001'000);
  EXPECT_EQ(first.alert_id, "a1");
  EXPECT_EQ(first.event, "paged");
  EXPECT_FALSE(notifier.WaitIdle(0));  // still queued: the clock has not moved

  clock.Advance(1'000);
  notifier.Wake();
  ASSERT_TRUE(reports.WaitFor(2));
  DeliveryReport second = reports.get()[1];
  EXPECT_EQ(second.attempt, 2);
  EXPECT_FALSE(second.delivered);
  EXPECT_EQ(second.next_try_ms, 1'001'000 + 2'000);  // doubled

  clock.Advance(2'000);
  notifier.Wake();
  ASSERT_TRUE(reports.WaitFor(3));
  DeliveryReport third = reports.get()[2];
  EXPECT_EQ(third.attempt, 3);
  EXPECT_TRUE(third.delivered);
  EXPECT_TRUE(third.final);
  EXPECT_EQ(third.http_status, 200);
  EXPECT_TRUE(notifier.WaitIdle(20'000));

  ASSERT_TRUE(receiver.WaitForRequests(3));
  for (const auto& request : receiver.requests()) {
    EXPECT_EQ(request.body, body);
    EXPECT_TRUE(test_support::VerifyCairnSignature(request, "k").ok());
  }
}

TEST(Notifier, GivesUpAfterTheLastAttemptAndCapsTheBackoff) {
  WebhookReceiver receiver({500});
  FakeClock clock(0);
  Reports reports;
  WebhookOptions options;
  options.attempts = 3;
  options.backoff_ms = 5'000;
  options.max_backoff_ms = 7'000;
  Notifier notifier(clock, options, reports.fn());
  auto sink = MakeSink(SinkSpec{"webhook", receiver.url(), ""}, options);
  ASSERT_TRUE(sink.ok());
  notifier.Enqueue("a1", "opened", std::shared_ptr<Sink>(std::move(*sink)), "{}");
  ASSERT_TRUE(reports.WaitFor(1));
  EXPECT_EQ(reports.get()[0].next_try_ms, 5'000);
  clock.Advance(5'000);
  notifier.Wake();
  ASSERT_TRUE(reports.WaitFor(2));
  EXPECT_EQ(reports.get()[1].next_try_ms, 5'000 + 7'000);  // 10 s capped at 7 s
  clock.Advance(7'000);
  notifier.Wake();
  ASSERT_TRUE(reports.WaitFor(3));
  DeliveryReport last = reports.get()[2];
  EXPECT_EQ(last.attempt, 3);
  EXPECT_FALSE(last.delivered);
  EXPECT_TRUE(last.final);
  EXPECT_EQ(last.next_try_ms, 0);
  EXPECT_NE(last.error.find("HTTP 500"), std::string::npos) << last.error;
  EXPECT_TRUE(notifier.WaitIdle(20'000));
  clock.Advance(1'000'000);
  notifier.Wake();
  EXPECT_TRUE(notifier.WaitIdle(20'000));
  EXPECT_EQ(reports.get().size(), 3u);
}

TEST(Notifier, ConnectionRefusedIsReportedAndShutdownDropsTheRest) {
  FakeClock clock(0);
  Reports reports;
  WebhookOptions options;
  options.attempts = 2;
  options.backoff_ms = 60'000;
  auto notifier = std::make_unique<Notifier>(clock, options, reports.fn());
  // Port 1 on loopback: nothing listens there.
  auto sink = MakeSink(SinkSpec{"webhook", "http://127.0.0.1:1/hook", ""}, options);
  ASSERT_TRUE(sink.ok());
  notifier->Enqueue("a1", "opened", std::shared_ptr<Sink>(std::move(*sink)), "{}");
  ASSERT_TRUE(reports.WaitFor(1));
  DeliveryReport first = reports.get()[0];
  EXPECT_FALSE(first.delivered);
  EXPECT_EQ(first.http_status, 0);
  EXPECT_NE(first.error.find("POST http://127.0.0.1:1/hook failed"), std::string::npos)
      << first.error;
  notifier->Shutdown();  // the retry, due in a minute, is dropped
  notifier.reset();
  EXPECT_EQ(reports.get().size(), 1u);
}

}  // namespace
}  // namespace cairn::monitoring
