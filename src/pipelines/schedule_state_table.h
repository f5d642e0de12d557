#pragma once
// The stored state of cron schedules: one row per schedule, keyed by what it schedules,
// saying which fire times it has handled, the last one it started a run for and why its
// last start failed — what a restart needs to catch up (catchup.h). One shape, two tables:
// pipelines' schedules (schedule_service.h: table pipeline_schedules, key column pipeline)
// and monitors' (monitoring/monitors/monitor_service.h: monitor_schedules, monitor).
// Works on SQLite and PostgreSQL (the Database seam, portable SQL). Thread-safe (every call
// is one transaction of the Database).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/database.h"

namespace cairn::pipelines {

struct StoredScheduleState {
  std::string cron;              // the cron text the state belongs to
  int64_t handled_until_ms = 0;  // every fire time at or before this was handled
  int64_t last_fire_ms = 0;      // the last fire time a run was started for; 0: none yet
  std::string last_run_id;
  std::string last_error;        // why the last start failed; empty when it did not
  bool operator==(const StoredScheduleState&) const = default;
};

class ScheduleStateTable {
 public:
  // Creates `table` (migrations component `table`, version 1 recorded as `description`)
  // when it is not there. `table` and `key_column` are SQL identifiers the caller fixes
  // (never user input). `db` outlives the table.
  static absl::StatusOr<ScheduleStateTable> Open(storage::Database& db, std::string table,
                                                 std::string key_column,
                                                 std::string_view description);

  // Every stored state, by key.
  absl::StatusOr<std::map<std::string, StoredScheduleState>> Load() const;
  // Inserts or replaces `key`'s state; `now_ms` is recorded as its update time.
  absl::Status Save(const std::string& key, const StoredScheduleState& state,
                    int64_t now_ms) const;
  // Deletes `key`'s state (nothing when there is none).
  absl::Status Forget(const std::string& key) const;

 private:
  ScheduleStateTable(storage::Database& db, std::string table, std::string key_column);

  storage::Database* db_;
  std::string load_sql_;
  std::string save_sql_;
  std::string forget_sql_;
};

}  // namespace cairn::pipelines
