#include "monitoring/alerts/sinks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace cairn::monitoring {
namespace {

// A real HTTP/1.1 server on 127.0.0.1:<ephemeral port>: one request per connection, answers
// each request with the next status of `statuses` (the last one repeats).
class WebhookReceiver {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
  };

  explicit WebhookReceiver(std::vector<int> statuses) : statuses_(std::move(statuses)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~WebhookReceiver() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

  // Waits (real time, generous) until `n` requests arrived.
  bool WaitForRequests(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return requests_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(20));
  }
  std::vector<Request> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (true) {
      int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      Request request;
      std::string data;
      char buffer[4096];
      size_t header_end = std::string::npos;
      size_t content_length = 0;
      while (true) {
        ssize_t n = recv(conn, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        data.append(buffer, static_cast<size_t>(n));
        if (header_end == std::string::npos) {
          header_end = data.find("\r\n\r\n");
          if (header_end != std::string::npos) {
            ParseHead(data.substr(0, header_end), request);
            auto it = request.headers.find("content-length");
            if (it != request.headers.end()) {
              EXPECT_TRUE(absl::SimpleAtoi(it->second, &content_length));
            }
          }
        }
        if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) {
          break;
        }
      }
      if (header_end != std::string::npos) request.body = data.substr(header_end + 4);
      int status;
      {
        absl::MutexLock lock(&mu_);
        status = statuses_[std::min(requests_.size(), statuses_.size() - 1)];
        requests_.push_back(request);
      }
      std::string reply = "HTTP/1.1 " + std::to_string(status) +
                          (status == 200 ? " OK" : " Error") +
                          "\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      send(conn, reply.data(), reply.size(), MSG_NOSIGNAL);
      close(conn);
    }
  }
  static void ParseHead(const std::string& head, Request& request) {
    size_t line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    size_t sp1 = first.find(' ');
    size_t sp2 = first.find(' ', sp1 + 1);
    request.method = first.substr(0, sp1);
    request.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end + 2;
    while (line_end != std::string::npos && pos < head.size()) {
      line_end = head.find("\r\n", pos);
      std::string line = head.substr(pos, line_end == std::string::npos ? std::string::npos
                                                                         : line_end - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        request.headers[absl::AsciiStrToLower(line.substr(0, colon))] =
            std::string(absl::StripAsciiWhitespace(value));
      }
      pos = line_end + 2;
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<int> statuses_;
  std::vector<Request> requests_;
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

TEST(HmacSha256Hex, MatchesRfc4231TestCase2) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

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
  EXPECT_EQ(request.headers["x-cairn-signature"],
            "sha256=" + HmacSha256Hex("topsecret", body));
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
    EXPECT_EQ(request.headers.at("x-cairn-signature"), "sha256=" + HmacSha256Hex("k", body));
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
