#include "monitoring/alerts/alert_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "common/status.h"
#include "storage/migrations.h"

namespace cairn::monitoring {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

// open_key is "<monitor>\n<kind>" while the alert is not resolved and NULL afterwards, so
// the UNIQUE constraint allows one unresolved alert per (monitor, kind) and any number of
// resolved ones (both engines let NULLs repeat in a UNIQUE column).
constexpr storage::Migration kMigrations[] = {
    {1, "alerts and their timelines", R"sql(
CREATE TABLE monitoring_alerts (
  id TEXT PRIMARY KEY,
  monitor TEXT NOT NULL,
  kind TEXT NOT NULL,
  open_key TEXT UNIQUE,
  severity TEXT NOT NULL,
  state TEXT NOT NULL,
  phase TEXT NOT NULL,
  retrain_run TEXT NOT NULL,
  await_model TEXT NOT NULL,
  opened_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  data TEXT NOT NULL);
CREATE INDEX monitoring_alerts_opened_idx ON monitoring_alerts (opened_ms, id);
CREATE INDEX monitoring_alerts_monitor_idx ON monitoring_alerts (monitor, opened_ms);
CREATE INDEX monitoring_alerts_run_idx ON monitoring_alerts (retrain_run);
CREATE TABLE monitoring_alert_events (
  alert_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  time_ms BIGINT NOT NULL,
  kind TEXT NOT NULL,
  message TEXT NOT NULL,
  attributes TEXT NOT NULL,
  PRIMARY KEY (alert_id, seq));
)sql"},
    // retrain_claim: the highest retraining step claimed (ClaimRetrainStep), so that two
    // servers sharing the database do not both start (or give up) one step.
    {2, "alerts: claim-once retraining steps",
     "ALTER TABLE monitoring_alerts ADD COLUMN retrain_claim BIGINT NOT NULL DEFAULT 0"},
    // retrain_claimed_at: when retrain_claim was claimed (ms, the claimer's Clock), so that
    // a claim whose step was never recorded is a lease another server can take over; it is
    // also the claim's token (ReleaseRetrainStep, ModifyClaimed), stored negated once the
    // claim ended (recorded or given back). Claims made before this migration, or by a server
    // without it, read as claimed at 0 (or negative): the first claimer that finds one stamps
    // it with its time, and it is taken over a lease later.
    {3, "alerts: retraining step claims are leases",
     "ALTER TABLE monitoring_alerts ADD COLUMN retrain_claimed_at BIGINT NOT NULL DEFAULT 0"},
};

constexpr char kColumns[] =
    "id, monitor, kind, severity, state, phase, retrain_run, await_model, opened_ms, "
    "updated_ms, data";

// Writes RowParams (everything but the id and the timeline) over the alert's row.
constexpr char kUpdateSql[] =
    "UPDATE monitoring_alerts SET monitor = $2, kind = $3, open_key = $4, severity = $5, "
    "state = $6, phase = $7, retrain_run = $8, await_model = $9, opened_ms = $10, "
    "updated_ms = $11, data = $12 WHERE id = $1";

std::string OpenKey(const Alert& alert) { return absl::StrCat(alert.monitor, "\n", alert.kind); }

std::string DataJson(const Alert& alert) {
  Json sinks = Json::array();
  for (const SinkSpec& sink : alert.sinks) sinks.push_back(SinkSpecToJson(sink, true));
  Json data{{"monitor_version", alert.monitor_version},
            {"summary", alert.summary},
            {"details", alert.details},
            {"occurrences", alert.occurrences},
            {"first_monitor_run", alert.first_monitor_run},
            {"last_monitor_run", alert.last_monitor_run},
            {"resolved_ms", alert.resolved_ms},
            {"acknowledged_by", alert.acknowledged_by},
            {"resolved_by", alert.resolved_by},
            {"attempts", alert.attempts},
            {"retrain_runs", alert.retrain_runs},
            {"registered_version", alert.registered_version},
            {"sinks", std::move(sinks)}};
  data["retrain"] = alert.retrain ? RetrainActionToJson(*alert.retrain) : Json(nullptr);
  return DumpJson(data);
}

std::vector<SqlValue> RowParams(const Alert& alert) {
  return {alert.id,
          alert.monitor,
          alert.kind,
          alert.state == AlertState::kResolved ? SqlValue() : SqlValue(OpenKey(alert)),
          std::string(SeverityName(alert.severity)),
          std::string(AlertStateName(alert.state)),
          std::string(RetrainPhaseName(alert.phase)),
          alert.retrain_run,
          alert.retrain ? alert.retrain->await_model : std::string(),
          alert.opened_ms,
          alert.updated_ms,
          DataJson(alert)};
}

template <typename T>
T JsonGet(const Json& object, const char* key, T fallback) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const std::exception&) {
    return fallback;
  }
}

