#include "tracking/model_registry.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "storage/migrations.h"
#include "tracking/registry_search.h"

namespace cairn::tracking {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

constexpr std::string_view kStageDeleted = "Deleted_Internal";
constexpr std::string_view kPromptTag = "mlflow.prompt.is_prompt";
constexpr size_t kMaxTagKeyLength = 250;
constexpr size_t kMaxTagValueLength = 100'000;
constexpr size_t kMaxAliasLength = 255;
constexpr int64_t kModelsDefaultMaxResults = 100;
constexpr int64_t kModelsMaxResults = 1000;
constexpr int64_t kVersionsDefaultMaxResults = 10'000;
constexpr int64_t kVersionsMaxResults = 200'000;

constexpr std::array<std::string_view, 4> kAllStages = {kStageNone, kStageStaging,
                                                        kStageProduction, kStageArchived};

// Version 1 of the schema. Models have a surrogate id so that a rename touches one row and
// the versions, tags, aliases and alias history follow. `next_version` and `alias_seq`
// are per-model counters bumped with UPDATE … RETURNING, which also row-locks the model
// for the rest of the write transaction (serializes version creation and alias moves on
// PostgreSQL; SQLite has one writer).
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE registry_models (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  creation_time BIGINT NOT NULL,
  last_updated_time BIGINT NOT NULL,
  description TEXT,
  next_version BIGINT NOT NULL DEFAULT 0,
  alias_seq BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE registry_model_tags (
  model_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (model_id, key)
);
CREATE TABLE registry_versions (
  model_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  creation_time BIGINT NOT NULL,
  last_updated_time BIGINT NOT NULL,
  description TEXT,
  user_id TEXT NOT NULL DEFAULT '',
  current_stage TEXT NOT NULL,
  source TEXT NOT NULL,
  storage_location TEXT NOT NULL DEFAULT '',
  run_id TEXT,
  run_link TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  status_message TEXT NOT NULL DEFAULT '',
  logged_model_id TEXT,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (model_id, version)
);
CREATE INDEX registry_versions_run_id ON registry_versions (run_id);
CREATE TABLE registry_version_tags (
  model_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (model_id, version, key)
);
CREATE TABLE registry_aliases (
  model_id TEXT NOT NULL,
  alias TEXT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (model_id, alias)
);
CREATE TABLE registry_alias_history (
  model_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  alias TEXT NOT NULL,
  from_version BIGINT,
  to_version BIGINT,
  change_time BIGINT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (model_id, seq)
)
)sql";

constexpr storage::Migration kMigrations[] = {
    {.version = 1, .name = "registry models, versions, tags, aliases, alias history",
     .sql = kSchemaV1},
};

// ---- Validation helpers (MLflow's rules and wording) ----

// posixpath.normpath.
std::string NormPath(std::string_view path) {
  if (path.empty()) return ".";
  size_t leading = 0;
  while (leading < path.size() && path[leading] == '/') ++leading;
  std::string prefix = leading == 0 ? "" : leading == 2 ? "//" : "/";
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(ToAbsl(path), '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
        continue;
      }
      if (!prefix.empty()) continue;
    }
    parts.emplace_back(part);
  }
  std::string out = prefix + absl::StrJoin(parts, "/");
  return out.empty() ? "." : out;
}

bool PathNotUnique(std::string_view name) {
  std::string norm = NormPath(name);
  return norm != name || norm == "." || norm.rfind("..", 0) == 0 || norm.rfind('/', 0) == 0;
}

// json.dumps of a string (for MLflow's invalid_value messages).
std::string JsonQuote(std::string_view value) { return DumpJson(Json(std::string(value))); }

std::string BadPathMessage(std::string_view name) {
  return absl::StrCat(
      "Names may be treated as files in certain cases, and must not resolve to other names "
      "when treated as such. This name would resolve to '",
      NormPath(name), "'");
}

bool IsWordByte(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || u >= 0x80;  // \w is Unicode-aware in Python
}

absl::Status ValidateTagKey(std::string_view key) {
  for (char c : key) {
    if (!IsWordByte(c) && c != '/' && c != '.' && c != '-' && c != ' ' && c != ':')
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid value ", JsonQuote(key),
          " for parameter 'key' supplied: Names may only contain alphanumerics, underscores "
          "(_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."));
  }
  if (PathNotUnique(key))
    return absl::InvalidArgumentError(absl::StrCat("Invalid value ", JsonQuote(key),
                                                   " for parameter 'key' supplied: ",
                                                   BadPathMessage(key)));
  if (key.size() > kMaxTagKeyLength)
    return absl::InvalidArgumentError(absl::StrCat(
        "'key' exceeds the maximum length of ", kMaxTagKeyLength, " characters"));
  return absl::OkStatus();
}

absl::Status ValidateTag(std::string_view key, std::string_view value) {
  CAIRN_RETURN_IF_ERROR(ValidateTagKey(key));
  if (value.size() > kMaxTagValueLength)
    return absl::InvalidArgumentError(absl::StrCat(
        "'value' exceeds the maximum length of ", kMaxTagValueLength, " characters"));
  return absl::OkStatus();
}

