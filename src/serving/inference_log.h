#pragma once
// The inference log (issue 6 item 3): a sampled, bounded, durable log of predicted rows —
// the features the model read, its prediction, model version, variant and latency — on
// the metadata database (migrations component "serving_inference_log", table
// serving_inference_log), queryable by endpoint and time window, with ground-truth labels
// posted later by row id. Monitors read it as a DataFrame (ReadFrame; the server wires it
// to monitoring's MonitorIo::read_endpoint).
//
// Writes never block the predict path: Append only queues the record (a bounded queue;
// when it is full the record is dropped and counted). One writer thread commits what is
// queued in one transaction (group commit) every `flush_interval_ms`, or at once when
// `batch_size` records wait or someone calls Flush(). The writer runs at nice +5 (Linux
// per-thread priority): a group commit's burst of work yields the CPU to the threads that
// answer requests, and only lags (then drops, counted) on a machine saturated for long.
// A record whose (endpoint, id,
// variant) is already logged is skipped (counted as a duplicate). Retention keeps the
// newest rows of an endpoint by prediction time (SetRetention).
//
// Works on SQLite and PostgreSQL (the Database seam, portable SQL). Thread-safe: every
// method may be called from any thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "monitoring/data_frame.h"
#include "serving/inference_record.h"
#include "storage/database.h"

namespace cairn::serving {

struct InferenceLogOptions {
  // Records waiting to be written, at most; Append drops (and counts) beyond.
  size_t max_queue = 100'000;
  // The writer commits at once when this many records wait…
  size_t batch_size = 2'000;
  // …and otherwise every this many milliseconds (whatever is queued).
  int64_t flush_interval_ms = 100;
};

// What Read returns: rows of one endpoint, newest first (by time_ms, then by the order
// they were written).
struct InferenceLogQuery {
  std::string endpoint;      // required
  int64_t from_ms = 0;       // time_ms >= from_ms (0: unbounded)
  int64_t to_ms = 0;         // time_ms < to_ms (0: unbounded)
  std::string variant;       // "champion" | "canary" | "shadow"; empty: every variant
  int max_results = 100;     // 1..10,000; 0: 100
  std::string page_token;    // from the previous page's next_page_token; empty: first page
};

struct InferenceLogPage {
  std::vector<InferenceRecord> records;
  std::string next_page_token;  // empty: no more rows
};

// The outcome of one posted label. status: OK, or NotFound naming the id and the endpoint
// (never logged, sampled out, or trimmed by retention).
struct LabelResult {
  std::string id;
  absl::Status status;
};

struct InferenceLogStats {
  int64_t appended = 0;    // accepted by Append
  int64_t dropped = 0;     // refused by Append (queue full, or the log shut down)
  int64_t written = 0;     // committed to the database
  int64_t duplicates = 0;  // skipped: (endpoint, id, variant) was already logged
  int64_t failed = 0;      // lost: their transaction failed (see last_error)
  int64_t trimmed = 0;     // deleted by retention
  int64_t queued = 0;      // waiting now
  std::string last_error;  // the last failed write's message; empty when none failed
};

// What ReadFrame puts in the frame.
struct FrameOptions {
  // Which rows: empty → the answers clients got ("champion" and "canary"; shadow rows
  // mirror the same requests and are left out); else only this variant.
  std::string variant;
  // > 0: only the newest `last_rows` rows of the window.
  int64_t last_rows = 0;
  // Feature columns to read as categories whatever their values.
  std::vector<std::string> categorical;
};

class InferenceLog : public InferenceLogSink {
 public:
  // Applies the migrations and starts the writer thread. `db` outlives the log.
  static absl::StatusOr<std::unique_ptr<InferenceLog>> Open(storage::Database& db,
                                                            InferenceLogOptions options = {});
  // Shutdown().
  ~InferenceLog() override;

  // Queues `record` for writing; false when it was dropped (queue full, or after
  // Shutdown). Never blocks on I/O. Records with an empty endpoint or id are dropped too.
  bool Append(InferenceRecord record) override;

  // Blocks until every record appended before the call is committed (or failed) and the
  // retention set before the call is applied. Returns the error of a failed write among
  // them (those records are lost and counted in Stats().failed), else OK.
  absl::Status Flush();