absl::StatusOr<Alert> AlertFromRow(const SqlRowView& row) {
  Alert alert;
  alert.id = std::string(row.Text(0));
  alert.monitor = std::string(row.Text(1));
  alert.kind = std::string(row.Text(2));
  alert.severity = ParseSeverity(row.Text(3)).value_or(Severity::kWarning);
  alert.state = ParseAlertState(row.Text(4)).value_or(AlertState::kOpen);
  alert.phase = ParseRetrainPhase(row.Text(5)).value_or(RetrainPhase::kNone);
  alert.retrain_run = std::string(row.Text(6));
  alert.opened_ms = row.Int(8);
  alert.updated_ms = row.Int(9);
  CAIRN_ASSIGN_OR_RETURN(Json data, ParseJson(row.Text(10)));
  alert.monitor_version = JsonGet<int64_t>(data, "monitor_version", 0);
  alert.summary = JsonGet<std::string>(data, "summary", "");
  alert.details = data.contains("details") ? data["details"] : Json::object();
  alert.occurrences = JsonGet<int64_t>(data, "occurrences", 1);
  alert.first_monitor_run = JsonGet<std::string>(data, "first_monitor_run", "");
  alert.last_monitor_run = JsonGet<std::string>(data, "last_monitor_run", "");
  alert.resolved_ms = JsonGet<int64_t>(data, "resolved_ms", 0);
  alert.acknowledged_by = JsonGet<std::string>(data, "acknowledged_by", "");
  alert.resolved_by = JsonGet<std::string>(data, "resolved_by", "");
  alert.attempts = JsonGet<int>(data, "attempts", 0);
  alert.retrain_runs = JsonGet<std::vector<std::string>>(data, "retrain_runs", {});
  alert.registered_version = JsonGet<std::string>(data, "registered_version", "");
  if (data.contains("sinks") && data["sinks"].is_array()) {
    for (const Json& sink : data["sinks"]) {
      alert.sinks.push_back(SinkSpec{JsonGet<std::string>(sink, "kind", ""),
                                     JsonGet<std::string>(sink, "url", ""),
                                     JsonGet<std::string>(sink, "secret", "")});
    }
  }
  if (data.contains("retrain") && data["retrain"].is_object()) {
    const Json& r = data["retrain"];
    RetrainAction action;
    action.pipeline = JsonGet<std::string>(r, "pipeline", "");
    action.params = JsonGet<std::map<std::string, std::string>>(r, "params", {});
    action.max_attempts = JsonGet<int>(r, "max_attempts", 2);
    action.await_model = JsonGet<std::string>(r, "await_model", "");
    action.await_alias = JsonGet<std::string>(r, "await_alias", "");
    alert.retrain = std::move(action);
  }
  return alert;
}

absl::StatusOr<std::vector<Alert>> QueryAlerts(SqlSession& session, const std::string& where,
                                               std::span<const SqlValue> params) {
  std::vector<Alert> alerts;
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT ", kColumns, " FROM monitoring_alerts ", where), params,
      [&](const SqlRowView& row) -> absl::Status {
        CAIRN_ASSIGN_OR_RETURN(Alert alert, AlertFromRow(row));
        alerts.push_back(std::move(alert));
        return absl::OkStatus();
      }));
  return alerts;
}

