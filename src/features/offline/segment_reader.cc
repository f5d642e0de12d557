#include "features/offline/segment_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/offline/bytes.h"
#include "features/offline/crc32c.h"
#include "features/offline/file_util.h"

namespace cairn::features::offline {
namespace {

absl::Status FileCorrupt(std::string_view path, std::string_view what) {
  return absl::DataLossError(absl::StrCat("offline segment '", ToAbsl(path), "': ",
                                          ToAbsl(what),
                                          "; the file is corrupt or truncated: restore it "
                                          "from a backup or drop the table and ingest "
                                          "again"));
}

// Inverse of the writer's byte-plane transposition: n values from `planes` into `out`.
void Unshuffle8(const char* planes, size_t n, void* out) {
  auto* dst = static_cast<uint64_t*>(out);
  const auto* b = reinterpret_cast<const uint8_t*>(planes);
  for (size_t i = 0; i < n; ++i) {
    dst[i] = uint64_t{b[i]} | uint64_t{b[n + i]} << 8 | uint64_t{b[2 * n + i]} << 16 |
             uint64_t{b[3 * n + i]} << 24 | uint64_t{b[4 * n + i]} << 32 |
             uint64_t{b[5 * n + i]} << 40 | uint64_t{b[6 * n + i]} << 48 |
             uint64_t{b[7 * n + i]} << 56;
  }
}

bool IsShuffled(ChunkEncoding e) {
  return e == ChunkEncoding::kShuffle || e == ChunkEncoding::kDeltaShuffle;
}

}  // namespace

ChunkScratch::ChunkScratch() : dctx_(ZSTD_createDCtx()) {}
ChunkScratch::~ChunkScratch() { ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_)); }

absl::StatusOr<std::shared_ptr<const SegmentReader>> SegmentReader::Open(std::string path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return absl::DataLossError(absl::StrCat("offline segment '", path,
                                              "' listed in the table manifest is missing; "
                                              "restore it or drop the table"));
    return IoError("open", path, errno);
  }
  struct FdCloser {
    int fd;
    ~FdCloser() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError("stat", path, errno);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < kSegmentHeaderSize + kSegmentTrailerSize)
    return FileCorrupt(path, absl::StrCat("only ", size, " bytes, shorter than a header "
                                          "and trailer"));
  char header[kSegmentHeaderSize];
  CAIRN_RETURN_IF_ERROR(PreadAll(fd, header, sizeof header, 0, path));
  if (std::memcmp(header, kSegmentMagic, 8) != 0)
    return FileCorrupt(path, "bad magic number at the start (not a Cairn segment)");
  uint32_t version;
  std::memcpy(&version, header + 8, 4);
  if (version != kSegmentVersion)
    return absl::FailedPreconditionError(absl::StrCat(
        "offline segment '", path, "': format version ", version, ", this build reads ",
        kSegmentVersion, "; upgrade Cairn"));
  char trailer[kSegmentTrailerSize];
  CAIRN_RETURN_IF_ERROR(PreadAll(fd, trailer, sizeof trailer, size - sizeof trailer, path));
  if (std::memcmp(trailer + 16, kSegmentMagic, 8) != 0)
    return FileCorrupt(path, "bad magic number at the end (torn or truncated write)");
  uint64_t footer_offset;
  uint32_t footer_size, footer_crc;
  std::memcpy(&footer_offset, trailer, 8);
  std::memcpy(&footer_size, trailer + 8, 4);
  std::memcpy(&footer_crc, trailer + 12, 4);
  if (footer_offset < kSegmentHeaderSize ||
      footer_offset + footer_size != size - kSegmentTrailerSize)
    return FileCorrupt(path, "footer position does not match the file size");
  std::string footer(footer_size, '\0');
  CAIRN_RETURN_IF_ERROR(PreadAll(fd, footer.data(), footer.size(), footer_offset, path));
  if (Crc32c(footer.data(), footer.size()) != footer_crc)
    return FileCorrupt(path, "footer checksum mismatch");
  CAIRN_ASSIGN_OR_RETURN(SegmentFooter f, DecodeFooter(footer, path));
  for (size_t b = 0; b < f.blocks.size(); ++b) {
    for (const ChunkInfo& c : f.blocks[b].chunks) {
      if (c.offset < kSegmentHeaderSize || c.offset + c.stored_size > footer_offset)
        return FileCorrupt(path, absl::StrCat("block ", b, ": chunk outside the data area"));
    }
  }
  closer.fd = -1;
  return std::shared_ptr<const SegmentReader>(
      new SegmentReader(std::move(path), fd, size, std::move(f)));
}

SegmentReader::SegmentReader(std::string path, int fd, uint64_t size, SegmentFooter footer)
    : path_(std::move(path)), fd_(fd), file_size_(size), footer_(std::move(footer)) {}

SegmentReader::~SegmentReader() { ::close(fd_); }

absl::Status SegmentReader::Corrupt(size_t block, size_t column, std::string_view what) const {
  return FileCorrupt(path_, absl::StrCat("block ", block, " column '",
                                         footer_.schema[column].name, "': ", ToAbsl(what)));
}

