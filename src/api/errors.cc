#include "api/errors.h"

#include "common/json.h"
#include "common/strings.h"

namespace cairn::api {

std::string_view MlflowErrorCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return "INVALID_PARAMETER_VALUE";
    case absl::StatusCode::kNotFound:
      return "RESOURCE_DOES_NOT_EXIST";
    case absl::StatusCode::kAlreadyExists:
      return "RESOURCE_ALREADY_EXISTS";
    case absl::StatusCode::kFailedPrecondition:
      return "INVALID_STATE";
    case absl::StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case absl::StatusCode::kUnauthenticated:
      return "UNAUTHENTICATED";
    case absl::StatusCode::kResourceExhausted:
      return "REQUEST_LIMIT_EXCEEDED";
    case absl::StatusCode::kUnavailable:
      return "TEMPORARILY_UNAVAILABLE";
    case absl::StatusCode::kUnimplemented:
      return "NOT_IMPLEMENTED";
    case absl::StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    default:
      return "INTERNAL_ERROR";
  }
}

int HttpStatusFor(absl::StatusCode code, ErrorDialect dialect) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
      return dialect == ErrorDialect::kMlflow ? 400 : 409;
    case absl::StatusCode::kFailedPrecondition:
      return dialect == ErrorDialect::kMlflow ? 400 : 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kDeadlineExceeded:  // MLflow: DEADLINE_EXCEEDED → 504 as well
      return 504;
    default:
      return 500;
  }
}

HttpResponse ErrorResponse(int http_status, std::string_view error_code,
                           std::string_view message) {
  HttpResponse response;
  response.status = http_status;
  response.body = DumpJson(Json{{"error_code", error_code}, {"message", message}});
  return response;
}

HttpResponse ErrorResponse(const absl::Status& status, ErrorDialect dialect) {
  HttpResponse response = ErrorResponse(HttpStatusFor(status.code(), dialect),
                                        MlflowErrorCode(status.code()), ToStd(status.message()));
  // Back-pressure (a busy endpoint, a full queue): tell the client when to try again.
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    response.headers.emplace_back("Retry-After", "1");
  }
  return response;
}

HttpResponse JsonResponse(std::string body) {
  HttpResponse response;
  response.body = std::move(body);
  return response;
}

}  // namespace cairn::api