absl::Status ValidateAliasNotReserved(std::string_view alias) {
  if (absl::AsciiStrToLower(ToAbsl(alias)) == "latest")
    return absl::InvalidArgumentError("'latest' alias name (case insensitive) is reserved.");
  if (alias.size() >= 2 && (alias[0] == 'v' || alias[0] == 'V') &&
      std::all_of(alias.begin() + 1, alias.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return absl::InvalidArgumentError(
        absl::StrCat("Version alias name '", ToAbsl(alias), "' is reserved."));
  return absl::OkStatus();
}

absl::StatusOr<std::string> CanonicalStage(std::string_view stage) {
  std::string lower = absl::AsciiStrToLower(ToAbsl(stage));
  for (std::string_view candidate : kAllStages)
    if (absl::AsciiStrToLower(ToAbsl(candidate)) == lower) return std::string(candidate);
  return absl::InvalidArgumentError(
      absl::StrCat("Invalid Model Version stage: ", ToAbsl(stage),
                   ". Value must be one of None, Staging, Production, Archived."));
}

absl::Status ModelNotFound(std::string_view name) {
  return absl::NotFoundError(
      absl::StrCat("Registered Model with name=", ToAbsl(name), " not found"));
}

absl::Status VersionNotFound(std::string_view name, int64_t version) {
  return absl::NotFoundError(absl::StrCat("Model Version (name=", ToAbsl(name),
                                          ", version=", version, ") not found"));
}

// ---- Row access ----

std::optional<std::string> OptText(const SqlRowView& row, int col) {
  if (row.IsNull(col)) return std::nullopt;
  return std::string(row.Text(col));
}

std::optional<int64_t> OptInt(const SqlRowView& row, int col) {
  if (row.IsNull(col)) return std::nullopt;
  return row.Int(col);
}

SqlValue NullableText(const std::optional<std::string>& value) {
  if (!value) return std::monostate{};
  return *value;
}

SqlValue NullableText(std::string_view value) {
  if (value.empty()) return std::monostate{};
  return std::string(value);
}

struct ModelRow {
  std::string id;
  std::string name;
  int64_t creation_time = 0;
  int64_t last_updated_time = 0;
  std::optional<std::string> description;
};

constexpr std::string_view kModelColumns =
    "id, name, creation_time, last_updated_time, description";

ModelRow ReadModelRow(const SqlRowView& row) {
  return ModelRow{std::string(row.Text(0)), std::string(row.Text(1)), row.Int(2), row.Int(3),
                  OptText(row, 4)};
}

absl::StatusOr<ModelRow> FindModel(SqlSession& session, std::string_view name) {
  std::optional<ModelRow> found;
  const SqlValue params[] = {std::string(name)};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT ", ToAbsl(kModelColumns), " FROM registry_models WHERE name = $1"),
      params, [&](const SqlRowView& row) {
        found = ReadModelRow(row);
        return absl::OkStatus();
      }));
  if (!found) return ModelNotFound(name);
  return *std::move(found);
}

// FindModel plus a row lock on the model (a no-op UPDATE; PostgreSQL keeps the lock to the
// end of the transaction, SQLite has a single writer anyway). Every write that touches a
// model's versions, tags or aliases takes it first, so writers of one model serialize in
// one lock order and never deadlock; NotFound if the model went away meanwhile.
absl::StatusOr<ModelRow> FindModelForWrite(SqlSession& session, std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModel(session, name));
  const SqlValue params[] = {row.id};
  CAIRN_ASSIGN_OR_RETURN(
      int64_t locked,
      session.Execute("UPDATE registry_models SET alias_seq = alias_seq WHERE id = $1", params));
  if (locked == 0) return ModelNotFound(name);
  return row;
}

constexpr std::string_view kVersionColumns =
    "version, creation_time, last_updated_time, description, user_id, current_stage, source, "
    "storage_location, run_id, run_link, status, status_message, logged_model_id, model_id";

// Reads kVersionColumns starting at `col` (name, tags and aliases are filled elsewhere).
ModelVersion ReadVersionRow(const SqlRowView& row, int col = 0) {
  ModelVersion mv;
  mv.version = row.Int(col + 0);
  mv.creation_timestamp = row.Int(col + 1);
  mv.last_updated_timestamp = row.Int(col + 2);
  mv.description = OptText(row, col + 3);
  mv.user_id = std::string(row.Text(col + 4));
  mv.current_stage = std::string(row.Text(col + 5));
  mv.source = std::string(row.Text(col + 6));
  mv.storage_location = std::string(row.Text(col + 7));
  mv.run_id = OptText(row, col + 8);
  mv.run_link = std::string(row.Text(col + 9));
  mv.status = std::string(row.Text(col + 10));
  mv.status_message = std::string(row.Text(col + 11));
  mv.model_id = OptText(row, col + 12);
  return mv;
}

// Tags and aliases of every version of one model, keyed by version.
struct VersionExtras {
  std::map<int64_t, std::vector<RegistryTag>> tags;
  std::map<int64_t, std::vector<std::string>> aliases;
};

absl::StatusOr<VersionExtras> LoadVersionExtras(SqlSession& session, const std::string& model_id,
                                                std::optional<int64_t> only_version) {
  VersionExtras extras;
  std::vector<SqlValue> params = {model_id};
  std::string version_clause;
  if (only_version) {
    params.push_back(*only_version);
    version_clause = " AND version = $2";
  }
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT version, key, value FROM registry_version_tags WHERE model_id = $1",
                   version_clause, " ORDER BY version, key"),
      params, [&](const SqlRowView& row) {
        extras.tags[row.Int(0)].push_back({std::string(row.Text(1)), std::string(row.Text(2))});
        return absl::OkStatus();
      }));
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT version, alias FROM registry_aliases WHERE model_id = $1",
                   version_clause, " ORDER BY version, alias"),
      params, [&](const SqlRowView& row) {
        extras.aliases[row.Int(0)].emplace_back(row.Text(1));
        return absl::OkStatus();
      }));
  return extras;
}

void ApplyExtras(const VersionExtras& extras, ModelVersion& mv) {
  if (auto it = extras.tags.find(mv.version); it != extras.tags.end()) mv.tags = it->second;
  if (auto it = extras.aliases.find(mv.version); it != extras.aliases.end())
    mv.aliases = it->second;
}

absl::StatusOr<ModelVersion> LoadVersion(SqlSession& session, const ModelRow& model,
                                         int64_t version) {
  std::optional<ModelVersion> found;
  const SqlValue params[] = {model.id, version};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT ", ToAbsl(kVersionColumns),
                   " FROM registry_versions WHERE model_id = $1 AND version = $2 AND deleted = 0"),
      params, [&](const SqlRowView& row) {
        found = ReadVersionRow(row);
        return absl::OkStatus();
      }));
  if (!found) return VersionNotFound(model.name, version);
  found->name = model.name;
  CAIRN_ASSIGN_OR_RETURN(VersionExtras extras, LoadVersionExtras(session, model.id, version));
  ApplyExtras(extras, *found);
  return *std::move(found);
}

// The highest non-deleted version per stage, ordered by version.
absl::StatusOr<std::vector<ModelVersion>> LoadLatestVersions(SqlSession& session,
                                                             const ModelRow& model,
                                                             bool with_aliases) {
  std::map<std::string, ModelVersion> by_stage;
  const SqlValue params[] = {model.id};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT ", ToAbsl(kVersionColumns),
                   " FROM registry_versions v WHERE model_id = $1 AND deleted = 0 AND version = "
                   "(SELECT MAX(version) FROM registry_versions w WHERE w.model_id = v.model_id "
                   "AND w.current_stage = v.current_stage AND w.deleted = 0)"),
      params, [&](const SqlRowView& row) {
        ModelVersion mv = ReadVersionRow(row);
        std::string stage = mv.current_stage;
        by_stage[stage] = std::move(mv);
        return absl::OkStatus();
      }));
  std::vector<ModelVersion> out;
  for (auto& [stage, mv] : by_stage) {
    mv.name = model.name;
    out.push_back(std::move(mv));
  }
  std::sort(out.begin(), out.end(),
            [](const ModelVersion& a, const ModelVersion& b) { return a.version < b.version; });
  if (!out.empty()) {
    CAIRN_ASSIGN_OR_RETURN(VersionExtras extras,
                           LoadVersionExtras(session, model.id, std::nullopt));
    if (!with_aliases) extras.aliases.clear();
    for (ModelVersion& mv : out) ApplyExtras(extras, mv);
  }
  return out;
}

