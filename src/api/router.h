#pragma once
// Maps (method, path) to a handler. Patterns are literal segments, `{name}` segments that
// match one segment, and a final `{*name}` that matches the rest of the path (possibly
// empty). Literal routes win over patterns; among patterns, the first registered wins.
// Literal routes are found by one hash lookup; patterns are pre-split at Add, so Find
// allocates only for captured values. Thread-safe after setup (Add is not).

#include <functional>
#include <string>
#include <unordered_map>
#include <string_view>
#include <vector>

#include "api/http_types.h"

namespace cairn::api {

using Handler = std::function<HttpResponse(const HttpRequest&)>;

// Which of the HTTP server's worker pools runs a route's handler (see ServerOptions).
enum class HandlerPool {
  kDefault,  // registry, tracking, apply, …: the server's worker pool
  kPredict,  // model predictions, which may block for a long time on a busy model: their own
             // pool, so that they never hold the threads the other routes need
};

struct RouteOptions {
  // Runs on the I/O thread (only for handlers that never block: /healthz).
  bool inline_handler = false;
  // Decides per request (path parameters filled, body read) whether this one runs on the
  // I/O thread, as an inline handler does: for handlers that block only in some cases
  // (a prediction blocks on a Python worker, not on an in-process model). Called on the
  // I/O thread, so it must be cheap and never block. Empty: never. The handler then sees
  // HttpRequest::on_io_thread and may still answer HttpResponse::run_on_pool (what it
  // checked changed since), which sends the request on to the route's pool.
  std::function<bool(const HttpRequest&)> inline_when;
  // The pool that runs the handler (ignored for inline handlers).
  HandlerPool pool = HandlerPool::kDefault;
  // Body is streamed to a temporary file instead of memory (artifact uploads); such
  // routes are exempt from the in-memory body limit.
  bool stream_request_body = false;
};

struct Route {
  std::string method;
  std::string pattern;
  Handler handler;
  RouteOptions options;
};

class Router {
 public:
  void Add(std::string method, std::string pattern, Handler handler, RouteOptions options = {});

  // Registers `suffix` (e.g. "runs/create") under both /api/2.0/mlflow/ and
  // /ajax-api/2.0/mlflow/, as MLflow's server does.
  void AddMlflow(std::string method, std::string_view suffix, Handler handler,
                 RouteOptions options = {});

  struct Match {
    const Route* route = nullptr;  // nullptr: no route for this path
    bool method_not_allowed = false;  // the path exists under another method
    std::vector<std::pair<std::string, std::string>> path_params;
  };
  Match Find(std::string_view method, std::string_view path) const;

  // Routes `request` in process: fills its path_params and calls the handler on this
  // thread. No route: 404, or 405 when the path exists under another method, both with
  // MLflow's ENDPOINT_NOT_FOUND error body (as the HTTP server answers).
  HttpResponse Dispatch(HttpRequest request) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
  // Literal pattern → indexes into routes_, in registration order.
  // Transparent: Find looks a path up without copying it into a std::string.
  struct PathHash {
    using is_transparent = void;
    size_t operator()(std::string_view path) const { return std::hash<std::string_view>{}(path); }
  };
  std::unordered_map<std::string, std::vector<size_t>, PathHash, std::equal_to<>> literal_index_;
  // Pattern routes: index into routes_ and the pattern's segments.
  struct PatternRoute {
    size_t route_idx;
    std::vector<std::string> segments;
  };
  std::vector<PatternRoute> patterns_;
};

}  // namespace cairn::api
