#include "cicd/evaluation_store.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/strings.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::cicd {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

// seq: the order evaluations were put, the tie-breaker of equal created_ms.
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE cicd_evaluations (
  id TEXT PRIMARY KEY,
  seq BIGINT NOT NULL,
  model TEXT NOT NULL,
  version BIGINT NOT NULL,
  policy TEXT NOT NULL,
  policy_version BIGINT NOT NULL,
  passed INTEGER NOT NULL,
  created_ms BIGINT NOT NULL,
  body TEXT NOT NULL);
CREATE INDEX cicd_evaluations_by_model ON cicd_evaluations (model, version, created_ms)
)sql";

constexpr storage::Migration kMigrations[] = {
    {.version = 1, .name = "evaluations", .sql = kSchemaV1},
};

constexpr int kPutTries = 5;
constexpr int kDefaultLimit = 100;

Json Optional(const std::optional<double>& value) {
  return value.has_value() ? Json(*value) : Json(nullptr);
}

absl::StatusOr<Evaluation> ReadBody(std::string_view id, std::string_view body) {
  absl::StatusOr<Json> json = ParseJson(body);
  if (!json.ok()) {
    return absl::InternalError(absl::StrCat("evaluation ", ToAbsl(id),
                                            ": stored body is not JSON: ",
                                            json.status().message()));
  }
  absl::StatusOr<Evaluation> evaluation = EvaluationFromJson(*json);
  if (!evaluation.ok()) {
    return absl::InternalError(absl::StrCat("evaluation ", ToAbsl(id), ": stored body: ",
                                            evaluation.status().message()));
  }
  return evaluation;
}

}  // namespace

Json GateResultToJson(const GateResult& gate) {
  return Json{{"gate", gate.gate},       {"kind", gate.kind},
              {"name", gate.name},       {"slice", gate.slice},
              {"value", Optional(gate.value)}, {"baseline", Optional(gate.baseline)},
              {"verdict", gate.verdict}, {"detail", gate.detail}};
}

absl::StatusOr<GateResult> GateResultFromJson(const Json& json) {
  try {
    GateResult gate;
    gate.gate = json.value("gate", "");
    gate.kind = json.value("kind", "");
    gate.name = json.value("name", "");
    gate.slice = json.value("slice", "");
    if (json.contains("value") && !json.at("value").is_null()) {
      gate.value = json.at("value").get<double>();
    }
    if (json.contains("baseline") && !json.at("baseline").is_null()) {
      gate.baseline = json.at("baseline").get<double>();
    }
    gate.verdict = json.at("verdict").get<std::string>();
    gate.detail = json.value("detail", "");
    return gate;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("gate result JSON: ", e.what()));
  }
}

Json EvaluationToJson(const Evaluation& evaluation) {
  Json gates = Json::array();
  for (const GateResult& gate : evaluation.gates) gates.push_back(GateResultToJson(gate));
  return Json{{"id", evaluation.id},
              {"model", evaluation.model},
              {"version", evaluation.version},
              {"baseline_version", evaluation.baseline_version},
              {"policy", evaluation.policy},
              {"policy_version", evaluation.policy_version},
              {"passed", evaluation.passed},
              {"gates", gates},
              {"metrics", evaluation.metrics},
              {"rows", evaluation.rows},
              {"actor", evaluation.actor},
              {"created_ms", evaluation.created_ms}};
}

absl::StatusOr<Evaluation> EvaluationFromJson(const Json& json) {
  try {
    Evaluation out;
    out.id = json.at("id").get<std::string>();
    out.model = json.at("model").get<std::string>();
    out.version = json.at("version").get<int64_t>();
    out.baseline_version = json.value("baseline_version", int64_t{0});
    out.policy = json.value("policy", "");
    out.policy_version = json.value("policy_version", int64_t{0});
    out.passed = json.at("passed").get<bool>();
    if (json.contains("gates")) {
      size_t index = 0;
      for (const Json& gate : json.at("gates")) {
        absl::StatusOr<GateResult> parsed = GateResultFromJson(gate);
        if (!parsed.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("evaluation JSON: gates[", index,
                                                         "]: ", parsed.status().message()));
        }
        out.gates.push_back(std::move(*parsed));
        ++index;
      }
    }
    if (json.contains("metrics") && !json.at("metrics").is_null()) {
      out.metrics = json.at("metrics");
    }
    out.rows = json.value("rows", int64_t{0});
    out.actor = json.value("actor", "");
    out.created_ms = json.value("created_ms", int64_t{0});
    return out;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("evaluation JSON: ", e.what()));
  }
}

std::string NewEvaluationId() { return absl::StrCat("ev-", NewUuidHex()); }

absl::Status ApplyEvaluationMigrations(storage::Database& db) {
  return storage::ApplyMigrations(db, "cicd_evaluations", kMigrations);
}

EvaluationStore::EvaluationStore(storage::Database& db) : db_(db) {}
EvaluationStore::~EvaluationStore() = default;

absl::StatusOr<std::unique_ptr<EvaluationStore>> EvaluationStore::Open(storage::Database& db) {
  CAIRN_RETURN_IF_ERROR(ApplyEvaluationMigrations(db));
  return std::unique_ptr<EvaluationStore>(new EvaluationStore(db));
}

