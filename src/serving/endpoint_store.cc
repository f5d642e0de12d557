#include "serving/endpoint_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/strings.h"
#include "serving/endpoint_json.h"
#include "serving/endpoint_registry.h"
#include "storage/database.h"

namespace cairn::serving {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

constexpr char kRolloutColumns[] =
    "id, endpoint, model, version, alias, mode, percent, guard, on_pass, on_fail, state, "
    "started_ms, ended_ms, verdict, actor, reason, ended_by, end_reason";

constexpr int kWriteTries = 5;
// AddEvent trims an endpoint's events every this many additions (per store).
constexpr int64_t kTrimEvery = 256;

absl::StatusOr<Rollout> ReadRollout(const SqlRowView& row) {
  Rollout r;
  r.id = std::string(row.Text(0));
  r.endpoint = std::string(row.Text(1));
  r.model = std::string(row.Text(2));
  r.version = row.Int(3);
  r.alias = std::string(row.Text(4));
  r.mode = std::string(row.Text(5));
  r.percent = row.Double(6);
  absl::StatusOr<Json> guard = ParseJson(row.Text(7));
  if (!guard.ok()) {
    return absl::InternalError(absl::StrCat("rollout ", r.id, ": stored guard is not JSON"));
  }
  absl::StatusOr<GuardSpec> spec = GuardSpecFromJson(*guard);
  if (!spec.ok()) {
    return absl::InternalError(
        absl::StrCat("rollout ", r.id, ": stored guard: ", spec.status().message()));
  }
  r.guard = std::move(*spec);
  r.on_pass = std::string(row.Text(8));
  r.on_fail = std::string(row.Text(9));
  r.state = std::string(row.Text(10));
  r.started_ms = row.Int(11);
  r.ended_ms = row.Int(12);
  absl::StatusOr<Json> verdict = ParseJson(row.Text(13));
  r.verdict = verdict.ok() ? std::move(*verdict) : Json(nullptr);
  r.actor = std::string(row.Text(14));
  r.reason = std::string(row.Text(15));
  r.ended_by = std::string(row.Text(16));
  r.end_reason = std::string(row.Text(17));
  return r;
}

absl::StatusOr<EndpointEvent> ReadEvent(const SqlRowView& row) {
  EndpointEvent e;
  e.id = row.Int(0);
  e.endpoint = std::string(row.Text(1));
  e.time_ms = row.Int(2);
  e.kind = std::string(row.Text(3));
  absl::StatusOr<Json> detail = ParseJson(row.Text(4));
  e.detail = detail.ok() ? std::move(*detail) : Json(std::string(row.Text(4)));
  return e;
}

absl::StatusOr<EndpointEvent> InsertEvent(SqlSession& session, std::string_view endpoint,
                                          int64_t time_ms, std::string_view kind,
                                          const Json& detail) {
  EndpointEvent event;
  event.endpoint = std::string(endpoint);
  event.time_ms = time_ms;
  event.kind = std::string(kind);
  event.detail = detail;
  std::vector<SqlValue> params = {event.endpoint, time_ms, event.kind, DumpJson(detail)};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "INSERT INTO endpoint_events (endpoint, time_ms, kind, detail) VALUES ($1, $2, $3, $4) "
      "RETURNING id",
      params, [&](const SqlRowView& row) {
        event.id = row.Int(0);
        return absl::OkStatus();
      }));
  return event;
}

absl::Status Retry(storage::Database& db, const std::function<absl::Status(SqlSession&)>& fn) {
  absl::Status status;
  for (int attempt = 0; attempt < kWriteTries; ++attempt) {
    status = db.Write(fn);
    if (!absl::IsAborted(status)) break;
  }
  return status;
}

}  // namespace

Rollout MakeRollout(std::string_view endpoint, std::string_view model, int64_t version,
                    const RolloutSpec& spec, std::string_view actor, std::string_view reason) {
  Rollout r;
  r.endpoint = std::string(endpoint);
  r.model = std::string(model);
  r.version = version;
  r.alias = spec.alias;
  r.mode = spec.mode;
  r.percent = spec.percent;
  r.guard = spec.guard;
  r.on_pass = spec.on_pass;
  r.on_fail = spec.on_fail;
  r.actor = std::string(actor);
  r.reason = std::string(reason);
  return r;
}

