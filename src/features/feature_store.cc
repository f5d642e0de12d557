#include "features/feature_store.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/did_you_mean.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "features/definition_json.h"
#include "features/offline/compaction.h"
#include "features/online/materializer.h"
#include "features/row_stream.h"
#include "features/view_rows.h"
#include "storage/migrations.h"

namespace cairn::features {
namespace {

// Rows buffered before a view rebuild writes them as one segment.
constexpr size_t kWriteRows = 1 << 20;

// The most segments of a view the point-in-time join reads one by one (each pass walks
// every entity row); beyond it they are merged.
constexpr size_t kMaxUnmergedSegments = 8;

std::span<const storage::Migration> Migrations() {
  static const storage::Migration kMigrations[] = {
      {1, "feature tables and materializations",
       // Which offline table holds an object's rows, and the hash of what shaped them:
       // a change to that hash rebuilds the table.
       "CREATE TABLE feature_tables ("
       " object TEXT PRIMARY KEY,"
       " table_name TEXT NOT NULL,"
       " shape_hash TEXT NOT NULL);"
       "CREATE TABLE feature_materializations ("
       " view TEXT NOT NULL,"
       " view_version BIGINT NOT NULL,"
       " start_ts BIGINT NOT NULL,"
       " end_ts BIGINT NOT NULL,"
       " rows_read BIGINT NOT NULL,"
       " keys_written BIGINT NOT NULL,"
       " created_at BIGINT NOT NULL);"
       "CREATE INDEX feature_materializations_view ON feature_materializations (view, end_ts)"},
  };
  return kMigrations;
}

// " (did you mean 'x'?)" for the registered name nearest to `word`, or "".
std::string DidYouMean(std::string_view word, const std::vector<std::string_view>& names) {
  std::string near = NearestName(word, names);
  return near.empty() ? "" : absl::StrCat(" (did you mean '", near, "'?)");
}

std::vector<std::string_view> ViewNames(const RegistrySnapshot& snapshot) {
  std::vector<std::string_view> names;
  for (const auto* d : snapshot.List(DefinitionKind::kFeatureView)) names.push_back(d->name);
  return names;
}

// Where the last materialization of `view` ended; nullopt when it never ran.
absl::StatusOr<std::optional<int64_t>> LastMaterializedEnd(storage::Database& db,
                                                           const std::string& view) {
  std::optional<int64_t> last_end;
  std::vector<storage::SqlValue> params = {view};
  CAIRN_RETURN_IF_ERROR(db.Read([&](storage::SqlSession& s) {
    return s.QueryEach("SELECT MAX(end_ts) FROM feature_materializations WHERE view = $1", params,
                       [&](const storage::SqlRowView& row) {
                         if (!row.IsNull(0)) last_end = row.Int(0);
                         return absl::OkStatus();
                       });
  }));
  return last_end;
}

// The FeatureCatalog the online service reads, from the registry's cached snapshot; the
// ServedView objects are rebuilt only when the registry generation moves.
class RegistryCatalog final : public FeatureCatalog {
 public:
  explicit RegistryCatalog(FeatureRegistry& registry) : registry_(registry) {}

  absl::StatusOr<std::shared_ptr<const ServedView>> View(std::string_view name) const override {
    CAIRN_ASSIGN_OR_RETURN(auto snapshot, registry_.Snapshot());
    {
      absl::ReaderMutexLock lock(&mu_);
      if (generation_ == snapshot->generation()) {
        auto it = views_.find(name);
        if (it != views_.end()) return it->second;
      }
    }
    const FeatureViewSpec* spec = snapshot->FindView(name);
    if (spec == nullptr) {
      return absl::NotFoundError(absl::StrCat("feature view '", ToAbsl(name),
                                              "' is not registered",
                                              DidYouMean(name, ViewNames(*snapshot))));
    }
    auto served = std::make_shared<ServedView>();
    served->spec = *spec;
    for (const std::string& e : spec->entities) {
      const EntitySpec* entity = snapshot->FindEntity(e);
      if (entity == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("feature view '", spec->meta.name, "' names entity '", e,
                         "', which is not registered"));
      }
      for (const Field& k : entity->join_keys) served->join_keys.push_back(k);
    }
    absl::MutexLock lock(&mu_);
    if (generation_ != snapshot->generation()) {
      views_.clear();
      generation_ = snapshot->generation();
    }
    views_[std::string(name)] = served;
    return std::shared_ptr<const ServedView>(served);
  }

  absl::StatusOr<std::vector<FeatureRef>> Service(std::string_view name) const override {
    CAIRN_ASSIGN_OR_RETURN(auto snapshot, registry_.Snapshot());
    const FeatureServiceSpec* spec = snapshot->FindService(name);
    if (spec == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("feature service '", ToAbsl(name), "' is not registered"));
    }
    return spec->features;
  }

 private:
  FeatureRegistry& registry_;
  mutable absl::Mutex mu_;
  mutable int64_t generation_ ABSL_GUARDED_BY(mu_) = -1;
  mutable std::map<std::string, std::shared_ptr<const ServedView>, std::less<>> views_
      ABSL_GUARDED_BY(mu_);
};

std::string ShortHash(std::string_view text) {
  std::string h = Sha256Hex(text);
  return h.substr(0, 12);
}

// What shapes a source table's rows: its schema and time fields.
std::string SourceShape(const SourceSpec& s) {
  Json j = Json::array();
  for (const Field& f : s.schema) j.push_back({f.name, TypeName(f.type), f.nullable});
  return Sha256Hex(Json{{"schema", j}, {"ts", s.timestamp_field},
                        {"created", s.created_timestamp_field}}.dump());
}

// What shapes a view table's rows: keys, source shape and each stored feature's
// derivation (not ttl, windows, online or descriptions, which are applied when reading).
std::string ViewShape(const FeatureViewSpec& v, const std::vector<Field>& keys,
                      const SourceSpec& source) {
  Json k = Json::array();
  for (const Field& f : keys) k.push_back({f.name, TypeName(f.type)});
  Json fs = Json::array();
  for (const FeatureSpec& f : v.features) {
    fs.push_back({f.name, TypeName(f.type), f.expr, AggName(f.agg), f.of});
  }
  return Sha256Hex(Json{{"keys", k}, {"source", v.source}, {"source_shape", SourceShape(source)},
                        {"features", fs}}.dump());
}

