#include "api/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "api/errors.h"
#include "api/metrics.h"
#include "api/request_fields.h"
#include "api/worker_pool.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::api {
namespace {

using ::testing::HasSubstr;

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercased names
  std::string body;
  std::vector<std::string> chunks;  // for chunked replies: the body's chunks, in order
};

// A tiny blocking HTTP/1.1 client on a POSIX socket; enough to drive the server precisely
// (several requests on one connection, raw malformed bytes, observing the close).
class TestClient {
 public:
  explicit TestClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{20, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~TestClient() {
    if (fd_ >= 0) close(fd_);
  }

  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t sent = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      data.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
  }

  // Reads one response (Content-Length framed or chunked). status 0: the connection closed
  // first.
  Reply Read(bool skip_interim = true) {
    Reply reply = ReadHead(skip_interim);
    if (reply.status == 0 || reply.status == 100) return reply;
    if (reply.headers["transfer-encoding"] == "chunked") {
      for (;;) {
        std::optional<std::string> chunk = ReadChunk();
        if (!chunk) {
          reply.status = 0;
          return reply;
        }
        if (chunk->empty()) return reply;
        reply.body += *chunk;
        reply.chunks.push_back(std::move(*chunk));
      }
    }
    size_t length = std::stoul(reply.headers["content-length"]);
    while (pending_.size() < length) {
      if (!Fill()) {
        reply.status = 0;
        return reply;
      }
    }
    reply.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return reply;
  }

  // Reads the status line and headers of a response. status 0: the connection closed first.
  Reply ReadHead(bool skip_interim = true) {
    Reply reply;
    size_t header_end;
    while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return reply;
    }
    std::string head = pending_.substr(0, header_end);
    pending_.erase(0, header_end + 4);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    reply.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) end = head.size();
      std::string line = head.substr(pos, end - pos);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      reply.headers[name] = value;
      pos = end + 2;
    }
    if (reply.status == 100) return skip_interim ? ReadHead() : reply;
    return reply;
  }

  // Reads one chunk of a chunked body ("" for the final chunk, whose trailer must be empty);
  // nullopt when the connection closed first.
  std::optional<std::string> ReadChunk() {
    size_t line_end;
    while ((line_end = pending_.find("\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    const size_t size = std::stoul(pending_.substr(0, line_end), nullptr, 16);
    while (pending_.size() < line_end + 2 + size + 2) {
      if (!Fill()) return std::nullopt;
    }
    std::string chunk = pending_.substr(line_end + 2, size);
    if (pending_.compare(line_end + 2 + size, 2, "\r\n") != 0) return std::nullopt;
    pending_.erase(0, line_end + 2 + size + 2);
    return chunk;
  }

  void Disconnect() {
    close(fd_);
    fd_ = -1;
  }

  Reply Request(std::string_view method, std::string_view target, std::string_view body = "",
                std::string_view extra_headers = "") {
    if (!Send(RawRequest(method, target, body, extra_headers))) return Reply{};
    return Read();
  }

  // True when the server closed the connection (read returns end of stream or a reset).
  bool ClosedByPeer() {
    if (!pending_.empty()) return false;
    char byte;
    ssize_t got = recv(fd_, &byte, 1, 0);
    return got == 0 || (got < 0 && errno == ECONNRESET);
  }

  static std::string RawRequest(std::string_view method, std::string_view target,
                                std::string_view body, std::string_view extra_headers = "") {
    std::string raw = std::string(method) + " " + std::string(target) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + std::string(extra_headers);
    if (!body.empty() || method == "POST" || method == "PUT") {
      raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    raw += "\r\n";
    raw += body;
    return raw;
  }

 private:
  bool Fill() {
    char buffer[65536];
    ssize_t got = recv(fd_, buffer, sizeof(buffer), 0);
    if (got <= 0) return false;
    pending_.append(buffer, static_cast<size_t>(got));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

std::string Describe(const HttpRequest& request) {
  Json json;
  json["method"] = request.method;
  json["target"] = request.target;
  json["path"] = request.path;
  json["query"] = Json::array();
  for (const auto& [key, value] : request.query) json["query"].push_back({key, value});
  json["path_params"] = Json::array();
  for (const auto& [key, value] : request.path_params) {
    json["path_params"].push_back({key, value});
  }
  const std::string* custom = request.Header("x-custom");
  json["x_custom"] = custom == nullptr ? "" : *custom;
  json["body"] = request.body;
  json["remote"] = request.remote_address;
  return DumpJson(json);
}

// Polls `condition` until it holds or 20 s pass.
bool WaitFor(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::yield();
  }
  return condition();
}

std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
  return bytes;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_dir_ = std::filesystem::temp_directory_path() /
               ("cairn_http_server_test_" + std::to_string(getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(tmp_dir_);
    std::filesystem::create_directories(tmp_dir_);
    router_.Add("GET", "/hello", [](const HttpRequest&) { return JsonResponse("{\"hi\":1}"); });
    router_.Add("POST", "/echo", [](const HttpRequest& request) {
      return JsonResponse(Describe(request));
    });
    router_.Add("GET", "/items/{id}", [](const HttpRequest& request) {
      return JsonResponse(Describe(request));
    });
  }

  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(tmp_dir_);
  }

  void StartServer(ServerOptions options = {}) {
    options.port = 0;
    options.io_threads = options.io_threads == 0 ? 2 : options.io_threads;
    options.worker_threads = options.worker_threads == 0 ? 4 : options.worker_threads;
    options.tmp_dir = tmp_dir_.string();
    options.access_log = false;
    server_ = std::make_unique<HttpServer>(options, std::move(router_));
    absl::Status status = server_->Start();
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_GT(server_->port(), 0);
  }

  int port() const { return server_->port(); }

  std::filesystem::path tmp_dir_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, RoutesRequestsAndDecodesPathAndQuery) {
  StartServer();
  TestClient client(port());
  ASSERT_TRUE(client.connected());
  Reply reply = client.Request("GET", "/items/a%20b%2B?x=1+2&y=%41%zz&flag&run_ids=1&run_ids=2",
                               "", "X-Custom: yes\r\n");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["server"], "cairn");
  EXPECT_EQ(reply.headers["content-type"], "application/json");
  Json json = *ParseJson(reply.body);
  EXPECT_EQ(json["method"], "GET");
  EXPECT_EQ(json["target"], "/items/a%20b%2B?x=1+2&y=%41%zz&flag&run_ids=1&run_ids=2");
  EXPECT_EQ(json["path"], "/items/a b+") << "the path is percent-decoded, '+' is not a space";
  EXPECT_EQ(json["query"], Json::parse(R"([["x","1 2"],["y","A%zz"],["flag",""],
                                           ["run_ids","1"],["run_ids","2"]])"));
  EXPECT_EQ(json["x_custom"], "yes");
  EXPECT_EQ(json["remote"], "127.0.0.1");

  Reply item = client.Request("GET", "/items/42");
  ASSERT_EQ(item.status, 200);
  EXPECT_EQ((*ParseJson(item.body))["path_params"], Json::parse(R"([["id","42"]])"));
}

TEST_F(HttpServerTest, LiteralRouteWinsOverPatternAndOtherMethodsFallBack) {
  // Registered after the pattern: literals still win, as in Router::Find.
  router_.Add("GET", "/items/special", [](const HttpRequest&) { return JsonResponse("\"lit\""); });
  router_.Add("DELETE", "/items/{id}", [](const HttpRequest&) { return JsonResponse("\"del\""); });
  StartServer();
  TestClient client(port());
  EXPECT_EQ(client.Request("GET", "/items/special").body, "\"lit\"");
  EXPECT_EQ(client.Request("DELETE", "/items/special").body, "\"del\"");
  EXPECT_EQ(client.Request("PUT", "/items/special", "x").status, 405);
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethodIs405WithErrorJson) {
  StartServer();
  TestClient client(port());
  Reply not_found = client.Request("GET", "/nope");
  EXPECT_EQ(not_found.status, 404);
  Json not_found_json = *ParseJson(not_found.body);
  EXPECT_EQ(not_found_json["error_code"], "ENDPOINT_NOT_FOUND");
  EXPECT_THAT(not_found_json["message"].get<std::string>(), HasSubstr("/nope"));

  Reply wrong_method = client.Request("POST", "/hello", "{}");
  EXPECT_EQ(wrong_method.status, 405);
  Json wrong_method_json = *ParseJson(wrong_method.body);
  EXPECT_EQ(wrong_method_json["error_code"], "ENDPOINT_NOT_FOUND");
  EXPECT_THAT(wrong_method_json["message"].get<std::string>(), HasSubstr("POST"));

  // Errors keep the connection usable.
  EXPECT_EQ(client.Request("GET", "/hello").status, 200);
}

// HEAD is answered as GET would be, without the body: the same status and
// Content-Length, and the next request on the connection is read as a request (a body
// sent after the head would be read as the start of the next response).
TEST_F(HttpServerTest, HeadGetsTheHeadOfGetWithoutABody) {
  router_.Add("GET", "/stream", [](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "text/plain";
    response.stream = [](std::string* piece) -> absl::StatusOr<bool> {
      *piece = "never sent";
      return true;
    };
    return response;
  });
  router_.Add("GET", "/fields", [](const HttpRequest& request) {
    absl::StatusOr<Json> fields = RequestFields(request);
    if (!fields.ok()) return ErrorResponse(fields.status());
    return JsonResponse(fields->dump());
  });
  router_.Add("GET", "/empty", [](const HttpRequest&) {
    HttpResponse response;
    response.status = 204;
    return response;
  });
  StartServer();
  TestClient client(port());
  // The handler reads the query as for GET: the same status and length.
  Reply get_fields = client.Request("GET", "/fields?name=x");
  ASSERT_EQ(get_fields.status, 200);
  ASSERT_TRUE(client.Send(TestClient::RawRequest("HEAD", "/fields?name=x", "")));
  Reply head_fields = client.ReadHead();
  EXPECT_EQ(head_fields.status, 200);
  EXPECT_EQ(head_fields.headers["content-length"], std::to_string(get_fields.body.size()));
  // A 204 has no body, so no Content-Length either.
  ASSERT_TRUE(client.Send(TestClient::RawRequest("HEAD", "/empty", "")));
  Reply empty = client.ReadHead();
  EXPECT_EQ(empty.status, 204);
  EXPECT_EQ(empty.headers.count("content-length"), 0u);
  ASSERT_TRUE(client.Send(TestClient::RawRequest("HEAD", "/hello", "")));
  Reply hello = client.ReadHead();
  EXPECT_EQ(hello.status, 200);
  EXPECT_EQ(hello.headers["content-length"], "8");  // {"hi":1}
  EXPECT_EQ(hello.headers["content-type"], "application/json");
  ASSERT_TRUE(client.Send(TestClient::RawRequest("HEAD", "/nope", "")));
  Reply missing = client.ReadHead();
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.headers["content-length"], "0");
  ASSERT_TRUE(client.Send(TestClient::RawRequest("HEAD", "/healthz", "")));
  Reply health = client.ReadHead();
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.headers["content-length"], "2");
  // No body bytes were sent: the next answer on the connection is GET's, whole.
  Reply next = client.Request("GET", "/hello");
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "{\"hi\":1}");

  // A stream of unknown length: the head only, then the connection closes.
  TestClient streamed(port());
  ASSERT_TRUE(streamed.Send(TestClient::RawRequest("HEAD", "/stream", "")));
  Reply head = streamed.ReadHead();
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers.count("transfer-encoding"), 0u);
  EXPECT_TRUE(streamed.ClosedByPeer());
}

