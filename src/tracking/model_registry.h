#pragma once
// The model registry: registered models, their versions 1, 2, 3…, tags, aliases
// (`production`, `champion`, …) and, beyond MLflow, an audit trail of every alias move.
// Semantics follow MLflow's SQL registry store (mlflow/store/model_registry/
// sqlalchemy_store.py): names as MLflow validates them, soft-deleted versions (a deleted
// version's number is never reused), deprecated stages (None, Staging, Production,
// Archived) still supported, `latest` as a reserved alias that resolves to the highest
// version.
//
// Persisted through storage::Database (SQLite or PostgreSQL), migrations component
// "registry". Thread-safe: every method is one Database transaction; version numbers are
// assigned inside the write transaction, so concurrent creates never collide. An alias
// change and its history row commit together.
//
// Errors: InvalidArgument (bad name, alias, tag, stage, filter, paging; MLflow's wording),
// NotFound (unknown model or version), AlreadyExists (duplicate model name).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "storage/database.h"

namespace cairn::tracking {

// MLflow's stage names (canonical spelling).
inline constexpr std::string_view kStageNone = "None";
inline constexpr std::string_view kStageStaging = "Staging";
inline constexpr std::string_view kStageProduction = "Production";
inline constexpr std::string_view kStageArchived = "Archived";

struct RegistryTag {
  std::string key;
  std::string value;
  friend bool operator==(const RegistryTag&, const RegistryTag&) = default;
};

struct ModelVersion {
  std::string name;      // the registered model's current name
  int64_t version = 0;   // 1, 2, 3 … (a string in MLflow's JSON)
  int64_t creation_timestamp = 0;       // ms
  int64_t last_updated_timestamp = 0;   // ms
  std::optional<std::string> description;
  std::string user_id;
  std::string current_stage = "None";
  std::string source;                   // as given by the client
  std::string storage_location;         // resolved artifact location; empty = source
  std::optional<std::string> run_id;
  std::string run_link;
  std::string status = "READY";         // PENDING_REGISTRATION | FAILED_REGISTRATION | READY
  std::string status_message;
  std::optional<std::string> model_id;  // MLflow 3 logged model id ("m-…")
  std::vector<RegistryTag> tags;        // sorted by key
  std::vector<std::string> aliases;     // sorted
};

struct RegisteredModelAlias {
  std::string alias;
  int64_t version = 0;
  friend bool operator==(const RegisteredModelAlias&, const RegisteredModelAlias&) = default;
};

struct RegisteredModel {
  std::string name;
  int64_t creation_timestamp = 0;
  int64_t last_updated_timestamp = 0;
  std::optional<std::string> description;
  // The highest non-deleted version in each stage (MLflow's latest_versions).
  std::vector<ModelVersion> latest_versions;
  std::vector<RegistryTag> tags;               // sorted by key
  std::vector<RegisteredModelAlias> aliases;   // sorted by alias
};

// One alias move: set (from_version empty), moved (both), or deleted (to_version empty).
struct AliasChange {
  std::string alias;
  std::optional<int64_t> from_version;
  std::optional<int64_t> to_version;
  int64_t time = 0;  // ms
  std::string actor;
  std::string reason;
};

// The optional parts of a new model version.
struct ModelVersionOptions {
  std::string model_id;          // MLflow 3 logged model id; empty = none
  std::string storage_location;  // where the artifacts really are; empty = source
  std::string user_id;
};

struct SearchRegistryRequest {
  std::string filter;
  // 0 means the default (100 for models, 10000 for versions).
  int64_t max_results = 0;
  std::vector<std::string> order_by;
  std::string page_token;
};

struct RegisteredModelPage {
  std::vector<RegisteredModel> models;
  std::string next_page_token;  // empty when there is no further page
};

struct ModelVersionPage {
  std::vector<ModelVersion> versions;
  std::string next_page_token;
};

class ModelRegistry {
 public:
  // Applies this component's migrations ("registry"). `db` and `clock` must outlive the
  // registry.
  static absl::StatusOr<std::unique_ptr<ModelRegistry>> Open(storage::Database& db,
                                                             Clock& clock);

  // ---- Registered models ----

  // AlreadyExists when the name is taken.
  absl::StatusOr<RegisteredModel> CreateRegisteredModel(
      std::string_view name, std::optional<std::string> description = std::nullopt,
      const std::vector<RegistryTag>& tags = {});
  absl::StatusOr<RegisteredModel> GetRegisteredModel(std::string_view name);
  // Sets the description (nullopt clears it) and last_updated_timestamp.
  absl::StatusOr<RegisteredModel> UpdateRegisteredModel(std::string_view name,
                                                        std::optional<std::string> description);
  // Versions, tags, aliases and alias history follow the model. AlreadyExists when
  // `new_name` is taken.
  absl::StatusOr<RegisteredModel> RenameRegisteredModel(std::string_view name,
                                                        std::string_view new_name);
  // Removes the model with its versions, tags, aliases and alias history.
  absl::Status DeleteRegisteredModel(std::string_view name);
  // Filter: name (=, !=, LIKE, ILIKE, IN, NOT IN) and tags.<key> (=, !=, LIKE, ILIKE),
  // joined by AND. order_by: name | creation_timestamp | last_updated_timestamp [ASC|DESC];
  // name ASC breaks ties. max_results at most 1000. Prompts (tag
  // mlflow.prompt.is_prompt = 'true') are left out unless the filter asks for them.
  absl::StatusOr<RegisteredModelPage> SearchRegisteredModels(
      const SearchRegistryRequest& request);
  // The latest version in each of `stages` (all stages when empty), ordered by stage.
  absl::StatusOr<std::vector<ModelVersion>> GetLatestVersions(
      std::string_view name, const std::vector<std::string>& stages = {});
  absl::Status SetRegisteredModelTag(std::string_view name, std::string_view key,
                                     std::string_view value);
  // Deleting a tag that is not there is OK (as MLflow); NotFound for an unknown model.
  absl::Status DeleteRegisteredModelTag(std::string_view name, std::string_view key);

