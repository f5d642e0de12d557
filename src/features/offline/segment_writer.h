#pragma once
// Writes one immutable offline segment file (docs/formats/offline_segment.md): rows that
// the caller already sorted, cut into blocks of `block_rows`, each column of a block one
// checksummed, zstd-compressed chunk, then a footer with the layout, the chunk index and
// per-chunk min/max. Memory: at most one block of pending rows.
//
// Not thread-safe; one writer per file. The caller picks the path (the store writes a
// temporary name and renames it once Finish returned OK).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "features/offline/segment_format.h"
#include "features/table.h"

namespace cairn::features::offline {

struct SegmentWriterOptions {
  uint32_t block_rows = kDefaultBlockRows;
  // zstd level 1: the fastest compressor; on columnar numeric data levels 2-3 shrink
  // files by only a few percent more, and decompression speed does not depend on it.
  int zstd_level = 1;
};

class SegmentWriter {
 public:
  // Creates (truncating) `path` for rows of `schema` sorted by `key_columns`.
  static absl::StatusOr<std::unique_ptr<SegmentWriter>> Create(
      std::string path, Schema schema, std::vector<uint32_t> key_columns,
      const SegmentWriterOptions& options = {});
  // Closes the file; removes it unless Finish returned OK.
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Appends rows order[0], order[1], … (or every row in order when `order` is empty) of
  // `columns`, which are in schema order and of the schema's types. The rows must follow
  // the sort order and the rows added before (the caller's contract; not checked).
  absl::Status Add(std::span<const Column* const> columns, std::span<const uint32_t> order);
  // All rows of `table` (columns in schema order).
  absl::Status Add(const Table& table);

  // Writes the pending block, the footer and the trailer, then fsyncs and closes.
  absl::Status Finish();

  uint64_t rows() const { return footer_.num_rows + pending_rows_; }
  // File size (valid after Finish).
  uint64_t bytes() const { return offset_; }
  const SegmentFooter& footer() const { return footer_; }

 private:
  SegmentWriter(std::string path, int fd, SegmentFooter footer,
                const SegmentWriterOptions& options);
  absl::Status WriteBlock(std::span<const Column* const> columns, const uint32_t* order,
                          size_t begin, size_t rows);
  absl::Status ChunkTooLarge(size_t column, size_t rows, size_t bytes) const;
  absl::Status Write(const void* data, size_t n);
  absl::Status Flush();

  std::string path_;
  int fd_;
  SegmentFooter footer_;
  SegmentWriterOptions options_;
  std::vector<Column> pending_;  // a partial block, schema order
  std::vector<const Column*> pending_ptrs_;
  size_t pending_rows_ = 0;
  uint64_t offset_ = 0;          // bytes handed to Write so far
  std::string buffer_;           // not yet written to fd_
  std::string payload_;          // one chunk before compression
  std::string compressed_;
  // Per column: zstd's recent failures to save a quarter, and blocks left to store raw
  // without trying.
  struct ZstdTrials {
    int failures = 0;
    int skip = 0;
  };
  std::vector<ZstdTrials> zstd_trials_;
  void* cctx_ = nullptr;         // ZSTD_CCtx
  bool finished_ = false;
};

}  // namespace cairn::features::offline
