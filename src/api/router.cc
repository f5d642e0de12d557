#include "api/router.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/strings.h"

namespace cairn::api {
namespace {

// Matches `path` against `pattern`; fills `params` on success.
bool MatchPattern(std::string_view pattern, std::string_view path,
                  std::vector<std::pair<std::string, std::string>>* params) {
  std::vector<absl::string_view> pat = absl::StrSplit(ToAbsl(pattern), '/');
  std::vector<absl::string_view> segs = absl::StrSplit(ToAbsl(path), '/');
  for (size_t seg_idx = 0; seg_idx < pat.size(); ++seg_idx) {
    absl::string_view p = pat[seg_idx];
    if (absl::StartsWith(p, "{*") && absl::EndsWith(p, "}")) {
      std::string rest;
      for (size_t rest_idx = seg_idx; rest_idx < segs.size(); ++rest_idx) {
        if (rest_idx > seg_idx) rest += '/';
        rest.append(segs[rest_idx].data(), segs[rest_idx].size());
      }
      params->emplace_back(std::string(p.substr(2, p.size() - 3)), std::move(rest));
      return true;
    }
    if (seg_idx >= segs.size()) return false;
    if (absl::StartsWith(p, "{") && absl::EndsWith(p, "}")) {
      if (segs[seg_idx].empty()) return false;
      params->emplace_back(std::string(p.substr(1, p.size() - 2)), std::string(segs[seg_idx]));
    } else if (p != segs[seg_idx]) {
      return false;
    }
  }
  return pat.size() == segs.size();
}

bool IsLiteral(std::string_view pattern) { return pattern.find('{') == std::string_view::npos; }

}  // namespace

void Router::Add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  routes_.push_back(Route{std::move(method), std::move(pattern), std::move(handler), options});
}

void Router::AddMlflow(std::string method, std::string_view suffix, Handler handler,
                       RouteOptions options) {
  Add(method, absl::StrCat("/api/2.0/mlflow/", ToAbsl(suffix)), handler, options);
  Add(std::move(method), absl::StrCat("/ajax-api/2.0/mlflow/", ToAbsl(suffix)), std::move(handler),
      options);
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match best;
  bool path_known = false;
  // Two passes: literal routes first, then patterns, each in registration order.
  for (int pass = 0; pass < 2; ++pass) {
    for (const Route& route : routes_) {
      if (IsLiteral(route.pattern) != (pass == 0)) continue;
      std::vector<std::pair<std::string, std::string>> params;
      if (!MatchPattern(route.pattern, path, &params)) continue;
      if (route.method != method) {
        path_known = true;
        continue;
      }
      best.route = &route;
      best.path_params = std::move(params);
      return best;
    }
  }
  best.method_not_allowed = path_known;
  return best;
}

}  // namespace cairn::api