absl::Status LoadTimeline(SqlSession& session, Alert& alert) {
  alert.timeline.clear();
  const SqlValue params[] = {alert.id};
  return session.QueryEach(
      "SELECT seq, time_ms, kind, message, attributes FROM monitoring_alert_events "
      "WHERE alert_id = $1 ORDER BY seq",
      params, [&](const SqlRowView& row) -> absl::Status {
        AlertEvent event;
        event.seq = row.Int(0);
        event.time_ms = row.Int(1);
        event.kind = std::string(row.Text(2));
        event.message = std::string(row.Text(3));
        CAIRN_ASSIGN_OR_RETURN(Json attributes, ParseJson(row.Text(4)));
        event.attributes = JsonGet<std::map<std::string, std::string>>(
            Json{{"a", attributes}}, "a", {});
        alert.timeline.push_back(std::move(event));
        return absl::OkStatus();
      });
}

// Reads alerts matching `where` and their timelines in one snapshot.
absl::StatusOr<std::vector<Alert>> ReadWithTimelines(storage::Database& db,
                                                     const std::string& where,
                                                     std::vector<SqlValue> params) {
  std::vector<Alert> alerts;
  CAIRN_RETURN_IF_ERROR(db.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(alerts, QueryAlerts(session, where, params));
    for (Alert& alert : alerts) CAIRN_RETURN_IF_ERROR(LoadTimeline(session, alert));
    return absl::OkStatus();
  }));
  return alerts;
}

// Locks the alert's row until the transaction commits (PostgreSQL; SQLite serializes
// writers anyway); READ COMMITTED then reads, per statement, what the previous holder
// committed. NotFound for an unknown alert.
absl::Status LockAlertRow(SqlSession& session, const std::string& id) {
  const SqlValue key[] = {id};
  CAIRN_ASSIGN_OR_RETURN(
      int64_t locked,
      session.Execute("UPDATE monitoring_alerts SET updated_ms = updated_ms WHERE id = $1", key));
  if (locked == 0) return absl::NotFoundError(absl::StrCat("alert ", id, " not found"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AlertStore>> AlertStore::Open(storage::Database& db) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "monitoring_alerts", kMigrations));
  return std::unique_ptr<AlertStore>(new AlertStore(db));
}

absl::Status AlertStore::Insert(const Alert& alert) {
  absl::Status status = db_.Write([&](SqlSession& session) -> absl::Status {
    std::vector<SqlValue> params = RowParams(alert);
    return session
        .Execute(
            "INSERT INTO monitoring_alerts (id, monitor, kind, open_key, severity, state, phase, "
            "retrain_run, await_model, opened_ms, updated_ms, data) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            params)
        .status();
  });
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(
        absl::StrCat("monitor ", alert.monitor, " already has an unresolved ", alert.kind,
                     " alert (or alert id ", alert.id, " is taken): update that one instead"));
  }
  return status;
}

absl::Status AlertStore::Update(const Alert& alert) {
  return db_.Write([&](SqlSession& session) -> absl::Status {
    std::vector<SqlValue> params = RowParams(alert);
    CAIRN_ASSIGN_OR_RETURN(
        int64_t changed,
        session.Execute(kUpdateSql, params));
    if (changed == 0) return absl::NotFoundError(absl::StrCat("alert ", alert.id, " not found"));
    return absl::OkStatus();
  });
}

absl::StatusOr<Alert> AlertStore::Modify(const std::string& id,
                                         const std::function<void(Alert&)>& change) {
  return ModifyIf(id, [&](Alert& alert) -> absl::StatusOr<bool> {
    change(alert);
    return true;
  });
}