absl::StatusOr<RegisteredModel> LoadRegisteredModel(SqlSession& session, const ModelRow& row) {
  RegisteredModel model;
  model.name = row.name;
  model.creation_timestamp = row.creation_time;
  model.last_updated_timestamp = row.last_updated_time;
  model.description = row.description;
  const SqlValue params[] = {row.id};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT key, value FROM registry_model_tags WHERE model_id = $1 ORDER BY key", params,
      [&](const SqlRowView& r) {
        model.tags.push_back({std::string(r.Text(0)), std::string(r.Text(1))});
        return absl::OkStatus();
      }));
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT alias, version FROM registry_aliases WHERE model_id = $1 ORDER BY alias", params,
      [&](const SqlRowView& r) {
        model.aliases.push_back({std::string(r.Text(0)), r.Int(1)});
        return absl::OkStatus();
      }));
  // MLflow leaves aliases out of the versions embedded in a registered model.
  CAIRN_ASSIGN_OR_RETURN(model.latest_versions,
                         LoadLatestVersions(session, row, /*with_aliases=*/false));
  return model;
}

// Bumps the model's alias_seq (row-locking the model) and returns the new value.
absl::StatusOr<int64_t> NextAliasSeq(SqlSession& session, const std::string& model_id) {
  int64_t seq = -1;
  const SqlValue params[] = {model_id};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "UPDATE registry_models SET alias_seq = alias_seq + 1 WHERE id = $1 RETURNING alias_seq",
      params, [&](const SqlRowView& row) {
        seq = row.Int(0);
        return absl::OkStatus();
      }));
  if (seq < 0) return absl::NotFoundError("registered model disappeared during the write");
  return seq;
}

absl::StatusOr<std::optional<int64_t>> CurrentAlias(SqlSession& session,
                                                    const std::string& model_id,
                                                    std::string_view alias) {
  std::optional<int64_t> version;
  const SqlValue params[] = {model_id, std::string(alias)};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT version FROM registry_aliases WHERE model_id = $1 AND alias = $2", params,
      [&](const SqlRowView& row) {
        version = row.Int(0);
        return absl::OkStatus();
      }));
  return version;
}

absl::Status RecordAliasChange(SqlSession& session, const std::string& model_id, int64_t seq,
                               std::string_view alias, std::optional<int64_t> from,
                               std::optional<int64_t> to, int64_t now, std::string_view actor,
                               std::string_view reason) {
  const SqlValue params[] = {
      model_id,
      seq,
      std::string(alias),
      from ? SqlValue(*from) : SqlValue(std::monostate{}),
      to ? SqlValue(*to) : SqlValue(std::monostate{}),
      now,
      std::string(actor.empty() ? std::string_view("anonymous") : actor),
      std::string(reason)};
  return session
      .Execute(
          "INSERT INTO registry_alias_history (model_id, seq, alias, from_version, to_version, "
          "change_time, actor, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
          params)
      .status();
}

absl::Status CheckMaxResults(int64_t max_results, int64_t limit) {
  if (max_results < 1)
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid value for max_results. It must be a positive integer, but got ",
                     max_results));
  if (max_results > limit)
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid value for request parameter max_results. It must be at most ", limit,
        ", but got value ", max_results));
  return absl::OkStatus();
}

// Whether the filter selects prompts (MLflow's _is_querying_prompt).
bool QueriesPrompts(const std::vector<RegistryClause>& clauses) {
  for (const RegistryClause& clause : clauses) {
    if (!clause.is_tag || clause.key != kPromptTag) continue;
    const std::string* value = std::get_if<std::string>(&clause.value);
    if (!value) return false;
    std::string lower = absl::AsciiStrToLower(*value);
    return (clause.op == "=" && lower == "true") || (clause.op == "!=" && lower == "false");
  }
  return false;
}

// A tag clause against a possibly-missing tag value (MLflow's rules, including the prompt
// tag's special case).
bool MatchesTagClause(const std::optional<std::string>& tag_value, const RegistryClause& clause) {
  if (!tag_value) {
    if (clause.key != kPromptTag) return false;
    const std::string* value = std::get_if<std::string>(&clause.value);
    return value && ((clause.op == "=" && *value == "false") ||
                     (clause.op == "!=" && *value == "true"));
  }
  return MatchesStringClause(*tag_value, clause);
}

bool MatchesNumber(int64_t lhs, const RegistryClause& clause) {
  const int64_t* rhs = std::get_if<int64_t>(&clause.value);
  if (!rhs) return false;
  if (clause.op == "=") return lhs == *rhs;
  if (clause.op == "!=") return lhs != *rhs;
  if (clause.op == "<") return lhs < *rhs;
  if (clause.op == "<=") return lhs <= *rhs;
  if (clause.op == ">") return lhs > *rhs;
  if (clause.op == ">=") return lhs >= *rhs;
  return false;
}

// Names of models that are prompts (model tag or any version tag is_prompt = 'true').
absl::StatusOr<std::set<std::string>> PromptModelIds(SqlSession& session) {
  std::set<std::string> ids;
  const SqlValue params[] = {std::string(kPromptTag)};
  auto add = [&](const SqlRowView& row) {
    if (absl::AsciiStrToLower(ToAbsl(row.Text(1))) == "true") ids.emplace(row.Text(0));
    return absl::OkStatus();
  };
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT model_id, value FROM registry_model_tags WHERE key = $1", params, add));
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT model_id, value FROM registry_version_tags WHERE key = $1", params, add));
  return ids;
}

}  // namespace

// ---- Free functions ----

absl::Status ValidateModelName(std::string_view name) {
  if (absl::StripAsciiWhitespace(ToAbsl(name)).empty())
    return absl::InvalidArgumentError("Missing value for required parameter 'name'.");
  if (name.find('/') != std::string_view::npos || name.find(':') != std::string_view::npos)
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid model name '", ToAbsl(name), "'. Names cannot contain '/' or ':'."));
  if (PathNotUnique(name))
    return absl::InvalidArgumentError(absl::StrCat("Invalid value ", JsonQuote(name),
                                                   " for parameter 'name' supplied: ",
                                                   BadPathMessage(name)));
  return absl::OkStatus();
}

