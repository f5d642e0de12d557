#pragma once
// A store of versioned, content-hashed definitions on the metadata database (SQLite or
// PostgreSQL): the one implementation behind the pipeline, monitor, endpoint and policy
// registries. Each applied change of a definition's canonical JSON is a new version 1, 2,
// …; an unchanged definition (same SHA-256 of the canonical text) creates nothing; every
// version stays readable; `apply --prune` marks the definitions missing from an apply as
// removed (their versions stay readable; applying one again makes it "added" again, with
// a new version only when its content changed).
//
// Tables (created by the caller's migrations; their layout is fixed):
//   <table>          (name TEXT PRIMARY KEY, latest_version BIGINT, content_hash TEXT,
//                     removed INTEGER, updated_ms BIGINT, plus options.columns as TEXT)
//   <versions_table> (name, version BIGINT, content_hash, spec TEXT, created_ms BIGINT,
//                     PRIMARY KEY (name, version)); spec holds the canonical JSON text.
//
// DefinitionStore works on JSON; TypedDefinitionStore<Spec> adds a spec type's JSON codec
// (and optionally a cache of parsed versions). Thread-safe: every call is one database
// transaction (an apply that races another on PostgreSQL plans again, up to 5 times).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "storage/database.h"

namespace cairn::storage {

// One entry of an apply plan (cli/apply.cc prints every kind alike).
struct DefinitionChange {
  std::string action;  // "added" | "changed" | "unchanged" | "removed"
  std::string name;
  std::optional<int64_t> old_version, new_version;
  Json diffs = Json::array();  // [{"path": "steps[1].command", "old": …, "new": …}]
};

// {"action", "name", "old_version", "new_version", "diffs"} (versions null when absent).
Json DefinitionChangeToJson(const DefinitionChange& change);

// One stored version with its spec parsed back (spec.file = "registry (NAME vN)", line 0).
template <typename Spec>
struct DefinitionVersion {
  std::string name;
  int64_t version = 0;
  std::string content_hash;  // hex SHA-256 of the canonical JSON text
  Spec spec;
  int64_t created_ms = 0;
  bool removed = false;  // pruned by `apply --prune`; its versions stay readable
};

// One version as stored: `spec` is its canonical JSON text.
using StoredDefinition = DefinitionVersion<std::string>;

// One definition of an apply.
struct DefinitionInput {
  std::string name;
  std::string file;  // where it was defined, for the "defined twice" error
  int line = 0;
  Json canonical;                    // hashed as DumpJson(canonical)
  std::vector<std::string> columns;  // values of options.columns, in that order
};

// The registered state of one name, as an apply's check sees it.
struct DefinitionHead {
  int64_t latest_version = 0;
  std::string content_hash;
  bool removed = false;
  std::vector<std::string> columns;  // values of options.columns
};

struct DefinitionStoreOptions {
  std::string kind;            // "pipeline": the noun of every message
  std::string table;           // "pipelines"
  std::string versions_table;  // "pipeline_versions"
  // Extra TEXT columns of `table` set from DefinitionInput::columns (the policies' model).
  std::vector<std::string> columns = {};
  // Field-level differences of a changed definition: (old, new canonical) → [{"path",
  // "old", "new"}]. Unset: no diffs.
  std::function<Json(const Json&, const Json&)> diff = nullptr;
  // Appended to the "is not registered" NotFound of Get: "list pipelines with …".
  std::string list_hint = {};
};

class DefinitionStore {
 public:
  // Runs inside the apply's transaction, after the registered heads are read and before
  // anything is planned; a non-OK status fails the apply (nothing written).
  using HeadCheck = std::function<absl::Status(const std::map<std::string, DefinitionHead>& heads)>;

  // `db` and `clock` outlive the store; the tables must exist (the caller's migrations).
  DefinitionStore(Database& db, Clock& clock, DefinitionStoreOptions options);

  const DefinitionStoreOptions& options() const { return options_; }

  // Plans (and unless dry_run, applies) `inputs`. `prune` marks registered definitions
  // missing from `inputs` as removed. Changes come in the order of `inputs`, then the
  // removed ones by name. Two inputs with one name: InvalidArgument ("FILE:LINE: KIND
  // NAME: is defined twice in this apply: …"), nothing written.
  absl::StatusOr<std::vector<DefinitionChange>> Apply(const std::vector<DefinitionInput>& inputs,
                                                      bool dry_run, bool prune,
                                                      const HeadCheck& check = nullptr);
  // The latest version when `version` is empty (also of a removed definition, with removed
  // set). NotFound: "KIND 'NAME' is not registered: …" / "… has no version N: its
  // versions are 1 to M".
  absl::StatusOr<StoredDefinition> Get(std::string_view name, std::optional<int64_t> version = {});
  // The latest version of every definition not removed, by name; with `column` (one of
  // options.columns), only those whose column equals `value`.
  absl::StatusOr<std::vector<StoredDefinition>> List(std::string_view column = {},
                                                     std::string_view value = {});
  // Every version of one definition, oldest first. NotFound when never registered.
  absl::StatusOr<std::vector<StoredDefinition>> Versions(std::string_view name);

