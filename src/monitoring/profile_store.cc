#include "monitoring/profile_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
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

constexpr storage::Migration kMigrations[] = {
    {.version = 1, .name = "monitoring profiles: named, versioned profiles and constraints",
     .sql = kSchemaV1},
};

constexpr char kSummaryColumns[] = "name, version, n_rows, n_columns, source, created_ms";

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
  return s;
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
                                                                 Clock& clock) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "monitoring_profiles", kMigrations));
  return std::unique_ptr<ProfileStore>(new ProfileStore(db, clock));
}

absl::StatusOr<ProfileSummary> ProfileStore::Put(std::string_view name, const DataProfile& profile,
                                                 const Constraints& constraints,
                                                 std::string_view source) {
  CAIRN_RETURN_IF_ERROR(ValidateName(name));
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
      std::vector<SqlValue> params = {summary.name,    summary.version, summary.rows,
                                      summary.columns, summary.source,  profile_text,
                                      constraints_text, summary.created_ms};
      return session
          .Execute("INSERT INTO monitoring_profiles (name, version, n_rows, n_columns, source, "
                   "profile, constraints_json, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                   params)
          .status();
    });
    if (!absl::IsAlreadyExists(status) && !absl::IsAborted(status)) break;
  }
  if (!status.ok()) return status;
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
      profile_text = std::string(row.Text(6));
      constraints_text = std::string(row.Text(7));
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
  return absl::OkStatus();
}

}  // namespace cairn::monitoring