  // Keeps the newest `max_rows` rows of `endpoint` (by time_ms); <= 0 removes the limit.
  // Applied by the writer: an endpoint may grow to max_rows + max_rows / 10 rows before it
  // is trimmed back to max_rows (so trimming is amortized); right after Flush() it holds
  // at most that many. The setting lives in this process only (the endpoint service sets
  // it from EndpointSpec::log_max_rows at each deploy).
  void SetRetention(std::string_view endpoint, int64_t max_rows);

  // Whether a row with this id is logged at sampling `rate` (0..1): deterministic by a
  // hash of the id (the same id gives the same answer in every process and run), so about
  // `rate` of distinct ids are kept. rate >= 1: always; rate <= 0: never.
  static bool ShouldSample(std::string_view id, double rate);

  // Rows of query.endpoint in [from_ms, to_ms) of the variant, newest first, one page at
  // a time. Sees every record appended before the call (it flushes first).
  // InvalidArgument naming the field for an empty endpoint, max_results outside 0..10,000,
  // to_ms <= from_ms (both set), an unknown variant, or a page_token this log did not
  // return.
  absl::StatusOr<InferenceLogPage> Read(const InferenceLogQuery& query);

  // Sets the label (ground truth) of each row `id` of `endpoint` — of every variant that
  // logged it (a shadow's answer is judged against the same truth) — with label_time_ms
  // `time_ms`. Flushes first, so a row appended before the call can be labelled. One
  // result per input pair, in order; unknown ids get NotFound. A label posted again
  // replaces the earlier one. Error (and nothing stored) when the write fails or when
  // `endpoint` is empty (InvalidArgument).
  absl::StatusOr<std::vector<LabelResult>> PostLabels(
      std::string_view endpoint, const std::vector<std::pair<std::string, double>>& labels,
      int64_t time_ms);

  // The logged rows of `endpoint` with time_ms in [from_ms, to_ms) (0: unbounded on that
  // side), as monitors read them: one column per logged feature (the union over the rows,
  // by name; a row without the feature has it missing), "prediction", and "label" when at
  // least one of the rows has a label (missing on the others). Rows that failed (error)
  // are left out. Feature values as monitoring::DataFrameFromJson reads them: numbers make
  // a numeric column, a column with any string or boolean value is categorical, null is
  // missing; options.categorical forces columns to categories. Flushes first. A window
  // without rows gives a frame without rows (not an error). InvalidArgument for an empty
  // endpoint or an unknown variant.
  absl::StatusOr<monitoring::DataFrame> ReadFrame(std::string_view endpoint, int64_t from_ms,
                                                  int64_t to_ms,
                                                  const FrameOptions& options = {});

  InferenceLogStats Stats() const;

  // Writes what is queued, then stops the writer; later Appends are dropped. Idempotent.
  void Shutdown();

 private:
  struct Retention {
    int64_t max_rows = 0;
    int64_t count = -1;  // rows believed stored; -1: not counted yet
  };

  InferenceLog(storage::Database& db, InferenceLogOptions options);
  void WriterLoop();
  // Writes batch_ and applies retention to its endpoints and to `retention_dirty`;
  // updates the stats. Writer thread only.
  absl::Status WriteBatch(const absl::flat_hash_set<std::string>& retention_dirty);

  storage::Database& db_;
  const InferenceLogOptions options_;

  mutable absl::Mutex mu_;
  absl::CondVar wake_cv_;  // the writer: a batch is full, a flush is asked for, stopping
  absl::CondVar done_cv_;  // flushers: a cycle is done, or the writer stopped
  std::vector<InferenceRecord> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Retention> retention_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> retention_dirty_ ABSL_GUARDED_BY(mu_);
  int64_t cycles_started_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t cycles_done_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t writing_ ABSL_GUARDED_BY(mu_) = 0;  // records in the batch being written
  int64_t flush_target_ ABSL_GUARDED_BY(mu_) = 0;  // start cycles up to this one now
  int64_t last_failed_cycle_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_failure_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  InferenceLogStats stats_ ABSL_GUARDED_BY(mu_);
  // Writer thread only: the batch being written (swapped with queue_, so both keep their
  // capacity) and the bound parameters of the INSERT statements.
  std::vector<InferenceRecord> batch_;
  std::vector<storage::SqlValue> params_;
  std::thread writer_;
  absl::Mutex shutdown_mu_;  // one Shutdown joins the writer
};

}  // namespace cairn::serving