// Timestamps come from users: arithmetic on them saturates instead of overflowing.
int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}
int64_t SatSub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return b > 0 ? INT64_MIN : INT64_MAX;
  return r;
}

// Earliest event time materialization ever looks at when rebuilding a view's online rows.
constexpr int64_t kBeginningOfTime = -(int64_t{1} << 62);

int64_t MaxWindow(const FeatureViewSpec& v) {
  int64_t w = 0;
  for (const FeatureSpec& f : v.features) w = std::max(w, f.agg == AggFn::kNone ? 0 : f.window_ms);
  return w;
}

// Conforms pushed rows to the source schema: columns by name, casts where lossless,
// missing nullable columns as nulls.
absl::StatusOr<Table> ConformToSchema(const SourceSpec& source, const Table& rows) {
  Table out;
  size_t n = rows.num_rows();
  for (const Field& f : source.schema) {
    int c = rows.Find(f.name);
    if (c < 0) {
      if (!f.nullable) {
        return absl::InvalidArgumentError(absl::StrCat("source ", source.meta.name, ": column '",
                                                       f.name, "' is required (not nullable)"));
      }
      Column col(f.type);
      for (size_t i = 0; i < n; ++i) col.AppendNull();
      out.names.push_back(f.name);
      out.columns.push_back(std::move(col));
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(Column col,
                           CastColumn(rows.columns[c], f.type,
                                      absl::StrCat("source ", source.meta.name, ": column '",
                                                   f.name, "'")));
    if (!f.nullable) {
      for (size_t i = 0; i < n; ++i) {
        if (!col.valid[i]) {
          return absl::InvalidArgumentError(absl::StrCat("source ", source.meta.name, ": row ",
                                                         i + 1, ": column '", f.name,
                                                         "' is null but not nullable"));
        }
      }
    }
    out.names.push_back(f.name);
    out.columns.push_back(std::move(col));
  }
  for (size_t c = 0; c < rows.num_columns(); ++c) {
    if (FindField(source.schema, rows.names[c]) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("source ", source.meta.name,
                                                     ": unknown column '", rows.names[c],
                                                     "' (not in the source schema)"));
    }
  }
  return out;
}

void AppendTable(Table* into, const Table& from) {
  if (into->num_columns() == 0) {
    *into = from;
    return;
  }
  into->AppendRows(from);
}

absl::StatusOr<std::unique_ptr<RecordReader>> OpenReader(const SourceSpec& source,
                                                         const IngestRequest& request,
                                                         bool quarantine, size_t batch_rows) {
  ReaderOptions options;
  options.file_label = request.file_label.empty() ? request.path : request.file_label;
  options.quarantine = quarantine;
  options.batch_rows = batch_rows;
  FileFormat format = request.format.value_or(source.format);
  if (format == FileFormat::kJsonl) return OpenJsonlReader(request.path, source.schema, options);
  return OpenCsvReader(request.path, source.schema, options);
}

// Batches read on one thread and consumed on another; at most `capacity` wait, so the
// reader runs ahead of the writer by a bounded amount of memory.
class BatchPipe {
 public:
  struct Item {
    Table batch;
    std::vector<BadRow> bad;
  };

  explicit BatchPipe(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

  // Reader: false once the consumer closed the pipe (stop reading).
  bool Put(Item item) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](BatchPipe* p) { return p->closed_ || p->items_.size() < p->capacity_; }, this));
    if (closed_) return false;
    items_.push_back(std::move(item));
    return true;
  }
  // Reader: the end of the input (OK) or the reader's error.
  void Finish(absl::Status status) {
    absl::MutexLock lock(&mu_);
    status_ = std::move(status);
    finished_ = true;
  }
  // Consumer: the next batch, or nullopt after the last (then status() tells why).
  std::optional<Item> Take() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](BatchPipe* p) { return p->finished_ || !p->items_.empty(); }, this));
    if (items_.empty()) return std::nullopt;
    Item item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  // Consumer: a batch copied out, for the reader to refill (saves fresh pages per batch).
  void Recycle(Table batch) {
    absl::MutexLock lock(&mu_);
    if (spare_.size() < capacity_) spare_.push_back(std::move(batch));
  }
  // Reader: an empty item, reusing a recycled batch's memory when there is one.
  Item Fresh() {
    absl::MutexLock lock(&mu_);
    Item item;
    if (!spare_.empty()) {
      item.batch = std::move(spare_.back());
      spare_.pop_back();
    }
    return item;
  }
  // Consumer: the reader's next Put returns false.
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<Item> items_ ABSL_GUARDED_BY(mu_);
  std::vector<Table> spare_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void FeatureStore::StartBackground(int64_t compact_every_ms, int64_t materialize_every_ms) {
  background_ = std::thread([this, compact_every_ms, materialize_every_ms] {
    int64_t next_compact = clock_->NowMillis() + compact_every_ms;
    int64_t next_materialize =
        materialize_every_ms > 0 ? clock_->NowMillis() + materialize_every_ms : INT64_MAX;
    while (true) {
      {
        absl::MutexLock lock(&background_mu_);
        int64_t wait = std::max<int64_t>(
            1, std::min(next_compact, next_materialize) - clock_->NowMillis());
        background_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(wait));
        if (stopping_) return;
      }
      int64_t now = clock_->NowMillis();
      if (now >= next_compact) {
        CompactionReport report = CompactTables(*offline_);
        for (const auto& [table, status] : report.failed) {
          Log(LogLevel::kWarning, absl::StrCat("compaction of ", table, " failed: ",
                                               std::string(status.message())));
        }
        next_compact = now + compact_every_ms;
      }
      if (now >= next_materialize) {
        MaterializeRequest request;
        request.end = now;
        request.incremental = true;
        auto result = Materialize(request);
        if (!result.ok()) {
          Log(LogLevel::kWarning, absl::StrCat("scheduled materialization failed: ",
                                               std::string(result.status().message())));
        }
        next_materialize = now + materialize_every_ms;
      }
    }
  });
}

FeatureStore::~FeatureStore() {
  {
    absl::MutexLock lock(&background_mu_);
    stopping_ = true;
  }
  if (background_.joinable()) background_.join();
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&jobs_mu_);
    threads.swap(job_threads_);
  }
  for (std::thread& t : threads) t.join();
}

