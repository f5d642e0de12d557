#include "monitoring/profile_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "monitoring/reference_rows.h"
#include "storage/migrations.h"

namespace cairn::monitoring {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE monitoring_profiles (
  name TEXT NOT NULL,
  version BIGINT NOT NULL,
  n_rows BIGINT NOT NULL,
  n_columns BIGINT NOT NULL,
  source TEXT NOT NULL,
  profile TEXT NOT NULL,
  constraints_json TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (name, version))
)sql";

// rows_file: the version's reference rows, relative to the store's rows directory; NULL
// when none were stored.
constexpr char kSchemaV2[] = "ALTER TABLE monitoring_profiles ADD COLUMN rows_file TEXT";

constexpr storage::Migration kMigrations[] = {
    {.version = 1, .name = "monitoring profiles: named, versioned profiles and constraints",
     .sql = kSchemaV1},
    {.version = 2, .name = "monitoring profiles: the reference rows kept with a version",
     .sql = kSchemaV2},
};

constexpr char kSummaryColumns[] =
    "name, version, n_rows, n_columns, source, created_ms, rows_file";

// How many concurrent Puts of one name may collide on PostgreSQL before one gives up.
constexpr int kPutTries = 20;

ProfileSummary ReadSummary(const SqlRowView& row) {
  ProfileSummary s;
  s.name = std::string(row.Text(0));
  s.version = row.Int(1);
  s.rows = row.Int(2);
  s.columns = row.Int(3);
  s.source = std::string(row.Text(4));
  s.created_ms = row.Int(5);
  s.has_rows = !row.IsNull(6);
  return s;
}

// A new file's name under the rows directory: unique, so that it is written (and synced)
// under its final name before the version row that names it is committed — a crash leaves
// at worst an unreferenced file, never a version whose rows are missing.
std::string NewRowsFileName(std::string_view name) {
  return absl::StrCat(ToAbsl(name), "/", NewUuidHex(), ".cref");
}

// Writes `bytes` to `path` and syncs the file and its directory.
absl::Status WriteWholeDurably(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  bool synced = static_cast<bool>(out);
  for (const std::filesystem::path& p : {path, path.parent_path()}) {
    if (!synced) break;
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    synced = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
  }
  if (!synced) {
    return absl::InternalError(absl::StrCat("cannot write the profile's reference rows to ",
                                            path.string(), ": check the data directory's "
                                            "free space and permissions"));
  }
  return absl::OkStatus();
}

const char* KindName(bool categorical) { return categorical ? "categorical" : "numeric"; }

// InvalidArgument naming the first column where `rows` and `profile` disagree: a column of
// one that the other lacks, or a column numeric in one and categorical in the other.
absl::Status CheckRowsMatchProfile(const DataFrame& rows, const DataProfile& profile) {
  constexpr char kFix[] = "; send the rows the profile was made from";
  for (const FrameColumn& column : rows.columns) {
    const ColumnProfile* profiled = profile.Find(column.name);
    if (profiled == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("rows: column '", column.name,
                                                     "' is in the reference rows but not in "
                                                     "the profile",
                                                     kFix));
    }
    if (profiled->categorical() != column.categorical) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rows: column '", column.name, "' is ", KindName(column.categorical),
          " in the reference rows but ", KindName(profiled->categorical()), " in the profile",
          kFix));
    }
  }
  for (const ColumnProfile& profiled : profile.columns()) {
    if (rows.Find(profiled.name()) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("rows: the profile's column '",
                                                     profiled.name(),
                                                     "' is missing from the reference rows",
                                                     kFix));
    }
  }
  return absl::OkStatus();
}

std::string Which(std::string_view name, int64_t version) {
  return version > 0 ? absl::StrCat("profile '", ToAbsl(name), "' version ", version)
                     : absl::StrCat("profile '", ToAbsl(name), "'");
}

}  // namespace

absl::Status ProfileStore::ValidateName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 128 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-')
      ok = false;
  }
  if (ok) return absl::OkStatus();
  std::string shown(name.substr(0, 80));
  return absl::InvalidArgumentError(absl::StrCat(
      "name: '", shown, "' is not a valid profile name; use 1-128 letters, digits, '.', '_' "
      "or '-', starting with a letter or digit (e.g. churn-train)"));
}

absl::StatusOr<std::unique_ptr<ProfileStore>> ProfileStore::Open(storage::Database& db,
                                                                 Clock& clock,
                                                                 std::string rows_dir) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "monitoring_profiles", kMigrations));
  return std::unique_ptr<ProfileStore>(new ProfileStore(db, clock, std::move(rows_dir)));
}

