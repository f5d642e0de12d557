#include "features/offline/offline_store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <numeric>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/entity_key.h"
#include "features/offline/batch_sort.h"
#include "features/offline/file_util.h"
#include "features/offline/manifest.h"
#include "features/offline/merge_stream.h"
#include "features/offline/segment_reader.h"
#include "features/offline/segment_writer.h"

namespace cairn::features {

using offline::Manifest;
using offline::SegmentEntry;
using offline::SegmentReader;

namespace {

std::atomic<uint64_t> g_temp_counter{0};

std::string UniqueSuffix() {
  return absl::StrCat(::getpid(), "-", g_temp_counter.fetch_add(1));
}

absl::Status CheckTableName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 200 && name[0] != '.';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "offline table name '", ToAbsl(name),
      "': use 1-200 letters, digits, '.', '_' or '-', not starting with '.'"));
}

absl::Status CheckLayout(std::string_view table, const OfflineTableLayout& layout) {
  auto bad = [&](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("offline table '", ToAbsl(table), "': layout: ", ToAbsl(what)));
  };
  absl::flat_hash_set<std::string> names;
  for (const Field& f : layout.schema) {
    if (f.name.empty()) return bad("a column has an empty name");
    if (!names.insert(f.name).second)
      return bad(absl::StrCat("column '", f.name, "' appears twice"));
  }
  for (const char* ts : {kEventTsColumn, kCreatedTsColumn}) {
    int i = FindField(layout.schema, ts);
    if (i < 0 || layout.schema[i].type != FeatureType::kTimestamp)
      return bad(absl::StrCat("needs a timestamp column '", ts, "'"));
  }
  absl::flat_hash_set<std::string> keys;
  for (const std::string& k : layout.key_columns) {
    if (FindField(layout.schema, k) < 0)
      return bad(absl::StrCat("key column '", k, "' is not in the schema"));
    if (k == kEventTsColumn || k == kCreatedTsColumn || !keys.insert(k).second)
      return bad(absl::StrCat("key column '", k, "' is a timestamp column or repeated"));
  }
  return absl::OkStatus();
}

std::string DescribeLayout(const OfflineTableLayout& layout) {
  std::vector<std::string> cols;
  for (const Field& f : layout.schema)
    cols.push_back(absl::StrCat(f.name, " ", ToAbsl(TypeName(f.type)),
                                f.nullable ? "" : " not null"));
  return absl::StrCat("keys (", absl::StrJoin(layout.key_columns, ", "), ") columns (",
                      absl::StrJoin(cols, ", "), ")");
}

// One live segment file. Holds the file open (lazily) so scans keep reading it after a
// compaction replaced it; an obsolete segment's file is unlinked when the last holder
// lets go.
struct Segment {
  SegmentEntry entry;
  std::string path;
  absl::Mutex mu;
  std::shared_ptr<const SegmentReader> reader ABSL_GUARDED_BY(mu);
  std::atomic<bool> obsolete{false};

  ~Segment() {
    if (obsolete.load()) ::unlink(path.c_str());
  }

  absl::StatusOr<std::shared_ptr<const SegmentReader>> Reader() {
    absl::MutexLock lock(&mu);
    if (reader == nullptr) {
      CAIRN_ASSIGN_OR_RETURN(reader, SegmentReader::Open(path));
    }
    return reader;
  }
};

}  // namespace

struct OfflineStore::TableState {
  std::string name;
  std::string dir;
  absl::Status load_error;  // a damaged manifest: every operation but DropTable fails
  OfflineTableLayout layout;
  std::vector<uint32_t> key_idx;  // schema indices of the keys
  int event_idx = -1, created_idx = -1;

  absl::Mutex compact_mu;  // one compaction at a time
  absl::Mutex commit_mu;   // serializes manifest replacement (held while writing it)
  mutable absl::Mutex mu;  // the in-memory list; never held across I/O
  std::vector<std::shared_ptr<Segment>> segments ABSL_GUARDED_BY(mu);
  uint64_t next_seq ABSL_GUARDED_BY(mu) = 1;
  bool dropped ABSL_GUARDED_BY(mu) = false;

