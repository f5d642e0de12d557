#include "api/http_types.h"

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

}  // namespace cairn::api
