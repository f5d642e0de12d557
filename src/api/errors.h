#pragma once
// Status → HTTP, done once for every API (DESIGN.md §4). Error bodies have MLflow's shape:
// {"error_code": "INVALID_PARAMETER_VALUE", "message": "…"}.
//
// MLflow's own REST API (/api/2.0/mlflow…) answers with MLflow's error codes and HTTP
// statuses so its client reacts as it does against MLflow (RESOURCE_ALREADY_EXISTS is 400
// there, not 409). Cairn's own API (/api/v1/…) uses DESIGN.md's mapping (409).

#include <string_view>

#include "absl/status/status.h"
#include "api/http_types.h"

namespace cairn::api {

enum class ErrorDialect { kMlflow, kCairn };

// The MLflow error_code for a status ("INVALID_PARAMETER_VALUE", …).
std::string_view MlflowErrorCode(absl::StatusCode code);
int HttpStatusFor(absl::StatusCode code, ErrorDialect dialect);

// ResourceExhausted (429) also carries "Retry-After: 1".
HttpResponse ErrorResponse(const absl::Status& status,
                           ErrorDialect dialect = ErrorDialect::kMlflow);
// An error with an explicit MLflow error_code (ENDPOINT_NOT_FOUND, BAD_REQUEST, …).
HttpResponse ErrorResponse(int http_status, std::string_view error_code,
                           std::string_view message);

// 200 with a JSON body.
HttpResponse JsonResponse(std::string body);

}  // namespace cairn::api
