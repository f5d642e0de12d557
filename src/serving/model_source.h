#pragma once
// Where a registered model version's files are on this machine: the directory holding its
// MLmodel, from the version's storage location (or its source). Endpoints load it to
// serve the version; gates load it to evaluate the version.
//
//   mlflow-artifacts:/…      below the artifact store's root
//   file:///abs/path         that path (file://host/path: the host is dropped)
//   /abs/path or rel/path    that path
// Anything else (s3://, models:/, runs:/) is FailedPrecondition: register the version with
// its artifact location.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cairn::storage {
class ArtifactStore;
}  // namespace cairn::storage
namespace cairn::tracking {
class ModelRegistry;
}  // namespace cairn::tracking

namespace cairn::serving {

// The absolute directory of `model` version `version`. NotFound for an unknown version or
// a directory that does not exist (naming it and the source); FailedPrecondition for a
// source that is not local, or an mlflow-artifacts: source when `artifacts` is null.
// Thread-safe as the registry is.
absl::StatusOr<std::string> LocalModelDir(tracking::ModelRegistry& registry,
                                          const storage::ArtifactStore* artifacts,
                                          std::string_view model, int64_t version);

}  // namespace cairn::serving