absl::Status ValidateAliasName(std::string_view alias) {
  if (alias.empty())
    return absl::InvalidArgumentError("Registered model alias name cannot be empty.");
  for (char c : alias) {
    if (!IsWordByte(c) && c != '-')
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid alias name: '", ToAbsl(alias),
          "'. Names may only contain alphanumerics, underscores (_), and dashes (-)."));
  }
  if (alias.size() > kMaxAliasLength)
    return absl::InvalidArgumentError(
        absl::StrCat("'Registered model alias name' exceeds the maximum length of ",
                     kMaxAliasLength, " characters"));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseModelVersion(std::string_view text) {
  int64_t version;
  if (!absl::SimpleAtoi(ToAbsl(text), &version))
    return absl::InvalidArgumentError(
        absl::StrCat("Parameter 'version' must be an integer, got '", ToAbsl(text), "'."));
  return version;
}

// ---- ModelRegistry ----

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Open(storage::Database& db,
                                                                    Clock& clock) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "registry", kMigrations));
  return std::unique_ptr<ModelRegistry>(new ModelRegistry(db, clock));
}

absl::StatusOr<RegisteredModel> ModelRegistry::CreateRegisteredModel(
    std::string_view name, std::optional<std::string> description,
    const std::vector<RegistryTag>& tags) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  for (const RegistryTag& tag : tags) CAIRN_RETURN_IF_ERROR(ValidateTag(tag.key, tag.value));
  RegisteredModel result;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    int64_t now = clock_.NowMillis();
    std::string id = NewUuidHex();
    const SqlValue params[] = {id, std::string(name), now, NullableText(description)};
    bool inserted = false;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "INSERT INTO registry_models (id, name, creation_time, last_updated_time, description) "
        "VALUES ($1, $2, $3, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING id",
        params, [&](const SqlRowView&) {
          inserted = true;
          return absl::OkStatus();
        }));
    if (!inserted)
      return absl::AlreadyExistsError(
          absl::StrCat("Registered Model (name=", ToAbsl(name), ") already exists."));
    for (const RegistryTag& tag : tags) {
      const SqlValue tag_params[] = {id, tag.key, tag.value};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute("INSERT INTO registry_model_tags (model_id, key, value) VALUES ($1, $2, $3) "
                       "ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                       tag_params)
              .status());
    }
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModel(session, name));
    CAIRN_ASSIGN_OR_RETURN(result, LoadRegisteredModel(session, row));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<RegisteredModel> ModelRegistry::GetRegisteredModel(std::string_view name) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  RegisteredModel result;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModel(session, name));
    CAIRN_ASSIGN_OR_RETURN(result, LoadRegisteredModel(session, row));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<RegisteredModel> ModelRegistry::UpdateRegisteredModel(
    std::string_view name, std::optional<std::string> description) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  RegisteredModel result;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModelForWrite(session, name));
    const SqlValue params[] = {row.id, NullableText(description), clock_.NowMillis()};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("UPDATE registry_models SET description = $2, last_updated_time = $3 "
                     "WHERE id = $1",
                     params)
            .status());
    CAIRN_ASSIGN_OR_RETURN(row, FindModel(session, name));
    CAIRN_ASSIGN_OR_RETURN(result, LoadRegisteredModel(session, row));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<RegisteredModel> ModelRegistry::RenameRegisteredModel(std::string_view name,
                                                                     std::string_view new_name) {
  if (absl::StripAsciiWhitespace(ToAbsl(new_name)).empty())
    return absl::InvalidArgumentError("Missing value for required parameter 'new_name'.");
  CAIRN_RETURN_IF_ERROR(ValidateModelName(new_name));
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  RegisteredModel result;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModelForWrite(session, name));
    if (name != new_name) {
      auto clash = FindModel(session, new_name);
      if (clash.ok())
        return absl::AlreadyExistsError(absl::StrCat("Registered Model (name=",
                                                     ToAbsl(new_name), ") already exists."));
      if (clash.status().code() != absl::StatusCode::kNotFound) return clash.status();
    }
    int64_t now = clock_.NowMillis();
    const SqlValue params[] = {row.id, std::string(new_name), now};
    auto renamed = session.Execute(
        "UPDATE registry_models SET name = $2, last_updated_time = $3 WHERE id = $1", params);
    if (!renamed.ok()) {
      if (renamed.status().code() == absl::StatusCode::kAlreadyExists)
        return absl::AlreadyExistsError(absl::StrCat("Registered Model (name=",
                                                     ToAbsl(new_name), ") already exists."));
      return renamed.status();
    }
    const SqlValue version_params[] = {row.id, now};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("UPDATE registry_versions SET last_updated_time = $2 WHERE model_id = $1",
                     version_params)
            .status());
    CAIRN_ASSIGN_OR_RETURN(row, FindModel(session, new_name));
    CAIRN_ASSIGN_OR_RETURN(result, LoadRegisteredModel(session, row));
    return absl::OkStatus();
  }));
  return result;
}

absl::Status ModelRegistry::DeleteRegisteredModel(std::string_view name) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModelForWrite(session, name));
    const SqlValue params[] = {row.id};
    for (std::string_view table :
         {"registry_alias_history", "registry_aliases", "registry_version_tags",
          "registry_versions", "registry_model_tags"}) {
      CAIRN_RETURN_IF_ERROR(
          session.Execute(absl::StrCat("DELETE FROM ", ToAbsl(table), " WHERE model_id = $1"),
                          params)
              .status());
    }
    return session.Execute("DELETE FROM registry_models WHERE id = $1", params).status();
  });
}