// A header value with CR or LF would write header lines of its own: the server answers
// 500 instead, and the injected line never reaches the client.
TEST_F(HttpServerTest, HeaderWithLineBreakOrBadNameGets500) {
  router_.Add("GET", "/inject", [](const HttpRequest&) {
    HttpResponse response = JsonResponse("{}");
    response.headers.emplace_back("X-Name", "a\r\nSet-Cookie: pwned=1");
    return response;
  });
  router_.Add("GET", "/badname", [](const HttpRequest&) {
    HttpResponse response = JsonResponse("{}");
    response.headers.emplace_back("X Name", "ok");
    return response;
  });
  router_.Add("GET", "/badtype", [](const HttpRequest&) {
    HttpResponse response = JsonResponse("{}");
    response.content_type = std::string("text/plain\0x", 12);
    return response;
  });
  StartServer();
  TestClient client(port());
  for (const char* path : {"/inject", "/badname", "/badtype"}) {
    SCOPED_TRACE(path);
    Reply reply = client.Request("GET", path);
    EXPECT_EQ(reply.status, 500);
    EXPECT_EQ(reply.headers.count("set-cookie"), 0u);
    EXPECT_EQ((*ParseJson(reply.body))["error_code"], "INTERNAL_ERROR");
  }
  EXPECT_EQ(client.Request("GET", "/hello").status, 200);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  TestClient client(port());
  Reply first = client.Request("POST", "/echo", "first body");
  Reply second = client.Request("POST", "/echo", "second");
  Reply health = client.Request("GET", "/healthz");
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ((*ParseJson(first.body))["body"], "first body");
  EXPECT_EQ((*ParseJson(second.body))["body"], "second");
  ASSERT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "OK");
  EXPECT_EQ(health.headers["content-type"], "text/plain");
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  TestClient client(port());
  ASSERT_TRUE(client.Send(TestClient::RawRequest("POST", "/echo", "one") +
                          TestClient::RawRequest("POST", "/echo", "two")));
  EXPECT_EQ((*ParseJson(client.Read().body))["body"], "one");
  EXPECT_EQ((*ParseJson(client.Read().body))["body"], "two");
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  TestClient client(port());
  Reply reply = client.Request("GET", "/hello", "", "Connection: close\r\n");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["connection"], "close");
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(HttpServerTest, BodyOverLimitIs413AndClosesTheConnection) {
  ServerOptions options;
  options.max_body_bytes = 1000;
  StartServer(options);
  {
    TestClient client(port());
    EXPECT_EQ(client.Request("POST", "/echo", std::string(1000, 'a')).status, 200);
    Reply reply = client.Request("POST", "/echo", std::string(5000, 'a'));
    EXPECT_EQ(reply.status, 413);
    EXPECT_EQ((*ParseJson(reply.body))["error_code"], "REQUEST_LIMIT_EXCEEDED");
    EXPECT_TRUE(client.ClosedByPeer());
  }
  {
    // Chunked: the size is only known while reading.
    TestClient client(port());
    std::string chunk(800, 'b');
    std::string raw =
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
        "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n";
    ASSERT_TRUE(client.Send(raw));
    Reply reply = client.Read();
    EXPECT_EQ(reply.status, 413);
    EXPECT_EQ((*ParseJson(reply.body))["error_code"], "REQUEST_LIMIT_EXCEEDED");
    EXPECT_TRUE(client.ClosedByPeer());
  }
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
  StartServer();
  TestClient client(port());
  ASSERT_TRUE(client.Send("GARBAGE\r\n\r\n"));
  Reply reply = client.Read();
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ((*ParseJson(reply.body))["error_code"], "BAD_REQUEST");
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(HttpServerTest, OversizedHeaderIs431) {
  StartServer();
  TestClient client(port());
  Reply reply = client.Request("GET", "/hello?q=" + std::string(2 << 20, 'x'));
  EXPECT_EQ(reply.status, 431);
  EXPECT_EQ((*ParseJson(reply.body))["error_code"], "REQUEST_LIMIT_EXCEEDED");
}

TEST_F(HttpServerTest, AccessLogHasOneLinePerRequest) {
  // Not StartServer: it turns the log off.
  ServerOptions options;
  Router router;
  router.Add("GET", "/hello", [](const HttpRequest&) { return JsonResponse("{\"hi\":1}"); });
  options.port = 0;
  options.io_threads = 1;
  options.worker_threads = 1;
  options.access_log = true;
  server_ = std::make_unique<HttpServer>(options, std::move(router));
  ASSERT_TRUE(server_->Start().ok());
  ::testing::internal::CaptureStderr();
  {
    TestClient client(port());
    EXPECT_EQ(client.Request("GET", "/hello?x=1").status, 200);
    EXPECT_EQ(client.Request("GET", "/nope").status, 404);
  }
  server_->Stop();  // joins the threads, so every line is written
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, ::testing::ContainsRegex("GET /hello\\?x=1 200 8 [0-9.]+ms 127\\.0\\.0\\.1"));
  EXPECT_THAT(log, ::testing::ContainsRegex("GET /nope 404 [0-9]+ [0-9.]+ms 127\\.0\\.0\\.1"));
}

