#include "api/online_feature_handlers.h"

#include "api/errors.h"

namespace cairn::api {

void RegisterOnlineFeatureRoutes(Router& router, const features::OnlineFeatureService* service,
                                 bool inline_handler) {
  auto handler = [service](const HttpRequest& request) {
    absl::StatusOr<std::string> body = service->GetOnlineFeatures(request.body);
    if (!body.ok()) return ErrorResponse(body.status(), ErrorDialect::kCairn);
    return JsonResponse(std::move(*body));
  };
  RouteOptions options{.inline_handler = inline_handler};
  router.Add("POST", "/get-online-features", handler, options);
  router.Add("POST", "/api/v1/features/online", handler, options);
}

}  // namespace cairn::api