absl::StatusOr<RegisteredModelPage> ModelRegistry::SearchRegisteredModels(
    const SearchRegistryRequest& request) {
  int64_t max_results =
      request.max_results == 0 ? kModelsDefaultMaxResults : request.max_results;
  CAIRN_RETURN_IF_ERROR(CheckMaxResults(max_results, kModelsMaxResults));
  CAIRN_ASSIGN_OR_RETURN(
      std::vector<RegistryClause> clauses,
      ParseRegistryFilter(request.filter, RegistrySearchTarget::kRegisteredModels));
  CAIRN_ASSIGN_OR_RETURN(
      std::vector<RegistryOrderBy> order_by,
      ParseRegistryOrderBy(request.order_by, RegistrySearchTarget::kRegisteredModels));
  CAIRN_ASSIGN_OR_RETURN(int64_t offset, DecodePageToken(request.page_token));
  const bool include_prompts = QueriesPrompts(clauses);
  bool has_tag_clause = false;
  std::optional<std::string> name_equals;
  for (const RegistryClause& clause : clauses) {
    has_tag_clause |= clause.is_tag;
    if (!clause.is_tag && clause.op == "=") name_equals = std::get<std::string>(clause.value);
  }

  RegisteredModelPage page;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    page = RegisteredModelPage();
    std::vector<ModelRow> rows;
    std::vector<SqlValue> params;
    std::string where;
    if (name_equals) {
      params.push_back(*name_equals);
      where = " WHERE name = $1";
    }
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        absl::StrCat("SELECT ", ToAbsl(kModelColumns), " FROM registry_models", where), params,
        [&](const SqlRowView& row) {
          rows.push_back(ReadModelRow(row));
          return absl::OkStatus();
        }));
    std::map<std::string, std::map<std::string, std::string>> tags_by_model;
    if (has_tag_clause) {
      CAIRN_RETURN_IF_ERROR(session.QueryEach(
          "SELECT model_id, key, value FROM registry_model_tags", {},
          [&](const SqlRowView& row) {
            tags_by_model[std::string(row.Text(0))][std::string(row.Text(1))] =
                std::string(row.Text(2));
            return absl::OkStatus();
          }));
    }
    std::set<std::string> prompts;
    if (!include_prompts) {
      CAIRN_ASSIGN_OR_RETURN(prompts, PromptModelIds(session));
    }
    std::vector<ModelRow> matched;
    for (ModelRow& row : rows) {
      if (prompts.count(row.id)) continue;
      bool ok = true;
      for (const RegistryClause& clause : clauses) {
        if (clause.is_tag) {
          std::optional<std::string> value;
          auto model_it = tags_by_model.find(row.id);
          if (model_it != tags_by_model.end()) {
            auto tag_it = model_it->second.find(clause.key);
            if (tag_it != model_it->second.end()) value = tag_it->second;
          }
          ok = MatchesTagClause(value, clause);
        } else {
          ok = MatchesStringClause(row.name, clause);
        }
        if (!ok) break;
      }
      if (ok) matched.push_back(std::move(row));
    }
    std::vector<RegistryOrderBy> keys = order_by;
    if (std::none_of(keys.begin(), keys.end(),
                     [](const RegistryOrderBy& key) { return key.key == "name"; }))
      keys.push_back({"name", true});
    std::sort(matched.begin(), matched.end(), [&](const ModelRow& a, const ModelRow& b) {
      for (const RegistryOrderBy& key : keys) {
        int cmp = 0;
        if (key.key == "name") {
          cmp = a.name.compare(b.name);
        } else {
          int64_t av = key.key == "creation_timestamp" ? a.creation_time : a.last_updated_time;
          int64_t bv = key.key == "creation_timestamp" ? b.creation_time : b.last_updated_time;
          cmp = av < bv ? -1 : av > bv ? 1 : 0;
        }
        if (cmp != 0) return key.ascending ? cmp < 0 : cmp > 0;
      }
      return false;
    });
    const int64_t total = static_cast<int64_t>(matched.size());
    const int64_t start = std::min(offset, total);  // a token from a longer result set
    for (int64_t idx = start; idx < total && idx < start + max_results; ++idx) {
      CAIRN_ASSIGN_OR_RETURN(RegisteredModel model, LoadRegisteredModel(session, matched[idx]));
      page.models.push_back(std::move(model));
    }
    if (start + max_results < total) page.next_page_token = EncodePageToken(start + max_results);
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<std::vector<ModelVersion>> ModelRegistry::GetLatestVersions(
    std::string_view name, const std::vector<std::string>& stages) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  std::set<std::string> wanted;
  for (const std::string& stage : stages) {
    CAIRN_ASSIGN_OR_RETURN(std::string canonical, CanonicalStage(stage));
    wanted.insert(canonical);
  }
  std::vector<ModelVersion> result;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModel(session, name));
    CAIRN_ASSIGN_OR_RETURN(std::vector<ModelVersion> latest,
                           LoadLatestVersions(session, row, /*with_aliases=*/true));
    result.clear();
    for (ModelVersion& mv : latest)
      if (wanted.empty() || wanted.count(mv.current_stage)) result.push_back(std::move(mv));
    return absl::OkStatus();
  }));
  return result;
}

absl::Status ModelRegistry::SetRegisteredModelTag(std::string_view name, std::string_view key,
                                                  std::string_view value) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  CAIRN_RETURN_IF_ERROR(ValidateTag(key, value));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModelForWrite(session, name));
    const SqlValue params[] = {row.id, std::string(key), std::string(value)};
    return session
        .Execute("INSERT INTO registry_model_tags (model_id, key, value) VALUES ($1, $2, $3) "
                 "ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                 params)
        .status();
  });
}

absl::Status ModelRegistry::DeleteRegisteredModelTag(std::string_view name,
                                                     std::string_view key) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  CAIRN_RETURN_IF_ERROR(ValidateTagKey(key));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModelForWrite(session, name));
    const SqlValue params[] = {row.id, std::string(key)};
    return session
        .Execute("DELETE FROM registry_model_tags WHERE model_id = $1 AND key = $2", params)
        .status();
  });
}

