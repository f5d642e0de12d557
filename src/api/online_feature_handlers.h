#pragma once
// Online feature reads over HTTP, with Feast's request and response shapes
// (features/online/online_feature_service.h):
//   POST /get-online-features        (the path `feast serve` uses)
//   POST /api/v1/features/online     (the same, under Cairn's API)
// Bad requests answer 400 with Cairn's error JSON (api/errors.h); a store that is down
// answers 503. The handler only translates HTTP ↔ OnlineFeatureService.

#include "api/router.h"
#include "features/online/online_feature_service.h"

namespace cairn::api {

// Registers both routes. `service` must outlive the router. `inline_handler`: run on the
// I/O thread — pass true only when the store is the embedded one (a lookup is a few
// microseconds in memory); a Redis lookup blocks on the network and must run on the
// worker pool.
void RegisterOnlineFeatureRoutes(Router& router, const features::OnlineFeatureService* service,
                                 bool inline_handler);

}  // namespace cairn::api
