#pragma once
// Stored evaluations (evaluation.h) on the metadata database (SQLite or PostgreSQL):
// every gate's value, baseline and verdict, kept for the record of who promoted what and
// why. Evaluations are immutable once put. Thread-safe.
//
// Table (migrations component "cicd_evaluations"): cicd_evaluations (id, model, version,
// policy, policy_version, passed, created_ms, the evaluation as JSON).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cicd/evaluation.h"
#include "common/json.h"

namespace cairn::storage {
class Database;
}  // namespace cairn::storage

namespace cairn::cicd {

// {"id", "model", "version", "baseline_version", "policy", "policy_version", "passed",
//  "rows", "actor", "created_ms", "metrics",
//  "gates": [{"gate", "kind", "name", "slice", "value", "baseline", "verdict", "detail"}]}
// (value/baseline null when absent). FromJson accepts what ToJson writes; InvalidArgument
// naming the field otherwise.
Json EvaluationToJson(const Evaluation& evaluation);
absl::StatusOr<Evaluation> EvaluationFromJson(const Json& json);
Json GateResultToJson(const GateResult& gate);
absl::StatusOr<GateResult> GateResultFromJson(const Json& json);

// A fresh evaluation id: "ev-" and 32 hex digits.
std::string NewEvaluationId();

// The schema of component "cicd_evaluations". Idempotent.
absl::Status ApplyEvaluationMigrations(storage::Database& db);

class EvaluationStore {
 public:
  // Applies the migrations. `db` outlives the store.
  static absl::StatusOr<std::unique_ptr<EvaluationStore>> Open(storage::Database& db);
  ~EvaluationStore();

  // Stores `evaluation`. InvalidArgument when id or model is empty or version < 1;
  // AlreadyExists when the id is taken.
  absl::Status Put(const Evaluation& evaluation);
  // NotFound names the id.
  absl::StatusOr<Evaluation> Get(std::string_view id);
  // The evaluations of `model` (every model when empty), of `version` when given, newest
  // first (created_ms, then the order they were put), at most `limit` (>= 1; 0 means 100).
  absl::StatusOr<std::vector<Evaluation>> List(std::string_view model,
                                               std::optional<int64_t> version = {},
                                               int limit = 100);
  // The newest evaluation of model/version under `policy` at `policy_version` (0: any
  // version of the policy; empty policy: any policy); nullopt when there is none.
  absl::StatusOr<std::optional<Evaluation>> Latest(std::string_view model, int64_t version,
                                                   std::string_view policy = {},
                                                   int64_t policy_version = 0);

 private:
  explicit EvaluationStore(storage::Database& db);
  storage::Database& db_;
};

}  // namespace cairn::cicd