absl::Status SegmentReader::ReadChunk(size_t block, size_t column, ChunkScratch* scratch,
                                      Column* out) const {
  const BlockInfo& b = footer_.blocks[block];
  const ChunkInfo& c = b.chunks[column];
  const size_t n = b.rows;
  const FeatureType type = footer_.schema[column].type;
  if (c.compression == ChunkCompression::kNone && c.null_count == 0 &&
      (c.encoding == ChunkEncoding::kPlain || c.encoding == ChunkEncoding::kDelta) &&
      (type == FeatureType::kInt64 || type == FeatureType::kTimestamp ||
       type == FeatureType::kDouble)) {
    // Raw 8-byte values without nulls: read straight into the column, no copy.
    if (c.stored_size != n * 8 || c.raw_size != c.stored_size)
      return Corrupt(block, column, "value bytes do not match row count");
    void* dst;
    if (type == FeatureType::kDouble) {
      out->doubles.resize(n);
      dst = out->doubles.data();
    } else {
      out->ints.resize(n);
      dst = out->ints.data();
    }
    CAIRN_RETURN_IF_ERROR(PreadAll(fd_, dst, c.stored_size, c.offset, path_));
    if (Crc32c(dst, c.stored_size) != c.crc) return Corrupt(block, column, "checksum mismatch");
    out->valid.assign(n, 1);
    if (c.encoding == ChunkEncoding::kDelta) {
      uint64_t acc = 0;
      auto* v = reinterpret_cast<uint64_t*>(out->ints.data());
      for (size_t r = 0; r < n; ++r) {
        acc += v[r];
        v[r] = acc;
      }
    }
    return absl::OkStatus();
  }
  scratch->stored_.resize(c.stored_size);
  CAIRN_RETURN_IF_ERROR(PreadAll(fd_, scratch->stored_.data(), c.stored_size, c.offset, path_));
  if (Crc32c(scratch->stored_.data(), c.stored_size) != c.crc)
    return Corrupt(block, column, "checksum mismatch");
  const char* raw;
  if (c.compression == ChunkCompression::kZstd) {
    scratch->raw_.resize(c.raw_size);
    size_t got = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(scratch->dctx_),
                                     scratch->raw_.data(), c.raw_size,
                                     scratch->stored_.data(), c.stored_size);
    if (ZSTD_isError(got) || got != c.raw_size)
      return Corrupt(block, column, "zstd frame does not decompress to its recorded size");
    raw = scratch->raw_.data();
  } else {
    if (c.stored_size != c.raw_size) return Corrupt(block, column, "size mismatch");
    raw = scratch->stored_.data();
  }
  size_t raw_size = c.raw_size;
  size_t bitmap_bytes = c.null_count > 0 ? (n + 7) / 8 : 0;
  if (raw_size < bitmap_bytes) return Corrupt(block, column, "chunk shorter than its bitmap");
  out->valid.resize(n);
  if (c.null_count == 0) {
    std::memset(out->valid.data(), 1, n);
  } else {
    const auto* bm = reinterpret_cast<const uint8_t*>(raw);
    for (size_t r = 0; r < n; ++r) out->valid[r] = (bm[r >> 3] >> (r & 7)) & 1;
  }
  const char* p = raw + bitmap_bytes;
  size_t left = raw_size - bitmap_bytes;
  switch (type) {
    case FeatureType::kInt64:
    case FeatureType::kTimestamp: {
      if (left != n * 8) return Corrupt(block, column, "value bytes do not match row count");
      out->ints.resize(n);
      if (IsShuffled(c.encoding)) {
        Unshuffle8(p, n, out->ints.data());
      } else {
        std::memcpy(out->ints.data(), p, n * 8);
      }
      if (c.encoding == ChunkEncoding::kDelta || c.encoding == ChunkEncoding::kDeltaShuffle) {
        uint64_t acc = 0;
        auto* v = reinterpret_cast<uint64_t*>(out->ints.data());
        for (size_t r = 0; r < n; ++r) {
          acc += v[r];
          v[r] = acc;
        }
      }
      break;
    }
    case FeatureType::kBool: {
      if (left != n) return Corrupt(block, column, "value bytes do not match row count");
      out->ints.resize(n);
      for (size_t r = 0; r < n; ++r) out->ints[r] = p[r] != 0;
      break;
    }
    case FeatureType::kDouble: {
      if (left != n * 8) return Corrupt(block, column, "value bytes do not match row count");
      out->doubles.resize(n);
      if (IsShuffled(c.encoding)) {
        Unshuffle8(p, n, out->doubles.data());
      } else {
        std::memcpy(out->doubles.data(), p, n * 8);
      }
      break;
    }
    case FeatureType::kString: {
      out->strings.resize(n);
      for (size_t r = 0; r < n; ++r) {
        uint32_t len;
        if (left < 4) return Corrupt(block, column, "string length past the chunk end");
        std::memcpy(&len, p, 4);
        p += 4;
        left -= 4;
        if (left < len) return Corrupt(block, column, "string bytes past the chunk end");
        out->strings[r].assign(p, len);
        p += len;
        left -= len;
      }
      if (left != 0) return Corrupt(block, column, "trailing bytes after the strings");
      break;
    }
  }
  return absl::OkStatus();
}

}  // namespace cairn::features::offline
