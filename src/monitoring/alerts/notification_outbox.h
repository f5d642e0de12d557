#pragma once
// The durable queue of alert notifications (webhook and log sinks): a notification is
// written here before its first try and removed when it was delivered or its last try
// failed, so one still queued when the server stops — a shutdown, or kill -9 — is tried
// again after the next start (AlertService resumes the rows at their next-try time, with
// the tries already made counted against WebhookOptions::attempts). At least once: a
// server killed during a try tries it again (the body is the same; each try is signed
// afresh). Table monitoring_alert_outbox (migrations component "monitoring_alert_outbox",
// SQLite or PostgreSQL). One server per database resumes: two servers on one PostgreSQL
// database would both deliver the rows pending at their start.
//
// Registry webhooks have their own outbox (cicd/webhooks.h); this one is separate because
// monitoring comes before cicd in the layering and its rows name sinks, not registered
// webhooks. Thread-safe (each call is one transaction).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "monitoring/alerts/alert_types.h"
#include "storage/database.h"

namespace cairn::monitoring {

struct OutboxNotification {
  std::string id;
  std::string alert_id;
  std::string event;  // "opened" | "escalated" | "paged" | "resolved"
  SinkSpec sink;      // as the monitor wrote it (a secret may name "${ENV}")
  std::string body;
  int attempts = 0;         // tries made so far
  int64_t next_try_ms = 0;  // when the next try is due
  int64_t created_ms = 0;
};

class NotificationOutbox {
 public:
  // Applies the migrations; `db` outlives the outbox.
  static absl::StatusOr<std::unique_ptr<NotificationOutbox>> Open(storage::Database& db);

  // Stores `notification` (its id is set when empty) and returns the id.
  absl::StatusOr<std::string> Add(OutboxNotification notification);
  // After a failed try that will be retried.
  absl::Status RecordTry(const std::string& id, int attempts, int64_t next_try_ms);
  // Delivered, or given up. Removing an unknown id is OK.
  absl::Status Remove(const std::string& id);
  // Every stored notification, oldest first.
  absl::StatusOr<std::vector<OutboxNotification>> Pending();

 private:
  explicit NotificationOutbox(storage::Database& db) : db_(db) {}
  storage::Database& db_;
};

}  // namespace cairn::monitoring
