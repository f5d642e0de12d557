#pragma once
// Pieces shared by the artifact and logged-model handlers: MLflow's content-type guess,
// streamed file responses, directory listings relative to an artifact root, and the
// path-safety check MLflow applies to request paths.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/http_types.h"
#include "common/json.h"
#include "storage/artifact_store.h"

namespace cairn::api {

// MLflow's _guess_mime_type: "text/plain" for text-like extensions (txt, log, json, yaml,
// csv, py, md, …, and files named MLmodel / MLproject), well-known types by extension,
// "application/octet-stream" otherwise.
std::string GuessContentType(std::string_view file_name);

// MLflow's validate_path_is_safe on an already-decoded request path: decodes further
// percent-escapes (up to 10 rounds, as MLflow) and refuses '#', backslashes, '..'
// segments and absolute paths. InvalidArgument "Invalid path".
absl::Status ValidatePathIsSafe(std::string_view path);

// A response that streams the artifact at `relative_path` (file_path set, never read into
// memory), with Content-Disposition and nosniff as MLflow sends them. NotFound when
// missing; InvalidArgument for a directory or an unsafe path.
absl::StatusOr<HttpResponse> FileDownloadResponse(const storage::ArtifactStore& store,
                                                  std::string_view relative_path);

// The "files" array MLflow returns for a listing of `store_dir` (a directory below the
// store root), with each path rewritten as "<display_prefix>/<basename>" (just the
// basename when `display_prefix` is empty). Directories carry no file_size.
absl::StatusOr<Json> ListFilesJson(const storage::ArtifactStore& store,
                                   std::string_view store_dir, std::string_view display_prefix);

// Joins two relative paths with exactly one '/', ignoring empty parts.
std::string JoinRelative(std::string_view base, std::string_view rest);

}  // namespace cairn::api