std::string FeatureStore::StartMaterialization(const MaterializeRequest& request) {
  std::string id = NewUuidHex().substr(0, 16);
  int64_t total = 0;
  for (const std::string& table : offline_->ListTables()) {
    if (table.rfind("view.", 0) != 0) continue;
    auto stats = offline_->Stats(table);
    if (stats.ok()) total += stats->rows;
  }
  absl::MutexLock lock(&jobs_mu_);
  MaterializationJob& job = jobs_[id];
  job.id = id;
  job.total_rows = total;
  job_threads_.emplace_back([this, id, request] {
    // Progress arrives per view, cumulative within the view.
    std::string current;
    int64_t done_rows = 0, done_keys = 0, last_rows = 0, last_keys = 0;
    auto result = Materialize(request, [&](const std::string& view, int64_t rows, int64_t keys) {
      if (view != current) {
        done_rows += last_rows;
        done_keys += last_keys;
        current = view;
      }
      last_rows = rows;
      last_keys = keys;
      absl::MutexLock lock(&jobs_mu_);
      MaterializationJob& j = jobs_[id];
      j.rows_read = done_rows + rows;
      j.keys_written = done_keys + keys;
    });
    absl::MutexLock lock(&jobs_mu_);
    MaterializationJob& j = jobs_[id];
    if (result.ok()) {
      j.state = "succeeded";
      j.views = *result;
      j.rows_read = 0;
      j.keys_written = 0;
      for (const auto& [name, m] : j.views) {
        j.rows_read += m.rows_read;
        j.keys_written += m.keys_written;
      }
    } else {
      j.state = "failed";
      j.error = std::string(result.status().message());
    }
  });
  return id;
}

absl::StatusOr<MaterializationJob> FeatureStore::GetMaterialization(std::string_view id) {
  absl::MutexLock lock(&jobs_mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("materialization '", ToAbsl(id), "' does not exist"));
  }
  return it->second;
}

absl::StatusOr<std::unique_ptr<FeatureStore>> FeatureStore::Open(storage::Database& db,
                                                                 Clock& clock,
                                                                 FeatureStoreOptions options) {
  auto fs = std::unique_ptr<FeatureStore>(new FeatureStore());
  fs->db_ = &db;
  fs->clock_ = &clock;
  fs->options_ = std::move(options);
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "features_store", Migrations()));
  CAIRN_ASSIGN_OR_RETURN(fs->registry_, FeatureRegistry::Open(db, clock));
  std::filesystem::path data(fs->options_.data_dir);
  CAIRN_ASSIGN_OR_RETURN(fs->offline_, OfflineStore::Open((data / "offline").string()));
  std::string url = fs->options_.online_url.empty() ? "embedded" : fs->options_.online_url;
  fs->online_embedded_ = url == "embedded";
  CAIRN_ASSIGN_OR_RETURN(fs->online_, OpenOnlineStore(url, fs->options_.data_dir));
  fs->catalog_ = std::make_unique<RegistryCatalog>(*fs->registry_);
  fs->online_service_ =
      std::make_unique<OnlineFeatureService>(fs->catalog_.get(), fs->online_.get(), &clock);
  CAIRN_ASSIGN_OR_RETURN(fs->training_sets_, TrainingSets::Open(db, clock, *fs->offline_));
  return fs;
}

absl::StatusOr<std::vector<Field>> FeatureStore::JoinKeys(const FeatureViewSpec& view) {
  CAIRN_ASSIGN_OR_RETURN(auto snapshot, registry_->Snapshot());
  std::vector<Field> keys;
  for (const std::string& e : view.entities) {
    const EntitySpec* entity = snapshot->FindEntity(e);
    if (entity == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "feature view '", view.meta.name, "' names entity '", e, "', which is not registered"));
    }
    for (const Field& k : entity->join_keys) keys.push_back(k);
  }
  return keys;
}

absl::StatusOr<std::shared_ptr<const ViewDeriver>> FeatureStore::Deriver(
    const FeatureViewSpec& view) {
  CAIRN_ASSIGN_OR_RETURN(auto source, registry_->GetSource(view.source));
  CAIRN_ASSIGN_OR_RETURN(std::vector<Field> keys, JoinKeys(view));
  std::string shape = ViewShape(view, keys, source.spec);
  {
    absl::MutexLock lock(&derivers_mu_);
    auto it = derivers_.find(shape);
    if (it != derivers_.end() && it->second->view() == view) return it->second;
  }
  CAIRN_ASSIGN_OR_RETURN(auto deriver, ViewDeriver::Make(view, std::move(keys), source.spec));
  absl::MutexLock lock(&derivers_mu_);
  derivers_[shape] = deriver;
  return deriver;
}

namespace {

// The offline table of an object ("source:x" / "view:x") and the shape it was built for.
struct TableRecord {
  std::string table;
  std::string shape;
};

absl::StatusOr<std::optional<TableRecord>> GetTableRecord(storage::Database& db,
                                                          const std::string& object) {
  std::optional<TableRecord> found;
  std::vector<storage::SqlValue> params = {object};
  CAIRN_RETURN_IF_ERROR(db.Read([&](storage::SqlSession& s) {
    return s.QueryEach("SELECT table_name, shape_hash FROM feature_tables WHERE object = $1",
                       params, [&](const storage::SqlRowView& row) {
                         found = TableRecord{std::string(row.Text(0)), std::string(row.Text(1))};
                         return absl::OkStatus();
                       });
  }));
  return found;
}

absl::Status PutTableRecord(storage::Database& db, const std::string& object,
                            const TableRecord& record) {
  std::vector<storage::SqlValue> params = {object, record.table, record.shape};
  return db.Write([&](storage::SqlSession& s) {
    return s
        .Execute("INSERT INTO feature_tables (object, table_name, shape_hash) VALUES ($1, $2, $3)"
                 " ON CONFLICT (object) DO UPDATE SET table_name = $2, shape_hash = $3",
                 params)
        .status();
  });
}

}  // namespace