  std::vector<std::shared_ptr<Segment>> Snapshot() const {
    absl::MutexLock lock(&mu);
    return segments;
  }

  Manifest MakeManifest(const std::vector<std::shared_ptr<Segment>>& segs,
                        uint64_t seq) const {
    Manifest m;
    m.key_columns = layout.key_columns;
    m.schema = layout.schema;
    m.next_seq = seq;
    for (const auto& s : segs) m.segments.push_back(s->entry);
    return m;
  }

  std::shared_ptr<Segment> MakeSegment(const SegmentEntry& e) const {
    auto s = std::make_shared<Segment>();
    s->entry = e;
    s->path = absl::StrCat(dir, "/", offline::SegmentFileName(e.seq));
    return s;
  }

  void SetLayout(OfflineTableLayout l) {
    layout = std::move(l);
    key_idx.clear();
    for (const std::string& k : layout.key_columns)
      key_idx.push_back(static_cast<uint32_t>(FindField(layout.schema, k)));
    event_idx = FindField(layout.schema, kEventTsColumn);
    created_idx = FindField(layout.schema, kCreatedTsColumn);
  }

  // Renames the finished temporary segments `added` (path, entry) to the next sequence
  // numbers and makes them live with one manifest replacement: `replaced` (a prefix of
  // the live list, possibly empty) is swapped for them, or they go after the live list
  // when it is empty. On an error every file of `added` is deleted.
  absl::Status Commit(const std::vector<std::pair<std::string, SegmentEntry>>& added,
                      const std::vector<std::shared_ptr<Segment>>& replaced) {
    auto unlink_all = [&](const std::vector<std::string>& paths) {
      for (const std::string& p : paths) ::unlink(p.c_str());
    };
    std::vector<std::string> pending;
    for (const auto& a : added) pending.push_back(a.first);
    absl::MutexLock commit(&commit_mu);
    std::vector<std::shared_ptr<Segment>> current;
    uint64_t seq;
    {
      absl::MutexLock lock(&mu);
      if (dropped) {
        unlink_all(pending);
        return absl::NotFoundError(
            absl::StrCat("offline table '", name, "' was dropped during the write"));
      }
      seq = next_seq;
      current = segments;
    }
    std::vector<std::shared_ptr<Segment>> fresh;
    std::vector<std::string> renamed;
    for (size_t i = 0; i < added.size(); ++i) {
      SegmentEntry entry = added[i].second;
      entry.seq = seq++;
      auto seg = MakeSegment(entry);
      if (::rename(added[i].first.c_str(), seg->path.c_str()) != 0) {
        absl::Status s = offline::IoError("rename", added[i].first, errno);
        unlink_all(renamed);
        unlink_all(std::vector<std::string>(pending.begin() + i, pending.end()));
        return s;
      }
      renamed.push_back(seg->path);
      fresh.push_back(std::move(seg));
    }
    std::vector<std::shared_ptr<Segment>> next;
    if (replaced.empty()) {
      next = current;
      next.insert(next.end(), fresh.begin(), fresh.end());
    } else {
      // Compactions are serialized and commits of appends only add at the end, so
      // `replaced` is the head of the list; the merged segment takes its place, ahead of
      // the appends that committed meanwhile.
      next = fresh;
      for (const auto& s : current) {
        if (std::find(replaced.begin(), replaced.end(), s) == replaced.end()) next.push_back(s);
      }
    }
    absl::Status s = offline::WriteFileAtomic(absl::StrCat(dir, "/", offline::kManifestName),
                                              EncodeManifest(MakeManifest(next, seq)));
    if (!s.ok()) {
      unlink_all(renamed);
      return s;
    }
    {
      absl::MutexLock lock(&mu);
      segments = std::move(next);
      next_seq = seq;
    }
    for (const auto& old : replaced) old->obsolete.store(true);
    return absl::OkStatus();
  }

