#pragma once
// The in-memory form of an offline segment file's footer and the constants of its byte
// layout. docs/formats/offline_segment.md is the authoritative description; keep the two
// in step (a layout change bumps kSegmentVersion).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "features/types.h"

namespace cairn::features::offline {

inline constexpr char kSegmentMagic[8] = {'C', 'A', 'I', 'R', 'N', 'S', 'E', 'G'};
inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 16;   // magic, version, flags
inline constexpr size_t kSegmentTrailerSize = 24;  // footer offset/size/crc, magic
// Rows per block: a scan holds one decoded block per segment, so this bounds memory
// (64k rows × 8 bytes = 512 KiB per numeric column) while keeping zstd frames large
// enough to compress well.
inline constexpr uint32_t kDefaultBlockRows = 65536;
// Refuse to allocate more than this for one chunk, whatever a footer says.
inline constexpr uint32_t kMaxChunkBytes = 1u << 30;

// kDelta: int64 values stored as wrapping differences from the previous row (the first
// from 0). kShuffle* (8-byte values): byte k of every value stored together, byte-plane by
// byte-plane, so the rarely changing high bytes form runs zstd decodes as cheap matches.
enum class ChunkEncoding : uint8_t { kPlain = 0, kDelta = 1, kShuffle = 2, kDeltaShuffle = 3 };
enum class ChunkCompression : uint8_t { kNone = 0, kZstd = 1 };

// Where one column of one block lives and what it holds.
struct ChunkInfo {
  uint64_t offset = 0;       // file offset of the stored bytes
  uint32_t stored_size = 0;  // bytes on disk (compressed or not)
  uint32_t raw_size = 0;     // bytes after decompression
  uint32_t crc = 0;          // CRC-32C of the stored bytes
  uint32_t null_count = 0;
  ChunkEncoding encoding = ChunkEncoding::kPlain;
  ChunkCompression compression = ChunkCompression::kZstd;
  bool has_minmax = false;   // int64/timestamp/bool/double with a non-null, non-NaN value
  int64_t min = 0, max = 0;  // int64 values, or the bits of doubles (see MinMaxDouble)
};

struct BlockInfo {
  uint32_t rows = 0;
  std::vector<ChunkInfo> chunks;  // one per column, in schema order
};

struct SegmentFooter {
  Schema schema;
  std::vector<uint32_t> key_columns;  // indices into schema
  uint64_t num_rows = 0;
  uint32_t block_rows = kDefaultBlockRows;
  std::vector<BlockInfo> blocks;
};

std::string EncodeFooter(const SegmentFooter& footer);
// DataLoss naming `file` when `bytes` is not a well-formed footer.
absl::StatusOr<SegmentFooter> DecodeFooter(std::string_view bytes, std::string_view file);

double BitsToDouble(int64_t bits);
int64_t DoubleToBits(double d);

}  // namespace cairn::features::offline
