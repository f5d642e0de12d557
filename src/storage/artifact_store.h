#pragma once
// The local-directory artifact store behind MLflow's artifact proxy
// (`mlflow server --serve-artifacts`): files live under <data>/artifacts, addressed by
// relative paths such as "1/<run_id>/artifacts/model/MLmodel". Every path that comes from
// a request goes through Resolve, which refuses anything that could leave the root
// ("..", absolute paths, NUL bytes, backslashes, symlinks pointing outside).
//
// Uploads are streamed by the HTTP server into a temporary file under TempDir() (same
// filesystem) and moved into place with rename(2), so a reader never sees a partial file
// and no file is ever held in memory whole. Thread-safe: the object holds only the root
// path; concurrent writers of the same path end with one of the files (last rename wins).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn::storage {

class ArtifactStore {
 public:
  // `root_dir` is created (with parents) if missing, and so is <root>/.tmp. Failure to
  // create them is reported by the first operation (Unavailable/Internal), not here.
  explicit ArtifactStore(std::string root_dir);

  // The path below the proxy root that an artifact URI names:
  //   "mlflow-artifacts:/1/abc/artifacts"     → "1/abc/artifacts"
  //   "mlflow-artifacts:///1/abc"             → "1/abc"
  //   "mlflow-artifacts://host:5000/1/abc"    → "1/abc"
  // InvalidArgument for any other scheme.
  static absl::StatusOr<std::string> RelativePathOfUri(std::string_view uri);

  // The absolute filesystem path for `relative_path` ("" or "." is the root itself).
  // InvalidArgument for "..", absolute paths, NUL bytes, backslashes, and for paths that
  // resolve (through symlinks of existing components) outside the root. The path need
  // not exist.
  absl::StatusOr<std::string> Resolve(std::string_view relative_path) const;

  // Moves `source_file` (normally a file under TempDir()) to `relative_path`, atomically
  // (rename), creating parent directories. Replaces an existing file. InvalidArgument when
  // `relative_path` is the root or names an existing directory.
  absl::Status PutFile(std::string_view relative_path, const std::string& source_file);

  // Writes `bytes` to `relative_path` atomically (temp file + rename). For small
  // in-process writers (the demo, tests).
  absl::Status PutBytes(std::string_view relative_path, std::string_view bytes);

  // The absolute path of an existing regular file, for streaming. NotFound when missing
  // or a directory.
  absl::StatusOr<std::string> FileForRead(std::string_view relative_path) const;

  // Removes a file or a whole directory tree. NotFound when nothing is there.
  absl::Status Delete(std::string_view relative_path);

  struct FileInfo {
    std::string path;  // relative to the listed directory's parent as MLflow does:
                       // "<relative_dir>/<name>" (just "<name>" when listing the root)
    bool is_dir = false;
    int64_t file_size = 0;  // 0 for directories
  };
  // The direct children of `relative_dir`, sorted by name. Empty (not NotFound) for a
  // missing directory, as MLflow's local repository does. The temp directory is hidden.
  absl::StatusOr<std::vector<FileInfo>> List(std::string_view relative_dir) const;

  // <root>/.tmp: where streamed uploads are written before PutFile (same filesystem).
  std::string TempDir() const;

  const std::string& root() const { return root_; }

 private:
  std::string root_;  // absolute, canonical, without a trailing slash
};

}  // namespace cairn::storage