TEST_F(HttpServerTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  TestClient client(port());
  ASSERT_TRUE(client.Send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  // Read the interim response before sending the body, as curl does.
  EXPECT_EQ(client.Read(/*skip_interim=*/false).status, 100);
  ASSERT_TRUE(client.Send("hello"));
  Reply reply = client.Read();
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ((*ParseJson(reply.body))["body"], "hello");
}

TEST_F(HttpServerTest, StreamedUploadLandsInBodyFileAndIsRemovedAfterwards) {
  absl::Mutex mu;
  std::string seen_path;
  std::string seen_bytes;
  std::string seen_body;
  router_.Add(
      "PUT", "/upload/{*path}",
      [&](const HttpRequest& request) {
        std::ifstream in(request.body_file, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        absl::MutexLock lock(&mu);
        seen_path = request.body_file;
        seen_bytes = std::move(bytes);
        seen_body = request.body;
        return JsonResponse("{}");
      },
      RouteOptions{.stream_request_body = true});
  ServerOptions options;
  options.max_body_bytes = 1024;  // does not apply to streamed routes
  StartServer(options);

  const std::string payload = RandomBytes(5 << 20, 7);
  TestClient client(port());
  Reply reply = client.Request("PUT", "/upload/a/b.bin", payload);
  ASSERT_EQ(reply.status, 200) << reply.body;
  absl::MutexLock lock(&mu);
  EXPECT_EQ(std::filesystem::path(seen_path).parent_path(), tmp_dir_);
  EXPECT_EQ(seen_bytes.size(), payload.size());
  EXPECT_TRUE(seen_bytes == payload);
  EXPECT_TRUE(seen_body.empty());
  EXPECT_FALSE(std::filesystem::exists(seen_path));
  // The connection stays usable after a streamed body.
  EXPECT_EQ(client.Request("GET", "/hello").status, 200);
}

TEST_F(HttpServerTest, FileResponseStreamsExactBytesAndVanishedFileIs404) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("cairn_http_server_test_file_" + std::to_string(getpid()));
  const std::string content = RandomBytes(3 << 20, 11);
  {
    std::ofstream out(file, std::ios::binary);
    out << content;
  }
  router_.Add("GET", "/file", [&](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "application/octet-stream";
    response.file_path = file.string();
    response.headers.emplace_back("X-Artifact", "model.bin");
    return response;
  });
  router_.Add("GET", "/gone", [&](const HttpRequest&) {
    HttpResponse response;
    response.file_path = (file.string() + ".missing");
    return response;
  });
  StartServer();
  TestClient client(port());
  Reply reply = client.Request("GET", "/file");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["content-type"], "application/octet-stream");
  EXPECT_EQ(reply.headers["x-artifact"], "model.bin");
  EXPECT_EQ(reply.body.size(), content.size());
  EXPECT_TRUE(reply.body == content);
  std::filesystem::remove(file);

  Reply gone = client.Request("GET", "/gone");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ((*ParseJson(gone.body))["error_code"], "RESOURCE_DOES_NOT_EXIST");
}

