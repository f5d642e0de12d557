#pragma once
// Test-only: a real HTTP/1.1 server on 127.0.0.1:<ephemeral port> that records what it
// receives — the far end for tests of outgoing webhooks (alert sinks, registry webhooks).
// One request per connection (it answers with Connection: close), served one at a time on
// its own thread. Each request is answered with the next status of `statuses` (the last one
// repeats) and the body given to the constructor. Hold() makes it keep each answer back
// until Release() (a slow receiver). Thread-safe.
//
// Also: DeadUrl(), a URL on which nothing listens.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace cairn::test_support {

class HttpReceiver {
 public:
  struct Request {
    std::string method;  // "POST"
    std::string path;    // "/hook"
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
  };

  // `statuses` must not be empty.
  explicit HttpReceiver(std::vector<int> statuses, std::string reply_body = "received");
  ~HttpReceiver();
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  // "http://127.0.0.1:<port>/hook".
  std::string url() const;
  int port() const { return port_; }

  // Waits (real time, up to `timeout_s`) until `n` requests arrived; true when they did.
  bool WaitForRequests(size_t n, int timeout_s = 20);
  std::vector<Request> requests();

  // While held, a request is recorded as soon as it arrives but answered only after
  // Release() (or the receiver's destruction).
  void Hold();
  void Release();

 private:
  void Serve();

  int fd_ = -1;
  int port_ = 0;
  const std::vector<int> statuses_;
  const std::string reply_body_;
  absl::Mutex mu_;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The request's X-Cairn-Signature checked against its body under `secret` at the current
// time (common/webhook_signature.h, default tolerance); NotFound when it has none.
absl::Status VerifyCairnSignature(const HttpReceiver::Request& request, std::string_view secret);

// A URL on 127.0.0.1 on which nothing listens (a port bound, never listened on, closed).
std::string DeadUrl();

}  // namespace cairn::test_support
