#pragma once
// The feature store as the server, the CLI's server-side verbs and the demo use it: one
// object that ties the registry (definitions and versions), the offline store (source
// and feature-view tables), the online store and the training-set snapshots together.
//
//   Apply        definitions → registry versions; creates tables for new sources and
//                views and rebuilds a view's table from its source's rows when the view
//                changed (a new expression or window is a new version, computed over all
//                the data already ingested).
//   Ingest       a CSV / JSON Lines file into a source, read once: typed, validated and
//                staged in segments of the source table and every feature view that reads
//                the source, committed when the whole file was read. Without quarantine a
//                bad row rejects the whole file (nothing is written). The tables commit
//                one after another (OfflineStore::Commit): a crash in between can leave
//                the source table ahead of a view's.
//   Push         rows into a source's offline tables, its views' online rows, or both.
//   Historical   point-in-time-correct training sets, saved as snapshots.
//   Materialize  the latest row per key (and window aggregations as of the end) into the
//                online store; incremental runs continue where the last one ended.
//
// Thread-safe: applies are serialized and exclude ingests and pushes (a view rebuilt
// from its source must see every row); ingests, pushes, joins and materializations run
// concurrently with each other (offline segments are immutable, the online store is
// thread-safe).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "features/definitions.h"
#include "features/feature_registry.h"
#include "features/ingest/record_reader.h"
#include "features/offline/offline_store.h"
#include "features/online/online_feature_service.h"
#include "features/online/online_store.h"
#include "features/pit_join.h"
#include "features/table.h"
#include "features/training_sets.h"
#include "storage/database.h"

namespace cairn::features {

class ViewDeriver;

struct FeatureStoreOptions {
  std::string data_dir;                // offline tables under <data_dir>/offline
  std::string online_url = "embedded";  // or redis://host:port[/db]
  // Ingest stages a segment per table every this many rows (tests use small ones).
  size_t ingest_batch_rows = size_t{1} << 20;
};

struct IngestRequest {
  std::string source;
  std::string path;                    // the file on this machine
  std::optional<FileFormat> format;    // default: the source's format
  bool quarantine = false;
  std::string file_label;              // names the file in errors (default: path)
};

struct IngestResult {
  int64_t rows = 0;                       // rows written
  int64_t quarantined = 0;                // bad rows set aside (quarantine only)
  std::string quarantine_file;            // JSON Lines of the bad rows ("" when none)
  std::map<std::string, int64_t> view_rows;  // rows written per feature view
};

enum class PushTarget { kOnline, kOffline, kOnlineAndOffline };

struct HistoricalRequest {
  Table entities;                      // join keys + the timestamp column
  std::vector<FeatureRef> features;    // or:
  std::string feature_service;
  PitOptions options;
  // When set: called once with the joined training set, on the calling thread, while the
  // snapshot is saved on another thread (the HTTP handler formats its answer meanwhile).
  // It must only read the table; GetHistoricalFeatures returns after both are done.
  std::function<void(const Table&)> on_joined;
};

struct HistoricalResult {
  Table table;
  TrainingSetRecord snapshot;
  int64_t join_ms = 0;                 // the point-in-time join alone
};

struct MaterializeRequest {
  std::optional<int64_t> start;        // required unless incremental
  int64_t end = 0;
  bool incremental = false;            // start = where the last run of each view ended
  std::vector<std::string> views;      // empty = every online view
};

struct ViewMaterialization {
  int64_t start = 0;
  int64_t end = 0;
  int64_t rows_read = 0;
  int64_t keys_written = 0;
};

// Called from the materializing thread with (view, rows read so far, keys written so far).
using MaterializeProgressFn = std::function<void(const std::string&, int64_t, int64_t)>;

// A materialization run in the background (the CLI polls it to draw its progress bar).
struct MaterializationJob {
  std::string id;
  std::string state = "running";  // running | succeeded | failed
  std::string error;               // failed: why
  int64_t total_rows = 0;          // rows in the views' tables (an upper bound of rows_read)
  int64_t rows_read = 0;
  int64_t keys_written = 0;
  std::map<std::string, ViewMaterialization> views;  // succeeded: per view
};

class FeatureStore {
 public:
  // `db` and `clock` must outlive the store. Opens the registry (migrations), the offline
  // store under <data_dir>/offline and the online store by URL.
  static absl::StatusOr<std::unique_ptr<FeatureStore>> Open(storage::Database& db,
                                                            Clock& clock,
                                                            FeatureStoreOptions options);
  ~FeatureStore();