absl::StatusOr<std::vector<PlannedChange>> FeatureStore::Apply(const DefinitionSet& definitions,
                                                               bool dry_run, bool prune) {
  if (dry_run) return registry_->Plan(definitions, prune);
  absl::MutexLock lock(&apply_mu_);
  // Refuse, before anything is registered, a source change its stored rows cannot follow.
  CAIRN_ASSIGN_OR_RETURN(std::vector<PlannedChange> plan, registry_->Plan(definitions, prune));
  for (size_t d = 0; d < definitions.definitions.size(); ++d) {
    const Definition& def = definitions.definitions[d];
    if (def.kind != DefinitionKind::kSource) continue;
    CAIRN_RETURN_IF_ERROR(CheckSourceChange(std::get<SourceSpec>(def.spec), def.file, def.line));
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<PlannedChange> changes, registry_->Apply(definitions, prune));
  for (const PlannedChange& change : changes) {
    if (change.action != ChangeAction::kRemoved) continue;
    if (change.kind != DefinitionKind::kSource && change.kind != DefinitionKind::kFeatureView) {
      continue;
    }
    bool is_view = change.kind == DefinitionKind::kFeatureView;
    std::string object = absl::StrCat(is_view ? "view:" : "source:", change.name);
    CAIRN_ASSIGN_OR_RETURN(std::optional<TableRecord> old, GetTableRecord(*db_, object));
    if (old) offline_->DropTable(old->table).IgnoreError();
    // Forget the object entirely: re-adding it later starts from nothing.
    std::vector<storage::SqlValue> params = {object, absl::StrCat("online:", change.name)};
    CAIRN_RETURN_IF_ERROR(db_->Write([&](storage::SqlSession& s) -> absl::Status {
      CAIRN_RETURN_IF_ERROR(
          s.Execute("DELETE FROM feature_tables WHERE object = $1 OR object = $2", params)
              .status());
      if (!is_view) return absl::OkStatus();
      std::vector<storage::SqlValue> view = {change.name};
      return s.Execute("DELETE FROM feature_materializations WHERE view = $1", view).status();
    }));
    if (is_view) CAIRN_RETURN_IF_ERROR(online_->DropView(change.name));
  }
  // Every registered source, then every view, is brought to its registered shape. This is
  // idempotent, so applying again finishes an apply that failed half-way, and a changed
  // entity or source reaches the views that use it.
  CAIRN_ASSIGN_OR_RETURN(auto snapshot, registry_->Snapshot());
  for (const auto* d : snapshot->List(DefinitionKind::kSource)) {
    CAIRN_RETURN_IF_ERROR(SyncSource(std::get<SourceSpec>(d->definition.spec)));
  }
  for (const auto* d : snapshot->List(DefinitionKind::kFeatureView)) {
    CAIRN_RETURN_IF_ERROR(SyncView(std::get<FeatureViewSpec>(d->definition.spec)));
  }
  return changes;
}

absl::Status FeatureStore::CheckSourceChange(const SourceSpec& source, const std::string& file,
                                             int line) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<TableRecord> old,
                         GetTableRecord(*db_, absl::StrCat("source:", source.meta.name)));
  if (!old || old->shape == SourceShape(source)) return absl::OkStatus();
  auto layout = offline_->Layout(old->table);
  if (!layout.ok()) return absl::OkStatus();  // no rows to carry over
  auto stats = offline_->Stats(old->table);
  bool has_rows = stats.ok() && stats->rows > 0;
  for (const Field& f : source.schema) {
    int c = FindField(layout->schema, f.name);
    std::string where = absl::StrCat(file, ":", line, ": Source ", source.meta.name,
                                     ": field '", f.name, "'");
    if (c < 0) {
      if (!f.nullable && has_rows) {
        return absl::FailedPreconditionError(absl::StrCat(
            where, ": a new field must be nullable while the source holds rows (",
            stats->rows, " rows have no value for it)"));
      }
      continue;
    }
    FeatureType was = layout->schema[c].type;
    if (!CastColumn(Column(was), f.type, where).ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, ": changes type from ", ToAbsl(TypeName(was)), " to ", ToAbsl(TypeName(f.type)),
          ", which the stored rows cannot be converted to; add a new field instead, or "
          "remove the source (apply --prune without it) and add it again"));
    }
  }
  return absl::OkStatus();
}

absl::Status FeatureStore::SyncSource(const SourceSpec& source) {
  std::string object = absl::StrCat("source:", source.meta.name);
  CAIRN_ASSIGN_OR_RETURN(std::optional<TableRecord> old, GetTableRecord(*db_, object));
  std::string shape = SourceShape(source);
  if (old && old->shape == shape) return absl::OkStatus();
  TableRecord record{absl::StrCat(SourceTableName(source.meta.name), ".", ShortHash(shape)),
                     shape};
  // A table of this shape left by an interrupted apply is incomplete: start afresh.
  if (!old || old->table != record.table) offline_->DropTable(record.table).IgnoreError();
  CAIRN_RETURN_IF_ERROR(offline_->EnsureTable(record.table, SourceTableLayout(source)));
  if (old) {
    // Carry the rows over: columns by name (CheckSourceChange allowed each cast), new
    // columns null, dropped ones gone.
    CAIRN_ASSIGN_OR_RETURN(OfflineTableLayout new_layout, offline_->Layout(record.table));
    auto stream = offline_->Scan(old->table, ScanOptions{});
    if (stream.ok()) {
      Table batch;
      while (true) {
        CAIRN_ASSIGN_OR_RETURN(bool more, (*stream)->Next(&batch));
        if (!more) break;
        Table converted;
        for (const Field& f : new_layout.schema) {
          int c = batch.Find(f.name);
          Column col(f.type);
          if (c >= 0) {
            CAIRN_ASSIGN_OR_RETURN(col, CastColumn(batch.columns[c], f.type, f.name));
          } else {
            for (size_t i = 0; i < batch.num_rows(); ++i) col.AppendNull();
          }
          converted.names.push_back(f.name);
          converted.columns.push_back(std::move(col));
        }
        CAIRN_RETURN_IF_ERROR(offline_->Append(record.table, converted));
      }
    }
  }
  CAIRN_RETURN_IF_ERROR(PutTableRecord(*db_, object, record));
  if (old && old->table != record.table) offline_->DropTable(old->table).IgnoreError();
  return absl::OkStatus();
}

