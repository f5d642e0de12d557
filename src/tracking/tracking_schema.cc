// The tracking schema, version by version. Portable SQL (SQLite and PostgreSQL); on
// SQLite, metric_series, latest_metrics, params, tags and experiment_tags are WITHOUT
// ROWID, so a row is one B-tree entry clustered by (run, key).
//
//   experiments      experiment_id (BIGINT, from tracking_counters) · unique name
//   experiment_tags  (experiment_id, key) → value
//   runs             run_uuid (32 hex) · run_key (a small integer from tracking_counters,
//                    the compact key of the metrics table) · experiment_id · …
//   params           (run_uuid, key) → value, write-once; index (key, value, run_uuid)
//   tags             (run_uuid, key) → value; index (key, value, run_uuid)
//   metric_series    (run_key, key) → point_count, block_count, the greatest (step,
//                    timestamp) stored, the greatest timestamp stored, ordered (1 while the blocks read in block_seq
//                    order are in history order), last_block_points, max_block_span (the
//                    widest max_timestamp - min_timestamp of its blocks, version 2: it
//                    bounds the duplicate check's range on metric_blocks_run_time_idx on
//                    both sides); time_ordered and verified_points (version 4:
//                    whether history order is also time order, trusted while
//                    verified_points = point_count); the row a writer locks first
//   metric_blocks    (run_key, key, block_seq) → point_count, min_step, max_step,
//                    first_index (points in the series before this block), the least
//                    and greatest timestamp in the block (the duplicate check reads
//                    only blocks whose timestamps overlap the points it checks), data:
//                    the points one write added to the series, packed (BLOB on SQLite,
//                    BYTEA on PostgreSQL; layout in docs/formats/metric_blocks.md). An
//                    identical point is stored once per series (metric_blocks.h).
//   latest_metrics   (run_uuid, key) → the point with the greatest (step, timestamp,
//                    value); value is NULL for NaN so that comparisons skip it; index
//                    (key, value, run_uuid) answers a metric filter without the table
//   datasets         (experiment_id, name, digest) → source, schema, profile
//   run_inputs       (run_uuid, dataset_name, dataset_digest) → input tags as JSON

#include <string>

#include "tracking/tracking_sql.h"

namespace cairn::tracking::internal {
namespace {

constexpr char kSchemaV1Head[] = R"sql(
CREATE TABLE tracking_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO tracking_counters (name, value) VALUES ('experiment_id', 0);
INSERT INTO tracking_counters (name, value) VALUES ('run_key', 0);
CREATE TABLE experiments (
  experiment_id BIGINT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  artifact_location TEXT NOT NULL,
  lifecycle_stage TEXT NOT NULL,
  creation_time BIGINT NOT NULL,
  last_update_time BIGINT NOT NULL);
CREATE INDEX experiments_creation_idx ON experiments (creation_time, experiment_id);
CREATE TABLE experiment_tags (
  experiment_id BIGINT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (experiment_id, key));
CREATE TABLE runs (
  run_uuid TEXT PRIMARY KEY,
  run_key BIGINT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  experiment_id BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  start_time BIGINT NOT NULL,
  end_time BIGINT,
  artifact_uri TEXT NOT NULL,
  lifecycle_stage TEXT NOT NULL,
  deleted_time BIGINT);
CREATE INDEX runs_experiment_start_idx ON runs (experiment_id, start_time, run_uuid);
CREATE TABLE params (
  run_uuid TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_uuid, key));
CREATE INDEX params_key_value_idx ON params (key, value, run_uuid);
CREATE TABLE tags (
  run_uuid TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_uuid, key));
CREATE INDEX tags_key_value_idx ON tags (key, value, run_uuid);
CREATE TABLE latest_metrics (
  run_uuid TEXT NOT NULL,
  key TEXT NOT NULL,
  value DOUBLE PRECISION,
  timestamp BIGINT NOT NULL,
  step BIGINT NOT NULL,
  is_nan INTEGER NOT NULL,
  PRIMARY KEY (run_uuid, key));
CREATE INDEX latest_metrics_key_value_idx ON latest_metrics (key, value, run_uuid);
CREATE TABLE datasets (
  experiment_id BIGINT NOT NULL,
  name TEXT NOT NULL,
  digest TEXT NOT NULL,
  source_type TEXT NOT NULL,
  source TEXT NOT NULL,
  schema TEXT,
  profile TEXT,
  PRIMARY KEY (experiment_id, name, digest));
CREATE TABLE run_inputs (
  run_uuid TEXT NOT NULL,
  experiment_id BIGINT NOT NULL,
  dataset_name TEXT NOT NULL,
  dataset_digest TEXT NOT NULL,
  tags_json TEXT NOT NULL,
  PRIMARY KEY (run_uuid, dataset_name, dataset_digest));