absl::Status EvaluationStore::Put(const Evaluation& evaluation) {
  if (evaluation.id.empty()) {
    return absl::InvalidArgumentError("evaluation id: must not be empty (use NewEvaluationId())");
  }
  if (evaluation.model.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation ", evaluation.id, ": model must not be empty"));
  }
  if (evaluation.version < 1) {
    return absl::InvalidArgumentError(absl::StrCat("evaluation ", evaluation.id,
                                                   ": version ", evaluation.version,
                                                   " is not a model version (1, 2, …)"));
  }
  const std::string body = DumpJson(EvaluationToJson(evaluation));
  absl::Status status;
  for (int attempt = 0; attempt < kPutTries; ++attempt) {
    bool taken = false;
    status = db_.Write([&](SqlSession& session) -> absl::Status {
      taken = false;
      std::vector<SqlValue> id_param = {evaluation.id};
      int64_t seq = 0;
      CAIRN_RETURN_IF_ERROR(session.QueryEach(
          "SELECT (SELECT COUNT(*) FROM cicd_evaluations WHERE id = $1), "
          "(SELECT COALESCE(MAX(seq), 0) FROM cicd_evaluations)",
          id_param, [&](const SqlRowView& row) {
            taken = row.Int(0) > 0;
            seq = row.Int(1) + 1;
            return absl::OkStatus();
          }));
      if (taken) return absl::OkStatus();
      std::vector<SqlValue> params = {evaluation.id,
                                      seq,
                                      evaluation.model,
                                      evaluation.version,
                                      evaluation.policy,
                                      evaluation.policy_version,
                                      int64_t{evaluation.passed ? 1 : 0},
                                      evaluation.created_ms,
                                      body};
      return session
          .Execute("INSERT INTO cicd_evaluations (id, seq, model, version, policy, "
                   "policy_version, passed, created_ms, body) VALUES ($1, $2, $3, $4, $5, $6, "
                   "$7, $8, $9)",
                   params)
          .status();
    });
    if (status.ok() && taken) {
      return absl::AlreadyExistsError(absl::StrCat(
          "evaluation ", evaluation.id, " is already stored: evaluations are immutable; put a "
          "new one with a fresh id (NewEvaluationId())"));
    }
    // A concurrent Put of another id can take the same seq on PostgreSQL (no unique
    // constraint on seq: ties are broken by id) — only a lost race on the id retries.
    if (!absl::IsAborted(status) && !absl::IsUnavailable(status)) break;
  }
  if (absl::IsAlreadyExists(status)) {
    return absl::AlreadyExistsError(
        absl::StrCat("evaluation ", evaluation.id, " is already stored"));
  }
  return status;
}

absl::StatusOr<Evaluation> EvaluationStore::Get(std::string_view id) {
  std::optional<Evaluation> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> params = {std::string(id)};
    return session.QueryEach("SELECT id, body FROM cicd_evaluations WHERE id = $1", params,
                             [&](const SqlRowView& row) -> absl::Status {
                               CAIRN_ASSIGN_OR_RETURN(Evaluation e,
                                                      ReadBody(row.Text(0), row.Text(1)));
                               found = std::move(e);
                               return absl::OkStatus();
                             });
  }));
  if (!found) {
    return absl::NotFoundError(absl::StrCat(
        "evaluation '", ToAbsl(id),
        "' does not exist: list evaluations with GET /api/v1/cicd/evaluations?model=MODEL"));
  }
  return std::move(*found);
}

absl::StatusOr<std::vector<Evaluation>> EvaluationStore::List(std::string_view model,
                                                              std::optional<int64_t> version,
                                                              int limit) {
  if (limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit ", limit, ": must be at least 1 (0 means ", kDefaultLimit, ")"));
  }
  if (limit == 0) limit = kDefaultLimit;
  std::vector<Evaluation> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    std::vector<SqlValue> params;
    std::string where;
    if (!model.empty()) {
      params.push_back(std::string(model));
      where = " WHERE model = $1";
      if (version.has_value()) {
        params.push_back(*version);
        where += " AND version = $2";
      }
    } else if (version.has_value()) {
      params.push_back(*version);
      where = " WHERE version = $1";
    }
    params.push_back(int64_t{limit});
    const std::string sql = absl::StrCat(
        "SELECT id, body FROM cicd_evaluations", where,
        " ORDER BY created_ms DESC, seq DESC, id DESC LIMIT $", params.size());
    return session.QueryEach(sql, params, [&](const SqlRowView& row) -> absl::Status {
      CAIRN_ASSIGN_OR_RETURN(Evaluation e, ReadBody(row.Text(0), row.Text(1)));
      out.push_back(std::move(e));
      return absl::OkStatus();
    });
  }));
  return out;
}

absl::StatusOr<std::optional<Evaluation>> EvaluationStore::Latest(std::string_view model,
                                                                  int64_t version,
                                                                  std::string_view policy,
                                                                  int64_t policy_version) {
  std::optional<Evaluation> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> params = {std::string(model), version};
    std::string sql = "SELECT id, body FROM cicd_evaluations WHERE model = $1 AND version = $2";
    if (!policy.empty()) {
      params.push_back(std::string(policy));
      absl::StrAppend(&sql, " AND policy = $", params.size());
      if (policy_version > 0) {
        params.push_back(policy_version);
        absl::StrAppend(&sql, " AND policy_version = $", params.size());
      }
    }
    absl::StrAppend(&sql, " ORDER BY created_ms DESC, seq DESC, id DESC LIMIT 1");
    return session.QueryEach(sql, params, [&](const SqlRowView& row) -> absl::Status {
      CAIRN_ASSIGN_OR_RETURN(Evaluation e, ReadBody(row.Text(0), row.Text(1)));
      found = std::move(e);
      return absl::OkStatus();
    });
  }));
  return found;
}

}  // namespace cairn::cicd