absl::Status FeatureStore::SyncView(const FeatureViewSpec& view) {
  std::string object = absl::StrCat("view:", view.meta.name);
  CAIRN_ASSIGN_OR_RETURN(std::optional<TableRecord> old, GetTableRecord(*db_, object));
  CAIRN_ASSIGN_OR_RETURN(auto source, registry_->GetSource(view.source));
  CAIRN_ASSIGN_OR_RETURN(std::vector<Field> keys, JoinKeys(view));
  std::string shape = ViewShape(view, keys, source.spec);

  // Online rows are encoded in the view's feature order with its windows' values: when
  // those change, the old rows are dropped first (so no reader decodes them with the new
  // spec) and rebuilt below over what was materialized before.
  std::string online_object = absl::StrCat("online:", view.meta.name);
  Json features = Json::array();
  for (const FeatureSpec& f : view.features) {
    features.push_back({f.name, TypeName(f.type), f.expr, AggName(f.agg), f.of, f.window_ms});
  }
  std::string online_shape = Sha256Hex(
      Json{{"shape", shape}, {"features", features}, {"online", view.online}}.dump());
  CAIRN_ASSIGN_OR_RETURN(std::optional<TableRecord> online_old,
                         GetTableRecord(*db_, online_object));
  bool online_changed = !online_old || online_old->shape != online_shape;
  if (online_changed) CAIRN_RETURN_IF_ERROR(online_->DropView(view.meta.name));

  if (!old || old->shape != shape) {
    CAIRN_ASSIGN_OR_RETURN(auto deriver, Deriver(view));
    TableRecord record{absl::StrCat(ViewTableName(view.meta.name), ".", ShortHash(shape)), shape};
    // A table of this shape left by an interrupted rebuild is incomplete: start afresh.
    if (!old || old->table != record.table) offline_->DropTable(record.table).IgnoreError();
    CAIRN_RETURN_IF_ERROR(offline_->EnsureTable(record.table, deriver->layout()));
    CAIRN_ASSIGN_OR_RETURN(std::optional<TableRecord> source_table,
                           GetTableRecord(*db_, absl::StrCat("source:", view.source)));
    if (source_table) {
      CAIRN_ASSIGN_OR_RETURN(auto stream, offline_->Scan(source_table->table, ScanOptions{}));
      Table batch, pending;
      auto flush = [&]() -> absl::Status {
        if (pending.num_rows() == 0) return absl::OkStatus();
        CAIRN_ASSIGN_OR_RETURN(Table derived, deriver->Derive(pending));
        CAIRN_RETURN_IF_ERROR(offline_->Append(record.table, derived));
        pending = Table();
        return absl::OkStatus();
      };
      while (true) {
        CAIRN_ASSIGN_OR_RETURN(bool more, stream->Next(&batch));
        if (!more) break;
        AppendTable(&pending, batch);
        if (pending.num_rows() >= kWriteRows) CAIRN_RETURN_IF_ERROR(flush());
      }
      CAIRN_RETURN_IF_ERROR(flush());
    }
    CAIRN_RETURN_IF_ERROR(PutTableRecord(*db_, object, record));
    if (old && old->table != record.table) offline_->DropTable(old->table).IgnoreError();
  }
  if (!online_changed) return absl::OkStatus();
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> last_end,
                         LastMaterializedEnd(*db_, view.meta.name));
  if (last_end && view.online) {
    MaterializeRequest again;
    again.start = kBeginningOfTime;
    again.end = *last_end;
    again.views = {view.meta.name};
    CAIRN_RETURN_IF_ERROR(MaterializeLocked(again, {}).status());
  }
  return PutTableRecord(*db_, online_object, TableRecord{"", online_shape});
}

std::vector<FeatureViewSpec> FeatureStore::ViewsOfSource(std::string_view source) {
  std::vector<FeatureViewSpec> views;
  auto snapshot = registry_->Snapshot();
  if (!snapshot.ok()) return views;
  for (const auto* d : (*snapshot)->List(DefinitionKind::kFeatureView)) {
    const auto& spec = std::get<FeatureViewSpec>(d->definition.spec);
    if (spec.source == source) views.push_back(spec);
  }
  return views;
}

absl::Status FeatureStore::WriteOffline(const SourceSpec& source, const Table& source_rows,
                                        std::map<std::string, int64_t>* view_rows,
                                        std::vector<StagedSegment>* staged) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<TableRecord> table,
                         GetTableRecord(*db_, absl::StrCat("source:", source.meta.name)));
  if (!table) {
    return absl::FailedPreconditionError(
        absl::StrCat("source '", source.meta.name, "' has no offline table; apply it first"));
  }
  // The source table and the views are independent segments: stage the source's on
  // another core while this thread derives and stages the views.
  std::future<absl::StatusOr<StagedSegment>> source_staged = std::async(
      std::launch::async, [&] { return offline_->Stage(table->table, source_rows); });
  std::vector<StagedSegment> segments;
  std::map<std::string, int64_t> counts;
  absl::Status views_staged = [&]() -> absl::Status {
    for (const FeatureViewSpec& view : ViewsOfSource(source.meta.name)) {
      CAIRN_ASSIGN_OR_RETURN(std::optional<TableRecord> vt,
                             GetTableRecord(*db_, absl::StrCat("view:", view.meta.name)));
      if (!vt) continue;
      CAIRN_ASSIGN_OR_RETURN(auto deriver, Deriver(view));
      CAIRN_ASSIGN_OR_RETURN(Table derived, deriver->Derive(source_rows));
      CAIRN_ASSIGN_OR_RETURN(StagedSegment segment, offline_->Stage(vt->table, derived));
      segments.push_back(std::move(segment));
      counts[view.meta.name] += static_cast<int64_t>(derived.num_rows());
    }
    return absl::OkStatus();
  }();
  absl::StatusOr<StagedSegment> source_segment = source_staged.get();
  CAIRN_RETURN_IF_ERROR(source_segment.status());
  CAIRN_RETURN_IF_ERROR(views_staged);
  // Source first: a commit cut short leaves views behind their source, never ahead.
  segments.insert(segments.begin(), std::move(*source_segment));
  if (staged == nullptr) {
    CAIRN_RETURN_IF_ERROR(offline_->Commit(std::move(segments)));
  } else {
    for (StagedSegment& segment : segments) staged->push_back(std::move(segment));
  }
  if (view_rows) {
    for (const auto& [view, n] : counts) (*view_rows)[view] += n;
  }
  return absl::OkStatus();
}