absl::StatusOr<Alert> AlertStore::ModifyIf(
    const std::string& id, const std::function<absl::StatusOr<bool>(Alert&)>& change) {
  Alert alert;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    // Modifiers (and appenders) of one alert take turns: each reads what the previous one
    // committed.
    CAIRN_RETURN_IF_ERROR(LockAlertRow(session, id));
    const SqlValue key[] = {id};
    CAIRN_ASSIGN_OR_RETURN(std::vector<Alert> alerts, QueryAlerts(session, "WHERE id = $1", key));
    if (alerts.empty()) return absl::NotFoundError(absl::StrCat("alert ", id, " not found"));
    alert = std::move(alerts.front());
    CAIRN_ASSIGN_OR_RETURN(bool write, change(alert));
    if (write) {
      std::vector<SqlValue> params = RowParams(alert);
      CAIRN_RETURN_IF_ERROR(session.Execute(kUpdateSql, params).status());
    }
    return LoadTimeline(session, alert);
  }));
  return alert;
}

absl::StatusOr<bool> AlertStore::ClaimRetrainStep(const std::string& id, int step,
                                                  int64_t now_ms, int64_t* token) {
  bool claimed = false;
  int64_t written = 0;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    claimed = false;
    // Claimers of one alert take turns on its row: the claim read below is the one written.
    CAIRN_RETURN_IF_ERROR(LockAlertRow(session, id));
    const SqlValue key[] = {id};
    CAIRN_ASSIGN_OR_RETURN(
        storage::SqlResult found,
        session.Query("SELECT retrain_claim, retrain_claimed_at, phase, data "
                      "FROM monitoring_alerts WHERE id = $1",
                      key));
    if (found.rows.empty()) return absl::NotFoundError(absl::StrCat("alert ", id, " not found"));
    const auto& row = found.rows.front();
    const int64_t claim = std::get<int64_t>(row.at(0));
    const int64_t claimed_at = std::get<int64_t>(row.at(1));
    const std::string& phase = std::get<std::string>(row.at(2));
    if (claim < step) {
      // The claim's token is the time written, never 0 (an unstamped claim) and never the
      // previous claim's (two claims in one millisecond; a claim that ended is stored
      // negated, see ModifyClaimed).
      written = std::max<int64_t>(now_ms, 1);
      if (written == claimed_at || written == -claimed_at) ++written;
      const SqlValue params[] = {id, int64_t{step}, written};
      CAIRN_ASSIGN_OR_RETURN(int64_t changed,
                             session.Execute("UPDATE monitoring_alerts SET retrain_claim = $2, "
                                             "retrain_claimed_at = $3 "
                                             "WHERE id = $1 AND retrain_claim < $2",
                                             params));
      claimed = changed == 1;
      return absl::OkStatus();
    }
    // Held by another claimer (or a higher step was claimed): a lease of this very step
    // that ran out before the step was recorded is taken over. The takeover is conditional
    // on the claim read, so two takers cannot both win.
    if (claim != step || phase == RetrainPhaseName(RetrainPhase::kExhausted)) {
      return absl::OkStatus();
    }
    CAIRN_ASSIGN_OR_RETURN(Json data, ParseJson(std::get<std::string>(row.at(3))));
    if (JsonGet<int>(data, "attempts", 0) >= step) return absl::OkStatus();  // recorded
    if (claimed_at <= 0) {
      // Claimed by a server that does not write claim times (an older one, during a rolling
      // upgrade; 0, or what a claim that ended left, negated): its lease starts now, so that
      // it is not taken over while it starts a run.
      const SqlValue stamp[] = {id, int64_t{step}, std::max<int64_t>(now_ms, 1), claimed_at};
      return session
          .Execute("UPDATE monitoring_alerts SET retrain_claimed_at = $3 "
                   "WHERE id = $1 AND retrain_claim = $2 AND retrain_claimed_at = $4",
                   stamp)
          .status();
    }
    if (now_ms - claimed_at < kRetrainClaimLeaseMs) return absl::OkStatus();
    written = now_ms;  // > claimed_at: a token the taken-over claimer does not hold
    const SqlValue take[] = {id, int64_t{step}, written, claimed_at};
    CAIRN_ASSIGN_OR_RETURN(
        int64_t changed, session.Execute("UPDATE monitoring_alerts SET retrain_claimed_at = $3 "
                                         "WHERE id = $1 AND retrain_claim = $2 AND "
                                         "retrain_claimed_at = $4",
                                         take));
    claimed = changed == 1;
    return absl::OkStatus();
  }));
  if (claimed && token != nullptr) *token = written;
  return claimed;
}

