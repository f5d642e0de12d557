#include "common/testing/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/webhook_signature.h"

namespace cairn::test_support {
namespace {

void ParseHead(const std::string& head, HttpReceiver::Request& request) {
  size_t line_end = head.find("\r\n");
  std::string first = head.substr(0, line_end);
  size_t sp1 = first.find(' ');
  size_t sp2 = first.find(' ', sp1 + 1);
  request.method = first.substr(0, sp1);
  request.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = line_end + 2;
  while (line_end != std::string::npos && pos < head.size()) {
    line_end = head.find("\r\n", pos);
    std::string line =
        head.substr(pos, line_end == std::string::npos ? std::string::npos : line_end - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      request.headers[absl::AsciiStrToLower(line.substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
    pos = line_end + 2;
  }
}

}  // namespace

HttpReceiver::HttpReceiver(std::vector<int> statuses, std::string reply_body)
    : statuses_(std::move(statuses)), reply_body_(std::move(reply_body)) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(fd_, 16);
  socklen_t len = sizeof(addr);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

HttpReceiver::~HttpReceiver() {
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  shutdown(fd_, SHUT_RDWR);
  close(fd_);
  thread_.join();
}

std::string HttpReceiver::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/hook";
}

bool HttpReceiver::WaitForRequests(size_t n, int timeout_s) {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return requests_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(timeout_s));
}

std::vector<HttpReceiver::Request> HttpReceiver::requests() {
  absl::MutexLock lock(&mu_);
  return requests_;
}

void HttpReceiver::Hold() {
  absl::MutexLock lock(&mu_);
  held_ = true;
}

void HttpReceiver::Release() {
  absl::MutexLock lock(&mu_);
  held_ = false;
}

void HttpReceiver::Serve() {
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
          if (it != request.headers.end() && !absl::SimpleAtoi(it->second, &content_length)) {
            content_length = 0;
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
      auto answer = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !held_ || closing_; };
      mu_.Await(absl::Condition(&answer));
    }
    std::string reply = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") +
                        "\r\nContent-Length: " + std::to_string(reply_body_.size()) +
                        "\r\nConnection: close\r\n\r\n" + reply_body_;
    send(conn, reply.data(), reply.size(), MSG_NOSIGNAL);
    close(conn);
  }
}

absl::Status VerifyCairnSignature(const HttpReceiver::Request& request,
                                  std::string_view secret) {
  auto it = request.headers.find("x-cairn-signature");
  if (it == request.headers.end()) {
    return absl::NotFoundError(absl::StrCat("no X-Cairn-Signature header on the ",
                                            request.method, " to ", request.path));
  }
  return VerifyWebhookSignature(it->second, secret, request.body,
                                absl::ToUnixSeconds(absl::Now()));
}

std::string DeadUrl() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return "http://127.0.0.1:" + std::to_string(port) + "/hook";
}

}  // namespace cairn::test_support