absl::Status FeatureStore::WriteOnline(const SourceSpec& source, const Table& source_rows) {
  for (const FeatureViewSpec& view : ViewsOfSource(source.meta.name)) {
    if (!view.online) continue;
    CAIRN_ASSIGN_OR_RETURN(auto deriver, Deriver(view));
    CAIRN_ASSIGN_OR_RETURN(Table derived, deriver->Derive(source_rows));
    std::vector<std::string> keys;
    std::vector<OnlineRow> rows;
    deriver->ToOnlineRows(derived, &keys, &rows);
    CAIRN_RETURN_IF_ERROR(online_->Write(view.meta.name, keys, rows));
  }
  return absl::OkStatus();
}

absl::StatusOr<IngestResult> FeatureStore::Ingest(const IngestRequest& request) {
  // Shared with other writers, exclusive with Apply: a view rebuilt from its source table
  // must not miss rows written while it copies.
  absl::ReaderMutexLock writers(&apply_mu_);
  CAIRN_ASSIGN_OR_RETURN(auto source, registry_->GetSource(request.source));
  IngestResult result;
  int64_t now = clock_->NowMillis();
  std::vector<BadRow> bad;
  std::ofstream quarantine;
  auto keep_bad = [&]() -> absl::Status {
    if (bad.empty()) return absl::OkStatus();
    if (!quarantine.is_open()) {
      std::filesystem::path dir = std::filesystem::path(options_.data_dir) / "quarantine" /
                                  request.source;
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      result.quarantine_file =
          (dir / absl::StrCat(FormatTimestamp(now), "-", NewUuidHex().substr(0, 8), ".jsonl"))
              .string();
      quarantine.open(result.quarantine_file);
      if (!quarantine) {
        return absl::InternalError(absl::StrCat("cannot write ", result.quarantine_file));
      }
    }
    for (const BadRow& b : bad) {
      // DumpJson replaces invalid UTF-8 (a Latin-1 file, a label): it never throws.
      quarantine << DumpJson(Json{{"file", b.file}, {"line", b.line},   {"column", b.column},
                                  {"value", b.value}, {"reason", b.reason}, {"raw", b.raw}})
                 << "\n";
    }
    bad.clear();
    return absl::OkStatus();
  };

  // One pass over the file: a reader thread fills a bounded pipe of batches; this thread
  // stages every ingest_batch_rows rows as segments of the source table and its views,
  // and commits them all only after the whole file was read. Without quarantine one bad
  // row rejects the file: the staged segments are deleted and nothing is written.
  const size_t write_rows = std::max<size_t>(options_.ingest_batch_rows, 1);
  const size_t read_rows = std::min<size_t>(write_rows, 65536);
  CAIRN_ASSIGN_OR_RETURN(auto reader,
                         OpenReader(source.spec, request, request.quarantine, read_rows));
  BatchPipe pipe(std::max<size_t>(write_rows / read_rows, 2));
  std::thread reading([&pipe, &reader] {
    while (true) {
      BatchPipe::Item item = pipe.Fresh();
      absl::StatusOr<bool> more = reader->Next(&item.batch, &item.bad);
      if (!more.ok()) return pipe.Finish(more.status());
      if (!*more && item.bad.empty()) return pipe.Finish(absl::OkStatus());
      if (!pipe.Put(std::move(item))) return pipe.Finish(absl::CancelledError("ingest stopped"));
      if (!*more) return pipe.Finish(absl::OkStatus());
    }
  });
  std::vector<StagedSegment> staged;
  // The rows of the next write; its columns keep their capacity from one write to the
  // next (sized once for a whole write), so a large file is not copied through doubling
  // vectors and fresh pages every batch.
  Table pending;
  auto flush = [&]() -> absl::Status {
    if (pending.num_rows() == 0) return absl::OkStatus();
    result.rows += static_cast<int64_t>(pending.num_rows());
    const size_t read_columns = pending.num_columns();
    CAIRN_ASSIGN_OR_RETURN(Table rows, ToSourceRows(source.spec, std::move(pending), now));
    CAIRN_RETURN_IF_ERROR(WriteOffline(source.spec, rows, &result.view_rows, &staged));
    // ToSourceRows appended the event and created times after the read columns.
    rows.names.resize(read_columns);
    rows.columns.resize(read_columns);
    for (Column& column : rows.columns) column.Clear();
    pending = std::move(rows);
    return absl::OkStatus();
  };
  absl::Status read = [&]() -> absl::Status {
    while (std::optional<BatchPipe::Item> item = pipe.Take()) {
      bad = std::move(item->bad);
      CAIRN_RETURN_IF_ERROR(keep_bad());
      if (item->batch.num_rows() == 0) continue;
      if (pending.num_columns() == 0) {
        pending = std::move(item->batch);
      } else {
        if (pending.columns[0].valid.capacity() < write_rows + read_rows) {
          for (Column& column : pending.columns) column.Reserve(write_rows + read_rows);
        }
        AppendTable(&pending, item->batch);
        pipe.Recycle(std::move(item->batch));
      }
      if (pending.num_rows() >= write_rows) CAIRN_RETURN_IF_ERROR(flush());
    }
    CAIRN_RETURN_IF_ERROR(pipe.status());
    return flush();
  }();
  pipe.Close();
  reading.join();
  CAIRN_RETURN_IF_ERROR(read);  // `staged` deletes its files
  if (quarantine.is_open()) {
    quarantine.flush();
    if (!quarantine) return absl::InternalError(absl::StrCat("cannot write ", result.quarantine_file));
  }
  CAIRN_RETURN_IF_ERROR(offline_->Commit(std::move(staged)));
  result.quarantined = reader->bad_rows();
  return result;
}

absl::StatusOr<int64_t> FeatureStore::Push(std::string_view source_name, const Table& rows,
                                           PushTarget to) {
  absl::ReaderMutexLock writers(&apply_mu_);
  CAIRN_ASSIGN_OR_RETURN(auto source, registry_->GetSource(source_name));
  CAIRN_ASSIGN_OR_RETURN(Table conformed, ConformToSchema(source.spec, rows));
  CAIRN_ASSIGN_OR_RETURN(Table source_rows,
                         ToSourceRows(source.spec, std::move(conformed), clock_->NowMillis()));
  if (to != PushTarget::kOnline) {
    CAIRN_RETURN_IF_ERROR(WriteOffline(source.spec, source_rows, nullptr));
  }
  if (to != PushTarget::kOffline) CAIRN_RETURN_IF_ERROR(WriteOnline(source.spec, source_rows));
  return static_cast<int64_t>(source_rows.num_rows());
}