absl::Status AlertStore::ReleaseRetrainStep(const std::string& id, int step, int64_t token) {
  return db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue params[] = {id, int64_t{step}, int64_t{step - 1}, token, -token};
    return session
        .Execute("UPDATE monitoring_alerts SET retrain_claim = $3, retrain_claimed_at = $5 "
                 "WHERE id = $1 AND retrain_claim = $2 AND retrain_claimed_at = $4",
                 params)
        .status();
  });
}

absl::StatusOr<std::optional<Alert>> AlertStore::ModifyClaimed(
    const std::string& id, int step, int64_t token, const std::function<void(Alert&)>& change) {
  std::optional<Alert> written;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    written.reset();
    CAIRN_RETURN_IF_ERROR(LockAlertRow(session, id));
    const SqlValue key[] = {id};
    CAIRN_ASSIGN_OR_RETURN(
        storage::SqlResult claim,
        session.Query("SELECT retrain_claim, retrain_claimed_at FROM monitoring_alerts "
                      "WHERE id = $1",
                      key));
    if (claim.rows.empty()) return absl::NotFoundError(absl::StrCat("alert ", id, " not found"));
    if (std::get<int64_t>(claim.rows.front().at(0)) != step ||
        std::get<int64_t>(claim.rows.front().at(1)) != token) {
      return absl::OkStatus();  // taken over (or given back): not this caller's to write
    }
    CAIRN_ASSIGN_OR_RETURN(std::vector<Alert> alerts, QueryAlerts(session, "WHERE id = $1", key));
    if (alerts.empty()) return absl::NotFoundError(absl::StrCat("alert ", id, " not found"));
    Alert alert = std::move(alerts.front());
    change(alert);
    std::vector<SqlValue> params = RowParams(alert);
    CAIRN_RETURN_IF_ERROR(session.Execute(kUpdateSql, params).status());
    if (alert.attempts >= step) {
      // Recorded: the claim is final, and its time is stored negated (ended), so that a claim
      // of the next step by a server that writes no claim time reads as unstamped.
      const SqlValue ended[] = {id, -token};
      CAIRN_RETURN_IF_ERROR(
          session.Execute("UPDATE monitoring_alerts SET retrain_claimed_at = $2 WHERE id = $1",
                          ended)
              .status());
    }
    CAIRN_RETURN_IF_ERROR(LoadTimeline(session, alert));
    written = std::move(alert);
    return absl::OkStatus();
  }));
  return written;
}

absl::StatusOr<int64_t> AlertStore::AppendEvent(const std::string& alert_id,
                                                const AlertEvent& event) {
  int64_t seq = 0;
  Json attributes = Json::object();
  for (const auto& [name, value] : event.attributes) attributes[name] = value;
  const std::string attributes_json = DumpJson(attributes);
  auto append = [&](SqlSession& session) -> absl::Status {
    // Appenders of one alert — two servers on one database — take turns: each reads the
    // last seq after the previous one committed.
    CAIRN_RETURN_IF_ERROR(LockAlertRow(session, alert_id));
    const SqlValue id[] = {alert_id};
    CAIRN_ASSIGN_OR_RETURN(
        storage::SqlResult last,
        session.Query("SELECT COALESCE(MAX(seq), 0) FROM monitoring_alert_events "
                      "WHERE alert_id = $1",
                      id));
    seq = std::get<int64_t>(last.rows.at(0).at(0)) + 1;
    const SqlValue params[] = {alert_id, seq, event.time_ms, event.kind, event.message,
                               attributes_json};
    return session
        .Execute("INSERT INTO monitoring_alert_events (alert_id, seq, time_ms, kind, message, "
                 "attributes) VALUES ($1, $2, $3, $4, $5, $6)",
                 params)
        .status();
  };
  // A seq taken by a writer that bypassed the lock (an older server) is a unique violation:
  // read the last seq again.
  absl::Status status;
  for (int attempt = 0; attempt < 5; ++attempt) {
    status = db_.Write(append);
    if (!absl::IsAlreadyExists(status)) break;
  }
  if (absl::IsAlreadyExists(status)) {
    return absl::AbortedError(absl::StrCat("alert ", alert_id,
                                           ": the timeline's next seq was taken 5 times in a "
                                           "row by other writers; try again"));
  }
  CAIRN_RETURN_IF_ERROR(status);
  return seq;
}