  // A stream over `segs` of the schema columns `cols`.
  absl::StatusOr<std::unique_ptr<RowStream>> Merge(
      const std::vector<std::shared_ptr<Segment>>& segs, std::vector<uint32_t> cols,
      std::optional<int64_t> min_ts, std::optional<int64_t> max_ts, size_t batch_rows) const {
    CAIRN_ASSIGN_OR_RETURN(auto inputs, Inputs(segs, min_ts, max_ts));
    return offline::MergeSegments(std::move(inputs),
                                  Spec(std::move(cols), min_ts, max_ts, batch_rows));
  }

  // One stream per segment that has rows in range, in segment order.
  absl::StatusOr<std::vector<std::unique_ptr<RowStream>>> Separate(
      const std::vector<std::shared_ptr<Segment>>& segs, std::vector<uint32_t> cols,
      std::optional<int64_t> min_ts, std::optional<int64_t> max_ts, size_t batch_rows) const {
    CAIRN_ASSIGN_OR_RETURN(auto inputs, Inputs(segs, min_ts, max_ts));
    std::vector<std::unique_ptr<RowStream>> streams;
    for (offline::MergeInput& input : inputs) {
      std::vector<offline::MergeInput> one;
      one.push_back(std::move(input));
      streams.push_back(
          offline::MergeSegments(std::move(one), Spec(cols, min_ts, max_ts, batch_rows)));
    }
    return streams;
  }

  offline::MergeSpec Spec(std::vector<uint32_t> cols, std::optional<int64_t> min_ts,
                          std::optional<int64_t> max_ts, size_t batch_rows) const {
    offline::MergeSpec spec;
    spec.schema = layout.schema;
    spec.columns = std::move(cols);
    auto pos = [&](uint32_t schema_idx) {
      return static_cast<int>(std::find(spec.columns.begin(), spec.columns.end(), schema_idx) -
                              spec.columns.begin());
    };
    for (uint32_t k : key_idx) spec.key_positions.push_back(pos(k));
    spec.event_ts_position = pos(static_cast<uint32_t>(event_idx));
    spec.created_ts_position = pos(static_cast<uint32_t>(created_idx));
    spec.min_event_ts = min_ts;
    spec.max_event_ts = max_ts;
    spec.batch_rows = batch_rows;
    return spec;
  }

  absl::StatusOr<std::vector<offline::MergeInput>> Inputs(
      const std::vector<std::shared_ptr<Segment>>& segs, std::optional<int64_t> min_ts,
      std::optional<int64_t> max_ts) const {
    std::vector<offline::MergeInput> inputs;
    for (const auto& seg : segs) {
      const SegmentEntry& e = seg->entry;
      if (e.rows == 0 || !e.has_event_ts) continue;
      if (min_ts && e.max_event_ts < *min_ts) continue;
      if (max_ts && e.min_event_ts >= *max_ts) continue;
      CAIRN_ASSIGN_OR_RETURN(auto reader, seg->Reader());
      const offline::SegmentFooter& f = reader->footer();
      if (f.schema != layout.schema || f.key_columns != key_idx)
        return absl::FailedPreconditionError(absl::StrCat(
            "offline segment '", seg->path, "' has a layout other than table '", name,
            "' (", DescribeLayout(layout),
            "); the file does not belong to this table: drop the table and ingest again"));
      inputs.push_back({std::move(reader), seg});
    }
    return inputs;
  }
};

