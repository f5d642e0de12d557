#include "monitoring/alerts/notification_outbox.h"

#include <utility>

#include "common/ids.h"
#include "common/json.h"
#include "common/status.h"
#include "storage/migrations.h"

namespace cairn::monitoring {
namespace {

constexpr storage::Migration kMigrations[] = {
    {1, "alert notifications not yet delivered",
     "CREATE TABLE monitoring_alert_outbox ("
     " id TEXT PRIMARY KEY,"
     " alert_id TEXT NOT NULL,"
     " event TEXT NOT NULL,"
     " sink TEXT NOT NULL,"
     " body TEXT NOT NULL,"
     " attempts INTEGER NOT NULL,"
     " next_try_ms BIGINT NOT NULL,"
     " created_ms BIGINT NOT NULL)"},
};

}  // namespace

absl::StatusOr<std::unique_ptr<NotificationOutbox>> NotificationOutbox::Open(
    storage::Database& db) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "monitoring_alert_outbox", kMigrations));
  return std::unique_ptr<NotificationOutbox>(new NotificationOutbox(db));
}

absl::StatusOr<std::string> NotificationOutbox::Add(OutboxNotification n) {
  if (n.id.empty()) n.id = NewUuidHex();
  const std::string sink =
      DumpJson(Json{{"kind", n.sink.kind}, {"url", n.sink.url}, {"secret", n.sink.secret}});
  const storage::SqlValue params[] = {n.id,         n.alert_id,          n.event,
                                      sink,         n.body,              int64_t{n.attempts},
                                      n.next_try_ms, n.created_ms};
  CAIRN_RETURN_IF_ERROR(db_.Write([&params](storage::SqlSession& session) {
    return session
        .Execute("INSERT INTO monitoring_alert_outbox (id, alert_id, event, sink, body, "
                 "attempts, next_try_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                 params)
        .status();
  }));
  return n.id;
}

absl::Status NotificationOutbox::RecordTry(const std::string& id, int attempts,
                                           int64_t next_try_ms) {
  const storage::SqlValue params[] = {id, int64_t{attempts}, next_try_ms};
  return db_.Write([&params](storage::SqlSession& session) {
    return session
        .Execute("UPDATE monitoring_alert_outbox SET attempts = $2, next_try_ms = $3 "
                 "WHERE id = $1",
                 params)
        .status();
  });
}

absl::Status NotificationOutbox::Remove(const std::string& id) {
  const storage::SqlValue params[] = {id};
  return db_.Write([&params](storage::SqlSession& session) {
    return session.Execute("DELETE FROM monitoring_alert_outbox WHERE id = $1", params).status();
  });
}

absl::StatusOr<std::vector<OutboxNotification>> NotificationOutbox::Pending() {
  std::vector<OutboxNotification> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&out](storage::SqlSession& session) {
    out.clear();
    return session.QueryEach(
        "SELECT id, alert_id, event, sink, body, attempts, next_try_ms, created_ms "
        "FROM monitoring_alert_outbox ORDER BY created_ms, id",
        {}, [&out](const storage::SqlRowView& row) {
          OutboxNotification n;
          n.id = std::string(row.Text(0));
          n.alert_id = std::string(row.Text(1));
          n.event = std::string(row.Text(2));
          absl::StatusOr<Json> sink = ParseJson(row.Text(3));
          if (sink.ok() && sink->is_object()) {
            n.sink.kind = sink->value("kind", "");
            n.sink.url = sink->value("url", "");
            n.sink.secret = sink->value("secret", "");
          }
          n.body = std::string(row.Text(4));
          n.attempts = static_cast<int>(row.Int(5));
          n.next_try_ms = row.Int(6);
          n.created_ms = row.Int(7);
          out.push_back(std::move(n));
          return absl::OkStatus();
        });
  }));
  return out;
}

}  // namespace cairn::monitoring