absl::StatusOr<std::vector<std::pair<std::string, std::vector<std::string>>>>
FeatureStore::ResolveFeatures(const std::vector<FeatureRef>& refs,
                              std::string_view feature_service) {
  std::vector<FeatureRef> wanted = refs;
  if (!feature_service.empty()) {
    if (!refs.empty()) {
      return absl::InvalidArgumentError("give either features or feature_service, not both");
    }
    CAIRN_ASSIGN_OR_RETURN(auto service, registry_->GetService(feature_service));
    wanted = service.spec.features;
  }
  if (wanted.empty()) {
    return absl::InvalidArgumentError("features: name at least one feature (view:feature) or a "
                                      "feature_service");
  }
  CAIRN_ASSIGN_OR_RETURN(auto snapshot, registry_->Snapshot());
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const FeatureRef& ref : wanted) {
    const FeatureViewSpec* view = snapshot->FindView(ref.view);
    if (view == nullptr) {
      return absl::NotFoundError(absl::StrCat("features: feature view '", ref.view,
                                              "' is not registered",
                                              DidYouMean(ref.view, ViewNames(*snapshot))));
    }
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == ref.view; });
    if (it == out.end()) {
      out.emplace_back(ref.view, std::vector<std::string>{});
      it = out.end() - 1;
    }
    if (ref.feature.empty() || ref.feature == "*") {
      for (const FeatureSpec& f : view->features) it->second.push_back(f.name);
      continue;
    }
    bool known = std::any_of(view->features.begin(), view->features.end(),
                             [&](const FeatureSpec& f) { return f.name == ref.feature; });
    if (!known) {
      std::vector<std::string_view> names;
      for (const FeatureSpec& f : view->features) names.push_back(f.name);
      return absl::NotFoundError(absl::StrCat("features: feature view '", ref.view,
                                              "' has no feature '", ref.feature, "'",
                                              DidYouMean(ref.feature, names)));
    }
    it->second.push_back(ref.feature);
  }
  return out;
}

absl::StatusOr<HistoricalResult> FeatureStore::GetHistoricalFeatures(
    const HistoricalRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(auto resolved, ResolveFeatures(request.features, request.feature_service));
  const Table& entities = request.entities;
  int ts_col = entities.Find(request.options.timestamp_column);
  if (ts_col < 0) {
    return absl::InvalidArgumentError(absl::StrCat("entities: no timestamp column '",
                                                   request.options.timestamp_column,
                                                   "' (set timestamp_column)"));
  }
  std::optional<int64_t> min_ts, max_ts;
  constexpr int64_t kLimit = int64_t{1} << 62;
  for (size_t i = 0; i < entities.num_rows(); ++i) {
    if (!entities.columns[ts_col].valid[i]) continue;
    int64_t t = entities.columns[ts_col].ints[i];
    if (t < -kLimit || t > kLimit) {
      return absl::InvalidArgumentError(absl::StrCat(
          "entities.", request.options.timestamp_column, "[", i, "]: ", t,
          " is out of range (timestamps must lie within ±2^62 milliseconds of 1970)"));
    }
    min_ts = min_ts ? std::min(*min_ts, t) : t;
    max_ts = max_ts ? std::max(*max_ts, t) : t;
  }
  std::vector<FeatureViewSpec> specs;
  specs.reserve(resolved.size());
  TrainingSetRecord record;
  record.feature_service = request.feature_service;
  std::vector<PitView> views;
  for (const auto& [view_name, features] : resolved) {
    CAIRN_ASSIGN_OR_RETURN(auto view, registry_->GetView(view_name));
    specs.push_back(view.spec);
    record.view_versions[view_name] = view.version;
    for (const std::string& f : features) record.features.push_back(absl::StrCat(view_name, ":", f));
  }
  for (size_t v = 0; v < resolved.size(); ++v) {
    const FeatureViewSpec& spec = specs[v];
    CAIRN_ASSIGN_OR_RETURN(std::vector<Field> keys, JoinKeys(spec));
    CAIRN_ASSIGN_OR_RETURN(std::optional<TableRecord> table,
                           GetTableRecord(*db_, absl::StrCat("view:", spec.meta.name)));
    if (!table) {
      return absl::FailedPreconditionError(
          absl::StrCat("feature view '", spec.meta.name, "' has no offline table; apply it"));
    }
    ScanOptions scan;
    bool has_plain = false;
    for (const std::string& f : resolved[v].second) {
      auto it = std::find_if(spec.features.begin(), spec.features.end(),
                             [&](const FeatureSpec& s) { return s.name == f; });
      if (it == spec.features.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "feature view '", spec.meta.name, "' no longer has feature '", f,
            "' (it changed while the request ran); retry"));
      }
      if (it->agg == AggFn::kNone) {
        scan.columns.push_back(f);
        has_plain = true;
      } else if (!it->of.empty()) {
        scan.columns.push_back(absl::StrCat(kAggInputPrefix, f));
      }
    }
    // Prune segments outside what any entity row can see.
    if (max_ts) scan.max_event_ts = SatAdd(*max_ts, 1);
    int64_t reach = std::max(has_plain ? spec.ttl_ms : 0, MaxWindow(spec));
    bool unbounded = has_plain && spec.ttl_ms == 0;
    if (min_ts && !unbounded && reach > 0) scan.min_event_ts = SatSub(*min_ts, reach);
    PitView pv;
    pv.spec = &specs[v];
    for (const Field& k : keys) pv.key_columns.push_back(k.name);
    bool has_agg = false;
    for (const std::string& f : resolved[v].second) {
      auto it = std::find_if(spec.features.begin(), spec.features.end(),
                             [&](const FeatureSpec& s) { return s.name == f; });
      has_agg = has_agg || it->agg != AggFn::kNone;
    }
    if (!has_agg) {
      // Row features only: the join reads the segments one by one instead of merging them.
      // Each segment's pass walks every entity row, so with many segments (a table not yet
      // compacted) the merge is cheaper.
      CAIRN_ASSIGN_OR_RETURN(pv.segments, offline_->ScanSegments(table->table, scan));
      if (pv.segments.size() == 1) {
        pv.rows = std::move(pv.segments[0]);
        pv.segments.clear();
      } else if (pv.segments.size() > kMaxUnmergedSegments) {
        pv.segments.clear();
      }
    }
    if (pv.segments.empty() && pv.rows == nullptr) {
      CAIRN_ASSIGN_OR_RETURN(pv.rows, offline_->Scan(table->table, scan));
    }
    pv.features = resolved[v].second;
    views.push_back(std::move(pv));
  }
  HistoricalResult result;
  auto start = std::chrono::steady_clock::now();
  CAIRN_ASSIGN_OR_RETURN(result.table, PointInTimeJoin(entities, std::move(views), request.options));
  result.join_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  if (!request.on_joined) {
    CAIRN_ASSIGN_OR_RETURN(result.snapshot, training_sets_->Save(entities, result.table, record));
    return result;
  }
  absl::StatusOr<TrainingSetRecord> saved = absl::UnknownError("not saved");
  // A jthread: joined on the way out if on_joined throws (bad_alloc formatting the answer);
  // its own exception is rethrown after the join.
  std::exception_ptr save_error;
  std::jthread saver([&] {
    try {
      saved = training_sets_->Save(entities, result.table, record);
    } catch (...) {
      save_error = std::current_exception();
    }
  });
  request.on_joined(result.table);
  saver.join();
  if (save_error) std::rethrow_exception(save_error);
  CAIRN_RETURN_IF_ERROR(saved.status());
  result.snapshot = *std::move(saved);
  return result;
}

