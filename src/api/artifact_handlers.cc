#include "api/artifact_handlers.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/artifact_responses.h"
#include "api/errors.h"
#include "api/logged_model_handlers.h"
#include "api/request_fields.h"
#include "common/json.h"
#include "common/status.h"
#include "storage/artifact_store.h"
#include "tracking/tracking_store.h"

namespace cairn::api {
namespace {

// Both prefixes MLflow serves the proxy under (the UI uses /ajax-api).
constexpr const char* kProxyPrefixes[] = {"/api/2.0/mlflow-artifacts/artifacts",
                                          "/ajax-api/2.0/mlflow-artifacts/artifacts"};

HttpResponse Respond(const absl::StatusOr<HttpResponse>& result) {
  return result.ok() ? *result : ErrorResponse(result.status());
}

std::string PathParamOrEmpty(const HttpRequest& request) {
  const std::string* path = request.PathParam("path");
  return path ? *path : std::string();
}

absl::StatusOr<HttpResponse> Upload(const ApiContext& ctx, const HttpRequest& request) {
  std::string path = PathParamOrEmpty(request);
  CAIRN_RETURN_IF_ERROR(ValidatePathIsSafe(path));
  if (!request.body_file.empty()) {
    CAIRN_RETURN_IF_ERROR(ctx.artifacts->PutFile(path, request.body_file));
  } else {
    // The server streamed nothing to a file (an empty body, or a caller that used the
    // in-memory body): store the bytes we have.
    CAIRN_RETURN_IF_ERROR(ctx.artifacts->PutBytes(path, request.body));
  }
  return JsonResponse("{}");
}

absl::StatusOr<HttpResponse> Download(const ApiContext& ctx, const HttpRequest& request) {
  return FileDownloadResponse(*ctx.artifacts, PathParamOrEmpty(request));
}

absl::StatusOr<HttpResponse> DeleteArtifact(const ApiContext& ctx, const HttpRequest& request) {
  std::string path = PathParamOrEmpty(request);
  CAIRN_RETURN_IF_ERROR(ValidatePathIsSafe(path));
  // Deleting what is not there succeeds, as with MLflow's local artifact repository.
  absl::Status deleted = ctx.artifacts->Delete(path);
  if (!deleted.ok() && deleted.code() != absl::StatusCode::kNotFound) return deleted;
  return JsonResponse("{}");
}

absl::StatusOr<HttpResponse> ListProxy(const ApiContext& ctx, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> path, OptionalString(fields, "path"));
  std::string dir = path.value_or("");
  CAIRN_RETURN_IF_ERROR(ValidatePathIsSafe(dir));
  CAIRN_ASSIGN_OR_RETURN(Json files, ListFilesJson(*ctx.artifacts, dir, /*display_prefix=*/""));
  Json body = Json::object();
  if (!files.empty()) body["files"] = std::move(files);
  return JsonResponse(DumpJson(body));
}

// GET /api/2.0/mlflow/artifacts/list: a run's artifacts below `path`, listed from the
// proxy store when the run's artifact_uri is an mlflow-artifacts: URI.
absl::StatusOr<HttpResponse> ListRunArtifacts(const ApiContext& ctx,
                                              const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> run_id, OptionalString(fields, "run_id"));
  if (!run_id || run_id->empty()) {
    CAIRN_ASSIGN_OR_RETURN(run_id, OptionalString(fields, "run_uuid"));
  }
  if (!run_id || run_id->empty()) {
    return absl::InvalidArgumentError(
        "Missing value for required parameter 'run_id'. See the API docs for more "
        "information about request parameters.");
  }
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> path, OptionalString(fields, "path"));
  std::string relative = path.value_or("");
  CAIRN_RETURN_IF_ERROR(ValidatePathIsSafe(relative));
  CAIRN_ASSIGN_OR_RETURN(tracking::RunInfo run, ctx.tracking->GetRunInfo(*run_id));

  Json body = {{"root_uri", run.artifact_uri}};
  absl::StatusOr<std::string> root = storage::ArtifactStore::RelativePathOfUri(run.artifact_uri);
  if (root.ok()) {
    CAIRN_ASSIGN_OR_RETURN(Json files, ListFilesJson(*ctx.artifacts, JoinRelative(*root, relative),
                                                     /*display_prefix=*/relative));
    if (!files.empty()) body["files"] = std::move(files);
  }
  // Other schemes (a client-chosen s3:// or file:// location) are not served by this
  // server; the client lists those itself, so the listing here is empty.
  return JsonResponse(DumpJson(body));
}

// GET /get-artifact?run_id=…&path=… (the UI's download of one run artifact).
absl::StatusOr<HttpResponse> GetRunArtifact(const ApiContext& ctx, const HttpRequest& request) {
  const std::string* run_id = request.QueryParam("run_id");
  if (run_id == nullptr || run_id->empty()) run_id = request.QueryParam("run_uuid");
  const std::string* path = request.QueryParam("path");
  if (run_id == nullptr || run_id->empty() || path == nullptr) {
    return ErrorResponse(400, "BAD_REQUEST",
                         "Request must include the \"run_id\" and \"path\" query parameters.");
  }
  CAIRN_RETURN_IF_ERROR(ValidatePathIsSafe(*path));
  CAIRN_ASSIGN_OR_RETURN(tracking::RunInfo run, ctx.tracking->GetRunInfo(*run_id));
  CAIRN_ASSIGN_OR_RETURN(std::string root,
                         storage::ArtifactStore::RelativePathOfUri(run.artifact_uri));
  return FileDownloadResponse(*ctx.artifacts, JoinRelative(root, *path));
}

}  // namespace

void RegisterArtifactRoutes(Router& router, const ApiContext& ctx) {
  const ApiContext context = ctx;  // a copy of the pointers: `ctx` may be a temporary view
  for (const char* prefix : kProxyPrefixes) {
    std::string with_path = absl::StrCat(prefix, "/{*path}");
    router.Add(
        "PUT", with_path,
        [context](const HttpRequest& request) { return Respond(Upload(context, request)); },
        RouteOptions{.stream_request_body = true});
    router.Add("GET", with_path, [context](const HttpRequest& request) {
      return Respond(Download(context, request));
    });
    router.Add("DELETE", with_path, [context](const HttpRequest& request) {
      return Respond(DeleteArtifact(context, request));
    });
    router.Add("GET", prefix, [context](const HttpRequest& request) {
      return Respond(ListProxy(context, request));
    });
  }
  router.AddMlflow("GET", "artifacts/list", [context](const HttpRequest& request) {
    return Respond(ListRunArtifacts(context, request));
  });
  router.Add("GET", "/get-artifact", [context](const HttpRequest& request) {
    return Respond(GetRunArtifact(context, request));
  });
  // The client probes this before large artifact transfers; multipart and presigned
  // transfers are not offered, so it streams through the proxy routes above.
  router.Add("GET", "/api/3.0/mlflow/server-info", [](const HttpRequest&) {
    return JsonResponse(DumpJson(Json{{"store_type", "SqlStore"},
                                      {"workspaces_enabled", false},
                                      {"multipart_uploads_enabled", false},
                                      {"multipart_downloads_enabled", false},
                                      {"presigned_upload_run_id_supported", false},
                                      {"presigned_upload_model_id_supported", false}}));
  });
  RegisterLoggedModelRoutes(router, ctx);
}

}  // namespace cairn::api
