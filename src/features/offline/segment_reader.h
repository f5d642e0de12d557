#pragma once
// Reads an offline segment file (docs/formats/offline_segment.md). Open checks the
// header, trailer and footer checksum; ReadChunk checks each chunk's checksum and size
// before decoding. Any damage gives DataLoss naming the file (and block and column),
// never a crash.
//
// Thread-safe: a SegmentReader is immutable after Open and reads with pread, so many
// scans share one; each caller brings its own ChunkScratch.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "features/offline/segment_format.h"
#include "features/table.h"

namespace cairn::features::offline {

// Per-caller buffers and decompression context, reused from chunk to chunk so decoding
// allocates nothing once warm.
class ChunkScratch {
 public:
  ChunkScratch();
  ~ChunkScratch();
  ChunkScratch(const ChunkScratch&) = delete;
  ChunkScratch& operator=(const ChunkScratch&) = delete;

 private:
  friend class SegmentReader;
  std::string stored_;
  std::string raw_;
  void* dctx_;  // ZSTD_DCtx
};

class SegmentReader {
 public:
  static absl::StatusOr<std::shared_ptr<const SegmentReader>> Open(std::string path);
  ~SegmentReader();
  SegmentReader(const SegmentReader&) = delete;
  SegmentReader& operator=(const SegmentReader&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  const SegmentFooter& footer() const { return footer_; }

  // Replaces *out's rows with column `column` of block `block` (out->type must be the
  // column's type); keeps out's capacity.
  absl::Status ReadChunk(size_t block, size_t column, ChunkScratch* scratch,
                         Column* out) const;

 private:
  SegmentReader(std::string path, int fd, uint64_t size, SegmentFooter footer);
  absl::Status Corrupt(size_t block, size_t column, std::string_view what) const;

  std::string path_;
  int fd_;
  uint64_t file_size_;
  SegmentFooter footer_;
};

}  // namespace cairn::features::offline