absl::StatusOr<ProfileSummary> ProfileStore::Put(std::string_view name, const DataProfile& profile,
                                                 const Constraints& constraints,
                                                 std::string_view source,
                                                 std::string_view rows) {
  CAIRN_RETURN_IF_ERROR(ValidateName(name));
  // The rows are written and synced under a new unique name first; the version row that
  // names them is committed after (a failed commit removes the file).
  std::filesystem::path staged;
  std::string rows_file;
  if (!rows.empty()) {
    if (rows_dir_.empty()) {
      return absl::FailedPreconditionError(
          "rows: this profile store has no directory to keep reference rows in");
    }
    absl::StatusOr<DataFrame> decoded = DecodeReferenceRows(rows);
    if (!decoded.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("rows: ", decoded.status().message()));
    }
    if (decoded->rows != profile.rows()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rows: ", decoded->rows, " reference rows for a profile of ", profile.rows(),
          " rows; send the rows the profile was made from"));
    }
    CAIRN_RETURN_IF_ERROR(CheckRowsMatchProfile(*decoded, profile));
    const std::filesystem::path dir = std::filesystem::path(rows_dir_) / std::string(name);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot create ", dir.string(),
                                              " for the profile's reference rows: ",
                                              ec.message()));
    }
    rows_file = NewRowsFileName(name);
    staged = std::filesystem::path(rows_dir_) / rows_file;
    CAIRN_RETURN_IF_ERROR(WriteWholeDurably(staged, rows));
  }
  struct StagedCleanup {
    std::filesystem::path path;
    ~StagedCleanup() {
      std::error_code ignored;
      if (!path.empty()) std::filesystem::remove(path, ignored);
    }
  } cleanup{staged};
  ProfileSummary summary;
  summary.name = std::string(name);
  summary.rows = profile.rows();
  summary.columns = static_cast<int64_t>(profile.columns().size());
  summary.source = std::string(source);
  const std::string profile_text = DumpJson(ProfileToJson(profile));
  const std::string constraints_text = DumpJson(ConstraintsToJson(constraints));
  absl::MutexLock lock(&put_mu_);
  absl::Status status;
  for (int attempt = 0; attempt < kPutTries; ++attempt) {
    status = db_.Write([&](SqlSession& session) -> absl::Status {
      int64_t latest = 0;
      std::vector<SqlValue> key = {summary.name};
      CAIRN_RETURN_IF_ERROR(session.QueryEach(
          "SELECT MAX(version) FROM monitoring_profiles WHERE name = $1", key,
          [&](const SqlRowView& row) {
            if (!row.IsNull(0)) latest = row.Int(0);
            return absl::OkStatus();
          }));
      summary.version = latest + 1;
      summary.created_ms = clock_.NowMillis();
      summary.has_rows = !staged.empty();
      std::vector<SqlValue> params = {
          summary.name,     summary.version,    summary.rows,
          summary.columns,  summary.source,     profile_text,
          constraints_text, summary.created_ms, staged.empty() ? SqlValue() : SqlValue(rows_file)};
      return session
          .Execute("INSERT INTO monitoring_profiles (name, version, n_rows, n_columns, source, "
                   "profile, constraints_json, created_ms, rows_file) VALUES ($1, $2, $3, $4, "
                   "$5, $6, $7, $8, $9)",
                   params)
          .status();
    });
    if (!absl::IsAlreadyExists(status) && !absl::IsAborted(status)) break;
  }
  if (!status.ok()) return status;
  cleanup.path.clear();  // the committed version names the file
  return summary;
}

absl::StatusOr<StoredProfile> ProfileStore::Get(std::string_view name, int64_t version) const {
  std::optional<ProfileSummary> summary;
  std::string profile_text, constraints_text;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) {
    std::vector<SqlValue> params = {std::string(name)};
    std::string sql = absl::StrCat("SELECT ", kSummaryColumns,
                                   ", profile, constraints_json FROM monitoring_profiles "
                                   "WHERE name = $1 AND version = ");
    if (version > 0) {
      sql += "$2";
      params.push_back(version);
    } else {
      sql += "(SELECT MAX(version) FROM monitoring_profiles WHERE name = $1)";
    }
    return session.QueryEach(sql, params, [&](const SqlRowView& row) {
      summary = ReadSummary(row);
      profile_text = std::string(row.Text(7));
      constraints_text = std::string(row.Text(8));
      return absl::OkStatus();
    });
  }));
  if (!summary) {
    return absl::NotFoundError(absl::StrCat(
        Which(name, version), " does not exist; list them with `cairn profiles list`"));
  }
  auto corrupt = [&](const absl::Status& s) {
    return absl::InternalError(absl::StrCat(Which(name, summary->version),
                                            ": stored data is unreadable: ", s.message()));
  };
  absl::StatusOr<Json> profile_json = ParseJson(profile_text);
  if (!profile_json.ok()) return corrupt(profile_json.status());
  absl::StatusOr<DataProfile> profile = ProfileFromJson(*profile_json);
  if (!profile.ok()) return corrupt(profile.status());
  absl::StatusOr<Json> constraints_json = ParseJson(constraints_text);
  if (!constraints_json.ok()) return corrupt(constraints_json.status());
  absl::StatusOr<Constraints> constraints = ConstraintsFromJson(*constraints_json);
  if (!constraints.ok()) return corrupt(constraints.status());
  return StoredProfile{std::move(*summary), std::move(*profile), std::move(*constraints)};
}