absl::StatusOr<ModelVersion> ModelRegistry::CreateModelVersion(
    std::string_view name, std::string_view source, std::string_view run_id,
    const std::vector<RegistryTag>& tags, std::string_view run_link,
    std::optional<std::string> description, const ModelVersionOptions& options) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  if (source.empty())
    return absl::InvalidArgumentError("Missing value for required parameter 'source'.");
  for (const RegistryTag& tag : tags) CAIRN_RETURN_IF_ERROR(ValidateTag(tag.key, tag.value));
  ModelVersion result;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    int64_t now = clock_.NowMillis();
    std::string model_id;
    int64_t version = 0;
    const SqlValue bump_params[] = {std::string(name), now};
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "UPDATE registry_models SET next_version = next_version + 1, last_updated_time = $2 "
        "WHERE name = $1 RETURNING id, next_version",
        bump_params, [&](const SqlRowView& row) {
          model_id = std::string(row.Text(0));
          version = row.Int(1);
          return absl::OkStatus();
        }));
    if (model_id.empty()) return ModelNotFound(name);
    const SqlValue params[] = {model_id,
                               version,
                               now,
                               NullableText(description),
                               options.user_id,
                               std::string(kStageNone),
                               std::string(source),
                               options.storage_location,
                               NullableText(run_id),
                               std::string(run_link),
                               std::string("READY"),
                               NullableText(std::string_view(options.model_id))};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("INSERT INTO registry_versions (model_id, version, creation_time, "
                     "last_updated_time, description, user_id, current_stage, source, "
                     "storage_location, run_id, run_link, status, logged_model_id) VALUES ($1, "
                     "$2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                     params)
            .status());
    for (const RegistryTag& tag : tags) {
      const SqlValue tag_params[] = {model_id, version, tag.key, tag.value};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute("INSERT INTO registry_version_tags (model_id, version, key, value) VALUES "
                       "($1, $2, $3, $4) ON CONFLICT (model_id, version, key) DO UPDATE SET "
                       "value = excluded.value",
                       tag_params)
              .status());
    }
    ModelRow row;
    row.id = model_id;
    row.name = std::string(name);
    CAIRN_ASSIGN_OR_RETURN(result, LoadVersion(session, row, version));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<ModelVersion> ModelRegistry::GetModelVersion(std::string_view name,
                                                            int64_t version) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  ModelVersion result;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    auto row = FindModel(session, name);
    if (!row.ok()) {
      if (row.status().code() == absl::StatusCode::kNotFound)
        return VersionNotFound(name, version);
      return row.status();
    }
    CAIRN_ASSIGN_OR_RETURN(result, LoadVersion(session, *row, version));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<ModelVersion> ModelRegistry::UpdateModelVersion(
    std::string_view name, int64_t version, std::optional<std::string> description) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  ModelVersion result;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    auto row = FindModelForWrite(session, name);
    if (!row.ok())
      return row.status().code() == absl::StatusCode::kNotFound ? VersionNotFound(name, version)
                                                                : row.status();
    CAIRN_RETURN_IF_ERROR(LoadVersion(session, *row, version).status());
    int64_t now = clock_.NowMillis();
    if (description) {
      const SqlValue params[] = {row->id, version, *description, now};
      CAIRN_RETURN_IF_ERROR(session
                                .Execute("UPDATE registry_versions SET description = $3, "
                                         "last_updated_time = $4 WHERE model_id = $1 AND "
                                         "version = $2",
                                         params)
                                .status());
    } else {
      const SqlValue params[] = {row->id, version, now};
      CAIRN_RETURN_IF_ERROR(session
                                .Execute("UPDATE registry_versions SET last_updated_time = $3 "
                                         "WHERE model_id = $1 AND version = $2",
                                         params)
                                .status());
    }
    CAIRN_ASSIGN_OR_RETURN(result, LoadVersion(session, *row, version));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<ModelVersion> ModelRegistry::TransitionModelVersionStage(
    std::string_view name, int64_t version, std::string_view stage,
    bool archive_existing_versions) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  CAIRN_ASSIGN_OR_RETURN(std::string canonical, CanonicalStage(stage));
  const bool active = canonical == kStageStaging || canonical == kStageProduction;
  if (archive_existing_versions && !active)
    return absl::InvalidArgumentError(absl::StrCat(
        "Model version transition cannot archive existing model versions because '",
        ToAbsl(stage), "' is not an Active stage. Valid stages are ['Staging', 'Production']"));
  ModelVersion result;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    auto row = FindModelForWrite(session, name);
    if (!row.ok())
      return row.status().code() == absl::StatusCode::kNotFound ? VersionNotFound(name, version)
                                                                : row.status();
    CAIRN_RETURN_IF_ERROR(LoadVersion(session, *row, version).status());
    int64_t now = clock_.NowMillis();
    if (archive_existing_versions) {
      const SqlValue params[] = {row->id, version, canonical, std::string(kStageArchived), now};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute("UPDATE registry_versions SET current_stage = $4, last_updated_time = $5 "
                       "WHERE model_id = $1 AND version <> $2 AND current_stage = $3 AND "
                       "deleted = 0",
                       params)
              .status());
    }
    const SqlValue params[] = {row->id, version, canonical, now};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("UPDATE registry_versions SET current_stage = $3, last_updated_time = $4 "
                     "WHERE model_id = $1 AND version = $2",
                     params)
            .status());
    const SqlValue model_params[] = {row->id, now};
    CAIRN_RETURN_IF_ERROR(
        session.Execute("UPDATE registry_models SET last_updated_time = $2 WHERE id = $1",
                        model_params)
            .status());
    CAIRN_ASSIGN_OR_RETURN(result, LoadVersion(session, *row, version));
    return absl::OkStatus();
  }));
  return result;
}

absl::Status ModelRegistry::DeleteModelVersion(std::string_view name, int64_t version) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    auto row = FindModelForWrite(session, name);
    if (!row.ok())
      return row.status().code() == absl::StatusCode::kNotFound ? VersionNotFound(name, version)
                                                                : row.status();
    CAIRN_RETURN_IF_ERROR(LoadVersion(session, *row, version).status());
    int64_t now = clock_.NowMillis();
    // Aliases that named the version go, each recorded in the history.
    std::vector<std::string> aliases;
    const SqlValue alias_params[] = {row->id, version};
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "SELECT alias FROM registry_aliases WHERE model_id = $1 AND version = $2 ORDER BY alias",
        alias_params, [&](const SqlRowView& r) {
          aliases.emplace_back(r.Text(0));
          return absl::OkStatus();
        }));
    for (const std::string& alias : aliases) {
      CAIRN_ASSIGN_OR_RETURN(int64_t seq, NextAliasSeq(session, row->id));
      CAIRN_RETURN_IF_ERROR(RecordAliasChange(
          session, row->id, seq, alias, version, std::nullopt, now, "system",
          absl::StrCat("model version ", version, " deleted")));
    }
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("DELETE FROM registry_aliases WHERE model_id = $1 AND version = $2",
                     alias_params)
            .status());
    // MLflow keeps the row (so the number is never reused) and redacts it.
    const SqlValue params[] = {row->id, version, std::string(kStageDeleted), now};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("UPDATE registry_versions SET deleted = 1, current_stage = $3, "
                     "last_updated_time = $4, description = NULL, user_id = '', "
                     "source = 'REDACTED-SOURCE-PATH', storage_location = '', "
                     "run_id = 'REDACTED-RUN-ID', run_link = 'REDACTED-RUN-LINK', "
                     "status_message = '' WHERE model_id = $1 AND version = $2",
                     params)
            .status());
    const SqlValue model_params[] = {row->id, now};
    return session
        .Execute("UPDATE registry_models SET last_updated_time = $2 WHERE id = $1",
                 model_params)
        .status();
  });
}