TEST_F(HttpServerTest, MetricsCountRequestsPerRoutePattern) {
  StartServer();
  TestClient client(port());
  ASSERT_EQ(client.Request("GET", "/items/1").status, 200);
  ASSERT_EQ(client.Request("GET", "/items/2").status, 200);
  ASSERT_EQ(client.Request("GET", "/missing").status, 404);
  Reply metrics = client.Request("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.headers["content-type"], HasSubstr("text/plain"));
  const std::string& text = metrics.body;
  EXPECT_THAT(text, HasSubstr("# TYPE cairn_http_requests_total counter"));
  EXPECT_THAT(text,
              HasSubstr("cairn_http_requests_total{route=\"/items/{id}\",method=\"GET\","
                        "code=\"200\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("cairn_http_requests_total{route=\"unmatched\",method=\"GET\","
                              "code=\"404\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE cairn_http_request_duration_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("cairn_http_request_duration_seconds_bucket{route=\"/items/{id}\","
                              "method=\"GET\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("cairn_http_request_duration_seconds_bucket{route=\"/items/{id}\","
                              "method=\"GET\",le=\"0.0005\"}"));
  EXPECT_THAT(text, HasSubstr("cairn_http_request_duration_seconds_sum{route=\"/items/{id}\","
                              "method=\"GET\"} "));
  EXPECT_THAT(text, HasSubstr("cairn_http_request_duration_seconds_count{route=\"/items/{id}\","
                              "method=\"GET\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("process_resident_memory_bytes "));
  EXPECT_THAT(text, HasSubstr("cairn_http_connections_open 1\n"));
  // Routes without requests are left out.
  EXPECT_THAT(text, ::testing::Not(HasSubstr("route=\"/echo\"")));
}

TEST(HttpMetricsTest, HistogramBucketsAreCumulativeAndCodesSeparate) {
  HttpMetrics metrics;
  int series = metrics.AddSeries("/a/{id}", "POST");
  metrics.Record(series, 200, std::chrono::microseconds(100));    // ≤ 0.0005
  metrics.Record(series, 200, std::chrono::milliseconds(30));     // ≤ 0.05
  metrics.Record(series, 400, std::chrono::seconds(20));          // +Inf
  EXPECT_EQ(metrics.RequestCount(series), 3u);
  std::string text;
  metrics.AppendPrometheus(&text);
  const std::string labels = "route=\"/a/{id}\",method=\"POST\"";
  EXPECT_THAT(text, HasSubstr("cairn_http_requests_total{" + labels + ",code=\"200\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("cairn_http_requests_total{" + labels + ",code=\"400\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("_bucket{" + labels + ",le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("_bucket{" + labels + ",le=\"0.025\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("_bucket{" + labels + ",le=\"0.05\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("_bucket{" + labels + ",le=\"10\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("_bucket{" + labels + ",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("_sum{" + labels + "} 20.030100000\n"));
  EXPECT_THAT(text, HasSubstr("_count{" + labels + "} 3\n"));
}

TEST(HttpMetricsTest, ManyDistinctCodesOverflowIntoOther) {
  HttpMetrics metrics;
  int series = metrics.AddSeries("/x", "GET");
  for (int code = 200; code < 215; ++code) metrics.Record(series, code, std::chrono::seconds(0));
  std::string text;
  metrics.AppendPrometheus(&text);
  EXPECT_THAT(text, HasSubstr("code=\"other\"} 5\n"));
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(WorkerPoolTest, RunsEveryTaskFromManyProducersAndJoinDrainsTheQueue) {
  std::atomic<int> ran{0};
  std::atomic<int> started_threads{0};
  {
    WorkerPool pool(3, [&] { ++started_threads; });
    std::vector<std::thread> producers;
    for (int producer_idx = 0; producer_idx < 4; ++producer_idx) {
      producers.emplace_back([&] {
        for (int task_idx = 0; task_idx < 2000; ++task_idx) pool.Post([&] { ++ran; });
      });
    }
    for (std::thread& producer : producers) producer.join();
    pool.Join();
    EXPECT_EQ(ran.load(), 8000);
    pool.Post([&] { ++ran; });  // after Join: dropped
    pool.Join();
  }
  EXPECT_EQ(ran.load(), 8000);
  EXPECT_EQ(started_threads.load(), 3);
}

TEST(WorkerPoolTest, SlowTaskDoesNotDelayTheNextOne) {
  WorkerPool pool(2);
  absl::Notification release;
  absl::Notification second_ran;
  pool.Post([&] { release.WaitForNotificationWithTimeout(absl::Seconds(20)); });
  pool.Post([&] { second_ran.Notify(); });
  EXPECT_TRUE(second_ran.WaitForNotificationWithTimeout(absl::Seconds(20)));
  release.Notify();
}

TEST_F(HttpServerTest, ThrowingHandlerGets500Json) {
  router_.Add("GET", "/throw", [](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("boom");
  });
  router_.Add("GET", "/throw-int", [](const HttpRequest&) -> HttpResponse { throw 42; });
  StartServer();
  TestClient client(port());
  for (const char* target : {"/throw", "/throw-int"}) {
    Reply reply = client.Request("GET", target);
    EXPECT_EQ(reply.status, 500) << target;
    EXPECT_EQ((*ParseJson(reply.body))["error_code"], "INTERNAL_ERROR") << target;
  }
  EXPECT_EQ(client.Request("GET", "/hello").status, 200);
}

TEST_F(HttpServerTest, HandlersRunOffTheIoThreadsUnlessInline) {
  std::atomic<std::thread::id> worker_thread{};
  std::atomic<std::thread::id> inline_thread{};
  router_.Add("GET", "/worker", [&](const HttpRequest&) {
    worker_thread = std::this_thread::get_id();
    // While this handler blocks, an inline route on another connection still answers.
    return JsonResponse("{}");
  });
  absl::Notification release;
  absl::Notification entered;
  router_.Add("GET", "/block", [&](const HttpRequest&) {
    entered.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(20));
    return JsonResponse("{}");
  });
  router_.Add(
      "GET", "/inline",
      [&](const HttpRequest&) {
        inline_thread = std::this_thread::get_id();
        return JsonResponse("{}");
      },
      RouteOptions{.inline_handler = true});
  ServerOptions options;
  options.io_threads = 1;
  StartServer(options);
  std::thread blocked([&] { TestClient(port()).Request("GET", "/block"); });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(20)));
  TestClient client(port());
  EXPECT_EQ(client.Request("GET", "/inline").status, 200);
  EXPECT_EQ(client.Request("GET", "/worker").status, 200);
  EXPECT_EQ(client.Request("GET", "/healthz").status, 200);
  release.Notify();
  blocked.join();
  EXPECT_NE(worker_thread.load(), inline_thread.load());
}

TEST_F(HttpServerTest, InlineWhenRunsTheRequestsItAcceptsOnTheIoThread) {
  std::atomic<std::thread::id> io_thread{};
  router_.Add(
      "GET", "/inline",
      [&](const HttpRequest&) {
        io_thread = std::this_thread::get_id();
        return JsonResponse("{}");
      },
      RouteOptions{.inline_handler = true});
  absl::Mutex mu;
  std::map<std::string, std::thread::id> ran_on;
  std::vector<std::string> asked;  // what inline_when saw, in order
  RouteOptions options{.pool = HandlerPool::kPredict};
  options.inline_when = [&](const HttpRequest& r) {
    const std::string* mode = r.PathParam("mode");
    absl::MutexLock lock(&mu);
    asked.push_back(mode == nullptr ? "(none)" : absl::StrCat(*mode, ":", r.body));
    return mode != nullptr && (*mode == "fast" || *mode == "changed");
  };
  router_.Add(
      "POST", "/predict/{mode}",
      [&](const HttpRequest& r) {
        const std::string mode = *r.PathParam("mode");
        absl::MutexLock lock(&mu);
        if (mode == "changed" && r.on_io_thread) {
          ran_on["changed-inline"] = std::this_thread::get_id();
          HttpResponse elsewhere = JsonResponse("{\"inline\": true}");
          elsewhere.run_on_pool = true;  // "not here after all"
          return elsewhere;
        }
        ran_on[mode] = std::this_thread::get_id();
        return JsonResponse(absl::StrCat("{\"on_io_thread\": ", r.on_io_thread, "}"));
      },
      std::move(options));
  ServerOptions server_options;
  server_options.io_threads = 1;
  StartServer(server_options);
  TestClient client(port());
  ASSERT_EQ(client.Request("GET", "/inline").status, 200);
  ASSERT_EQ(client.Request("POST", "/predict/fast", "{\"a\":1}").status, 200);
  ASSERT_EQ(client.Request("POST", "/predict/slow", "{\"b\":2}").status, 200);
  // Accepted inline, but the handler answers run_on_pool: it runs again on the pool,
  // and only that answer is sent.
  Reply changed = client.Request("POST", "/predict/changed", "{\"c\":3}");
  ASSERT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body, "{\"on_io_thread\": 0}");
  absl::MutexLock lock(&mu);
  // Asked once per request, with the path parameters filled and the body read.
  EXPECT_EQ(asked, (std::vector<std::string>{"fast:{\"a\":1}", "slow:{\"b\":2}",
                                             "changed:{\"c\":3}"}));
  EXPECT_EQ(ran_on["fast"], io_thread.load());  // the one I/O thread
  EXPECT_NE(ran_on["slow"], io_thread.load());  // a thread of the predict pool
  EXPECT_EQ(ran_on["changed-inline"], io_thread.load());
  EXPECT_NE(ran_on["changed"], io_thread.load());
}

TEST_F(HttpServerTest, StopLetsInFlightHandlerFinishThenWaitReturns) {
  absl::Notification entered;
  absl::Notification release;
  std::atomic<bool> handler_finished{false};
  router_.Add("GET", "/slow", [&](const HttpRequest&) {
    entered.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(20));
    handler_finished = true;
    return JsonResponse("{\"slow\":true}");
  });
  StartServer();
  TestClient idle(port());
  ASSERT_EQ(idle.Request("GET", "/hello").status, 200);

  Reply slow_reply;
  std::thread slow_client([&] { slow_reply = TestClient(port()).Request("GET", "/slow"); });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(20)));

  std::atomic<bool> stop_returned{false};
  std::atomic<bool> finished_before_stop_returned{false};
  std::thread stopper([&] {
    server_->Stop();
    finished_before_stop_returned = handler_finished.load();
    stop_returned = true;
  });
  // The idle keep-alive connection is closed while the slow request is still running.
  EXPECT_TRUE(idle.ClosedByPeer());
  EXPECT_FALSE(stop_returned.load());
  release.Notify();
  slow_client.join();
  EXPECT_EQ(slow_reply.status, 200);
  EXPECT_EQ(slow_reply.body, "{\"slow\":true}");
  EXPECT_EQ(slow_reply.headers["connection"], "close");
  server_->Wait();
  stopper.join();
  EXPECT_TRUE(finished_before_stop_returned.load());
  // Stopped: no longer accepting, and Stop is idempotent.
  EXPECT_FALSE(TestClient(port()).connected());
  server_->Stop();
  server_->Wait();
}

TEST_F(HttpServerTest, StopFromInsideAHandlerDoesNotDeadlock) {
  HttpServer* server = nullptr;
  router_.Add("POST", "/shutdown", [&](const HttpRequest&) {
    server->Stop();
    return JsonResponse("{}");
  });
  StartServer();
  server = server_.get();
  EXPECT_EQ(TestClient(port()).Request("POST", "/shutdown").status, 200);
  server_->Wait();
}

TEST_F(HttpServerTest, SigtermStopsTheServer) {
  StartServer();
  server_->StopOnSignals();
  std::raise(SIGTERM);
  server_->Wait();
  EXPECT_FALSE(TestClient(port()).connected());
}

TEST_F(HttpServerTest, ManyConcurrentClientsAllGet200) {
  StartServer();
  constexpr int kClients = 32;
  constexpr int kRequestsPerClient = 50;
  std::atomic<int> ok_count{0};
  std::vector<std::thread> clients;
  for (int client_idx = 0; client_idx < kClients; ++client_idx) {
    clients.emplace_back([&, client_idx] {
      TestClient client(port());
      for (int request_idx = 0; request_idx < kRequestsPerClient; ++request_idx) {
        std::string body = std::to_string(client_idx) + ":" + std::to_string(request_idx);
        Reply reply = client.Request("POST", "/echo", body);
        if (reply.status == 200 && (*ParseJson(reply.body))["body"] == body) ++ok_count;
      }
    });
  }
  for (std::thread& thread : clients) thread.join();
  EXPECT_EQ(ok_count.load(), kClients * kRequestsPerClient);
}

TEST_F(HttpServerTest, StartFailsClearlyWhenThePortIsTaken) {
  StartServer();
  ServerOptions options;
  options.port = port();
  HttpServer second(options, Router());
  absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr(std::to_string(port())));
  second.Wait();  // never started: returns at once
}

TEST(HttpServerStartTest, UnresolvableHostIsInvalidArgument) {
  ServerOptions options;
  options.host = "no-such-host.invalid";
  HttpServer server(options, Router());
  EXPECT_EQ(server.Start().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpServerStartTest, StartTwiceIsFailedPrecondition) {
  ServerOptions options;
  options.access_log = false;
  HttpServer server(options, Router());
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.Start().code(), absl::StatusCode::kFailedPrecondition);
  server.Stop();
}

}  // namespace
}  // namespace cairn::api

namespace cairn::api {
namespace {

// Counts producer calls and notes when the producer (and what it captured) is destroyed.
struct ProducerProbe {
  std::atomic<int> calls{0};
  absl::Notification destroyed;
};

class DestroyNotifier {
 public:
  explicit DestroyNotifier(std::shared_ptr<ProducerProbe> probe) : probe_(std::move(probe)) {}
  ~DestroyNotifier() { probe_->destroyed.Notify(); }

 private:
  std::shared_ptr<ProducerProbe> probe_;
};

// A producer of `pieces` pieces "piece-<n>\n", with an empty (nothing yet) call between
// each; then, when `endless`, nothing new forever.
StreamProducer CountingProducer(std::shared_ptr<ProducerProbe> probe, int pieces,
                                bool endless = false) {
  auto notifier = std::make_shared<DestroyNotifier>(probe);
  return [probe, notifier, pieces, endless, produced = 0](std::string* chunk) mutable
         -> absl::StatusOr<bool> {
    const int call = probe->calls.fetch_add(1) + 1;
    if (produced < pieces && call % 2 == 1) {
      absl::StrAppend(chunk, "piece-", produced, "\n");
      ++produced;
    }
    return endless || produced < pieces;
  };
}

TEST_F(HttpServerTest, StreamedResponseArrivesChunkedCompleteAndKeepAliveContinues) {
  auto probe = std::make_shared<ProducerProbe>();
  router_.Add("GET", "/stream", [probe](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "text/plain";
    response.headers.emplace_back("X-Extra", "yes");
    response.stream = CountingProducer(probe, 3);
    return response;
  });
  StartServer();
  TestClient client(port());
  Reply reply = client.Request("GET", "/stream");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["transfer-encoding"], "chunked");
  EXPECT_EQ(reply.headers.count("content-length"), 0u);
  EXPECT_EQ(reply.headers["content-type"], "text/plain");
  EXPECT_EQ(reply.headers["x-extra"], "yes");
  EXPECT_EQ(reply.body, "piece-0\npiece-1\npiece-2\n");
  // One chunk per produced piece; the empty calls sent nothing.
  EXPECT_THAT(reply.chunks, ::testing::ElementsAre("piece-0\n", "piece-1\n", "piece-2\n"));
  EXPECT_TRUE(probe->destroyed.WaitForNotificationWithTimeout(absl::Seconds(20)));
  // The same connection serves the next request.
  Reply next = client.Request("GET", "/hello");
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "{\"hi\":1}");
}

// HttpResponse::stream_length: the pieces go out as they are after a Content-Length (no
// chunked encoding) and the connection serves the next request; a producer that writes
// fewer or more bytes than announced has its connection closed (the client sees a short
// body, never a wrong one).
TEST_F(HttpServerTest, StreamWithALengthArrivesWithContentLengthAndKeepAliveContinues) {
  for (uint64_t length : {uint64_t{24}, uint64_t{30}, uint64_t{10}}) {
    SCOPED_TRACE(absl::StrCat("announced ", length, " of 24 bytes"));
    auto probe = std::make_shared<ProducerProbe>();
    Router router;
    router.Add("GET", "/hello", [](const HttpRequest&) { return JsonResponse("{}"); });
    router.Add("GET", "/stream", [probe, length](const HttpRequest&) {
      HttpResponse response;
      response.content_type = "text/plain";
      response.stream = CountingProducer(probe, 3);  // "piece-0\npiece-1\npiece-2\n"
      response.stream_length = length;
      return response;
    });
    router_ = std::move(router);
    StartServer();
    TestClient client(port());
    Reply reply = client.Request("GET", "/stream");
    EXPECT_TRUE(probe->destroyed.WaitForNotificationWithTimeout(absl::Seconds(20)));
    if (length == 24) {
      EXPECT_EQ(reply.status, 200);
      EXPECT_EQ(reply.headers["transfer-encoding"], "");  // absent: Read() looked it up
      EXPECT_EQ(reply.headers["content-length"], "24");
      EXPECT_EQ(reply.body, "piece-0\npiece-1\npiece-2\n");
      Reply next = client.Request("GET", "/hello");
      EXPECT_EQ(next.status, 200);
      EXPECT_EQ(next.body, "{}");
    } else {
      // The connection closed before the announced length arrived.
      EXPECT_EQ(reply.status, 0);
    }
    server_.reset();
  }
}

TEST_F(HttpServerTest, StreamedPieceIsSentBeforeTheProducerFinishes) {
  absl::Notification first_read;
  router_.Add("GET", "/stream", [&](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "text/plain";
    response.stream = [&, call = 0](std::string* chunk) mutable -> absl::StatusOr<bool> {
      ++call;
      if (call == 1) {
        chunk->append("first");
        return true;
      }
      // The client has the first piece while the producer is still going.
      if (!first_read.WaitForNotificationWithTimeout(absl::Seconds(20))) {
        return absl::DeadlineExceededError("the client never read the first piece");
      }
      chunk->append("second");
      return false;
    };
    return response;
  });
  StartServer();
  TestClient client(port());
  ASSERT_TRUE(client.Send(TestClient::RawRequest("GET", "/stream", "")));
  Reply head = client.ReadHead();
  ASSERT_EQ(head.status, 200);
  EXPECT_EQ(client.ReadChunk(), std::optional<std::string>("first"));
  first_read.Notify();
  EXPECT_EQ(client.ReadChunk(), std::optional<std::string>("second"));
  EXPECT_EQ(client.ReadChunk(), std::optional<std::string>(""));
}

TEST_F(HttpServerTest, ClientThatDisconnectsStopsTheProducer) {
  for (bool writing : {false, true}) {
    SCOPED_TRACE(writing ? "producer keeps writing" : "producer waits for data");
    auto probe = std::make_shared<ProducerProbe>();
    Router router;
    router.Add("GET", "/hello", [](const HttpRequest&) { return JsonResponse("{}"); });
    router.Add("GET", "/stream", [probe, writing](const HttpRequest&) {
      HttpResponse response;
      response.content_type = "text/plain";
      if (writing) {
        auto notifier = std::make_shared<DestroyNotifier>(probe);
        response.stream = [probe, notifier](std::string* chunk) -> absl::StatusOr<bool> {
          probe->calls.fetch_add(1);
          chunk->assign(4096, 'x');
          return true;
        };
      } else {
        response.stream = CountingProducer(probe, 1, /*endless=*/true);
      }
      return response;
    });
    router_ = std::move(router);
    StartServer();
    {
      TestClient client(port());
      ASSERT_TRUE(client.Send(TestClient::RawRequest("GET", "/stream", "")));
      ASSERT_EQ(client.ReadHead().status, 200);
      ASSERT_TRUE(client.ReadChunk().has_value());
      client.Disconnect();
    }
    EXPECT_TRUE(probe->destroyed.WaitForNotificationWithTimeout(absl::Seconds(20)));
    const int calls = probe->calls.load();
    // The server still serves others.
    EXPECT_EQ(TestClient(port()).Request("GET", "/hello").status, 200);
    EXPECT_EQ(probe->calls.load(), calls);
    server_.reset();
  }
}

TEST_F(HttpServerTest, ProducerErrorTruncatesTheStreamAndClosesTheConnection) {
  router_.Add("GET", "/stream", [](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "text/plain";
    response.stream = [call = 0](std::string* chunk) mutable -> absl::StatusOr<bool> {
      if (++call == 1) {
        chunk->append("partial");
        return true;
      }
      return absl::InternalError("disk on fire");
    };
    return response;
  });
  StartServer();
  TestClient client(port());
  ASSERT_TRUE(client.Send(TestClient::RawRequest("GET", "/stream", "")));
  ASSERT_EQ(client.ReadHead().status, 200);
  EXPECT_EQ(client.ReadChunk(), std::optional<std::string>("partial"));
  // No final chunk: the body is visibly incomplete.
  EXPECT_EQ(client.ReadChunk(), std::nullopt);
}

TEST_F(HttpServerTest, StopEndsAnOpenStreamAndDestroysItsProducer) {
  auto probe = std::make_shared<ProducerProbe>();
  router_.Add("GET", "/stream", [probe](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "text/plain";
    response.stream = CountingProducer(probe, 1, /*endless=*/true);
    return response;
  });
  StartServer();
  TestClient client(port());
  ASSERT_TRUE(client.Send(TestClient::RawRequest("GET", "/stream", "")));
  ASSERT_EQ(client.ReadHead().status, 200);
  ASSERT_EQ(client.ReadChunk(), std::optional<std::string>("piece-0\n"));
  server_->Stop();
  server_->Wait();
  EXPECT_TRUE(probe->destroyed.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_EQ(client.ReadChunk(), std::nullopt);
}

TEST_F(HttpServerTest, StreamedRequestIsCountedInMetricsOnce) {
  auto probe = std::make_shared<ProducerProbe>();
  router_.Add("GET", "/stream", [probe](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "text/plain";
    response.stream = CountingProducer(probe, 2);
    return response;
  });
  StartServer();
  TestClient client(port());
  ASSERT_EQ(client.Request("GET", "/stream").body, "piece-0\npiece-1\n");
  Reply metrics = client.Request("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_requests_total{route=\"/stream\","
                                      "method=\"GET\",code=\"200\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_request_duration_seconds_count{route=\"/stream\","
                                      "method=\"GET\"} 1\n"));
}

// The value of one /metrics sample line (`name{labels}`), or -1 when it is not there.
int64_t MetricValue(int port, std::string_view sample) {
  Reply reply = TestClient(port).Request("GET", "/metrics");
  const std::string prefix = std::string(sample) + " ";
  size_t pos = reply.body.find(prefix);
  if (reply.status != 200 || pos == std::string::npos) return -1;
  return std::stoll(reply.body.substr(pos + prefix.size()));
}

TEST(WorkerPoolTest, TryPostRefusesBeyondTheBacklogAndRunsWhatItAccepted) {
  WorkerPool pool(1);
  absl::Notification entered;
  absl::Notification release;
  std::atomic<int> ran{0};
  pool.Post([&] {
    entered.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(20));
  });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_TRUE(pool.TryPost([&] { ++ran; }, 2));
  EXPECT_TRUE(pool.TryPost([&] { ++ran; }, 2));
  EXPECT_EQ(pool.waiting(), 2u);
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> weak = token;
  EXPECT_FALSE(pool.TryPost([&ran, token = std::move(token)] { ++ran; }, 2));
  EXPECT_TRUE(weak.expired()) << "a refused task is destroyed at once";
  EXPECT_EQ(pool.refused(), 1u);
  pool.Post([&] { ++ran; });  // Post is never refused
  EXPECT_EQ(pool.waiting(), 3u);
  release.Notify();
  pool.Join();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_EQ(pool.waiting(), 0u);
}

TEST(WorkerPoolTest, TryPostCountsOnlyTasksThatNoIdleWorkerWillTake) {
  WorkerPool pool(2);
  absl::Notification release;
  std::atomic<int> entered{0};
  auto block = [&] {
    ++entered;
    release.WaitForNotificationWithTimeout(absl::Seconds(20));
  };
  // Nothing may wait, but two workers are idle: both tasks are taken, whether or not a
  // worker has picked the first one up yet.
  EXPECT_TRUE(pool.TryPost(block, 0));
  EXPECT_TRUE(pool.TryPost(block, 0));
  EXPECT_FALSE(pool.TryPost(block, 0));
  ASSERT_TRUE(WaitFor([&] { return entered.load() == 2; }));
  EXPECT_EQ(pool.waiting(), 0u);
  EXPECT_TRUE(pool.TryPost(block, 1));
  EXPECT_EQ(pool.waiting(), 1u);
  release.Notify();
  pool.Join();
  EXPECT_EQ(entered.load(), 3);
  EXPECT_EQ(pool.refused(), 1u);
}

// A blocking route whose handlers wait for `release` and count themselves in `entered`.
struct Gate {
  std::atomic<int> entered{0};
  absl::Notification release;
  Handler Blocking(std::string body) {
    return [this, body = std::move(body)](const HttpRequest&) {
      ++entered;
      release.WaitForNotificationWithTimeout(absl::Seconds(20));
      return JsonResponse(body);
    };
  }
};

TEST_F(HttpServerTest, FullBacklogGets429WithRetryAfterAtOnceAndTheConnectionStaysUsable) {
  Gate gate;
  router_.Add("GET", "/slow", gate.Blocking("{\"slow\":true}"));
  std::atomic<int> uploads{0};
  router_.Add(
      "PUT", "/upload",
      [&](const HttpRequest&) {
        ++uploads;
        return JsonResponse("{}");
      },
      RouteOptions{.stream_request_body = true});
  ServerOptions options;
  options.worker_threads = 1;
  options.max_backlog = 2;
  StartServer(options);

  std::vector<Reply> slow_replies(3);
  std::vector<std::thread> slow_clients;
  slow_clients.emplace_back([&] { slow_replies[0] = TestClient(port()).Request("GET", "/slow"); });
  ASSERT_TRUE(WaitFor([&] { return gate.entered.load() == 1; }));
  for (int client_idx = 1; client_idx < 3; ++client_idx) {
    slow_clients.emplace_back(
        [&, client_idx] { slow_replies[client_idx] = TestClient(port()).Request("GET", "/slow"); });
  }
  ASSERT_TRUE(WaitFor(
      [&] { return MetricValue(port(), "cairn_http_handlers_waiting{pool=\"default\"}") == 2; }));

  // The backlog is full: refused at once, without running the handler.
  TestClient client(port());
  Reply busy = client.Request("GET", "/slow");
  EXPECT_EQ(busy.status, 429);
  EXPECT_EQ(busy.headers["retry-after"], "1");
  EXPECT_EQ(busy.headers["content-type"], "application/json");
  EXPECT_EQ(*ParseJson(busy.body), Json::parse(R"({"error_code": "REQUEST_LIMIT_EXCEEDED",
                            "message": "server busy: 2 requests waiting; retry after 1 s"})"));
  // A streamed upload is refused too, and its temporary file removed.
  Reply busy_upload = client.Request("PUT", "/upload", "some bytes");
  EXPECT_EQ(busy_upload.status, 429);
  EXPECT_TRUE(std::filesystem::is_empty(tmp_dir_));
  // The connection stays open; the built-in routes still answer.
  EXPECT_EQ(client.Request("GET", "/healthz").status, 200);
  Reply metrics = client.Request("GET", "/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_handlers_max_waiting{pool=\"default\"} 2\n"));
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_handlers_refused_total{pool=\"default\"} 2\n"));
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_requests_total{route=\"/slow\",method=\"GET\","
                                      "code=\"429\"} 1\n"));
  EXPECT_EQ(gate.entered.load(), 1);
  EXPECT_EQ(uploads.load(), 0);

  gate.release.Notify();
  for (std::thread& slow_client : slow_clients) slow_client.join();
  for (const Reply& reply : slow_replies) {
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body, "{\"slow\":true}");
  }
  EXPECT_EQ(gate.entered.load(), 3);
  // Room again: the same connection is served.
  EXPECT_EQ(client.Request("GET", "/slow").status, 200);
  EXPECT_EQ(client.Request("PUT", "/upload", "some bytes").status, 200);
  EXPECT_EQ(uploads.load(), 1);
}