absl::StatusOr<Constraints> ProfileStore::GetConstraints(std::string_view name) const {
  CAIRN_ASSIGN_OR_RETURN(StoredProfile stored, Get(name));
  return std::move(stored.constraints);
}

absl::StatusOr<ProfileRows> ProfileStore::GetRows(std::string_view name, int64_t version) const {
  std::optional<ProfileSummary> summary;
  std::string rows_file;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) {
    std::vector<SqlValue> params = {std::string(name)};
    std::string sql = absl::StrCat("SELECT ", kSummaryColumns,
                                   " FROM monitoring_profiles WHERE name = $1 AND version = ");
    if (version > 0) {
      sql += "$2";
      params.push_back(version);
    } else {
      sql += "(SELECT MAX(version) FROM monitoring_profiles WHERE name = $1)";
    }
    return session.QueryEach(sql, params, [&](const SqlRowView& row) {
      summary = ReadSummary(row);
      rows_file = row.IsNull(6) ? std::string() : std::string(row.Text(6));
      return absl::OkStatus();
    });
  }));
  if (!summary) {
    return absl::NotFoundError(absl::StrCat(
        Which(name, version), " does not exist; list them with `cairn profiles list`"));
  }
  ProfileRows out;
  out.summary = std::move(*summary);
  if (rows_file.empty()) return out;
  const std::filesystem::path path = std::filesystem::path(rows_dir_) / rows_file;
  std::ifstream in(path, std::ios::binary);
  if (rows_dir_.empty() || !in) {
    return absl::FailedPreconditionError(absl::StrCat(
        Which(name, out.summary.version), " was stored with its reference rows, but ",
        rows_dir_.empty() ? std::string("this store has no rows directory") : path.string(),
        rows_dir_.empty() ? "" : " is gone",
        "; recreate the profile from its data with `cairn profiles create`"));
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<DataFrame> frame = DecodeReferenceRows(bytes);
  if (!frame.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(Which(name, out.summary.version), " (",
                                                      path.string(), "): ",
                                                      frame.status().message()));
  }
  out.frame = std::move(*frame);
  return out;
}

absl::StatusOr<std::vector<ProfileSummary>> ProfileStore::List() const {
  std::vector<ProfileSummary> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) {
    return session.QueryEach(
        absl::StrCat("SELECT ", kSummaryColumns,
                     " FROM monitoring_profiles p WHERE version = (SELECT MAX(version) FROM "
                     "monitoring_profiles q WHERE q.name = p.name) ORDER BY name"),
        {}, [&](const SqlRowView& row) {
          out.push_back(ReadSummary(row));
          return absl::OkStatus();
        });
  }));
  return out;
}

absl::StatusOr<std::vector<ProfileSummary>> ProfileStore::Versions(std::string_view name) const {
  std::vector<ProfileSummary> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) {
    std::vector<SqlValue> params = {std::string(name)};
    return session.QueryEach(absl::StrCat("SELECT ", kSummaryColumns,
                                          " FROM monitoring_profiles WHERE name = $1 "
                                          "ORDER BY version"),
                             params, [&](const SqlRowView& row) {
                               out.push_back(ReadSummary(row));
                               return absl::OkStatus();
                             });
  }));
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat(Which(name, 0),
                                            " does not exist; list them with `cairn profiles list`"));
  }
  return out;
}

absl::Status ProfileStore::Delete(std::string_view name) {
  int64_t removed = 0;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    std::vector<SqlValue> params = {std::string(name)};
    CAIRN_ASSIGN_OR_RETURN(removed,
                           session.Execute("DELETE FROM monitoring_profiles WHERE name = $1", params));
    return absl::OkStatus();
  }));
  if (removed == 0) {
    return absl::NotFoundError(absl::StrCat(Which(name, 0),
                                            " does not exist; list them with `cairn profiles list`"));
  }
  if (!rows_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(rows_dir_) / std::string(name), ec);
    if (ec) {
      return absl::InternalError(absl::StrCat(Which(name, 0), " was deleted, but its reference "
                                              "rows could not be removed from ", rows_dir_,
                                              ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace cairn::monitoring
