#pragma once
// The CLI's HTTP client: a small transport seam (libcurl in production, a fake in tests)
// and ApiClient, which speaks Cairn's JSON APIs (MLflow's /api/2.0/mlflow/… and Cairn's
// /api/v1/…) and turns transport failures and error bodies into absl::Status.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/json.h"

namespace cairn::cli {

using HeaderList = std::vector<std::pair<std::string, std::string>>;
using QueryList = std::vector<std::pair<std::string, std::string>>;

struct HttpCall {
  std::string method;  // GET | POST | PATCH | DELETE
  std::string url;     // absolute, query string included
  HeaderList headers;
  std::string body;  // sent when non-empty (as application/json)
  // When set, the body is streamed from this file instead (never held in memory), with
  // `content_type` (default application/octet-stream).
  std::string body_file;
  std::string content_type;
};

struct HttpReply {
  int status = 0;
  std::string body;
  // The response's headers as received, names lowercased (the last response's, after a
  // 100 Continue).
  std::vector<std::pair<std::string, std::string>> headers;

  // The value of header `name` (lowercase), or nullptr.
  const std::string* Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return &value;
    }
    return nullptr;
  }
};

// Sends one request and returns the reply, whatever its HTTP status. Unavailable when no
// reply came back (connection refused, DNS failure, timeout), with the transport's reason.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual absl::StatusOr<HttpReply> Send(const HttpCall& call) = 0;
};

// libcurl; one easy handle per call. `timeout_seconds` bounds each whole request.
std::unique_ptr<HttpTransport> NewCurlTransport(int timeout_seconds = 60);

// Percent-encodes everything except RFC 3986's unreserved characters.
std::string UrlEncode(std::string_view text);

// "a=1&b=x%20y" from the pairs, in order.
std::string EncodeQuery(const QueryList& query);

// A JSON client bound to one server. Not thread-safe (the CLI is single-threaded).
class ApiClient {
 public:
  // `base_url` like "http://127.0.0.1:5000" (a trailing '/' is ignored). `transport`
  // must outlive the client.
  ApiClient(std::string base_url, HttpTransport& transport);

  // MLflow's API: `path` is relative to /api/2.0/mlflow/ ("runs/search").
  absl::StatusOr<Json> MlflowGet(std::string_view path, const QueryList& query);
  absl::StatusOr<Json> MlflowPost(std::string_view path, const Json& body,
                                  const HeaderList& headers = {});
  // Any path below the server root ("/api/v1/models/churn/alias-history").
  absl::StatusOr<Json> Get(std::string_view absolute_path, const QueryList& query);

  // Errors:
  //  - no reply: Unavailable "cannot reach Cairn at <base_url>: <reason>";
  //  - HTTP status >= 400: the code that matches the status (404 → NotFound, 400 →
  //    InvalidArgument, 409 → AlreadyExists, 401/403, 429, 5xx → Unavailable/Internal)
  //    and the message "<error_code>: <message>" from the server's error body (or the
  //    body's first 200 bytes when it is not JSON);
  //  - a 2xx reply that is not JSON: Internal.
  absl::StatusOr<Json> Send(std::string_view method, std::string_view absolute_path,
                            const QueryList& query, const Json* body,
                            const HeaderList& headers);

  // POSTs the file at `file_path` as the raw request body (streamed) and parses the JSON
  // reply; errors as Send.
  absl::StatusOr<Json> PostFile(std::string_view absolute_path, const QueryList& query,
                                const std::string& file_path);

  // Like Send with a JSON body, but returns the raw reply body (for CSV answers).
  absl::StatusOr<HttpReply> PostRaw(std::string_view absolute_path, const Json& body);

  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  HttpTransport& transport_;
};

}  // namespace cairn::cli
