#include "api/router.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/errors.h"
#include "common/strings.h"

namespace cairn::api {
namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  size_t begin = 0;
  while (true) {
    size_t slash = path.find('/', begin);
    segments.emplace_back(path.substr(begin, slash - begin));
    if (slash == std::string_view::npos) break;
    begin = slash + 1;
  }
  return segments;
}

bool IsLiteral(std::string_view pattern) { return pattern.find('{') == std::string_view::npos; }

bool IsCapture(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// Matches `path` against pre-split `pattern`; fills `params` on success.
bool MatchPattern(const std::vector<std::string>& pattern, std::string_view path,
                  std::vector<std::pair<std::string, std::string>>* params) {
  size_t pos = 0;  // start of the current path segment
  for (size_t seg_idx = 0; seg_idx < pattern.size(); ++seg_idx) {
    const std::string& p = pattern[seg_idx];
    if (IsCapture(p) && p[1] == '*') {
      params->emplace_back(p.substr(2, p.size() - 3),
                           std::string(pos <= path.size() ? path.substr(pos) : ""));
      return true;
    }
    if (pos > path.size()) return false;  // path has fewer segments than the pattern
    size_t slash = path.find('/', pos);
    std::string_view segment =
        path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (IsCapture(p)) {
      if (segment.empty()) return false;
      params->emplace_back(p.substr(1, p.size() - 2), std::string(segment));
    } else if (segment != p) {
      return false;
    }
    pos = slash == std::string_view::npos ? path.size() + 1 : slash + 1;
  }
  return pos == path.size() + 1;  // every path segment consumed
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  size_t route_idx = routes_.size();
  if (IsLiteral(pattern)) {
    literal_index_[pattern].push_back(route_idx);
  } else {
    patterns_.push_back(PatternRoute{route_idx, SplitPath(pattern)});
  }
  routes_.push_back(Route{std::move(method), std::move(pattern), std::move(handler), options});
}

void Router::AddMlflow(std::string method, std::string_view suffix, Handler handler,
                       RouteOptions options) {
  Add(method, absl::StrCat("/api/2.0/mlflow/", ToAbsl(suffix)), handler, options);
  Add(std::move(method), absl::StrCat("/ajax-api/2.0/mlflow/", ToAbsl(suffix)),
      std::move(handler), options);
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match match;
  bool path_known = false;
  if (auto literal = literal_index_.find(path); literal != literal_index_.end()) {
    for (size_t route_idx : literal->second) {
      if (routes_[route_idx].method == method) {
        match.route = &routes_[route_idx];
        return match;
      }
    }
    path_known = true;
  }
  for (const PatternRoute& pattern : patterns_) {
    const Route& route = routes_[pattern.route_idx];
    std::vector<std::pair<std::string, std::string>> params;
    if (!MatchPattern(pattern.segments, path, &params)) continue;
    if (route.method != method) {
      path_known = true;
      continue;
    }
    match.route = &route;
    match.path_params = std::move(params);
    return match;
  }
  match.method_not_allowed = path_known;
  return match;
}

HttpResponse Router::Dispatch(HttpRequest request) const {
  Match match = Find(request.method, request.path);
  if (match.route == nullptr) {
    return ErrorResponse(match.method_not_allowed ? 405 : 404, "ENDPOINT_NOT_FOUND",
                         absl::StrCat("No route for ", request.method, " ", request.path));
  }
  request.path_params = std::move(match.path_params);
  return match.route->handler(request);
}

}  // namespace cairn::api