RolloutSpec RolloutToSpec(const Rollout& rollout) {
  RolloutSpec spec;
  spec.mode = rollout.mode;
  spec.version = rollout.version;
  spec.alias = rollout.alias;
  spec.percent = rollout.percent;
  spec.guard = rollout.guard;
  spec.on_pass = rollout.on_pass;
  spec.on_fail = rollout.on_fail;
  return spec;
}

Json RolloutToJson(const Rollout& r) {
  return Json{{"id", r.id},
              {"endpoint", r.endpoint},
              {"model", r.model},
              {"version", r.version},
              {"alias", r.alias},
              {"mode", r.mode},
              {"percent", r.percent},
              {"guard", GuardSpecToJson(r.guard)},
              {"on_pass", r.on_pass},
              {"on_fail", r.on_fail},
              {"state", r.state},
              {"started_ms", r.started_ms},
              {"ended_ms", r.ended_ms},
              {"verdict", r.verdict},
              {"actor", r.actor},
              {"reason", r.reason},
              {"ended_by", r.ended_by},
              {"end_reason", r.end_reason}};
}

Json EndpointEventToJson(const EndpointEvent& event) {
  return Json{{"id", event.id},
              {"endpoint", event.endpoint},
              {"time_ms", event.time_ms},
              {"kind", event.kind},
              {"detail", event.detail}};
}

EndpointStore::EndpointStore(storage::Database& db, Clock& clock, EndpointStoreOptions options)
    : db_(db), clock_(clock), options_(options) {}
EndpointStore::~EndpointStore() = default;

absl::StatusOr<std::unique_ptr<EndpointStore>> EndpointStore::Open(storage::Database& db,
                                                                   Clock& clock,
                                                                   EndpointStoreOptions options) {
  CAIRN_RETURN_IF_ERROR(ApplyEndpointMigrations(db));
  return std::unique_ptr<EndpointStore>(new EndpointStore(db, clock, options));
}

absl::StatusOr<Rollout> EndpointStore::Create(Rollout rollout) {
  if (rollout.endpoint.empty() || rollout.model.empty() || rollout.version < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rollout: endpoint ('", rollout.endpoint, "'), model ('", rollout.model,
        "') and a challenger version (", rollout.version, ") are required"));
  }
  if (rollout.id.empty()) rollout.id = NewUuidHex();
  if (rollout.started_ms == 0) rollout.started_ms = clock_.NowMillis();
  rollout.state = kRolloutRunning;
  rollout.ended_ms = 0;
  rollout.verdict = nullptr;
  rollout.ended_by.clear();
  rollout.end_reason.clear();
  std::optional<Rollout> running;
  absl::Status status = Retry(db_, [&](SqlSession& session) -> absl::Status {
    running.reset();
    std::vector<SqlValue> key = {rollout.endpoint, std::string(kRolloutRunning)};
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        absl::StrCat("SELECT ", kRolloutColumns,
                     " FROM endpoint_rollouts WHERE endpoint = $1 AND state = $2"),
        key, [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(Rollout r, ReadRollout(row));
          running = std::move(r);
          return absl::OkStatus();
        }));
    if (running.has_value()) return absl::AlreadyExistsError("running");
    std::vector<SqlValue> params = {
        rollout.id,          rollout.endpoint,   rollout.model,
        rollout.version,     rollout.alias,      rollout.mode,
        rollout.percent,     DumpJson(GuardSpecToJson(rollout.guard)),
        rollout.on_pass,     rollout.on_fail,    rollout.state,
        rollout.started_ms,  rollout.ended_ms,   DumpJson(rollout.verdict),
        rollout.actor,       rollout.reason,     rollout.ended_by,
        rollout.end_reason};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute(absl::StrCat("INSERT INTO endpoint_rollouts (", kRolloutColumns,
                                  ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                                  "$12, $13, $14, $15, $16, $17, $18)"),
                     params)
            .status());
    Json detail = {{"rollout", rollout.id},     {"model", rollout.model},
                   {"version", rollout.version}, {"alias", rollout.alias},
                   {"mode", rollout.mode},       {"percent", rollout.percent},
                   {"actor", rollout.actor},     {"reason", rollout.reason}};
    return InsertEvent(session, rollout.endpoint, rollout.started_ms,
                       kEndpointEventRolloutStarted, detail)
        .status();
  });
  if (absl::IsAlreadyExists(status)) {
    if (!running.has_value()) {  // lost a race on the unique index: read who won
      CAIRN_ASSIGN_OR_RETURN(running, Active(rollout.endpoint));
    }
    if (running.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "endpoint ", rollout.endpoint, " already has a running ", running->mode, " rollout ",
          running->id, " (", running->model, " v", running->version, ", started by ",
          running->actor.empty() ? "?" : running->actor,
          "): stop it first: cairn endpoints promote|rollback ", rollout.endpoint, " ",
          running->id));
    }
  }
  CAIRN_RETURN_IF_ERROR(status);
  return rollout;
}

