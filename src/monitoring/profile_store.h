#pragma once
// Named profiles and their constraint sets in the metadata store (migrations component
// "monitoring_profiles", table monitoring_profiles). Each Put of a name adds a version
// (1, 2, 3 …); readers get the latest unless they ask for one. A version holds the
// profile (ProfileToJson, with its sketch state: it can be merged or re-summarized later),
// the constraints (ConstraintsToJson; inferred from the profile unless given) and where
// the data came from. Works on SQLite and PostgreSQL (the Database seam, portable SQL).
// Thread-safe (the Database serializes writers; concurrent Puts of one name on
// PostgreSQL retry on the version conflict).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "monitoring/constraints.h"
#include "monitoring/profile.h"
#include "storage/database.h"

namespace cairn::monitoring {

struct ProfileSummary {
  std::string name;
  int64_t version = 0;
  int64_t rows = 0;
  int64_t columns = 0;
  std::string source;  // e.g. the CSV file's name, "api"
  int64_t created_ms = 0;
};

struct StoredProfile {
  ProfileSummary summary;
  DataProfile profile;
  Constraints constraints;
};

class ProfileStore {
 public:
  // Applies the migrations; `db` and `clock` must outlive the store.
  static absl::StatusOr<std::unique_ptr<ProfileStore>> Open(storage::Database& db, Clock& clock);

  // Stores a new version of `name`. Names: 1–128 of [A-Za-z0-9._-], starting with a letter
  // or digit (InvalidArgument naming the value otherwise).
  absl::StatusOr<ProfileSummary> Put(std::string_view name, const DataProfile& profile,
                                     const Constraints& constraints, std::string_view source);

  // `version` 0: the latest. NotFound naming the profile (and version).
  absl::StatusOr<StoredProfile> Get(std::string_view name, int64_t version = 0) const;
  // The latest version's constraints (what monitors with reference.profile check).
  absl::StatusOr<Constraints> GetConstraints(std::string_view name) const;

  // The latest version of every profile, by name.
  absl::StatusOr<std::vector<ProfileSummary>> List() const;
  // Every version of `name`, oldest first; NotFound when there is none.
  absl::StatusOr<std::vector<ProfileSummary>> Versions(std::string_view name) const;

  // Removes every version of `name`; NotFound when there is none.
  absl::Status Delete(std::string_view name);

  // InvalidArgument when `name` is not a valid profile name.
  static absl::Status ValidateName(std::string_view name);

 private:
  ProfileStore(storage::Database& db, Clock& clock) : db_(db), clock_(clock) {}

  storage::Database& db_;
  Clock& clock_;
  // Puts of this process take the next version one at a time (MAX(version) + 1 would
  // otherwise race); other processes sharing a database are handled by retrying.
  absl::Mutex put_mu_;
};

}  // namespace cairn::monitoring
