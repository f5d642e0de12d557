#include "pipelines/schedule_state_table.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "storage/migrations.h"

namespace cairn::pipelines {

absl::StatusOr<ScheduleStateTable> ScheduleStateTable::Open(storage::Database& db,
                                                            std::string table,
                                                            std::string key_column,
                                                            std::string_view description) {
  const std::string create =
      absl::StrCat("CREATE TABLE ", table, " (", key_column,
                   " TEXT PRIMARY KEY, cron TEXT NOT NULL, handled_until_ms BIGINT NOT NULL, "
                   "last_fire_ms BIGINT NOT NULL, last_run_id TEXT NOT NULL, last_error TEXT "
                   "NOT NULL, updated_ms BIGINT NOT NULL)");
  const storage::Migration migrations[] = {{1, description, create}};
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, table, migrations));
  return ScheduleStateTable(db, std::move(table), std::move(key_column));
}

ScheduleStateTable::ScheduleStateTable(storage::Database& db, std::string table,
                                       std::string key_column)
    : db_(&db),
      load_sql_(absl::StrCat("SELECT ", key_column,
                             ", cron, handled_until_ms, last_fire_ms, last_run_id, last_error "
                             "FROM ",
                             table)),
      save_sql_(absl::StrCat("INSERT INTO ", table, " (", key_column,
                             ", cron, handled_until_ms, last_fire_ms, last_run_id, last_error, "
                             "updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (",
                             key_column,
                             ") DO UPDATE SET cron = $2, handled_until_ms = $3, last_fire_ms "
                             "= $4, last_run_id = $5, last_error = $6, updated_ms = $7")),
      forget_sql_(absl::StrCat("DELETE FROM ", table, " WHERE ", key_column, " = $1")) {}

absl::StatusOr<std::map<std::string, StoredScheduleState>> ScheduleStateTable::Load() const {
  std::map<std::string, StoredScheduleState> states;
  CAIRN_RETURN_IF_ERROR(db_->Read([&](storage::SqlSession& session) {
    states.clear();
    return session.QueryEach(load_sql_, {}, [&states](const storage::SqlRowView& row) {
      StoredScheduleState& state = states[std::string(row.Text(0))];
      state.cron = std::string(row.Text(1));
      state.handled_until_ms = row.Int(2);
      state.last_fire_ms = row.Int(3);
      state.last_run_id = std::string(row.Text(4));
      state.last_error = std::string(row.Text(5));
      return absl::OkStatus();
    });
  }));
  return states;
}

absl::Status ScheduleStateTable::Save(const std::string& key, const StoredScheduleState& state,
                                      int64_t now_ms) const {
  const storage::SqlValue params[] = {key,
                                      state.cron,
                                      state.handled_until_ms,
                                      state.last_fire_ms,
                                      state.last_run_id,
                                      state.last_error,
                                      now_ms};
  return db_->Write([&](storage::SqlSession& session) {
    return session.Execute(save_sql_, params).status();
  });
}

absl::Status ScheduleStateTable::Forget(const std::string& key) const {
  const storage::SqlValue params[] = {key};
  return db_->Write([&](storage::SqlSession& session) {
    return session.Execute(forget_sql_, params).status();
  });
}

}  // namespace cairn::pipelines