absl::StatusOr<Rollout> EndpointStore::Get(std::string_view id) {
  std::optional<Rollout> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> params = {std::string(id)};
    return session.QueryEach(
        absl::StrCat("SELECT ", kRolloutColumns, " FROM endpoint_rollouts WHERE id = $1"), params,
        [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(Rollout r, ReadRollout(row));
          found = std::move(r);
          return absl::OkStatus();
        });
  }));
  if (!found.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "rollout '", ToAbsl(id),
        "' does not exist: list an endpoint's rollouts with cairn endpoints rollouts NAME"));
  }
  return std::move(*found);
}

absl::StatusOr<std::vector<Rollout>> EndpointStore::List(std::string_view endpoint,
                                                         int64_t limit) {
  std::vector<Rollout> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    std::vector<SqlValue> params = {std::string(endpoint)};
    std::string sql = absl::StrCat("SELECT ", kRolloutColumns,
                                   " FROM endpoint_rollouts WHERE endpoint = $1 ORDER BY "
                                   "started_ms DESC, id DESC");
    if (limit > 0) {
      absl::StrAppend(&sql, " LIMIT $2");
      params.push_back(limit);
    }
    return session.QueryEach(sql, params, [&](const SqlRowView& row) -> absl::Status {
      CAIRN_ASSIGN_OR_RETURN(Rollout r, ReadRollout(row));
      out.push_back(std::move(r));
      return absl::OkStatus();
    });
  }));
  return out;
}

absl::StatusOr<std::optional<Rollout>> EndpointStore::Active(std::string_view endpoint) {
  std::optional<Rollout> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> params = {std::string(endpoint), std::string(kRolloutRunning)};
    return session.QueryEach(
        absl::StrCat("SELECT ", kRolloutColumns,
                     " FROM endpoint_rollouts WHERE endpoint = $1 AND state = $2"),
        params, [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(Rollout r, ReadRollout(row));
          found = std::move(r);
          return absl::OkStatus();
        });
  }));
  return found;
}