absl::StatusOr<std::string> ModelRegistry::GetModelVersionDownloadUri(std::string_view name,
                                                                      int64_t version) {
  CAIRN_ASSIGN_OR_RETURN(ModelVersion mv, GetModelVersion(name, version));
  return mv.storage_location.empty() ? mv.source : mv.storage_location;
}

absl::StatusOr<ModelVersionPage> ModelRegistry::SearchModelVersions(
    const SearchRegistryRequest& request) {
  int64_t max_results =
      request.max_results == 0 ? kVersionsDefaultMaxResults : request.max_results;
  CAIRN_RETURN_IF_ERROR(CheckMaxResults(max_results, kVersionsMaxResults));
  CAIRN_ASSIGN_OR_RETURN(
      std::vector<RegistryClause> clauses,
      ParseRegistryFilter(request.filter, RegistrySearchTarget::kModelVersions));
  std::vector<std::string> order_by_text = request.order_by;
  if (order_by_text.empty())
    order_by_text = {"last_updated_timestamp DESC", "name ASC", "version_number DESC"};
  CAIRN_ASSIGN_OR_RETURN(
      std::vector<RegistryOrderBy> order_by,
      ParseRegistryOrderBy(order_by_text, RegistrySearchTarget::kModelVersions));
  CAIRN_ASSIGN_OR_RETURN(int64_t offset, DecodePageToken(request.page_token));
  const bool include_prompts = QueriesPrompts(clauses);
  bool has_tag_clause = false;
  std::optional<std::string> name_equals;
  std::optional<std::string> run_id_equals;
  for (const RegistryClause& clause : clauses) {
    has_tag_clause |= clause.is_tag;
    if (clause.is_tag || clause.op != "=") continue;
    if (clause.key == "name") name_equals = std::get<std::string>(clause.value);
    if (clause.key == "run_id") run_id_equals = std::get<std::string>(clause.value);
  }

  struct Candidate {
    std::string model_id;
    ModelVersion mv;
  };
  ModelVersionPage page;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    page = ModelVersionPage();
    std::vector<Candidate> rows;
    std::vector<SqlValue> params;
    std::string where = " WHERE v.deleted = 0";
    if (name_equals) {
      params.push_back(*name_equals);
      absl::StrAppend(&where, " AND m.name = $", params.size());
    }
    if (run_id_equals) {
      params.push_back(*run_id_equals);
      absl::StrAppend(&where, " AND v.run_id = $", params.size());
    }
    std::string columns;
    for (absl::string_view column : absl::StrSplit(ToAbsl(kVersionColumns), ", "))
      absl::StrAppend(&columns, columns.empty() ? "" : ", ", "v.", column);
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        absl::StrCat("SELECT m.name, ", columns,
                     " FROM registry_versions v JOIN registry_models m ON m.id = v.model_id",
                     where),
        params, [&](const SqlRowView& row) {
          Candidate candidate;
          candidate.mv = ReadVersionRow(row, 1);
          candidate.mv.name = std::string(row.Text(0));
          candidate.model_id = std::string(row.Text(14));
          rows.push_back(std::move(candidate));
          return absl::OkStatus();
        }));
    std::map<std::pair<std::string, int64_t>, std::map<std::string, std::string>> tags;
    if (has_tag_clause) {
      CAIRN_RETURN_IF_ERROR(session.QueryEach(
          "SELECT model_id, version, key, value FROM registry_version_tags", {},
          [&](const SqlRowView& row) {
            tags[{std::string(row.Text(0)), row.Int(1)}][std::string(row.Text(2))] =
                std::string(row.Text(3));
            return absl::OkStatus();
          }));
    }
    std::set<std::string> prompts;
    if (!include_prompts) {
      CAIRN_ASSIGN_OR_RETURN(prompts, PromptModelIds(session));
    }
    std::vector<Candidate> matched;
    for (Candidate& candidate : rows) {
      if (prompts.count(candidate.model_id)) continue;
      const ModelVersion& mv = candidate.mv;
      bool ok = true;
      for (const RegistryClause& clause : clauses) {
        if (clause.is_tag) {
          std::optional<std::string> value;
          auto it = tags.find({candidate.model_id, mv.version});
          if (it != tags.end()) {
            auto tag_it = it->second.find(clause.key);
            if (tag_it != it->second.end()) value = tag_it->second;
          }
          ok = MatchesTagClause(value, clause);
        } else if (clause.key == "version_number") {
          ok = MatchesNumber(mv.version, clause);
        } else if (clause.key == "name") {
          ok = MatchesStringClause(mv.name, clause);
        } else if (clause.key == "run_id") {
          ok = mv.run_id.has_value() && MatchesStringClause(*mv.run_id, clause);
        } else if (clause.key == "source_path") {
          ok = MatchesStringClause(mv.source, clause);
        }
        if (!ok) break;
      }
      if (ok) matched.push_back(std::move(candidate));
    }
    std::vector<RegistryOrderBy> keys = order_by;
    auto has_key = [&](std::string_view key) {
      return std::any_of(keys.begin(), keys.end(),
                         [&](const RegistryOrderBy& k) { return k.key == key; });
    };
    if (!has_key("name")) keys.push_back({"name", true});
    if (!has_key("version_number")) keys.push_back({"version_number", false});
    std::sort(matched.begin(), matched.end(), [&](const Candidate& a, const Candidate& b) {
      for (const RegistryOrderBy& key : keys) {
        int cmp = 0;
        if (key.key == "name") {
          cmp = a.mv.name.compare(b.mv.name);
        } else {
          auto value = [&](const ModelVersion& mv) {
            return key.key == "version_number"       ? mv.version
                   : key.key == "creation_timestamp" ? mv.creation_timestamp
                                                     : mv.last_updated_timestamp;
          };
          int64_t av = value(a.mv), bv = value(b.mv);
          cmp = av < bv ? -1 : av > bv ? 1 : 0;
        }
        if (cmp != 0) return key.ascending ? cmp < 0 : cmp > 0;
      }
      return false;
    });
    const int64_t total = static_cast<int64_t>(matched.size());
    const int64_t start = std::min(offset, total);  // a token from a longer result set
    const int64_t end = std::min(total, start + max_results);
    std::map<std::string, VersionExtras> extras_by_model;
    for (int64_t idx = start; idx < end; ++idx) {
      Candidate& candidate = matched[idx];
      auto it = extras_by_model.find(candidate.model_id);
      if (it == extras_by_model.end()) {
        CAIRN_ASSIGN_OR_RETURN(VersionExtras extras,
                               LoadVersionExtras(session, candidate.model_id, std::nullopt));
        it = extras_by_model.emplace(candidate.model_id, std::move(extras)).first;
      }
      ApplyExtras(it->second, candidate.mv);
      page.versions.push_back(std::move(candidate.mv));
    }
    if (end < total) page.next_page_token = EncodePageToken(end);
    return absl::OkStatus();
  }));
  return page;
}