CREATE TABLE metric_series (
  run_key BIGINT NOT NULL,
  key TEXT NOT NULL,
  point_count BIGINT NOT NULL,
  block_count BIGINT NOT NULL,
  max_step BIGINT NOT NULL,
  max_timestamp BIGINT NOT NULL,
  ordered INTEGER NOT NULL,
  last_block_points BIGINT NOT NULL,
  top_timestamp BIGINT NOT NULL,
  PRIMARY KEY (run_key, key));
CREATE TABLE metric_blocks (
  run_key BIGINT NOT NULL,
  key TEXT NOT NULL,
  block_seq BIGINT NOT NULL,
  point_count BIGINT NOT NULL,
  min_step BIGINT NOT NULL,
  max_step BIGINT NOT NULL,
  first_index BIGINT NOT NULL,
  min_timestamp BIGINT NOT NULL,
  max_timestamp BIGINT NOT NULL,
  data @BLOB@ NOT NULL,
  PRIMARY KEY (run_key, key, block_seq));
CREATE INDEX metric_blocks_newest_idx ON metric_blocks (run_key, key, max_timestamp);)sql";

// On SQLite the small tables read by (run, key) are clustered on their primary key
// (metric_blocks keeps a rowid: its rows are large).
std::string SqliteClustered(std::string sql) {
  for (const char* table_end : {"  PRIMARY KEY (experiment_id, key));",
                                "  PRIMARY KEY (run_uuid, key));",
                                "  PRIMARY KEY (run_key, key));"}) {
    std::string clustered(table_end);
    clustered.insert(clustered.size() - 1, " WITHOUT ROWID");
    for (size_t pos = sql.find(table_end); pos != std::string::npos;
         pos = sql.find(table_end, pos + clustered.size()))
      sql.replace(pos, std::string(table_end).size(), clustered);
  }
  return sql;
}

std::string WithBlobType(std::string sql, const char* type) {
  size_t pos = sql.find("@BLOB@");
  sql.replace(pos, 6, type);
  return sql;
}

const std::string& SchemaV1(bool sqlite) {
  static const std::string* const kPortable =
      new std::string(WithBlobType(kSchemaV1Head, "BYTEA"));
  static const std::string* const kSqlite = new std::string(
      WithBlobType(SqliteClustered(kSchemaV1Head), "BLOB"));
  return sqlite ? *kSqlite : *kPortable;
}

// Version 2: each series' widest block time span, filled in from the stored blocks
// (saturating at INT64_MAX where max_timestamp - min_timestamp would overflow).
constexpr char kSchemaV2[] = R"sql(
ALTER TABLE metric_series ADD COLUMN max_block_span BIGINT NOT NULL DEFAULT 0;
UPDATE metric_series SET max_block_span = COALESCE((
  SELECT MAX(CASE WHEN b.min_timestamp < 0 AND
                       b.max_timestamp > 9223372036854775807 + b.min_timestamp
                  THEN 9223372036854775807 ELSE b.max_timestamp - b.min_timestamp END)
  FROM metric_blocks b
  WHERE b.run_key = metric_series.run_key AND b.key = metric_series.key), 0);)sql";

// Version 3: the duplicate check's index keyed by (run_key, max_timestamp, key) instead
// of (run_key, key, max_timestamp): the blocks one request adds to a run (same timestamps,
// many keys) are neighbours in it, so a commit dirties one leaf page of it per run instead
// of one per series.
constexpr char kSchemaV3[] = R"sql(
DROP INDEX metric_blocks_newest_idx;
CREATE INDEX metric_blocks_run_time_idx ON metric_blocks (run_key, max_timestamp, key);)sql";

// Version 4: time_ordered (1 when the series' points in (step, timestamp, value) order have
// non-decreasing timestamps, so that this order is also get-history's (timestamp, step,
// value) order) and verified_points (the point_count at which this binary's writer last
// wrote max_block_span and time_ordered). Both are trusted only while verified_points =
// point_count: a writer that does not maintain them (a binary from before this version,
// or from before version 2, still running during a rolling upgrade) changes point_count
// and leaves verified_points behind. Existing rows start unverified (-1): their next write
// recomputes max_block_span and time_ordered from the blocks (metric_blocks.cc); until
// then get-history sorts them.
constexpr char kSchemaV4[] = R"sql(
ALTER TABLE metric_series ADD COLUMN time_ordered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE metric_series ADD COLUMN verified_points BIGINT NOT NULL DEFAULT -1;)sql";

}  // namespace

std::span<const storage::Migration> TrackingMigrations() {
  static const storage::Migration kMigrations[] = {
      {.version = 1,
       .name = "experiments, runs, params, tags, metrics, datasets",
       .sql = SchemaV1(false),
       .sqlite_sql = SchemaV1(true)},
      {.version = 2, .name = "metric_series.max_block_span", .sql = kSchemaV2},
      {.version = 3, .name = "metric_blocks_run_time_idx", .sql = kSchemaV3},
      {.version = 4, .name = "metric_series.time_ordered, verified_points", .sql = kSchemaV4},
  };
  return kMigrations;
}

}  // namespace cairn::tracking::internal