namespace {

absl::StatusOr<std::shared_ptr<OfflineStore::TableState>> LoadTable(const std::string& root,
                                                                    const std::string& name) {
  auto t = std::make_shared<OfflineStore::TableState>();
  t->name = name;
  t->dir = absl::StrCat(root, "/", name);
  std::string manifest_path = absl::StrCat(t->dir, "/", offline::kManifestName);
  absl::StatusOr<std::string> bytes = offline::ReadFile(manifest_path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<Manifest> m = offline::DecodeManifest(*bytes, manifest_path);
  if (!m.ok()) {
    t->load_error = m.status();
    return t;
  }
  t->SetLayout({m->key_columns, m->schema});
  absl::flat_hash_set<std::string> live = {offline::kManifestName};
  {
    absl::MutexLock lock(&t->mu);
    t->next_seq = m->next_seq;
    for (const SegmentEntry& e : m->segments) {
      t->segments.push_back(t->MakeSegment(e));
      live.insert(offline::SegmentFileName(e.seq));
    }
  }
  // Remove what a crash left: temporaries and segments the manifest never listed.
  std::error_code ec;
  for (const auto& ent : std::filesystem::directory_iterator(t->dir, ec)) {
    std::string file = ent.path().filename().string();
    if (!live.contains(file)) std::filesystem::remove_all(ent.path(), ec);
  }
  return t;
}

}  // namespace

OfflineStore::OfflineStore(std::string root, const OfflineStoreOptions& options)
    : root_(std::move(root)), options_(options) {}

OfflineStore::~OfflineStore() = default;

absl::StatusOr<std::unique_ptr<OfflineStore>> OfflineStore::Open(
    std::string root, const OfflineStoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("offline store: cannot create directory '", root,
                                            "': ", ec.message()));
  std::unique_ptr<OfflineStore> store(new OfflineStore(root, options));
  absl::MutexLock lock(&store->mu_);
  for (const auto& ent : std::filesystem::directory_iterator(root, ec)) {
    std::string name = ent.path().filename().string();
    if (!ent.is_directory()) continue;
    if (name.starts_with(".dropped-")) {
      std::filesystem::remove_all(ent.path(), ec);  // a DropTable cut short
      continue;
    }
    if (!CheckTableName(name).ok()) continue;
    if (!std::filesystem::exists(ent.path() / offline::kManifestName)) {
      std::filesystem::remove_all(ent.path(), ec);  // an EnsureTable cut short
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(auto table, LoadTable(root, name));
    store->tables_[name] = std::move(table);
  }
  if (ec)
    return absl::InternalError(
        absl::StrCat("offline store: cannot list '", root, "': ", ec.message()));
  return store;
}

absl::StatusOr<std::shared_ptr<OfflineStore::TableState>> OfflineStore::Find(
    std::string_view table) const {
  absl::MutexLock lock(&mu_);
  auto it = tables_.find(ToAbsl(table));
  if (it == tables_.end())
    return absl::NotFoundError(absl::StrCat("offline table '", ToAbsl(table),
                                            "' does not exist; apply its definition or "
                                            "ingest into it first"));
  if (!it->second->load_error.ok()) return it->second->load_error;
  return it->second;
}

absl::Status OfflineStore::EnsureTable(std::string_view table,
                                       const OfflineTableLayout& layout) {
  CAIRN_RETURN_IF_ERROR(CheckTableName(table));
  CAIRN_RETURN_IF_ERROR(CheckLayout(table, layout));
  absl::MutexLock lock(&mu_);
  auto it = tables_.find(ToAbsl(table));
  if (it != tables_.end()) {
    const TableState& t = *it->second;
    if (!t.load_error.ok()) return t.load_error;
    if (t.layout == layout) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "offline table '", ToAbsl(table), "' exists with layout ", DescribeLayout(t.layout),
        ", not ", DescribeLayout(layout), "; drop the table to change its layout"));
  }
  auto t = std::make_shared<TableState>();
  t->name = std::string(table);
  t->dir = absl::StrCat(root_, "/", ToAbsl(table));
  t->SetLayout(layout);
  if (::mkdir(t->dir.c_str(), 0755) != 0 && errno != EEXIST)
    return offline::IoError("mkdir", t->dir, errno);
  CAIRN_RETURN_IF_ERROR(offline::WriteFileAtomic(absl::StrCat(t->dir, "/", offline::kManifestName),
                                                 EncodeManifest(t->MakeManifest({}, 1))));
  CAIRN_RETURN_IF_ERROR(offline::FsyncDir(root_));
  tables_[t->name] = std::move(t);
  return absl::OkStatus();
}