absl::StatusOr<std::map<std::string, ViewMaterialization>> FeatureStore::Materialize(
    const MaterializeRequest& request, const MaterializeProgressFn& progress) {
  // Shared with ingests, exclusive with Apply: no rows of an old view version land after
  // Apply dropped them.
  absl::ReaderMutexLock writers(&apply_mu_);
  return MaterializeLocked(request, progress);
}

absl::StatusOr<std::map<std::string, ViewMaterialization>> FeatureStore::MaterializeLocked(
    const MaterializeRequest& request, const MaterializeProgressFn& progress) {
  constexpr int64_t kLimit = int64_t{1} << 62;
  if (request.end < -kLimit || request.end > kLimit ||
      (request.start && (*request.start < -kLimit || *request.start > kLimit))) {
    return absl::InvalidArgumentError(
        "start, end: timestamps must lie within ±2^62 milliseconds of 1970");
  }
  if (!request.incremental && !request.start) {
    return absl::InvalidArgumentError("start: required (or use materialize-incremental)");
  }
  if (request.start && *request.start > request.end) {
    return absl::InvalidArgumentError(absl::StrCat("start (", FormatTimestamp(*request.start),
                                                   ") is after end (",
                                                   FormatTimestamp(request.end), ")"));
  }
  CAIRN_ASSIGN_OR_RETURN(auto snapshot, registry_->Snapshot());
  std::vector<FeatureViewSpec> views;
  if (request.views.empty()) {
    for (const auto* d : snapshot->List(DefinitionKind::kFeatureView)) {
      const auto& spec = std::get<FeatureViewSpec>(d->definition.spec);
      if (spec.online) views.push_back(spec);
    }
  } else {
    for (const std::string& name : request.views) {
      const FeatureViewSpec* spec = snapshot->FindView(name);
      if (spec == nullptr) {
        return absl::NotFoundError(absl::StrCat("views: feature view '", name,
                                                "' is not registered"));
      }
      if (!spec->online) {
        return absl::InvalidArgumentError(absl::StrCat("views: feature view '", name,
                                                       "' is not served online (online: false)"));
      }
      views.push_back(*spec);
    }
  }
  std::map<std::string, ViewMaterialization> out;
  for (const FeatureViewSpec& view : views) {
    ViewMaterialization m;
    m.end = request.end;
    if (request.incremental) {
      CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> last_end,
                             LastMaterializedEnd(*db_, view.meta.name));
      // Feast: the first incremental run starts ttl before the end (all history when the
      // view has no ttl).
      m.start = last_end ? *last_end
                         : (view.ttl_ms > 0 ? SatSub(request.end, view.ttl_ms) : 0);
      m.start = std::min(m.start, request.end);
    } else {
      m.start = *request.start;
    }
    CAIRN_ASSIGN_OR_RETURN(std::optional<TableRecord> table,
                           GetTableRecord(*db_, absl::StrCat("view:", view.meta.name)));
    if (table && m.start < m.end) {
      CAIRN_ASSIGN_OR_RETURN(std::vector<Field> keys, JoinKeys(view));
      ScanOptions scan;
      scan.min_event_ts = SatSub(m.start, MaxWindow(view));
      // Windows end at `end` inclusive, (end - window, end], as the join's do at ts = end.
      scan.max_event_ts = SatAdd(m.end, 1);
      CAIRN_ASSIGN_OR_RETURN(auto stream, offline_->Scan(table->table, scan));
      std::string name = view.meta.name;
      MaterializeOptions options;
      if (progress) {
        options.progress = [&](const MaterializeProgress& p) {
          progress(name, p.rows_read, p.keys_written);
        };
      }
      CAIRN_ASSIGN_OR_RETURN(MaterializeResult r,
                             features::Materialize(view, keys, *stream, *online_, m.start, m.end,
                                                   options));
      m.rows_read = r.rows_read;
      m.keys_written = r.keys_written;
    }
    CAIRN_ASSIGN_OR_RETURN(auto registered, registry_->GetView(view.meta.name));
    std::vector<storage::SqlValue> params = {view.meta.name, registered.version, m.start, m.end,
                                             m.rows_read, m.keys_written, clock_->NowMillis()};
    CAIRN_RETURN_IF_ERROR(db_->Write([&](storage::SqlSession& s) {
      return s
          .Execute("INSERT INTO feature_materializations (view, view_version, start_ts, end_ts,"
                   " rows_read, keys_written, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                   params)
          .status();
    }));
    out[view.meta.name] = m;
  }
  return out;
}

}  // namespace cairn::features
