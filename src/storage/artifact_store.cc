#include "storage/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::storage {
namespace {

namespace fs = std::filesystem;

constexpr char kTempDirName[] = ".tmp";
constexpr std::string_view kScheme = "mlflow-artifacts:";

absl::Status InvalidPath(std::string_view relative_path, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("Invalid path '", ToAbsl(relative_path), "': ", ToAbsl(why)));
}

absl::Status ErrnoStatus(std::string_view what, const std::string& path, int err) {
  std::string message = absl::StrCat(ToAbsl(what), " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    case EISDIR:
    case ENOTDIR:
    case EEXIST:
    case ENOTEMPTY:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

// Splits a relative path into its segments, dropping empty and "." segments. Rejects
// everything that could name a place outside the root.
absl::StatusOr<std::vector<std::string>> SafeSegments(std::string_view relative_path) {
  if (relative_path.find('\0') != std::string_view::npos)
    return InvalidPath("<with NUL>", "NUL bytes are not allowed");
  if (relative_path.find('\\') != std::string_view::npos)
    return InvalidPath(relative_path, "backslashes are not allowed");
  if (!relative_path.empty() && relative_path.front() == '/')
    return InvalidPath(relative_path, "absolute paths are not allowed");
  if (relative_path.find('#') != std::string_view::npos)
    return InvalidPath(relative_path, "'#' is not allowed");
  std::vector<std::string> segments;
  size_t start = 0;
  while (start <= relative_path.size()) {
    size_t end = relative_path.find('/', start);
    if (end == std::string_view::npos) end = relative_path.size();
    std::string_view segment = relative_path.substr(start, end - start);
    if (segment == "..") return InvalidPath(relative_path, "'..' is not allowed");
    if (!segment.empty() && segment != ".") segments.emplace_back(segment);
    start = end + 1;
  }
  if (!segments.empty() && segments.front() == kTempDirName)
    return InvalidPath(relative_path, "the upload directory is not addressable");
  return segments;
}

bool IsWithin(const std::string& path, const std::string& root) {
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

std::string CanonicalRoot(std::string root_dir) {
  std::error_code ec;
  fs::create_directories(root_dir, ec);
  fs::create_directories(fs::path(root_dir) / kTempDirName, ec);
  fs::path canonical = fs::weakly_canonical(fs::absolute(root_dir, ec), ec);
  std::string result = ec ? root_dir : canonical.string();
  while (result.size() > 1 && result.back() == '/') result.pop_back();
  return result;
}

}  // namespace

ArtifactStore::ArtifactStore(std::string root_dir) : root_(CanonicalRoot(std::move(root_dir))) {}

absl::StatusOr<std::string> ArtifactStore::RelativePathOfUri(std::string_view uri) {
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Artifact URI '", ToAbsl(uri), "' is not served by this server's artifact proxy ",
        "(expected scheme mlflow-artifacts:)"));
  }
  std::string_view rest = uri.substr(kScheme.size());
  if (rest.substr(0, 2) == "//") {
    // "mlflow-artifacts://authority/path": skip the (possibly empty) authority.
    rest.remove_prefix(2);
    size_t slash = rest.find('/');
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  return std::string(rest);
}

absl::StatusOr<std::string> ArtifactStore::Resolve(std::string_view relative_path) const {
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> segments, SafeSegments(relative_path));
  std::string path = root_;
  // Symlinks may only lead to places inside the root: resolve the deepest existing
  // prefix and check it. Components below it do not exist, so they cannot be links.
  std::string deepest_existing = root_;
  bool missing = false;
  for (const std::string& segment : segments) {
    absl::StrAppend(&path, "/", segment);
    if (missing) continue;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      missing = true;
      continue;
    }
    deepest_existing = path;
  }
  if (deepest_existing != root_) {
    char* real = ::realpath(deepest_existing.c_str(), nullptr);
    if (real == nullptr) {
      // A dangling symlink: refuse rather than guess where it would lead.
      return InvalidPath(relative_path, "it passes through a dangling symbolic link");
    }
    std::string resolved(real);
    std::free(real);
    if (!IsWithin(resolved, root_))
      return InvalidPath(relative_path, "it resolves outside the artifact root");
  }
  return path;
}