TEST_F(HttpServerTest, PredictRoutesRunOnTheirOwnPoolAndTheOtherRoutesStayResponsive) {
  Gate gate;
  router_.Add("POST", "/predict/{name}", gate.Blocking("{\"predictions\":[1]}"),
              RouteOptions{.pool = HandlerPool::kPredict});
  router_.Add("GET", "/registry", [](const HttpRequest&) { return JsonResponse("{\"ok\":1}"); });
  ServerOptions options;
  options.worker_threads = 1;
  options.predict_threads = 2;
  options.predict_max_backlog = 1;
  StartServer(options);

  std::vector<Reply> replies(3);
  std::vector<std::thread> clients;
  for (int client_idx = 0; client_idx < 2; ++client_idx) {
    clients.emplace_back([&, client_idx] {
      replies[client_idx] = TestClient(port()).Request("POST", "/predict/m", "{}");
    });
  }
  // Both predict threads are held (more than the default pool's one thread).
  ASSERT_TRUE(WaitFor([&] { return gate.entered.load() == 2; }));
  clients.emplace_back(
      [&] { replies[2] = TestClient(port()).Request("POST", "/predict/m", "{}"); });
  ASSERT_TRUE(WaitFor(
      [&] { return MetricValue(port(), "cairn_http_handlers_waiting{pool=\"predict\"}") == 1; }));

  TestClient client(port());
  Reply busy = client.Request("POST", "/predict/m", "{}");
  EXPECT_EQ(busy.status, 429);
  EXPECT_EQ(busy.headers["retry-after"], "1");
  EXPECT_EQ((*ParseJson(busy.body))["message"], "server busy: 1 requests waiting; retry after 1 s");
  // While every predict thread is blocked, the other routes answer on their own pool.
  for (int round = 0; round < 3; ++round) {
    Reply registry = client.Request("GET", "/registry");
    EXPECT_EQ(registry.status, 200);
    EXPECT_EQ(registry.body, "{\"ok\":1}");
    EXPECT_EQ(client.Request("GET", "/healthz").status, 200);
  }
  Reply metrics = client.Request("GET", "/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_handlers_waiting{pool=\"default\"} 0\n"));
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_handlers_max_waiting{pool=\"predict\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_handlers_refused_total{pool=\"predict\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_handlers_refused_total{pool=\"default\"} 0\n"));
  EXPECT_EQ(gate.entered.load(), 2);

  gate.release.Notify();
  for (std::thread& predict_client : clients) predict_client.join();
  for (const Reply& reply : replies) {
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body, "{\"predictions\":[1]}");
  }
  EXPECT_EQ(gate.entered.load(), 3);
}