StagedSegment& StagedSegment::operator=(StagedSegment&& other) noexcept {
  if (this != &other) {
    Abort();
    state_ = std::move(other.state_);
    table_ = std::move(other.table_);
    path_ = std::exchange(other.path_, std::string());
    entry_ = other.entry_;
  }
  return *this;
}

void StagedSegment::Abort() {
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
  state_.reset();
}

absl::Status OfflineStore::Append(std::string_view table, const Table& rows) {
  CAIRN_ASSIGN_OR_RETURN(StagedSegment staged, Stage(table, rows));
  std::vector<StagedSegment> one;
  one.push_back(std::move(staged));
  return Commit(std::move(one));
}

absl::Status OfflineStore::Commit(std::vector<StagedSegment> segments) {
  // Group by table, in first-appearance order.
  std::vector<std::vector<StagedSegment*>> groups;
  for (StagedSegment& s : segments) {
    if (s.empty()) continue;
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const auto& g) { return g[0]->state_ == s.state_; });
    if (g == groups.end()) {
      groups.push_back({&s});
    } else {
      g->push_back(&s);
    }
  }
  for (auto& group : groups) {
    std::vector<std::pair<std::string, SegmentEntry>> added;
    for (StagedSegment* s : group) added.emplace_back(s->path_, s->entry_);
    std::shared_ptr<TableState> t = group[0]->state_;
    // The table's commit owns the files from here on (it deletes them on an error).
    for (StagedSegment* s : group) {
      s->path_.clear();
      s->state_.reset();
    }
    CAIRN_RETURN_IF_ERROR(t->Commit(added, {}));
  }
  return absl::OkStatus();
}

absl::StatusOr<StagedSegment> OfflineStore::Stage(std::string_view table, const Table& rows) {
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<TableState> t, Find(table));
  StagedSegment staged;
  staged.table_ = t->name;
  const Schema& schema = t->layout.schema;
  std::vector<const Column*> cols;
  for (const Field& f : schema) {
    int i = rows.Find(f.name);
    if (i < 0)
      return absl::InvalidArgumentError(absl::StrCat("append to offline table '", t->name,
                                                     "': column '", f.name, "' is missing"));
    const Column& c = rows.columns[i];
    if (c.type != f.type)
      return absl::InvalidArgumentError(absl::StrCat(
          "append to offline table '", t->name, "': column '", f.name, "' is ",
          ToAbsl(TypeName(c.type)), ", the table stores ", ToAbsl(TypeName(f.type))));
    if (c.size() != rows.num_rows())
      return absl::InvalidArgumentError(absl::StrCat("append to offline table '", t->name,
                                                     "': column '", f.name, "' has ",
                                                     c.size(), " rows, not ",
                                                     rows.num_rows()));
    if (!f.nullable || f.name == kEventTsColumn) {
      auto null = std::find(c.valid.begin(), c.valid.end(), 0);
      if (null != c.valid.end())
        return absl::InvalidArgumentError(
            absl::StrCat("append to offline table '", t->name, "': column '", f.name,
                         "' is null in row ", null - c.valid.begin(), "; it is not nullable"));
    }
    cols.push_back(&c);
  }
  if (rows.num_columns() != schema.size()) {
    for (const std::string& name : rows.names) {
      if (FindField(schema, name) < 0)
        return absl::InvalidArgumentError(absl::StrCat(
            "append to offline table '", t->name, "': column '", name,
            "' is not in its layout ", DescribeLayout(t->layout)));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("append to offline table '", t->name, "': duplicate column names"));
  }
  const size_t n = rows.num_rows();
  if (n == 0) return staged;
  if (n > UINT32_MAX)
    return absl::InvalidArgumentError("append: more than 2^32 rows in one batch; split it");

  // Sort order: (keys, event ts, created ts, input position).
  offline::SortedBatch sorted(cols, t->key_idx, static_cast<uint32_t>(t->event_idx),
                              static_cast<uint32_t>(t->created_idx));

  // The StagedSegment owns the file from its creation: an error below deletes it.
  staged.path_ = absl::StrCat(t->dir, "/tmp-", UniqueSuffix(), ".cseg.tmp");
  staged.state_ = t;
  const std::string& tmp = staged.path_;
  offline::SegmentWriterOptions wopts;
  wopts.block_rows = options_.block_rows;
  wopts.zstd_level = options_.append_zstd_level;
  CAIRN_ASSIGN_OR_RETURN(auto writer,
                         offline::SegmentWriter::Create(tmp, schema, t->key_idx, wopts));
  if (sorted.already_sorted()) {
    CAIRN_RETURN_IF_ERROR(writer->Add(cols, {}));
  } else {
    // One block of sorted rows at a time, each column gathered once; whole blocks go
    // to the writer without another copy.
    const size_t block_rows = writer->footer().block_rows;
    std::vector<Column> block;
    std::vector<const Column*> block_cols;
    for (size_t begin = 0; begin < n; begin += block_rows) {
      size_t take = std::min(block_rows, n - begin);
      sorted.Gather(begin, take, &block);
      block_cols.clear();
      for (const Column& c : block) block_cols.push_back(&c);
      CAIRN_RETURN_IF_ERROR(writer->Add(block_cols, {}));
    }
  }
  CAIRN_RETURN_IF_ERROR(writer->Finish());
  SegmentEntry& entry = staged.entry_;
  entry.rows = n;
  entry.bytes = writer->bytes();
  entry.has_event_ts = true;
  entry.min_event_ts = INT64_MAX;
  entry.max_event_ts = INT64_MIN;
  for (const auto& b : writer->footer().blocks) {
    const auto& c = b.chunks[t->event_idx];
    entry.min_event_ts = std::min(entry.min_event_ts, c.min);
    entry.max_event_ts = std::max(entry.max_event_ts, c.max);
  }
  return staged;
}

