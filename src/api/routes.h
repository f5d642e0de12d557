#pragma once
// The whole HTTP surface of `cairn server` in one place: every handler group registers
// its routes here, so a reader can find any endpoint from this file.

#include "api/api_context.h"
#include "api/router.h"

namespace cairn::api {

// Registers MLflow's tracking, registry, artifact and logged-model APIs and Cairn's own
// /api/v1 routes. `ctx` must outlive the router.
Router BuildRouter(const ApiContext& ctx);

}  // namespace cairn::api