absl::Status ModelRegistry::SetModelVersionTag(std::string_view name, int64_t version,
                                               std::string_view key, std::string_view value) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  CAIRN_RETURN_IF_ERROR(ValidateTag(key, value));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    auto row = FindModelForWrite(session, name);
    if (!row.ok())
      return row.status().code() == absl::StatusCode::kNotFound ? VersionNotFound(name, version)
                                                                : row.status();
    CAIRN_RETURN_IF_ERROR(LoadVersion(session, *row, version).status());
    const SqlValue params[] = {row->id, version, std::string(key), std::string(value)};
    return session
        .Execute("INSERT INTO registry_version_tags (model_id, version, key, value) VALUES ($1, "
                 "$2, $3, $4) ON CONFLICT (model_id, version, key) DO UPDATE SET value = "
                 "excluded.value",
                 params)
        .status();
  });
}

absl::Status ModelRegistry::DeleteModelVersionTag(std::string_view name, int64_t version,
                                                  std::string_view key) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  CAIRN_RETURN_IF_ERROR(ValidateTagKey(key));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    auto row = FindModelForWrite(session, name);
    if (!row.ok())
      return row.status().code() == absl::StatusCode::kNotFound ? VersionNotFound(name, version)
                                                                : row.status();
    CAIRN_RETURN_IF_ERROR(LoadVersion(session, *row, version).status());
    const SqlValue params[] = {row->id, version, std::string(key)};
    return session
        .Execute("DELETE FROM registry_version_tags WHERE model_id = $1 AND version = $2 AND "
                 "key = $3",
                 params)
        .status();
  });
}

absl::Status ModelRegistry::SetAlias(std::string_view name, std::string_view alias,
                                     int64_t version, std::string_view actor,
                                     std::string_view reason) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  CAIRN_RETURN_IF_ERROR(ValidateAliasName(alias));
  CAIRN_RETURN_IF_ERROR(ValidateAliasNotReserved(alias));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    auto row = FindModelForWrite(session, name);
    if (!row.ok())
      return row.status().code() == absl::StatusCode::kNotFound ? VersionNotFound(name, version)
                                                                : row.status();
    CAIRN_RETURN_IF_ERROR(LoadVersion(session, *row, version).status());
    // The model is locked (FindModelForWrite), so concurrent moves of one alias serialize
    // and each history row has the right from_version.
    CAIRN_ASSIGN_OR_RETURN(int64_t seq, NextAliasSeq(session, row->id));
    CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> current,
                           CurrentAlias(session, row->id, alias));
    if (current == version) return absl::OkStatus();  // the bumped seq is harmless
    const SqlValue params[] = {row->id, std::string(alias), version};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("INSERT INTO registry_aliases (model_id, alias, version) VALUES ($1, $2, $3) "
                     "ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version",
                     params)
            .status());
    return RecordAliasChange(session, row->id, seq, alias, current, version, clock_.NowMillis(),
                             actor, reason);
  });
}

absl::Status ModelRegistry::DeleteAlias(std::string_view name, std::string_view alias,
                                        std::string_view actor, std::string_view reason) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  CAIRN_RETURN_IF_ERROR(ValidateAliasName(alias));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModel(session, name));
    CAIRN_ASSIGN_OR_RETURN(int64_t seq, NextAliasSeq(session, row.id));
    CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> current, CurrentAlias(session, row.id, alias));
    if (!current) return absl::OkStatus();
    const SqlValue params[] = {row.id, std::string(alias)};
    CAIRN_RETURN_IF_ERROR(
        session.Execute("DELETE FROM registry_aliases WHERE model_id = $1 AND alias = $2", params)
            .status());
    return RecordAliasChange(session, row.id, seq, alias, current, std::nullopt,
                             clock_.NowMillis(), actor, reason);
  });
}

absl::StatusOr<ModelVersion> ModelRegistry::GetModelVersionByAlias(std::string_view name,
                                                                   std::string_view alias) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  CAIRN_RETURN_IF_ERROR(ValidateAliasName(alias));
  ModelVersion result;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModel(session, name));
    std::optional<int64_t> version;
    if (absl::AsciiStrToLower(ToAbsl(alias)) == "latest") {
      const SqlValue params[] = {row.id};
      CAIRN_RETURN_IF_ERROR(session.QueryEach(
          "SELECT MAX(version) FROM registry_versions WHERE model_id = $1 AND deleted = 0",
          params, [&](const SqlRowView& r) {
            if (!r.IsNull(0)) version = r.Int(0);
            return absl::OkStatus();
          }));
      if (!version)
        return absl::NotFoundError(
            absl::StrCat("Latest version not found for model ", ToAbsl(name), "."));
    } else {
      CAIRN_ASSIGN_OR_RETURN(version, CurrentAlias(session, row.id, alias));
      if (!version)
        return absl::InvalidArgumentError(
            absl::StrCat("Registered model alias ", ToAbsl(alias), " not found."));
    }
    CAIRN_ASSIGN_OR_RETURN(result, LoadVersion(session, row, *version));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<std::vector<AliasChange>> ModelRegistry::AliasHistory(std::string_view name) {
  CAIRN_RETURN_IF_ERROR(ValidateModelName(name));
  std::vector<AliasChange> result;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(ModelRow row, FindModel(session, name));
    result.clear();
    const SqlValue params[] = {row.id};
    return session.QueryEach(
        "SELECT alias, from_version, to_version, change_time, actor, reason FROM "
        "registry_alias_history WHERE model_id = $1 ORDER BY seq DESC",
        params, [&](const SqlRowView& r) {
          result.push_back(AliasChange{std::string(r.Text(0)), OptInt(r, 1), OptInt(r, 2),
                                       r.Int(3), std::string(r.Text(4)), std::string(r.Text(5))});
          return absl::OkStatus();
        });
  }));
  return result;
}

}  // namespace cairn::tracking
