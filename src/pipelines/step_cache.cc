#include "pipelines/step_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "openssl/evp.h"
#include "pipelines/pipeline_json.h"

namespace cairn::pipelines {
namespace {

int64_t Nanos(const struct timespec& time) {
  return static_cast<int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
}

struct DirId {
  uint64_t dev, ino;
  bool operator<(const DirId& other) const {
    return std::tie(dev, ino) < std::tie(other.dev, other.ino);
  }
};

}  // namespace

Json StepCacheJson(const StepSpec& step) {
  Json json = StepToJson(step);
  for (const char* key : {"resources", "retry", "cache", "executor", "partition"}) json.erase(key);
  return json;
}

std::string StepCacheKey(const StepSpec& step, const std::map<std::string, std::string>& params,
                         const std::map<std::string, std::string>& input_hashes) {
  Json key{{"step", StepCacheJson(step)}, {"params", Json(params)},
           {"inputs", Json(input_hashes)}};
  return Sha256Hex(DumpJson(key));
}

absl::StatusOr<std::string> InputHasher::HashFile(const std::string& path, Entry key) {
  {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(path);
    if (it != files_.end() && it->second.Same(key)) return it->second.hash;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("cannot read input ", path, ": ", strerror(errno)));
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buffer(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      ::close(fd);
      EVP_MD_CTX_free(ctx);
      return absl::InternalError(absl::StrCat("cannot read input ", path, ": ", strerror(error)));
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx, buffer.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx, digest, &length);
  EVP_MD_CTX_free(ctx);
  std::string hash = LowerHex(digest, length);
  key.hash = hash;
  absl::MutexLock lock(&mu_);
  files_[path] = std::move(key);
  return hash;
}

absl::StatusOr<std::string> InputHasher::Hash(const std::string& path) {
  auto key_of = [](const struct stat& st) {
    return Entry{.dev = static_cast<uint64_t>(st.st_dev),
                 .ino = static_cast<uint64_t>(st.st_ino),
                 .size = static_cast<int64_t>(st.st_size),
                 .mtime_ns = Nanos(st.st_mtim),
                 .ctime_ns = Nanos(st.st_ctim),
                 .hash = {}};
  };
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, " does not exist"));
  }
  if (!S_ISDIR(st.st_mode)) return HashFile(path, key_of(st));
  // Directory: "<relative path>\0<file hash>\n" per file, "<relative dir>/\n" per directory
  // ("<relative dir>/ (loop)\n" for a link to a directory above it), in sorted order.
  // stat() follows links; `ancestors` holds the directories on the way down.
  std::vector<std::string> entries;
  std::set<DirId> ancestors;
  std::function<absl::Status(const std::string&, const std::string&, const struct stat&)> walk =
      [&](const std::string& dir, const std::string& relative,
          const struct stat& dir_stat) -> absl::Status {
    DirId id{static_cast<uint64_t>(dir_stat.st_dev), static_cast<uint64_t>(dir_stat.st_ino)};
    if (!relative.empty()) {
      if (ancestors.count(id)) {
        entries.push_back(absl::StrCat(relative, "/ (loop)\n"));
        return absl::OkStatus();
      }
      entries.push_back(absl::StrCat(relative, "/\n"));
    }
    ancestors.insert(id);
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      std::string name = it->path().filename().string();
      std::string full = absl::StrCat(dir, "/", name);
      std::string child = relative.empty() ? name : absl::StrCat(relative, "/", name);
      struct stat entry;
      if (::stat(full.c_str(), &entry) != 0) continue;  // dangling link
      if (S_ISDIR(entry.st_mode)) {
        CAIRN_RETURN_IF_ERROR(walk(full, child, entry));
      } else {
        CAIRN_ASSIGN_OR_RETURN(std::string hash, HashFile(full, key_of(entry)));
        entries.push_back(absl::StrCat(child, std::string(1, '\0'), hash, "\n"));
      }
    }
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot list input directory ", dir, ": ",
                                              ec.message()));
    }
    ancestors.erase(id);
    return absl::OkStatus();
  };
  CAIRN_RETURN_IF_ERROR(walk(path, "", st));
  std::sort(entries.begin(), entries.end());
  std::string all;
  for (const std::string& entry : entries) all += entry;
  return Sha256Hex(all);
}

}  // namespace cairn::pipelines