absl::StatusOr<Rollout> EndpointStore::Finish(std::string_view id, std::string_view state,
                                              const Json& verdict, std::string_view actor,
                                              std::string_view reason) {
  if (state != kRolloutPromoted && state != kRolloutRolledBack && state != kRolloutEnded) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rollout state '", ToAbsl(state), "' is not one a rollout ends in (promoted, "
        "rolled_back, ended)"));
  }
  std::optional<Rollout> found;
  absl::Status status = Retry(db_, [&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> key = {std::string(id)};
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        absl::StrCat("SELECT ", kRolloutColumns, " FROM endpoint_rollouts WHERE id = $1"), key,
        [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(Rollout r, ReadRollout(row));
          found = std::move(r);
          return absl::OkStatus();
        }));
    if (!found.has_value()) {
      return absl::NotFoundError(absl::StrCat(
          "rollout '", ToAbsl(id),
          "' does not exist: list an endpoint's rollouts with cairn endpoints rollouts NAME"));
    }
    if (found->state != kRolloutRunning) {
      return absl::FailedPreconditionError(absl::StrCat(
          "rollout ", found->id, " of endpoint ", found->endpoint, " already ended (",
          found->state, found->ended_by.empty() ? "" : absl::StrCat(" by ", found->ended_by),
          "): nothing to ", state == kRolloutPromoted ? "promote" : "roll back"));
    }
    found->state = std::string(state);
    found->ended_ms = clock_.NowMillis();
    found->verdict = verdict;
    found->ended_by = std::string(actor);
    found->end_reason = std::string(reason);
    std::vector<SqlValue> params = {found->id,         found->state,    found->ended_ms,
                                    DumpJson(verdict), found->ended_by, found->end_reason,
                                    std::string(kRolloutRunning)};
    CAIRN_ASSIGN_OR_RETURN(
        int64_t updated,
        session.Execute("UPDATE endpoint_rollouts SET state = $2, ended_ms = $3, verdict = $4, "
                        "ended_by = $5, end_reason = $6 WHERE id = $1 AND state = $7",
                        params));
    if (updated != 1) return absl::AbortedError("rollout changed concurrently; retrying");
    Json detail = {{"rollout", found->id},     {"model", found->model},
                   {"version", found->version}, {"state", found->state},
                   {"actor", found->ended_by},  {"reason", found->end_reason},
                   {"passed", verdict.is_object() && verdict.contains("passed")
                                  ? verdict.at("passed")
                                  : Json(nullptr)}};
    return InsertEvent(session, found->endpoint, found->ended_ms, kEndpointEventRolloutFinished,
                       detail)
        .status();
  });
  CAIRN_RETURN_IF_ERROR(status);
  return std::move(*found);
}

absl::StatusOr<EndpointEvent> EndpointStore::AddEvent(std::string_view endpoint,
                                                      std::string_view kind, const Json& detail) {
  if (endpoint.empty() || kind.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint event: endpoint ('",
                                                   ToAbsl(endpoint), "') and kind ('",
                                                   ToAbsl(kind), "') must not be empty"));
  }
  const int64_t now = clock_.NowMillis();
  const bool trim = added_.fetch_add(1, std::memory_order_relaxed) % kTrimEvery == kTrimEvery - 1;
  EndpointEvent event;
  CAIRN_RETURN_IF_ERROR(Retry(db_, [&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(event, InsertEvent(session, endpoint, now, kind, detail));
    if (trim && options_.max_events_per_endpoint > 0) {
      // Keep the newest max_events_per_endpoint: delete below the id that many back.
      std::vector<SqlValue> params = {std::string(endpoint),
                                      options_.max_events_per_endpoint};
      std::optional<int64_t> cutoff;
      CAIRN_RETURN_IF_ERROR(session.QueryEach(
          "SELECT id FROM endpoint_events WHERE endpoint = $1 ORDER BY id DESC LIMIT 1 "
          "OFFSET $2",
          params, [&](const SqlRowView& row) {
            cutoff = row.Int(0);
            return absl::OkStatus();
          }));
      if (cutoff.has_value()) {
        std::vector<SqlValue> del = {std::string(endpoint), *cutoff};
        CAIRN_RETURN_IF_ERROR(
            session.Execute("DELETE FROM endpoint_events WHERE endpoint = $1 AND id <= $2", del)
                .status());
      }
    }
    return absl::OkStatus();
  }));
  return event;
}

absl::StatusOr<std::vector<EndpointEvent>> EndpointStore::ListEvents(std::string_view endpoint,
                                                                     int64_t limit,
                                                                     std::string_view kind) {
  std::vector<EndpointEvent> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    std::vector<SqlValue> params = {std::string(endpoint)};
    std::string sql =
        "SELECT id, endpoint, time_ms, kind, detail FROM endpoint_events WHERE endpoint = $1";
    if (!kind.empty()) {
      params.push_back(std::string(kind));
      absl::StrAppend(&sql, " AND kind = $", params.size());
    }
    absl::StrAppend(&sql, " ORDER BY id DESC");
    if (limit > 0) {
      params.push_back(limit);
      absl::StrAppend(&sql, " LIMIT $", params.size());
    }
    return session.QueryEach(sql, params, [&](const SqlRowView& row) -> absl::Status {
      CAIRN_ASSIGN_OR_RETURN(EndpointEvent e, ReadEvent(row));
      out.push_back(std::move(e));
      return absl::OkStatus();
    });
  }));
  return out;
}

}  // namespace cairn::serving
