#include "serving/model_source.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "storage/artifact_store.h"
#include "tracking/model_registry.h"

namespace cairn::serving {

absl::StatusOr<std::string> LocalModelDir(tracking::ModelRegistry& registry,
                                          const storage::ArtifactStore* artifacts,
                                          std::string_view model, int64_t version) {
  CAIRN_ASSIGN_OR_RETURN(tracking::ModelVersion mv, registry.GetModelVersion(model, version));
  const std::string source = mv.storage_location.empty() ? mv.source : mv.storage_location;
  const std::string label = absl::StrCat(ToAbsl(model), " version ", version);
  std::string dir;
  std::string_view s = source;
  if (s.starts_with("mlflow-artifacts:")) {
    if (artifacts == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("model ", label, ": its source '", source,
                       "' is in the artifact store, which this service was not given"));
    }
    CAIRN_ASSIGN_OR_RETURN(std::string relative, storage::ArtifactStore::RelativePathOfUri(source));
    CAIRN_ASSIGN_OR_RETURN(dir, artifacts->Resolve(relative));
  } else if (s.starts_with("file://")) {
    s.remove_prefix(7);
    if (!s.starts_with("/")) {
      const size_t slash = s.find('/');  // file://host/path: drop the host
      s = slash == std::string_view::npos ? std::string_view() : s.substr(slash);
    }
    dir = std::string(s);
  } else if (s.find("://") != std::string_view::npos || s.starts_with("models:") ||
             s.starts_with("runs:")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", label, ": source '", source,
        "' is not a local directory or an mlflow-artifacts: URI; register the version with "
        "its artifact location"));
  } else {
    dir = source;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("model ", label, ": its directory '", dir,
                                            "' (from source '", source, "') does not exist"));
  }
  return std::filesystem::absolute(dir).string();
}

}  // namespace cairn::serving
