#pragma once
// Cache keys of steps (issue 4 §3): a step is served from the cache when the SHA-256 of
// (its canonical definition, the run's resolved parameters, the content hashes of its
// inputs) matches an earlier success whose outputs still exist.
//
// Content hashes: a file is the SHA-256 of its bytes; a directory is the SHA-256 of its
// sorted relative paths, each followed by its file's hash ("d/" entries for empty
// directories). InputHasher memoizes file hashes by (path, size, mtime), so a big input
// read by several steps or runs is hashed once while it does not change.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "common/sha256.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/json.h"
#include "pipelines/pipeline_spec.h"

namespace cairn::pipelines {

// Hex SHA-256 of `bytes` (common/sha256.h).
using ::cairn::Sha256Hex;

// The part of a step's definition that decides its outputs: its canonical JSON
// (pipeline_json.h StepToJson: name, command or script, env, workdir, inputs, outputs,
// depends_on) without resources, retry, cache, executor and partition (a larger timeout or
// another executor does not change what a step computes). Keys sorted.
Json StepCacheJson(const StepSpec& step);

// hex SHA-256 over StepCacheJson, the parameters and the input hashes.
std::string StepCacheKey(const StepSpec& step, const std::map<std::string, std::string>& params,
                         const std::map<std::string, std::string>& input_hashes);

// Thread-safe.
class InputHasher {
 public:
  // The content hash of a file or directory. NotFound naming the path when it is missing.
  // A directory hashes its files' relative paths and contents, recursively, in sorted
  // order. Symbolic links are followed, to files and to directories alike (a linked
  // directory's contents count as if they were in place); a link back to a directory
  // that contains it (a loop) is recorded as "<path>/ (loop)" and not descended into.
  // Dangling links are left out.
  //
  // File hashes are memoized by path, device, inode, size, mtime and ctime: a rewrite
  // that keeps the size and restores the mtime (cp -p, rsync -t, tar) still changes the
  // ctime, which user tools cannot set.
  absl::StatusOr<std::string> Hash(const std::string& path);

 private:
  struct Entry {
    uint64_t dev = 0;
    uint64_t ino = 0;
    int64_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    std::string hash;
    bool Same(const Entry& other) const {
      return dev == other.dev && ino == other.ino && size == other.size &&
             mtime_ns == other.mtime_ns && ctime_ns == other.ctime_ns;
    }
  };
  absl::StatusOr<std::string> HashFile(const std::string& path, Entry key);

  absl::Mutex mu_;
  std::map<std::string, Entry> files_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::pipelines