  // ---- Model versions ----

  // Assigns the next version number (never reused after deletes). Status READY,
  // stage "None". `run_id` empty = none; `description` nullopt = none.
  absl::StatusOr<ModelVersion> CreateModelVersion(
      std::string_view name, std::string_view source, std::string_view run_id = {},
      const std::vector<RegistryTag>& tags = {}, std::string_view run_link = {},
      std::optional<std::string> description = std::nullopt,
      const ModelVersionOptions& options = {});
  absl::StatusOr<ModelVersion> GetModelVersion(std::string_view name, int64_t version);
  // Sets the description when given (nullopt leaves it) and last_updated_timestamp.
  absl::StatusOr<ModelVersion> UpdateModelVersion(std::string_view name, int64_t version,
                                                  std::optional<std::string> description);
  // Stage names are case-insensitive ("production" → "Production"). With
  // `archive_existing_versions` (only for Staging/Production) other versions in that
  // stage move to Archived.
  absl::StatusOr<ModelVersion> TransitionModelVersionStage(std::string_view name,
                                                           int64_t version,
                                                           std::string_view stage,
                                                           bool archive_existing_versions);
  // Soft delete: the version disappears from every read, its aliases are removed (each
  // removal recorded in the alias history with actor "system"), its number stays taken.
  absl::Status DeleteModelVersion(std::string_view name, int64_t version);
  // The version's storage location, or its source when none was resolved.
  absl::StatusOr<std::string> GetModelVersionDownloadUri(std::string_view name,
                                                         int64_t version);
  // Filter: name, run_id (=, !=, LIKE, ILIKE, IN, NOT IN for name/run_id), source_path
  // (string comparisons), version_number (=, !=, <, <=, >, >=), tags.<key>; AND only.
  // order_by: name | version_number | creation_timestamp | last_updated_timestamp;
  // default "last_updated_timestamp DESC, name ASC, version_number DESC". max_results
  // at most 200000.
  absl::StatusOr<ModelVersionPage> SearchModelVersions(const SearchRegistryRequest& request);
  absl::Status SetModelVersionTag(std::string_view name, int64_t version, std::string_view key,
                                  std::string_view value);
  absl::Status DeleteModelVersionTag(std::string_view name, int64_t version,
                                     std::string_view key);

  // ---- Aliases ----

  // Points `alias` at `version` (creating or moving it) and records the change with
  // `actor` and `reason` in the same transaction. Setting an alias to the version it
  // already names changes nothing and records nothing. InvalidArgument for an alias that
  // is empty, has characters outside [A-Za-z0-9_-], is longer than 255, is "latest" or
  // looks like a version ("v3"); NotFound for an unknown model or version.
  absl::Status SetAlias(std::string_view name, std::string_view alias, int64_t version,
                        std::string_view actor = "anonymous", std::string_view reason = {});
  // Removes the alias (recording the change). Removing an alias that does not exist is OK
  // and records nothing (as MLflow); NotFound for an unknown model.
  absl::Status DeleteAlias(std::string_view name, std::string_view alias,
                           std::string_view actor = "anonymous", std::string_view reason = {});
  // The version the alias names; "latest" (any case) gives the highest version.
  // InvalidArgument when the alias does not exist (MLflow's code); NotFound for an unknown
  // model.
  absl::StatusOr<ModelVersion> GetModelVersionByAlias(std::string_view name,
                                                      std::string_view alias);
  // Every alias change of the model, newest first. NotFound for an unknown model.
  absl::StatusOr<std::vector<AliasChange>> AliasHistory(std::string_view name);

 private:
  ModelRegistry(storage::Database& db, Clock& clock) : db_(db), clock_(clock) {}

  storage::Database& db_;
  Clock& clock_;
};

// MLflow's checks, exposed for the HTTP layer (InvalidArgument with MLflow's messages).
absl::Status ValidateModelName(std::string_view name);
absl::Status ValidateAliasName(std::string_view alias);
// Parses a version given as text ("3"); InvalidArgument "Parameter 'version' must be an
// integer, got 'x'." otherwise.
absl::StatusOr<int64_t> ParseModelVersion(std::string_view text);

}  // namespace cairn::tracking
