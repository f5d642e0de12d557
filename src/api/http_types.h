#pragma once
// HTTP request and response as the handlers see them: plain structs, no Beast types, so
// handler files stay light to compile and easy to test without a socket.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn::api {

struct HttpRequest {
  std::string method;  // "GET", "POST", …
  std::string target;  // as received: path plus query string
  std::string path;    // percent-decoded path, without the query string
  // Percent-decoded query parameters in order; a key may repeat (run_ids=a&run_ids=b).
  std::vector<std::pair<std::string, std::string>> query;
  // Header names lowercased.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // For routes registered with RouteOptions::stream_request_body: the body was written to
  // this temporary file (and `body` is empty). The handler may rename it; the server
  // removes it afterwards if it still exists.
  std::string body_file;
  // Captured by the router: values of {name} segments and of a trailing {*rest}.
  std::vector<std::pair<std::string, std::string>> path_params;
  std::string remote_address;
  // True while the handler runs on an I/O thread (RouteOptions::inline_when accepted the
  // request): it must not block, and may answer HttpResponse::run_on_pool instead.
  bool on_io_thread = false;

  // First value of the query parameter / header / path parameter, or nullptr.
  const std::string* QueryParam(std::string_view key) const;
  std::vector<std::string> QueryParams(std::string_view key) const;
  const std::string* Header(std::string_view lowercase_name) const;
  const std::string* PathParam(std::string_view key) const;
};

// Produces a streamed response body piece by piece. Each call appends the next piece to
// `*chunk` (which the caller empties first) and returns true while more may follow, false
// after the last piece. Appending nothing and returning true means "nothing new yet": the
// server calls again after a short pause (kStreamIdlePauseMs), without holding a thread.
// An error ends the response abruptly (headers are already sent: the connection is closed
// without the final chunk, so the client sees a truncated body) and is logged.
// The server calls it on a worker thread, one call at a time, never on an I/O thread; each
// call should return promptly (well under a second), since the server notices a client that
// went away or its own shutdown only between calls — and then stops calling and destroys
// the producer.
using StreamProducer = std::function<absl::StatusOr<bool>(std::string* chunk)>;

// How long the server waits before calling a StreamProducer again after it produced nothing.
inline constexpr int kStreamIdlePauseMs = 100;

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When not empty, the server streams this file as the body (and ignores `body`).
  std::string file_path;
  // When set, the body is streamed from this producer with HTTP/1.1 chunked transfer
  // encoding, each piece sent as soon as it is produced (and `body`/`file_path` are
  // ignored). HTTP/1.0 clients get the raw pieces and the connection closes at the end.
  StreamProducer stream;
  // With `stream`: the body's exact length in bytes. The server then sends a Content-Length
  // header and the pieces as they are (no chunked encoding); a producer that writes more or
  // fewer bytes ends the response abruptly (the connection is closed).
  std::optional<uint64_t> stream_length;
  std::vector<std::pair<std::string, std::string>> headers;
  // From a handler running on an I/O thread (HttpRequest::on_io_thread): "not here" — the
  // server runs the handler again on the route's pool and ignores the rest of this
  // response. Ignored elsewhere. Not for routes with stream_request_body.
  bool run_on_pool = false;
};

// For in-process callers (Router::Dispatch in tests): runs `response->stream` to the end
// (pausing kStreamIdlePauseMs after an empty piece), appends everything to `response->body`
// and clears `stream`. No-op without a stream. The producer's error is returned, and an
// InternalError when `stream_length` is set and the producer wrote another number of bytes.
absl::Status DrainStream(HttpResponse* response);

}  // namespace cairn::api