absl::StatusOr<Alert> AlertStore::Get(const std::string& id, bool with_timeline) {
  std::vector<Alert> alerts;
  if (with_timeline) {
    CAIRN_ASSIGN_OR_RETURN(alerts, ReadWithTimelines(db_, "WHERE id = $1", {id}));
  } else {
    CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
      const SqlValue params[] = {id};
      CAIRN_ASSIGN_OR_RETURN(alerts, QueryAlerts(session, "WHERE id = $1", params));
      return absl::OkStatus();
    }));
  }
  if (alerts.empty()) return absl::NotFoundError(absl::StrCat("alert ", id, " not found"));
  return std::move(alerts.front());
}

absl::StatusOr<std::optional<Alert>> AlertStore::FindUnresolved(const std::string& monitor,
                                                                const std::string& kind) {
  CAIRN_ASSIGN_OR_RETURN(
      std::vector<Alert> alerts,
      ReadWithTimelines(db_, "WHERE open_key = $1",
                        {absl::StrCat(monitor, "\n", kind)}));
  if (alerts.empty()) return std::nullopt;
  return std::move(alerts.front());
}

absl::StatusOr<std::optional<Alert>> AlertStore::FindByRetrainRun(const std::string& run_id) {
  if (run_id.empty()) return std::nullopt;
  CAIRN_ASSIGN_OR_RETURN(
      std::vector<Alert> alerts,
      ReadWithTimelines(db_, "WHERE retrain_run = $1 ORDER BY opened_ms DESC, id DESC",
                        {run_id}));
  if (alerts.empty()) return std::nullopt;
  return std::move(alerts.front());
}

absl::StatusOr<std::vector<Alert>> AlertStore::FindAwaitingModel(const std::string& model) {
  return FindUnresolvedInPhase(RetrainPhase::kAwaitingModel, model);
}

absl::StatusOr<std::vector<Alert>> AlertStore::FindUnresolvedInPhase(
    RetrainPhase phase, const std::string& await_model) {
  if (await_model.empty()) {
    return ReadWithTimelines(db_,
                             "WHERE open_key IS NOT NULL AND phase = $1 ORDER BY opened_ms, id",
                             {std::string(RetrainPhaseName(phase))});
  }
  return ReadWithTimelines(
      db_,
      "WHERE open_key IS NOT NULL AND phase = $1 AND await_model = $2 ORDER BY opened_ms, id",
      {std::string(RetrainPhaseName(phase)), await_model});
}

absl::StatusOr<std::vector<Alert>> AlertStore::List(const AlertFilter& filter) {
  if (filter.limit < 1 || filter.limit > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: ", filter.limit, " is out of range; use 1 to 1000"));
  }
  std::string where = "WHERE 1 = 1";
  std::vector<SqlValue> params;
  if (filter.state.has_value()) {
    params.push_back(std::string(AlertStateName(*filter.state)));
    absl::StrAppend(&where, " AND state = $", params.size());
  }
  if (!filter.monitor.empty()) {
    params.push_back(filter.monitor);
    absl::StrAppend(&where, " AND monitor = $", params.size());
  }
  if (filter.severity.has_value()) {
    params.push_back(std::string(SeverityName(*filter.severity)));
    absl::StrAppend(&where, " AND severity = $", params.size());
  }
  params.push_back(int64_t{filter.limit});
  absl::StrAppend(&where, " ORDER BY opened_ms DESC, id DESC LIMIT $", params.size());
  std::vector<Alert> alerts;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(alerts, QueryAlerts(session, where, params));
    return absl::OkStatus();
  }));
  return alerts;
}

}  // namespace cairn::monitoring
