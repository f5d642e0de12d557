#pragma once
// Named profiles and their constraint sets in the metadata store (migrations component
// "monitoring_profiles", table monitoring_profiles). Each Put of a name adds a version
// (1, 2, 3 …); readers get the latest unless they ask for one. A version holds the
// profile (ProfileToJson, with its sketch state: it can be merged or re-summarized later),
// the constraints (ConstraintsToJson; inferred from the profile unless given) and where
// the data came from — and, when the version was made from rows and the store has a rows
// directory, those rows (reference_rows.h encoding, one file per version,
// <rows_dir>/<name>/<version>.cref) so monitors can test drift against the profile.
// Works on SQLite and PostgreSQL (the Database seam, portable SQL); the rows files live on
// the server's disk, not in the database.
// Thread-safe (the Database serializes writers; concurrent Puts of one name on
// PostgreSQL retry on the version conflict).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "monitoring/constraints.h"
#include "monitoring/data_frame.h"
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
  bool has_rows = false;  // the version's reference rows were stored with it
};

struct StoredProfile {
  ProfileSummary summary;
  DataProfile profile;
  Constraints constraints;
};

// A version's stored reference rows: `frame` is empty when the version was stored without
// them (made from a profile only, or before rows were kept).
struct ProfileRows {
  ProfileSummary summary;
  std::optional<DataFrame> frame;
};

class ProfileStore {
 public:
  // Applies the migrations; `db` and `clock` must outlive the store. `rows_dir`: where the
  // versions' reference rows go (created when needed); empty: rows cannot be stored.
  static absl::StatusOr<std::unique_ptr<ProfileStore>> Open(storage::Database& db, Clock& clock,
                                                            std::string rows_dir = "");

  // Stores a new version of `name`. Names: 1–128 of [A-Za-z0-9._-], starting with a letter
  // or digit (InvalidArgument naming the value otherwise). `rows`: the reference rows'
  // encoding (EncodeReferenceRows) to keep with the version, empty for none;
  // FailedPrecondition when given to a store without a rows directory, InvalidArgument
  // when they do not decode or do not match the profile (another row count, a column of
  // one missing from the other, a column numeric in one and categorical in the other:
  // the message names the column), and the version is not stored when they cannot be
  // written.
  absl::StatusOr<ProfileSummary> Put(std::string_view name, const DataProfile& profile,
                                     const Constraints& constraints, std::string_view source,
                                     std::string_view rows = {});

  // `version` 0: the latest. NotFound naming the profile (and version).
  absl::StatusOr<StoredProfile> Get(std::string_view name, int64_t version = 0) const;
  // The latest version's constraints (what monitors with reference.profile check).
  absl::StatusOr<Constraints> GetConstraints(std::string_view name) const;
  // The rows stored with a version (`version` 0: the latest): NotFound as Get; frame empty
  // when the version has none; FailedPrecondition naming the file when the version has
  // rows but their file is gone or unreadable (another server's disk, deleted by hand).
  absl::StatusOr<ProfileRows> GetRows(std::string_view name, int64_t version = 0) const;

  // The latest version of every profile, by name.
  absl::StatusOr<std::vector<ProfileSummary>> List() const;
  // Every version of `name`, oldest first; NotFound when there is none.
  absl::StatusOr<std::vector<ProfileSummary>> Versions(std::string_view name) const;

  // Removes every version of `name` and their rows; NotFound when there is none.
  absl::Status Delete(std::string_view name);

  // Whether Put can keep reference rows (the store has a rows directory).
  bool keeps_rows() const { return !rows_dir_.empty(); }

  // InvalidArgument when `name` is not a valid profile name.
  static absl::Status ValidateName(std::string_view name);

 private:
  ProfileStore(storage::Database& db, Clock& clock, std::string rows_dir)
      : db_(db), clock_(clock), rows_dir_(std::move(rows_dir)) {}

  storage::Database& db_;
  Clock& clock_;
  std::string rows_dir_;
  // Puts of this process take the next version one at a time (MAX(version) + 1 would
  // otherwise race); other processes sharing a database are handled by retrying.
  absl::Mutex put_mu_;
};

}  // namespace cairn::monitoring
