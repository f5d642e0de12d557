#pragma once
// The offline store: per table (a source's raw rows or a feature view's rows) a set of
// immutable, zstd-compressed columnar segment files sorted by (join keys, __event_ts,
// __created_ts), listed by an atomically replaced manifest. Byte layout:
// docs/formats/offline_segment.md.
//
// On disk: <root>/<table>/MANIFEST and <root>/<table>/seg-NNNNNNNN.cseg. One process owns a
// root at a time; Open removes what a crash left behind (temporary files, segments the
// manifest does not list, half-dropped tables).
//
// Staged appends: Stage writes a durable segment file that no manifest lists yet (a
// temporary name); Commit makes staged segments live, Abort (or destroying the
// StagedSegment) deletes them, and a crash in between leaves a temporary file that Open
// removes like any other leftover. A caller writing several tables all-or-nothing stages
// every table first and commits last. Commit replaces each table's manifest atomically,
// one table after another: a crash (or an I/O error) between two tables' manifests leaves
// the earlier tables committed and the later ones not (for an ingest: the source table
// ahead of a view table; rebuilding the view from the source repairs it).
//
// Thread-safety: every method may be called from any thread. Appends to one table commit
// one at a time (their sorting and compression run in parallel); a Scan reads a snapshot
// of the segment list and keeps its files open, so Appends, Compact and DropTable never
// disturb a scan in progress. Old segment files are deleted when the last scan reading
// them ends.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "features/offline/manifest.h"
#include "features/row_stream.h"
#include "features/table.h"

namespace cairn::features {

struct OfflineTableLayout {
  std::vector<std::string> key_columns;  // join keys, in order
  Schema schema;                         // every column incl. keys, __event_ts, __created_ts
  bool operator==(const OfflineTableLayout&) const = default;
};

struct ScanOptions {
  std::vector<std::string> columns;    // empty = all; keys + ts columns always included
  std::optional<int64_t> min_event_ts;  // inclusive
  std::optional<int64_t> max_event_ts;  // exclusive
  size_t batch_rows = 65536;
};

class StagedSegment;

struct OfflineStoreOptions {
  uint32_t block_rows = 65536;   // rows per segment block (tests use small blocks)
  int append_zstd_level = 1;     // fastest compression where ingestion waits for it
  int compact_zstd_level = 3;    // compaction runs in the background; files are read often
};

class OfflineStore {
 public:
  // Opens (creating) the store under `root` (<data>/offline). A table whose manifest is
  // damaged stays listed; operations on it return the DataLoss error (DropTable works).
  static absl::StatusOr<std::unique_ptr<OfflineStore>> Open(
      std::string root, const OfflineStoreOptions& options = {});
  ~OfflineStore();

  // Creates the table if absent; FailedPrecondition if it exists with another layout.
  // InvalidArgument for a bad name (letters, digits, '.', '_', '-'; not starting with '.')
  // or layout (duplicate or missing columns; __event_ts and __created_ts must be
  // timestamps).
  absl::Status EnsureTable(std::string_view table, const OfflineTableLayout& layout);

  // Sorts `rows` by (keys, __event_ts, __created_ts) and writes them as one new immutable
  // segment; durable (fsync + atomic rename + manifest) before returning. `rows` has the
  // layout's columns by name, in any order, with the layout's types (InvalidArgument
  // naming the column otherwise, or for a null in a non-nullable column or in
  // __event_ts). NotFound for an unknown table. Empty `rows`: nothing is written.
  // Same as Stage + Commit of one segment.
  absl::Status Append(std::string_view table, const Table& rows);

  // Validates, sorts and writes `rows` exactly like Append (same errors), durable on
  // return, but lists the segment in no manifest: Scan and Stats do not see it until
  // Commit. Empty `rows`: an empty StagedSegment (no file; Commit skips it).
  absl::StatusOr<StagedSegment> Stage(std::string_view table, const Table& rows);

  // Makes `segments` live: per table (in the order tables first appear in `segments`)
  // the table's segments are added after its live ones, in vector order, by one atomic
  // manifest replacement. Not atomic across tables (see the header comment): on an error
  // the tables before the failing one stay committed, the failing table and those after
  // it get nothing, and every uncommitted file is deleted. NotFound when a table was
  // dropped after Stage.
  absl::Status Commit(std::vector<StagedSegment> segments);

  // Streams the table's rows in (keys, __event_ts, __created_ts) order, merging segments.
  // Batches hold the requested columns plus keys and timestamps, in the layout's column
  // order. InvalidArgument for an unknown column; DataLoss naming the file when a segment
  // is damaged (at open or while streaming).
  absl::StatusOr<std::unique_ptr<RowStream>> Scan(std::string_view table,
                                                  const ScanOptions& options) const;
  // The same rows as Scan, unmerged: one sorted stream per segment whose event times
  // overlap the range (it may still hold no row in range), in segment order — the order
  // in which a merge puts rows equal in (keys, __event_ts, __created_ts): earlier
  // segments' first. Empty for an empty table. Errors as Scan.
  absl::StatusOr<std::vector<std::unique_ptr<RowStream>>> ScanSegments(
      std::string_view table, const ScanOptions& options) const;

  // Merges all the table's segments into one (level compact_zstd_level) and swaps the
  // manifest atomically; Appends meanwhile go on and stay. No-op under two segments.
  absl::Status Compact(std::string_view table);
  absl::Status DropTable(std::string_view table);

  struct TableStats {
    int64_t rows;
    int64_t segments;
    int64_t bytes;
    std::optional<int64_t> min_event_ts, max_event_ts;
  };
  absl::StatusOr<TableStats> Stats(std::string_view table) const;
  // The layout EnsureTable gave the table.
  absl::StatusOr<OfflineTableLayout> Layout(std::string_view table) const;
  std::vector<std::string> ListTables() const;  // sorted

  struct TableState;  // implementation detail (offline_store.cc)

 private:
  OfflineStore(std::string root, const OfflineStoreOptions& options);
  absl::StatusOr<std::shared_ptr<TableState>> Find(std::string_view table) const;

  const std::string root_;
  const OfflineStoreOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<TableState>> tables_ ABSL_GUARDED_BY(mu_);
};

// A segment file written by OfflineStore::Stage and not yet committed. Move-only; the
// destructor deletes the file unless Commit took it (so an early return aborts). Must not
// outlive the store that staged it.
class StagedSegment {
 public:
  StagedSegment() = default;
  StagedSegment(StagedSegment&& other) noexcept { *this = std::move(other); }
  StagedSegment& operator=(StagedSegment&& other) noexcept;
  StagedSegment(const StagedSegment&) = delete;
  StagedSegment& operator=(const StagedSegment&) = delete;
  ~StagedSegment() { Abort(); }

  // Deletes the file (if any) and leaves this segment empty.
  void Abort();

  bool empty() const { return path_.empty(); }
  const std::string& table() const { return table_; }
  int64_t rows() const { return static_cast<int64_t>(entry_.rows); }
  // The temporary file ("" when empty).
  const std::string& path() const { return path_; }

 private:
  friend class OfflineStore;
  std::shared_ptr<OfflineStore::TableState> state_;
  std::string table_;
  std::string path_;
  offline::SegmentEntry entry_;
};

}  // namespace cairn::features