namespace {

// The schema indices a scan reads: the requested columns plus keys and timestamps.
absl::StatusOr<std::vector<uint32_t>> ScanColumns(const OfflineStore::TableState& t,
                                                  const ScanOptions& options);

}  // namespace

absl::StatusOr<std::unique_ptr<RowStream>> OfflineStore::Scan(std::string_view table,
                                                              const ScanOptions& options) const {
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<TableState> t, Find(table));
  CAIRN_ASSIGN_OR_RETURN(std::vector<uint32_t> cols, ScanColumns(*t, options));
  return t->Merge(t->Snapshot(), std::move(cols), options.min_event_ts, options.max_event_ts,
                  options.batch_rows);
}

absl::StatusOr<std::vector<std::unique_ptr<RowStream>>> OfflineStore::ScanSegments(
    std::string_view table, const ScanOptions& options) const {
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<TableState> t, Find(table));
  CAIRN_ASSIGN_OR_RETURN(std::vector<uint32_t> cols, ScanColumns(*t, options));
  return t->Separate(t->Snapshot(), std::move(cols), options.min_event_ts,
                     options.max_event_ts, options.batch_rows);
}

namespace {

absl::StatusOr<std::vector<uint32_t>> ScanColumns(const OfflineStore::TableState& tr,
                                                  const ScanOptions& options) {
  const OfflineStore::TableState* t = &tr;
  const Schema& schema = t->layout.schema;
  std::vector<uint8_t> wanted(schema.size(), options.columns.empty() ? 1 : 0);
  for (const std::string& c : options.columns) {
    int i = FindField(schema, c);
    if (i < 0) {
      std::vector<std::string> names;
      for (const Field& f : schema) names.push_back(f.name);
      return absl::InvalidArgumentError(absl::StrCat("scan of offline table '", t->name,
                                                     "': no column '", c, "' (columns: ",
                                                     absl::StrJoin(names, ", "), ")"));
    }
    wanted[i] = 1;
  }
  for (uint32_t k : t->key_idx) wanted[k] = 1;
  wanted[t->event_idx] = wanted[t->created_idx] = 1;
  std::vector<uint32_t> cols;
  for (uint32_t i = 0; i < schema.size(); ++i)
    if (wanted[i]) cols.push_back(i);
  return cols;
}

}  // namespace

