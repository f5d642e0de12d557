#include "api/http_types.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"

namespace cairn::api {
namespace {
const std::string* Find(const std::vector<std::pair<std::string, std::string>>& pairs,
                        std::string_view key) {
  for (const auto& [k, v] : pairs)
    if (k == key) return &v;
  return nullptr;
}
}  // namespace

const std::string* HttpRequest::QueryParam(std::string_view key) const { return Find(query, key); }
const std::string* HttpRequest::Header(std::string_view name) const { return Find(headers, name); }
const std::string* HttpRequest::PathParam(std::string_view key) const {
  return Find(path_params, key);
}
std::vector<std::string> HttpRequest::QueryParams(std::string_view key) const {
  std::vector<std::string> values;
  for (const auto& [k, v] : query)
    if (k == key) values.push_back(v);
  return values;
}

absl::Status DrainStream(HttpResponse* response) {
  if (!response->stream) return absl::OkStatus();
  StreamProducer producer = std::move(response->stream);
  response->stream = nullptr;
  const size_t start = response->body.size();
  std::string chunk;
  for (;;) {
    chunk.clear();
    absl::StatusOr<bool> more = producer(&chunk);
    if (!more.ok()) return more.status();
    response->body += chunk;
    if (!*more) {
      const uint64_t written = response->body.size() - start;
      if (response->stream_length.has_value() && written != *response->stream_length)
        return absl::InternalError(absl::StrCat("the stream producer wrote ", written,
                                                " bytes, not the announced ",
                                                *response->stream_length));
      return absl::OkStatus();
    }
    if (chunk.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(kStreamIdlePauseMs));
  }
}

}  // namespace cairn::api
