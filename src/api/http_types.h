#pragma once
// HTTP request and response as the handlers see them: plain structs, no Beast types, so
// handler files stay light to compile and easy to test without a socket.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

  // First value of the query parameter / header / path parameter, or nullptr.
  const std::string* QueryParam(std::string_view key) const;
  std::vector<std::string> QueryParams(std::string_view key) const;
  const std::string* Header(std::string_view lowercase_name) const;
  const std::string* PathParam(std::string_view key) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When not empty, the server streams this file as the body (and ignores `body`).
  std::string file_path;
  std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace cairn::api
