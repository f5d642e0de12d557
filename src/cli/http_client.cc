#include "cli/http_client.h"

#include <curl/curl.h>

#include <cctype>
#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace cairn::cli {
namespace {

size_t AppendToString(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// "Name: value\r\n" → (lowercased name, value); a status line starts a new response.
size_t AppendHeader(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(user);
  std::string_view line(data, size * count);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    headers->clear();
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    headers->emplace_back(std::move(name), std::string(value));
  }
  return size * count;
}

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(int timeout_seconds) : timeout_seconds_(timeout_seconds) {
    static std::once_flag init_once;
    std::call_once(init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  absl::StatusOr<HttpReply> Send(const HttpCall& call) override {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : call.headers) {
      headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
    }
    FILE* upload = nullptr;
    if (!call.body_file.empty()) {
      upload = std::fopen(call.body_file.c_str(), "rb");
      if (upload == nullptr) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        return absl::NotFoundError(absl::StrCat(call.body_file, ": cannot open for reading"));
      }
      headers = curl_slist_append(
          headers, absl::StrCat("Content-Type: ", call.content_type.empty()
                                                      ? "application/octet-stream"
                                                      : call.content_type)
                       .c_str());
      // Large uploads: no "Expect: 100-continue" round trip.
      headers = curl_slist_append(headers, "Expect:");
    } else if (!call.body.empty()) {
      headers = curl_slist_append(headers, "Content-Type: application/json");
    }
    HttpReply reply;
    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, call.url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
    if (upload != nullptr) {
      std::fseek(upload, 0, SEEK_END);
      curl_off_t size = std::ftell(upload);
      std::fseek(upload, 0, SEEK_SET);
      curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(curl, CURLOPT_READDATA, upload);
      curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, size);
    } else if (!call.body.empty() || call.method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(call.body.size()));
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendToString);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &AppendHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(timeout_seconds_));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (upload != nullptr) std::fclose(upload);
    if (rc != CURLE_OK) {
      return absl::UnavailableError(error_buffer[0] != '\0' ? std::string(error_buffer)
                                                            : std::string(curl_easy_strerror(rc)));
    }
    reply.status = static_cast<int>(status);
    return reply;
  }

 private:
  int timeout_seconds_;
};

absl::StatusCode CodeForHttpStatus(int status) {
  switch (status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kAlreadyExists;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 503:
      return absl::StatusCode::kUnavailable;
    default:
      return status >= 500 ? absl::StatusCode::kInternal : absl::StatusCode::kUnknown;
  }
}

absl::Status ErrorFromReply(const HttpReply& reply) {
  std::string message;
  absl::StatusOr<Json> parsed = ParseJson(reply.body);
  if (parsed.ok() && parsed->is_object() && parsed->contains("message")) {
    const Json& code = (*parsed)["error_code"];
    const Json& text = (*parsed)["message"];
    message = absl::StrCat(code.is_string() ? code.get<std::string>() : "ERROR", ": ",
                           text.is_string() ? text.get<std::string>() : text.dump());
  } else {
    message = absl::StrCat("HTTP ", reply.status, ": ", reply.body.substr(0, 200));
  }
  return absl::Status(CodeForHttpStatus(reply.status), message);
}

}  // namespace

std::unique_ptr<HttpTransport> NewCurlTransport(int timeout_seconds) {
  return std::make_unique<CurlTransport>(timeout_seconds);
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char ch : text) {
    const bool unreserved = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                            (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
                            ch == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(kHex[ch >> 4]);
      out.push_back(kHex[ch & 0xF]);
    }
  }
  return out;
}

std::string EncodeQuery(const QueryList& query) {
  std::string out;
  for (const auto& [key, value] : query) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, UrlEncode(key), "=", UrlEncode(value));
  }
  return out;
}

ApiClient::ApiClient(std::string base_url, HttpTransport& transport)
    : base_url_(std::move(base_url)), transport_(transport) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

absl::StatusOr<Json> ApiClient::MlflowGet(std::string_view path, const QueryList& query) {
  return Send("GET", absl::StrCat("/api/2.0/mlflow/", std::string(path)), query, nullptr, {});
}

absl::StatusOr<Json> ApiClient::MlflowPost(std::string_view path, const Json& body,
                                           const HeaderList& headers) {
  return Send("POST", absl::StrCat("/api/2.0/mlflow/", std::string(path)), {}, &body, headers);
}

absl::StatusOr<Json> ApiClient::Get(std::string_view absolute_path, const QueryList& query) {
  return Send("GET", absolute_path, query, nullptr, {});
}

absl::StatusOr<Json> ApiClient::Send(std::string_view method, std::string_view absolute_path,
                                     const QueryList& query, const Json* body,
                                     const HeaderList& headers) {
  HttpCall call;
  call.method = std::string(method);
  call.url = absl::StrCat(base_url_, std::string(absolute_path));
  if (!query.empty()) absl::StrAppend(&call.url, "?", EncodeQuery(query));
  call.headers = headers;
  if (body != nullptr) call.body = DumpJson(*body);
  absl::StatusOr<HttpReply> reply = transport_.Send(call);
  if (!reply.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach Cairn at ", base_url_, ": ", reply.status().message()));
  }
  if (reply->status >= 400 || reply->status < 200) return ErrorFromReply(*reply);
  absl::StatusOr<Json> parsed = ParseJson(reply->body);
  if (!parsed.ok()) {
    return absl::InternalError(absl::StrCat("the server at ", base_url_,
                                            " answered with invalid JSON: ",
                                            parsed.status().message()));
  }
  return parsed;
}

absl::StatusOr<Json> ApiClient::PostFile(std::string_view absolute_path, const QueryList& query,
                                         const std::string& file_path) {
  HttpCall call;
  call.method = "POST";
  call.url = absl::StrCat(base_url_, std::string(absolute_path));
  if (!query.empty()) absl::StrAppend(&call.url, "?", EncodeQuery(query));
  call.body_file = file_path;
  absl::StatusOr<HttpReply> reply = transport_.Send(call);
  if (!reply.ok()) {
    if (reply.status().code() == absl::StatusCode::kNotFound) return reply.status();
    return absl::UnavailableError(
        absl::StrCat("cannot reach Cairn at ", base_url_, ": ", reply.status().message()));
  }
  if (reply->status >= 400 || reply->status < 200) return ErrorFromReply(*reply);
  absl::StatusOr<Json> parsed = ParseJson(reply->body);
  if (!parsed.ok()) {
    return absl::InternalError(absl::StrCat("the server at ", base_url_,
                                            " answered with invalid JSON: ",
                                            parsed.status().message()));
  }
  return parsed;
}

absl::StatusOr<HttpReply> ApiClient::PostRaw(std::string_view absolute_path, const Json& body) {
  HttpCall call;
  call.method = "POST";
  call.url = absl::StrCat(base_url_, std::string(absolute_path));
  call.body = DumpJson(body);
  absl::StatusOr<HttpReply> reply = transport_.Send(call);
  if (!reply.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach Cairn at ", base_url_, ": ", reply.status().message()));
  }
  if (reply->status >= 400 || reply->status < 200) return ErrorFromReply(*reply);
  return reply;
}

}  // namespace cairn::cli