TEST_F(HttpServerTest, DefaultBacklogsAre64RequestsPerThread) {
  StartServer();  // 4 worker threads, no predict route: no predict pool
  Reply metrics = TestClient(port()).Request("GET", "/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_handlers_max_waiting{pool=\"default\"} 256\n"));
  EXPECT_THAT(metrics.body, ::testing::Not(HasSubstr("pool=\"predict\"")));
  server_.reset();

  router_ = Router();
  router_.Add(
      "POST", "/predict", [](const HttpRequest&) { return JsonResponse("{}"); },
      RouteOptions{.pool = HandlerPool::kPredict});
  StartServer();
  TestClient client(port());
  EXPECT_EQ(client.Request("POST", "/predict", "{}").status, 200);
  metrics = client.Request("GET", "/metrics");
  // 32 predict threads by default.
  EXPECT_THAT(metrics.body, HasSubstr("cairn_http_handlers_max_waiting{pool=\"predict\"} 2048\n"));
}

TEST(DrainStreamTest, CollectsEveryPieceIntoTheBody) {
  HttpResponse response;
  auto probe = std::make_shared<ProducerProbe>();
  response.stream = CountingProducer(probe, 2);
  ASSERT_TRUE(DrainStream(&response).ok());
  EXPECT_EQ(response.body, "piece-0\npiece-1\n");
  EXPECT_FALSE(response.stream);
  EXPECT_TRUE(probe->destroyed.HasBeenNotified());
}

}  // namespace
}  // namespace cairn::api