absl::Status ArtifactStore::PutFile(std::string_view relative_path,
                                    const std::string& source_file) {
  CAIRN_ASSIGN_OR_RETURN(std::string target, Resolve(relative_path));
  if (target == root_) return InvalidPath(relative_path, "a file needs a name");
  std::error_code ec;
  fs::path parent = fs::path(target).parent_path();
  fs::create_directories(parent, ec);
  if (ec) {
    return InvalidPath(relative_path,
                       absl::StrCat("cannot create its directory: ", ec.message()));
  }
  // Re-check after creating directories: a concurrent writer could have placed a link.
  CAIRN_ASSIGN_OR_RETURN(target, Resolve(relative_path));
  struct stat st;
  if (::lstat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return InvalidPath(relative_path, "a directory of that name exists");
  if (::rename(source_file.c_str(), target.c_str()) == 0) return absl::OkStatus();
  if (errno != EXDEV) return ErrnoStatus("cannot move the upload into", target, errno);
  // The source lies on another filesystem: copy it next to the target first, so the
  // final step is still an atomic rename.
  std::string staged = absl::StrCat(TempDir(), "/xdev-", NewUuidHex());
  fs::copy_file(source_file, staged, ec);
  if (ec) {
    fs::remove(staged, ec);
    return absl::InternalError(
        absl::StrCat("cannot copy ", source_file, " to ", staged, ": ", ec.message()));
  }
  if (::rename(staged.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(staged.c_str());
    return ErrnoStatus("cannot move the upload into", target, err);
  }
  ::unlink(source_file.c_str());
  return absl::OkStatus();
}

absl::Status ArtifactStore::PutBytes(std::string_view relative_path, std::string_view bytes) {
  CAIRN_RETURN_IF_ERROR(Resolve(relative_path).status());
  std::error_code ec;
  fs::create_directories(TempDir(), ec);
  std::string temp = absl::StrCat(TempDir(), "/put-", NewUuidHex());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", temp, errno);
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return ErrnoStatus("cannot write", temp, err);
    }
    written += static_cast<size_t>(n);
  }
  ::close(fd);
  absl::Status status = PutFile(relative_path, temp);
  if (!status.ok()) ::unlink(temp.c_str());
  return status;
}

absl::StatusOr<std::string> ArtifactStore::FileForRead(std::string_view relative_path) const {
  CAIRN_ASSIGN_OR_RETURN(std::string path, Resolve(relative_path));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("No such artifact: '", ToAbsl(relative_path), "'"));
  }
  return path;
}

absl::Status ArtifactStore::Delete(std::string_view relative_path) {
  CAIRN_ASSIGN_OR_RETURN(std::string path, Resolve(relative_path));
  if (path == root_) return InvalidPath(relative_path, "the artifact root cannot be deleted");
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("No such artifact: '", ToAbsl(relative_path), "'"));
  }
  std::error_code ec;
  fs::remove_all(path, ec);  // removes a link itself, never what it points to
  if (ec) return absl::InternalError(absl::StrCat("cannot delete ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ArtifactStore::FileInfo>> ArtifactStore::List(
    std::string_view relative_dir) const {
  CAIRN_ASSIGN_OR_RETURN(std::string dir, Resolve(relative_dir));
  std::vector<FileInfo> files;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return files;
  // The prefix each child's path gets: the listed directory, normalized.
  std::string prefix = dir == root_ ? std::string() : dir.substr(root_.size() + 1) + "/";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (dir == root_ && name == kTempDirName) continue;
    std::error_code entry_ec;
    FileInfo info;
    info.path = prefix + name;
    info.is_dir = it->is_directory(entry_ec);
    if (!info.is_dir) {
      uintmax_t size = it->file_size(entry_ec);
      info.file_size = entry_ec ? 0 : static_cast<int64_t>(size);
    }
    files.push_back(std::move(info));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  std::sort(files.begin(), files.end(),
            [](const FileInfo& a, const FileInfo& b) { return a.path < b.path; });
  return files;
}

std::string ArtifactStore::TempDir() const { return absl::StrCat(root_, "/", kTempDirName); }

}  // namespace cairn::storage