absl::Status OfflineStore::Compact(std::string_view table) {
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<TableState> t, Find(table));
  absl::MutexLock compact(&t->compact_mu);
  std::vector<std::shared_ptr<Segment>> segs = t->Snapshot();
  if (segs.size() < 2) return absl::OkStatus();
  std::vector<uint32_t> all(t->layout.schema.size());
  std::iota(all.begin(), all.end(), 0u);
  CAIRN_ASSIGN_OR_RETURN(auto stream, t->Merge(segs, all, std::nullopt, std::nullopt,
                                               options_.block_rows));
  std::string tmp = absl::StrCat(t->dir, "/tmp-", UniqueSuffix(), ".cseg.tmp");
  offline::SegmentWriterOptions wopts;
  wopts.block_rows = options_.block_rows;
  wopts.zstd_level = options_.compact_zstd_level;
  CAIRN_ASSIGN_OR_RETURN(auto writer,
                         offline::SegmentWriter::Create(tmp, t->layout.schema, t->key_idx, wopts));
  Table batch;
  SegmentEntry entry;
  entry.min_event_ts = INT64_MAX;
  entry.max_event_ts = INT64_MIN;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(bool more, stream->Next(&batch));
    if (!more) break;
    CAIRN_RETURN_IF_ERROR(writer->Add(batch));
  }
  CAIRN_RETURN_IF_ERROR(writer->Finish());
  entry.rows = writer->rows();
  entry.bytes = writer->bytes();
  for (const auto& b : writer->footer().blocks) {
    const auto& c = b.chunks[t->event_idx];
    if (!c.has_minmax) continue;
    entry.has_event_ts = true;
    entry.min_event_ts = std::min(entry.min_event_ts, c.min);
    entry.max_event_ts = std::max(entry.max_event_ts, c.max);
  }
  if (!entry.has_event_ts) entry.min_event_ts = entry.max_event_ts = 0;
  stream.reset();
  return t->Commit({{tmp, entry}}, segs);
}

absl::Status OfflineStore::DropTable(std::string_view table) {
  absl::MutexLock lock(&mu_);
  auto it = tables_.find(ToAbsl(table));
  if (it == tables_.end())
    return absl::NotFoundError(
        absl::StrCat("offline table '", ToAbsl(table), "' does not exist; nothing to drop"));
  std::shared_ptr<TableState> t = it->second;
  std::string trash = absl::StrCat(root_, "/.dropped-", ToAbsl(table), "-", UniqueSuffix());
  {
    absl::MutexLock commit(&t->commit_mu);
    if (::rename(t->dir.c_str(), trash.c_str()) != 0)
      return offline::IoError("rename", t->dir, errno);
    absl::MutexLock state(&t->mu);
    t->dropped = true;
  }
  tables_.erase(it);
  CAIRN_RETURN_IF_ERROR(offline::FsyncDir(root_));
  // Scans still running hold their files open; unlinking does not disturb them.
  std::error_code ec;
  std::filesystem::remove_all(trash, ec);
  return absl::OkStatus();
}

absl::StatusOr<OfflineStore::TableStats> OfflineStore::Stats(std::string_view table) const {
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<TableState> t, Find(table));
  TableStats stats{0, 0, 0, std::nullopt, std::nullopt};
  for (const auto& s : t->Snapshot()) {
    const SegmentEntry& e = s->entry;
    stats.rows += static_cast<int64_t>(e.rows);
    stats.segments += 1;
    stats.bytes += static_cast<int64_t>(e.bytes);
    if (!e.has_event_ts) continue;
    stats.min_event_ts = std::min(stats.min_event_ts.value_or(INT64_MAX), e.min_event_ts);
    stats.max_event_ts = std::max(stats.max_event_ts.value_or(INT64_MIN), e.max_event_ts);
  }
  return stats;
}

absl::StatusOr<OfflineTableLayout> OfflineStore::Layout(std::string_view table) const {
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<TableState> t, Find(table));
  return t->layout;
}

std::vector<std::string> OfflineStore::ListTables() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, t] : tables_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace cairn::features
