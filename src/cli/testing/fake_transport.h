#pragma once
// Tests of the CLI's verbs: an HttpTransport that records every call and answers with
// queued replies (200 "{}" once the queue is empty), so a test checks what a verb sent
// and how it printed a given answer without a server.

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "cli/http_client.h"

namespace cairn::cli::testing {

class FakeTransport final : public HttpTransport {
 public:
  absl::StatusOr<HttpReply> Send(const HttpCall& call) override {
    calls.push_back(call);
    if (replies.empty()) return HttpReply{200, "{}"};
    HttpReply reply = replies.front();
    replies.pop_front();
    return reply;
  }
  // Queues the answer to the next call.
  void Reply(int status, std::string body) {
    replies.push_back(HttpReply{status, std::move(body)});
  }

  std::vector<HttpCall> calls;
  std::deque<HttpReply> replies;
};

}  // namespace cairn::cli::testing