 private:
  absl::StatusOr<std::vector<StoredDefinition>> Query(std::string_view where_and_order,
                                                      const std::vector<SqlValue>& params);

  Database& db_;
  Clock& clock_;
  const DefinitionStoreOptions options_;
};

// A DefinitionStore of one spec type. Spec has `name`, `file` and `line`.
template <typename Spec>
struct DefinitionCodec {
  std::function<Json(const Spec&)> to_json;                                // canonical JSON
  std::function<absl::StatusOr<Spec>(const Json&)> from_json;              // and back
  std::function<std::vector<std::string>(const Spec&)> columns = nullptr;  // may be unset
};

template <typename Spec>
class TypedDefinitionStore {
 public:
  using Version = DefinitionVersion<Spec>;

  // `max_cached` > 0 keeps up to that many parsed versions in memory (versions never
  // change once written), so List and Get parse each version once.
  TypedDefinitionStore(Database& db, Clock& clock, DefinitionStoreOptions options,
                       DefinitionCodec<Spec> codec, size_t max_cached = 0)
      : store_(db, clock, std::move(options)), codec_(std::move(codec)), max_cached_(max_cached) {}

  DefinitionStore& untyped() { return store_; }

  absl::StatusOr<std::vector<DefinitionChange>> Apply(
      const std::vector<Spec>& specs, bool dry_run, bool prune,
      const DefinitionStore::HeadCheck& check = nullptr) {
    std::vector<DefinitionInput> inputs;
    inputs.reserve(specs.size());
    for (const Spec& spec : specs) {
      inputs.push_back(
          {.name = spec.name,
           .file = spec.file,
           .line = spec.line,
           .canonical = codec_.to_json(spec),
           .columns = codec_.columns ? codec_.columns(spec) : std::vector<std::string>{}});
    }
    return store_.Apply(inputs, dry_run, prune, check);
  }
  absl::StatusOr<Version> Get(std::string_view name, std::optional<int64_t> version = {}) {
    CAIRN_ASSIGN_OR_RETURN(StoredDefinition stored, store_.Get(name, version));
    return Parse(std::move(stored));
  }
  absl::StatusOr<std::vector<Version>> List(std::string_view column = {},
                                            std::string_view value = {}) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<StoredDefinition> stored, store_.List(column, value));
    return ParseAll(std::move(stored));
  }
  absl::StatusOr<std::vector<Version>> Versions(std::string_view name) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<StoredDefinition> stored, store_.Versions(name));
    return ParseAll(std::move(stored));
  }

 private:
  absl::StatusOr<std::vector<Version>> ParseAll(std::vector<StoredDefinition> stored) {
    std::vector<Version> out;
    out.reserve(stored.size());
    for (StoredDefinition& one : stored) {
      CAIRN_ASSIGN_OR_RETURN(Version version, Parse(std::move(one)));
      out.push_back(std::move(version));
    }
    return out;
  }

  absl::StatusOr<Version> Parse(StoredDefinition stored) {
    Version out;
    out.name = std::move(stored.name);
    out.version = stored.version;
    out.content_hash = std::move(stored.content_hash);
    out.created_ms = stored.created_ms;
    out.removed = stored.removed;
    auto key = std::make_pair(out.name, out.version);
    if (max_cached_ > 0) {
      absl::MutexLock lock(&mu_);
      auto it = cache_.find(key);
      if (it != cache_.end()) {
        out.spec = *it->second;
        return out;
      }
    }
    const std::string& kind = store_.options().kind;
    absl::StatusOr<Json> json = ParseJson(stored.spec);
    if (!json.ok()) {
      return absl::InternalError(
          absl::StrCat(kind, " ", out.name, " v", out.version,
                       ": stored spec is not JSON: ", json.status().message()));
    }
    absl::StatusOr<Spec> spec = codec_.from_json(*json);
    if (!spec.ok()) {
      return absl::InternalError(absl::StrCat(kind, " ", out.name, " v", out.version,
                                              ": stored spec: ", spec.status().message()));
    }
    spec->file = absl::StrCat("registry (", out.name, " v", out.version, ")");
    out.spec = std::move(*spec);
    if (max_cached_ > 0) {
      absl::MutexLock lock(&mu_);
      if (cache_.size() >= max_cached_) cache_.clear();
      cache_.emplace(std::move(key), std::make_shared<const Spec>(out.spec));
    }
    return out;
  }

  DefinitionStore store_;
  const DefinitionCodec<Spec> codec_;
  const size_t max_cached_;
  absl::Mutex mu_;
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const Spec>> cache_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::storage