  FeatureRegistry& registry() { return *registry_; }
  OfflineStore& offline() { return *offline_; }
  OnlineStore& online() { return *online_; }
  const OnlineFeatureService& online_service() const { return *online_service_; }
  TrainingSets& training_sets() { return *training_sets_; }
  bool online_is_embedded() const { return online_embedded_; }

  // Plans (dry_run) or applies `definitions`; see the header comment.
  absl::StatusOr<std::vector<PlannedChange>> Apply(const DefinitionSet& definitions,
                                                   bool dry_run, bool prune);

  absl::StatusOr<IngestResult> Ingest(const IngestRequest& request);

  // `rows` typed by (a subset of) the source schema's columns; missing nullable columns
  // are null. Returns rows written.
  absl::StatusOr<int64_t> Push(std::string_view source, const Table& rows, PushTarget to);

  absl::StatusOr<HistoricalResult> GetHistoricalFeatures(const HistoricalRequest& request);

  absl::StatusOr<std::map<std::string, ViewMaterialization>> Materialize(
      const MaterializeRequest& request, const MaterializeProgressFn& progress = {});

  // The view's join keys: its entities' join-key fields, in entity order.
  absl::StatusOr<std::vector<Field>> JoinKeys(const FeatureViewSpec& view);

  // Background maintenance until the store closes: every `compact_every_ms` the offline
  // tables with many segments are compacted (offline/compaction.h); every
  // `materialize_every_ms` (0 = never) every online view is materialized incrementally up
  // to now. Call once.
  void StartBackground(int64_t compact_every_ms, int64_t materialize_every_ms);

  // Starts Materialize on a background thread; returns the job id.
  std::string StartMaterialization(const MaterializeRequest& request);
  // NotFound for an unknown id. Jobs are kept until the store closes.
  absl::StatusOr<MaterializationJob> GetMaterialization(std::string_view id);

  // Resolves feature references (a service, or refs where "view" means all its features)
  // to (view, feature names) in request order. InvalidArgument / NotFound naming the ref.
  absl::StatusOr<std::vector<std::pair<std::string, std::vector<std::string>>>> ResolveFeatures(
      const std::vector<FeatureRef>& refs, std::string_view feature_service);

 private:
  FeatureStore() = default;
  // The compiled view (cached per registry version).
  absl::StatusOr<std::shared_ptr<const ViewDeriver>> Deriver(const FeatureViewSpec& view);
  // FailedPrecondition when the stored rows of `source` cannot follow its new schema.
  absl::Status CheckSourceChange(const SourceSpec& source, const std::string& file, int line);
  // Bring the object's offline table (and a view's online rows) to its registered shape;
  // nothing to do when it already has it.
  absl::Status SyncSource(const SourceSpec& source);
  absl::Status SyncView(const FeatureViewSpec& view);
  // Materialize without taking apply_mu_ (the caller holds it).
  absl::StatusOr<std::map<std::string, ViewMaterialization>> MaterializeLocked(
      const MaterializeRequest& request, const MaterializeProgressFn& progress);
  // Writes source-table rows to the source table and every view of the source: committed
  // on return, or only staged into `*staged` (the caller commits or aborts) when given.
  absl::Status WriteOffline(const SourceSpec& source, const Table& source_rows,
                            std::map<std::string, int64_t>* view_rows,
                            std::vector<StagedSegment>* staged = nullptr);
  absl::Status WriteOnline(const SourceSpec& source, const Table& source_rows);
  std::vector<FeatureViewSpec> ViewsOfSource(std::string_view source);

  storage::Database* db_ = nullptr;
  Clock* clock_ = nullptr;
  FeatureStoreOptions options_;
  std::unique_ptr<FeatureRegistry> registry_;
  std::unique_ptr<OfflineStore> offline_;
  std::unique_ptr<OnlineStore> online_;
  bool online_embedded_ = true;
  std::unique_ptr<FeatureCatalog> catalog_;
  std::unique_ptr<OnlineFeatureService> online_service_;
  std::unique_ptr<TrainingSets> training_sets_;
  absl::Mutex apply_mu_;
  absl::Mutex derivers_mu_;
  // content hash of the view → compiled deriver
  std::map<std::string, std::shared_ptr<const ViewDeriver>> derivers_ ABSL_GUARDED_BY(derivers_mu_);
  absl::Mutex background_mu_;
  bool stopping_ ABSL_GUARDED_BY(background_mu_) = false;
  std::thread background_;
  absl::Mutex jobs_mu_;
  std::map<std::string, MaterializationJob, std::less<>> jobs_ ABSL_GUARDED_BY(jobs_mu_);
  std::vector<std::thread> job_threads_ ABSL_GUARDED_BY(jobs_mu_);
};

}  // namespace cairn::features
